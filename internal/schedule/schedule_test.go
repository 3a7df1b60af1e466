package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseAccepts(t *testing.T) {
	t.Parallel()
	anchor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		expr  string
		after time.Time
		next  time.Time
	}{
		{"cron@*/5 * * * *", anchor.Add(7 * time.Minute), anchor.Add(10 * time.Minute)},
		{"cron@0 3 * * 1", anchor, time.Date(2026, 1, 5, 3, 0, 0, 0, time.UTC)}, // 2026-01-05 is a Monday
		{"cron@  0   0  1  *  *  ", anchor, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"interval@0 0 10 0", anchor.Add(25 * time.Minute), anchor.Add(30 * time.Minute)},
		{"interval@1 0 0 0", anchor.Add(-time.Hour), anchor.Add(24 * time.Hour)},
		{"interval@ 1  ", anchor, anchor.Add(time.Hour)}, // blank items are 0: 0 days 1 hour 0 0
		{"interval@0 0 0 1", anchor.Add(1500 * time.Millisecond), anchor.Add(2 * time.Second)},
		{"interval@0 0 0 30", anchor.Add(30 * time.Second), anchor.Add(60 * time.Second)}, // strictly after
		{"*/5 * * * *", anchor.Add(7 * time.Minute), anchor.Add(10 * time.Minute)},        // a bare crontab line
		{"@hourly", anchor.Add(7 * time.Minute), anchor.Add(time.Hour)},
		{"@daily", anchor.Add(time.Hour), anchor.Add(24 * time.Hour)},
		{"@midnight", anchor.Add(time.Hour), anchor.Add(24 * time.Hour)},
		{"@weekly", anchor, time.Date(2026, 1, 4, 0, 0, 0, 0, time.UTC)}, // a Sunday
		{"@monthly", anchor, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"@yearly", anchor, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"@annually", anchor, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"@every 5m", anchor.Add(7 * time.Minute), anchor.Add(10 * time.Minute)}, // anchored, as an interval
		{"@every 1h30m", anchor, anchor.Add(90 * time.Minute)},
		{Every(90 * time.Second), anchor, anchor.Add(90 * time.Second)},
	}
	for _, tc := range cases {
		s, err := Parse(tc.expr, nil)
		require.NoError(t, err, tc.expr)
		require.Equal(t, tc.expr, s.String())
		require.True(t, tc.next.Equal(s.Next(anchor, tc.after)), "%s: next after %s = %s, want %s", tc.expr, tc.after, s.Next(anchor, tc.after), tc.next)
	}
}

func TestCronTimeZone(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	s, err := Parse("cron@0 9 * * *", paris)
	require.NoError(t, err)
	after := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	require.True(t, time.Date(2026, 7, 1, 7, 0, 0, 0, time.UTC).Equal(s.Next(time.Time{}, after))) // 09:00 CEST
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for expr, why := range map[string]string{
		"":                           "5 fields, got 0",
		"*/5 * * * * *":              "5 fields, got 6",
		"@often":                     `unknown descriptor "@often"`,
		"@every":                     "needs a duration",
		"@every5m":                   "needs a duration",
		"@every 5 minutes":           `duration "5 minutes"`,
		"@every -5m":                 "not positive",
		"@every 1500ms":              "not a whole number of seconds",
		"@every 1000000h":            "longer than 100 years",
		"daily@0 0 * * *":            `unknown kind "daily"`,
		"cron@* * * *":               "5 fields, got 4",
		"cron@0 * * * * *":           "5 fields, got 6",
		"cron@@daily":                "5 fields, got 1",
		"cron@61 * * * *":            "end of range (61) above maximum (59)",
		"cron@CRON_TZ=UTC 0 * * *":   `field "CRON_TZ=UTC"`,
		"interval@0 0 10":            "4 space-separated items, got 3",
		"interval@0 0 0 0":           "the interval is zero",
		"interval@   ":               "the interval is zero",
		"interval@0 -1 0 0":          "hours -1 is negative",
		"interval@0 0 x 0":           `minutes "x" is not an integer`,
		"interval@40000 0 0 0":       "days 40000 is too large",
		"interval@0 0 0 0 0":         "got 5",
		"interval@0 0  10 0":         "got 5",
		"interval@99999999999 0 0 0": "too large",
	} {
		_, err := Parse(expr, nil)
		require.Error(t, err, expr)
		require.True(t, errors.Is(err, ErrInvalid), expr)
		msg := err.Error()
		require.Contains(t, msg, `"`+expr+`"`, "the message quotes the expression")
		require.Contains(t, msg, why, expr)
		for _, form := range []string{`"<minute> <hour> <day of month> <month> <day of week>"`, `"cron@"`, "@hourly", `"@every <duration>"`, "interval@<days> <hours> <minutes> <seconds>"} {
			require.Contains(t, msg, form, "the message shows the accepted forms")
		}
	}
}

