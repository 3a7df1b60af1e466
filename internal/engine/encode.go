package engine

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// appendExecution encodes x exactly as encoding/json encodes Execution (same
// keys, same order, sorted map keys), without reflection: snapshots are
// written for every execution a unit of work touches.
func appendExecution(b []byte, x *Execution) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, x.ID, 10)
	b = append(b, `,"ns":`...)
	b = appendString(b, x.Namespace)
	b = append(b, `,"wf":`...)
	b = appendString(b, x.Workflow)
	b = append(b, `,"version":`...)
	b = appendString(b, x.Version)
	b = append(b, `,"status":`...)
	b = appendString(b, string(x.Status))
	b = append(b, `,"run_type":`...)
	b = appendString(b, string(x.RunType))
	b = append(b, `,"tasks":`...)
	if x.Tasks == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '{')
		for i, name := range sortedKeys(x.Tasks, x.def) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, name)
			b = append(b, ':')
			b = appendTaskState(b, x.Tasks[name])
		}
		b = append(b, '}')
	}
	if len(x.State) > 0 {
		b = append(b, `,"state":{`...)
		names := make([]string, 0, len(x.State))
		for k := range x.State {
			names = append(names, k)
		}
		slices.Sort(names)
		for i, k := range names {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = append(b, x.State[k]...)
		}
		b = append(b, '}')
	}
	b = append(b, `,"created_at":"`...)
	b = x.CreatedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if x.Input != "" {
		b = append(b, `,"input":`...)
		b = appendString(b, x.Input)
	}
	return append(b, '}')
}

// sortedKeys returns the task names of m in sorted order, using the
// definition's sorted names when they cover m.
func sortedKeys(m map[string]*TaskState, d *Definition) []string {
	if d != nil && len(d.sortedNames) == len(m) {
		ok := true
		for _, n := range d.sortedNames {
			if _, in := m[n]; !in {
				ok = false
				break
			}
		}
		if ok {
			return d.sortedNames
		}
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

func appendTaskState(b []byte, ts *TaskState) []byte {
	if ts == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	first := true
	if ts.Latest != nil {
		b = append(b, `"latest":`...)
		b = appendTE(b, ts.Latest)
		first = false
	}
	if len(ts.Stopping) > 0 {
		if !first {
			b = append(b, ',')
		}
		b = append(b, `"stopping":[`...)
		for i, te := range ts.Stopping {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendTE(b, te)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendTE(b []byte, te *TE) []byte {
	if te == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, te.ID, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, int64(te.Seq), 10)
	b = append(b, `,"status":`...)
	b = appendString(b, string(te.Status))
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(te.Attempt), 10)
	if te.Failures != 0 {
		b = append(b, `,"failures":`...)
		b = strconv.AppendInt(b, int64(te.Failures), 10)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string; names and statuses are plain ASCII
// (validated names), so the fast path is taken almost always.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
