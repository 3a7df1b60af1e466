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

func TestValidTraceParent(t *testing.T) {
	t.Parallel()
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	require.True(t, ValidTraceParent(tp))
	require.True(t, ValidTraceParent("ff-ffffffffffffffffffffffffffffffff-ffffffffffffffff-ff"))
	for _, s := range []string{"", "00", tp[:54], tp + "0", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331_01"} {
		require.False(t, ValidTraceParent(s), "%q", s)
	}
	// Every byte replaced by every other value: valid only where a
	// lower-case hexadecimal digit replaces one.
	for i := range len(tp) {
		for c := range 256 {
			b := []byte(tp)
			b[i] = byte(c)
			dash := i == 2 || i == 35 || i == 52
			hex := (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
			want := (dash && c == '-') || (!dash && hex)
			require.Equal(t, want, ValidTraceParent(string(b)), "byte %d = %q", i, c)
		}
	}
}

func BenchmarkValidTraceParent(b *testing.B) {
	tp := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for b.Loop() {
		if !ValidTraceParent(tp) {
			b.Fatal("invalid")
		}
	}
}
