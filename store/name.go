package store

import "fmt"

// MaxNameBytes is the longest namespace, workflow or task name accepted.
const MaxNameBytes = 128

// ValidateName checks a namespace, workflow or task name: 1 to 128 bytes of
// ASCII letters, digits, '_', '-' and '.', starting with a letter or digit.
// what names the kind of name in the error ("namespace", "workflow", ...).
func ValidateName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%w: %s name is empty: expected 1 to %d letters, digits, '_', '-' or '.'", ErrInvalid, what, MaxNameBytes)
	}
	if len(name) > MaxNameBytes {
		return fmt.Errorf("%w: %s name %.40q... is %d bytes: expected at most %d", ErrInvalid, what, name, len(name), MaxNameBytes)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return fmt.Errorf("%w: %s name %q: expected it to start with a letter or digit", ErrInvalid, what, name)
		}
		if !alnum && c != '_' && c != '-' && c != '.' {
			return fmt.Errorf("%w: %s name %q: character %q at %d: expected only letters, digits, '_', '-' and '.'", ErrInvalid, what, name, c, i)
		}
	}
	return nil
}
