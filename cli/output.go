package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"
)

// table is what a command prints in table form: a header and rows.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = cell(c)
	}
	t.rows = append(t.rows, row)
}

func cell(v any) string {
	switch v := v.(type) {
	case string:
		if v == "" {
			return "-"
		}
		// Keep one row per record.
		return strings.NewReplacer("\n", `\n`, "\t", `\t`, "\r", `\r`).Replace(v)
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return fmt.Sprint(v)
}

func (t *table) write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(t.header) > 0 {
		fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	}
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// fields is a record shown as "NAME: value" lines in table form.
type fields [][2]string

func (f *fields) add(name string, v any) { *f = append(*f, [2]string{name, cell(v)}) }

func (f fields) write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, kv := range f {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[0], kv[1])
	}
	return tw.Flush()
}

type writerTo interface{ write(io.Writer) error }

// print writes v as JSON or YAML, or calls tab for the table form.
func (e *env) print(v any, tab func() writerTo) error {
	w := e.opts.Stdout
	switch e.output {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return tab().write(w)
}

// printStream writes one record of a stream: a JSON line, a YAML document
// or a table row without header (fields separated by tabs).
func (e *env) printStream(v any, row []any) error {
	w := e.opts.Stdout
	switch e.output {
	case "json":
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "---\n%s", b)
		return err
	}
	cells := make([]string, len(row))
	for i, c := range row {
		cells[i] = cell(c)
	}
	_, err := fmt.Fprintln(w, strings.Join(cells, "\t"))
	return err
}

// done prints the outcome of an action: a message in table form, v
// otherwise.
func (e *env) done(v any, msg string, args ...any) error {
	return e.print(v, func() writerTo { return message(fmt.Sprintf(msg, args...)) })
}

type message string

func (m message) write(w io.Writer) error { _, err := fmt.Fprintln(w, string(m)); return err }

// multi writes several parts one after the other, separated by blank lines.
type multi []writerTo

func (m multi) write(w io.Writer) error {
	for i, p := range m {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := p.write(w); err != nil {
			return err
		}
	}
	return nil
}
