package aiflow

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The delay before a retry doubles with every failure, starting at
// InitialBackoff, and never exceeds MaxBackoff (10 minutes when zero).
func TestRetryBackoffDoublesUpToTheCap(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{MaxAttempts: 10, InitialBackoff: time.Second, MaxBackoff: 10 * time.Second}
	var got []time.Duration
	for failures := 1; failures <= 6; failures++ {
		got = append(got, p.backoff(failures))
	}
	require.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}, got)

	// A cap that is not a doubling of InitialBackoff is reached exactly.
	p = RetryPolicy{InitialBackoff: 300 * time.Millisecond, MaxBackoff: time.Second}
	require.Equal(t, 600*time.Millisecond, p.backoff(2))
	require.Equal(t, time.Second, p.backoff(3))

	// Without MaxBackoff the cap is 10 minutes, also for counts whose
	// doubling overflows a Duration.
	p = RetryPolicy{InitialBackoff: time.Minute}
	require.Equal(t, 8*time.Minute, p.backoff(4))
	require.Equal(t, 10*time.Minute, p.backoff(5))
	require.Equal(t, 10*time.Minute, p.backoff(70))
	require.Equal(t, 10*time.Minute, p.backoff(5000))
}

func TestRetryBackoffZero(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		p        RetryPolicy
		failures int
	}{
		{"no initial backoff", RetryPolicy{MaxAttempts: 3, MaxBackoff: time.Minute}, 2},
		{"negative initial backoff", RetryPolicy{InitialBackoff: -time.Second}, 1},
		{"no failure yet", RetryPolicy{InitialBackoff: time.Second}, 0},
		{"negative failures", RetryPolicy{InitialBackoff: time.Second}, -1},
	} {
		require.Zero(t, tc.p.backoff(tc.failures), tc.name)
	}
	// A MaxBackoff below InitialBackoff caps the first delay too.
	require.Equal(t, time.Second, RetryPolicy{InitialBackoff: time.Minute, MaxBackoff: time.Second}.backoff(1))
}
