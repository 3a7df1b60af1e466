package aiflowhttp

import (
	"strconv"
	"unicode/utf8"
)

// IdempotencyKeyHeader is the request header that makes POST /v1/events and
// POST .../executions act once: a retried request with the same key (in the
// same namespace) answers the first request's event or execution and adds
// nothing (see aiflow.SendEventOpts.IdempotencyKey).
const IdempotencyKeyHeader = "Idempotency-Key"

// checkJSONText refuses a JSON body that is not valid UTF-8 or whose strings
// escape a lone UTF-16 surrogate ("\ud800" without its pair): Go's decoder
// would silently replace either with U+FFFD, storing text the client never
// sent. It returns a description of the first problem, or "".
func checkJSONText(body []byte) string {
	if !utf8.Valid(body) {
		for i := 0; i < len(body); {
			r, n := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && n <= 1 {
				return "the request body is not valid UTF-8 (byte " + strconv.Itoa(i) + "): expected UTF-8 JSON"
			}
			i += n
		}
	}
	inString := false
	pendingHigh := -1 // offset of a high surrogate escape awaiting its low half
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !inString {
			if c == '"' {
				inString = true
			}
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 < len(body) && body[i+1] == 'u' && i+6 <= len(body) {
				v, err := strconv.ParseUint(string(body[i+2:i+6]), 16, 32)
				if err == nil {
					switch {
					case v >= 0xD800 && v <= 0xDBFF:
						if pendingHigh >= 0 {
							return loneSurrogate(body, pendingHigh)
						}
						pendingHigh = i
						i += 5
						continue
					case v >= 0xDC00 && v <= 0xDFFF:
						if pendingHigh < 0 || pendingHigh != i-6 {
							return loneSurrogate(body, i)
						}
						pendingHigh = -1
						i += 5
						continue
					}
				}
			}
			i++ // the escaped character
		}
		if pendingHigh >= 0 && i > pendingHigh+5 {
			return loneSurrogate(body, pendingHigh)
		}
	}
	if pendingHigh >= 0 {
		return loneSurrogate(body, pendingHigh)
	}
	return ""
}

func loneSurrogate(body []byte, at int) string {
	return "the request body escapes a lone UTF-16 surrogate (" + string(body[at:at+6]) + " at byte " + strconv.Itoa(at) +
		"): expected a pair such as \\ud83d\\ude00, or the character itself"
}
