package store

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidateEventRejectsNonText(t *testing.T) {
	t.Parallel()
	for _, ev := range []Event{
		{Namespace: "default", Key: "k\x00"},
		{Namespace: "default", Key: "k", Value: "a\x00b"},
		{Namespace: "default", Key: "k", Value: "\xff\xfe"},
		{Namespace: "default", Key: "k", Sender: "s\x00"},
	} {
		err := ValidateEvent(&ev)
		require.ErrorIs(t, err, ErrInvalid)
	}
	require.NoError(t, ValidateEvent(&Event{Namespace: "default", Key: "k", Value: "héllo ✓"}))
}
