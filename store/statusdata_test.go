package store

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStatusDataEncodingMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, d := range []StatusData{
		{Attempt: 1},
		{Attempt: 3, Failures: 2},
		{Attempt: 2, Failures: 1, Error: "exit status 1: \"quoted\" <html> \u2028"},
		{Attempt: 1, Interrupted: true, Error: "stopped"},
		{Attempt: 4, Reason: "STOP by rule 1"},
		{Attempt: 3, Failures: 1, Interruptions: 2, Interrupted: true, Error: "lost", Reason: "worker lost"},
	} {
		want, err := json.Marshal(d)
		require.NoError(t, err)
		require.Equal(t, string(want), string(d.appendJSON(nil)))
		ev := Event{Data: want}
		require.Equal(t, d, DecodeStatusData(&ev))
	}
}

func FuzzDecodeStatusData(f *testing.F) {
	f.Add([]byte(`{"attempt":1}`))
	f.Add([]byte(`{"attempt":12,"failures":3}`))
	f.Add([]byte(`{"attempt":1,"error":"x"}`))
	f.Fuzz(func(t *testing.T, p []byte) {
		var want StatusData
		if json.Unmarshal(p, &want) != nil {
			return
		}
		if d, ok := decodeStatusFast(p); ok {
			require.Equal(t, want, d)
		}
	})
}
