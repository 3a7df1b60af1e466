// Package schedule parses schedule expressions and computes their nominal
// fire times:
//
//	cron@<minute> <hour> <day of month> <month> <day of week>
//	<minute> <hour> <day of month> <month> <day of week>
//	@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly
//	interval@<days> <hours> <minutes> <seconds>
//	@every <Go duration>
//
// A cron expression is the standard 5-field crontab (no seconds), with or
// without the "cron@" prefix, or one of the descriptors, evaluated in a time
// zone (UTC by default). An interval has exactly four space-separated items;
// a blank item counts as 0; negative items and an all-zero interval are
// rejected. "@every" takes a Go duration ("5m", "1h30m") of whole seconds.
// Interval ticks are anchored: they fall at anchor + k × interval, so every
// process computes the same nominal fire times.
//
// Import rule: standard library and robfig/cron (the crontab parser gocron
// itself uses) only.
package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid schedule expression")

// Forms is the help text quoted by parse errors.
const Forms = `expected a 5-field crontab "<minute> <hour> <day of month> <month> <day of week>", with or without the prefix "cron@" (for example "*/5 * * * *"), a descriptor (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly), "@every <duration>" (a Go duration of whole seconds, for example "@every 5m") or "interval@<days> <hours> <minutes> <seconds>" (for example "interval@0 0 10 0" for every 10 minutes)`

// maxInterval bounds intervals (about 100 years) so durations cannot overflow.
const maxInterval = 100 * 365 * 24 * time.Hour

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// descriptors are the accepted "@" shorthands of crontabs.
var descriptors = map[string]string{
	"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
	"@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}

// Schedule is a parsed expression.
type Schedule struct {
	expr     string
	loc      *time.Location
	cron     cron.Schedule
	interval time.Duration
}

// Parse parses expr; loc is the time zone of cron expressions (UTC when nil).
func Parse(expr string, loc *time.Location) (*Schedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	fail := func(why string) error {
		return fmt.Errorf("%w %q: %s; %s", ErrInvalid, expr, why, Forms)
	}
	kind, body, ok := strings.Cut(expr, "@")
	switch {
	case !ok:
		kind, body = "cron", expr
	case kind == "" && strings.HasPrefix(body, "every"):
		return parseEvery(expr, strings.TrimPrefix(body, "every"), loc, fail)
	case kind == "":
		line, known := descriptors[expr]
		if !known {
			return nil, fail(fmt.Sprintf("unknown descriptor %q", expr))
		}
		kind, body = "cron", line
	}
	switch kind {
	case "cron":
		fields := strings.Fields(body)
		if len(fields) != 5 {
			return nil, fail(fmt.Sprintf("a crontab needs 5 fields, got %d", len(fields)))
		}
		for _, f := range fields {
			if strings.ContainsAny(f, "=@") {
				return nil, fail(fmt.Sprintf("field %q", f))
			}
		}
		s, err := parser.Parse(strings.Join(fields, " "))
		if err != nil {
			return nil, fail(err.Error())
		}
		return &Schedule{expr: expr, loc: loc, cron: s}, nil
	case "interval":
		items := strings.Split(body, " ")
		if len(items) != 4 {
			return nil, fail(fmt.Sprintf("an interval needs 4 space-separated items, got %d", len(items)))
		}
		units := []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second}
		names := []string{"days", "hours", "minutes", "seconds"}
		var total time.Duration
		for i, it := range items {
			if it == "" {
				continue
			}
			n, err := strconv.ParseInt(it, 10, 64)
			if err != nil {
				return nil, fail(fmt.Sprintf("%s %q is not an integer", names[i], it))
			}
			if n < 0 {
				return nil, fail(fmt.Sprintf("%s %d is negative", names[i], n))
			}
			if n > int64(maxInterval/units[i]) {
				return nil, fail(fmt.Sprintf("%s %d is too large", names[i], n))
			}
			total += time.Duration(n) * units[i]
			if total > maxInterval {
				return nil, fail("the interval is longer than 100 years")
			}
		}
		if total == 0 {
			return nil, fail("the interval is zero")
		}
		return &Schedule{expr: expr, loc: loc, interval: total}, nil
	}
	return nil, fail(fmt.Sprintf("unknown kind %q", kind))
}

