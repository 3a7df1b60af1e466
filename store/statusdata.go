package store

import (
	"encoding/json"
	"strconv"
)

// appendJSON encodes d like encoding/json would (same keys, omitempty), with
// fewer allocations: status payloads are written for every status change.
func (d StatusData) appendJSON(b []byte) []byte {
	b = append(b, `{"attempt":`...)
	b = strconv.AppendInt(b, int64(d.Attempt), 10)
	if d.Failures != 0 {
		b = append(b, `,"failures":`...)
		b = strconv.AppendInt(b, int64(d.Failures), 10)
	}
	if d.Interruptions != 0 {
		b = append(b, `,"interruptions":`...)
		b = strconv.AppendInt(b, int64(d.Interruptions), 10)
	}
	if d.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, d.Error)
	}
	if d.Interrupted {
		b = append(b, `,"interrupted":true`...)
	}
	if d.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, d.Reason)
	}
	return append(b, '}')
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// decodeStatusFast decodes the payloads appendJSON writes when they carry only
// numbers ({"attempt":N} or {"attempt":N,"failures":M}); ok is false for
// anything else, which then goes through encoding/json.
func decodeStatusFast(p []byte) (d StatusData, ok bool) {
	const a, f = `{"attempt":`, `,"failures":`
	if len(p) < len(a)+2 || string(p[:len(a)]) != a || p[len(p)-1] != '}' {
		return d, false
	}
	rest := p[len(a) : len(p)-1]
	n, rest, ok := leadingInt(rest)
	if !ok {
		return d, false
	}
	d.Attempt = n
	if len(rest) == 0 {
		return d, true
	}
	if len(rest) < len(f)+1 || string(rest[:len(f)]) != f {
		return d, false
	}
	m, rest, ok := leadingInt(rest[len(f):])
	if !ok || len(rest) != 0 {
		return d, false
	}
	d.Failures = m
	return d, true
}

func leadingInt(p []byte) (int, []byte, bool) {
	i := 0
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	if i == 0 || i > 9 {
		return 0, p, false
	}
	n, _ := strconv.Atoi(string(p[:i]))
	return n, p[i:], true
}
