package cli

import (
	"strconv"
)

// parseID reads a positive integer id given for what.
func parseID(what, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("%s %q: expected a positive integer id", what, s)
	}
	return id, nil
}
