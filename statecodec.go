package aiflow

import (
	"math"
	"strconv"
)

// The fast paths of State[T].Value and State[T].Update for the plain scalar
// types that conditions count and remember with (int and the other integer
// types, float64, bool, string): a condition evaluated in every running
// execution on every event spends most of its time in encoding/json
// otherwise. Each fast path gives exactly what encoding/json gives; whatever
// it does not recognise (null, whitespace, escapes, non-ASCII text, numbers
// out of range, named types) goes to encoding/json, errors included.

// decodeScalar decodes data into *p if p points to a type with a fast path
// and data is in the plain form that fast path recognises. It reports
// whether it did; if not, *p is unchanged.
func decodeScalar(data []byte, p any) bool {
	switch p := p.(type) {
	case *int:
		return decodeInt(data, p, strconv.IntSize)
	case *int64:
		return decodeInt(data, p, 64)
	case *int32:
		return decodeInt(data, p, 32)
	case *int16:
		return decodeInt(data, p, 16)
	case *int8:
		return decodeInt(data, p, 8)
	case *uint:
		return decodeUint(data, p, strconv.IntSize)
	case *uint64:
		return decodeUint(data, p, 64)
	case *uint32:
		return decodeUint(data, p, 32)
	case *uint16:
		return decodeUint(data, p, 16)
	case *uint8:
		return decodeUint(data, p, 8)
	case *float64:
		if !isJSONNumber(data) {
			return false
		}
		f, err := strconv.ParseFloat(string(data), 64)
		if err != nil {
			return false
		}
		*p = f
		return true
	case *bool:
		switch string(data) {
		case "true":
			*p = true
			return true
		case "false":
			*p = false
			return true
		}
	case *string:
		if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' || !plainASCII(data[1:len(data)-1]) {
			return false
		}
		*p = string(data[1 : len(data)-1])
		return true
	}
	return false
}

// encodeScalar encodes *p as json.Marshal does if p points to a type with a
// fast path and the value is in the range that fast path covers.
func encodeScalar(p any) ([]byte, bool) { return appendScalar(nil, p) }

// appendScalar is encodeScalar appending to b (State.Update encodes into a
// buffer of its context, which SetState copies from).
func appendScalar(b []byte, p any) ([]byte, bool) {
	switch p := p.(type) {
	case *int:
		return strconv.AppendInt(b, int64(*p), 10), true
	case *int64:
		return strconv.AppendInt(b, *p, 10), true
	case *int32:
		return strconv.AppendInt(b, int64(*p), 10), true
	case *int16:
		return strconv.AppendInt(b, int64(*p), 10), true
	case *int8:
		return strconv.AppendInt(b, int64(*p), 10), true
	case *uint:
		return strconv.AppendUint(b, uint64(*p), 10), true
	case *uint64:
		return strconv.AppendUint(b, *p, 10), true
	case *uint32:
		return strconv.AppendUint(b, uint64(*p), 10), true
	case *uint16:
		return strconv.AppendUint(b, uint64(*p), 10), true
	case *uint8:
		return strconv.AppendUint(b, uint64(*p), 10), true
	case *float64:
		// encoding/json writes 'f' format in this range ('e' outside it,
		// and an error for NaN and infinities).
		if a := math.Abs(*p); a == 0 || a >= 1e-6 && a < 1e21 {
			return strconv.AppendFloat(b, *p, 'f', -1, 64), true
		}
	case *bool:
		if *p {
			return append(b, "true"...), true
		}
		return append(b, "false"...), true
	case *string:
		if plainASCII(*p) {
			b = append(b, '"')
			b = append(b, *p...)
			return append(b, '"'), true
		}
	}
	return b, false
}

// plainASCII reports whether s is printable ASCII that JSON strings hold as
// is both ways: no quote, no backslash, and none of <, >, & (which
// json.Marshal escapes).
func plainASCII[S ~string | ~[]byte](s S) bool {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

type (
	signed interface {
		~int | ~int64 | ~int32 | ~int16 | ~int8
	}
	unsigned interface {
		~uint | ~uint64 | ~uint32 | ~uint16 | ~uint8
	}
)

// decodeInt decodes a JSON integer (-?(0|[1-9][0-9]*), at most 19 digits)
// that fits in bits.
func decodeInt[T signed](data []byte, p *T, bits int) bool {
	neg := len(data) > 0 && data[0] == '-'
	if neg {
		data = data[1:]
	}
	u, ok := parseDigits(data)
	limit := uint64(1) << (bits - 1)
	switch {
	case !ok:
		return false
	case neg && u <= limit:
		*p = T(int64(-u))
	case !neg && u < limit:
		*p = T(int64(u))
	default:
		return false
	}
	return true
}

// decodeUint decodes a JSON integer (0|[1-9][0-9]*, at most 19 digits) that
// fits in bits.
func decodeUint[T unsigned](data []byte, p *T, bits int) bool {
	u, ok := parseDigits(data)
	if !ok || bits < 64 && u >= uint64(1)<<bits {
		return false
	}
	*p = T(u)
	return true
}

// parseDigits parses 0|[1-9][0-9]* of at most 19 digits (below 2^64).
func parseDigits(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 || b[0] == '0' && len(b) > 1 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	return u, true
}

// isJSONNumber reports whether b is exactly a JSON number:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isJSONNumber(b []byte) bool {
	i := 0
	digits := func() int {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}