func TestTicks(t *testing.T) {
	t.Parallel()
	anchor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := Parse("interval@0 0 0 10", nil)
	require.NoError(t, err)
	ticks := s.Ticks(anchor, anchor, anchor.Add(45*time.Second), 0)
	require.Equal(t, []time.Time{anchor.Add(10 * time.Second), anchor.Add(20 * time.Second), anchor.Add(30 * time.Second), anchor.Add(40 * time.Second)}, ticks)
	last2 := s.Ticks(anchor, anchor, anchor.Add(45*time.Second), 2)
	require.Equal(t, ticks[2:], last2)
	require.Empty(t, s.Ticks(anchor, anchor.Add(40*time.Second), anchor.Add(45*time.Second), 0))
}

func TestSplit(t *testing.T) {
	t.Parallel()
	anchor := time.Date(2026, 1, 1, 0, 0, 7, 0, time.UTC)
	at := func(d time.Duration) time.Time { return anchor.Add(d) }
	iv, err := Parse("interval@0 0 1 0", nil)
	require.NoError(t, err)
	kept, earlier := iv.Split(anchor, at(0), at(5*time.Minute+time.Second), 2)
	require.Equal(t, []time.Time{at(4 * time.Minute), at(5 * time.Minute)}, kept)
	require.Equal(t, Run{N: 3, First: at(time.Minute), Last: at(3 * time.Minute)}, earlier)
	kept, earlier = iv.Split(anchor, at(0), at(5*time.Minute), 0)
	require.Empty(t, kept)
	require.Equal(t, Run{N: 5, First: at(time.Minute), Last: at(5 * time.Minute)}, earlier)
	kept, earlier = iv.Split(anchor, at(0), at(5*time.Minute), 9)
	require.Len(t, kept, 5)
	require.Zero(t, earlier)
	kept, earlier = iv.Split(anchor, at(5*time.Minute), at(5*time.Minute+59*time.Second), 3)
	require.Empty(t, kept)
	require.Zero(t, earlier)

	// A cron schedule enumerates; the split agrees with Ticks.
	cr, err := Parse("cron@*/10 * * * *", time.FixedZone("X", 5*3600+30*60))
	require.NoError(t, err)
	from, to := time.Date(2026, 3, 1, 10, 3, 0, 0, time.UTC), time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	all := cr.Ticks(anchor, from, to, 0)
	require.Len(t, all, 12)
	for _, keep := range []int{0, 1, 5, 12, 20} {
		kept, earlier := cr.Split(anchor, from, to, keep)
		n := len(all) - min(keep, len(all))
		if n == len(all) {
			require.Empty(t, kept, "keep %d", keep)
		} else {
			require.Equal(t, all[n:], kept, "keep %d", keep)
		}
		if n == 0 {
			require.Zero(t, earlier)
		} else {
			require.Equal(t, Run{N: n, First: all[0], Last: all[n-1]}, earlier, "keep %d", keep)
		}
	}
	// The interval path agrees with Ticks too.
	all = iv.Ticks(anchor, at(30*time.Second), at(7*time.Minute), 0)
	kept, earlier = iv.Split(anchor, at(30*time.Second), at(7*time.Minute), 4)
	require.Equal(t, all[3:], kept)
	require.Equal(t, Run{N: 3, First: all[0], Last: all[2]}, earlier)
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"cron@*/5 * * * *", "cron@0 0 1 1 *", "interval@0 0 10 0", "interval@ 1  ", "interval@1 2 3 4", "cron@a b c d e", "x@y"} {
		f.Add(s)
	}
	anchor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := Parse(expr, nil)
		if err != nil {
			require.True(t, errors.Is(err, ErrInvalid))
			require.True(t, strings.Contains(err.Error(), Forms))
			return
		}
		// A valid schedule's ticks move forward.
		after := anchor.Add(time.Hour)
		next := s.Next(anchor, after)
		if !next.IsZero() {
			require.True(t, next.After(after), "%q: next %s not after %s", expr, next, after)
			if s.Interval() > 0 {
				require.Equal(t, time.Duration(0), next.Sub(anchor)%s.Interval())
			}
		}
	})
}