// parseEvery parses the duration of "@every <duration>".
func parseEvery(expr, body string, loc *time.Location, fail func(string) error) (*Schedule, error) {
	if body == "" || (body[0] != ' ' && body[0] != '\t') {
		return nil, fail("\"@every\" needs a duration after a space, for example \"@every 5m\"")
	}
	d, err := time.ParseDuration(strings.TrimSpace(body))
	switch {
	case err != nil:
		return nil, fail(fmt.Sprintf("duration %q: expected a Go duration such as \"90s\", \"5m\" or \"1h30m\"", strings.TrimSpace(body)))
	case d <= 0:
		return nil, fail(fmt.Sprintf("duration %s is not positive", d))
	case d%time.Second != 0:
		return nil, fail(fmt.Sprintf("duration %s is not a whole number of seconds", d))
	case d > maxInterval:
		return nil, fail("the interval is longer than 100 years")
	}
	return &Schedule{expr: expr, loc: loc, interval: d}, nil
}

// Every returns the "@every" expression of d, which Parse reads back.
func Every(d time.Duration) string { return "@every " + d.String() }

// String returns the expression.
func (s *Schedule) String() string { return s.expr }

// Interval returns the interval of an interval schedule, 0 for cron.
func (s *Schedule) Interval() time.Duration { return s.interval }

// Next returns the first nominal fire time strictly after after. anchor is
// the start of an interval schedule's ticks (ignored for cron). A zero result
// means there is none (a crontab that never matches).
func (s *Schedule) Next(anchor, after time.Time) time.Time {
	if s.interval > 0 {
		if after.Before(anchor) {
			return anchor.Add(s.interval)
		}
		k := after.Sub(anchor)/s.interval + 1
		return anchor.Add(k * s.interval)
	}
	return s.cron.Next(after.In(s.loc))
}

// Ticks returns the nominal fire times in (from, to], the last limit of
// them (all when limit <= 0), oldest first.
func (s *Schedule) Ticks(anchor, from, to time.Time, limit int) []time.Time {
	var out []time.Time
	for t := s.Next(anchor, from); !t.IsZero() && !t.After(to); t = s.Next(anchor, t) {
		out = append(out, t)
		if limit > 0 && len(out) > limit {
			out = out[1:]
		}
	}
	return out
}

// Run describes consecutive nominal fire times by their number, the first
// and the last; the zero Run has none.
type Run struct {
	N           int
	First, Last time.Time
}

// Split divides the nominal fire times in (from, to] into the last keep of
// them (oldest first) and the earlier ones, which it only counts (an interval
// schedule's are counted without enumerating them).
func (s *Schedule) Split(anchor, from, to time.Time, keep int) (kept []time.Time, earlier Run) {
	keep = max(keep, 0)
	first := s.Next(anchor, from)
	if first.IsZero() || first.After(to) {
		return nil, Run{}
	}
	if s.interval > 0 {
		total := int64(to.Sub(first)/s.interval) + 1
		skip := max(total-int64(keep), 0)
		if skip > 0 {
			earlier = Run{N: int(skip), First: first, Last: first.Add(time.Duration(skip-1) * s.interval)}
		}
		for i := skip; i < total; i++ {
			kept = append(kept, first.Add(time.Duration(i)*s.interval))
		}
		return kept, earlier
	}
	for t := first; !t.IsZero() && !t.After(to); t = s.Next(anchor, t) {
		kept = append(kept, t)
		if len(kept) > keep {
			if earlier.N == 0 {
				earlier.First = kept[0]
			}
			earlier.N++
			earlier.Last = kept[0]
			kept = kept[1:]
		}
	}
	return kept, earlier
}
