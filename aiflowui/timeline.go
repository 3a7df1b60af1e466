package aiflowui

import (
	"fmt"
	"strings"
	"time"

	"github.com/aiflow-go/aiflow"
)

// Timeline draws the task executions of an execution as bars on one lane per
// task, from the execution's creation to its end (or now).
type Timeline struct {
	Width, Height int
	LabelW        int
	PlotW         int
	Lanes         []Lane
	Ticks         []Tick
}

// Lane is one task's row.
type Lane struct {
	Task string
	Y    int
	Bars []Bar
}

// Bar is one task execution: from its start (or creation, while queued) to
// its end (or now).
type Bar struct {
	X, W   int
	Status string
	Label  string
	Title  string
	Href   string
	// Retried marks a run that needed more than one attempt.
	Retried bool
}

// Tick is a time mark on the axis.
type Tick struct {
	X      int
	Label  string
	Anchor string // text-anchor of the label
}

const (
	tlWidth  = 960
	tlLabelW = 150
	tlLane   = 30
	tlTop    = 22
)

func layoutTimeline(start, end time.Time, tasks []string, runs map[string][]aiflow.TaskExecution, now time.Time,
	href func(aiflow.TaskExecution) string) Timeline {
	t := Timeline{Width: tlWidth, LabelW: tlLabelW}
	span := end.Sub(start)
	if span <= 0 {
		span = time.Second
	}
	plot := tlWidth - tlLabelW - 12
	t.PlotW = plot
	x := func(at time.Time) int {
		if at.Before(start) {
			at = start
		}
		return tlLabelW + int(float64(plot)*float64(at.Sub(start))/float64(span))
	}
	for i := 0; i <= 4; i++ {
		at := start.Add(span * time.Duration(i) / 4)
		label := "+" + duration(at.Sub(start))
		if i == 0 {
			label = at.UTC().Format("15:04:05")
		}
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 4:
			anchor = "end"
		}
		t.Ticks = append(t.Ticks, Tick{X: x(at), Label: label, Anchor: anchor})
	}
	for i, task := range tasks {
		l := Lane{Task: task, Y: tlTop + i*tlLane}
		for _, te := range runs[task] {
			from := te.StartedAt
			if from.IsZero() {
				from = te.CreatedAt
			}
			to := te.EndedAt
			if to.IsZero() {
				to = now
				if to.After(end) {
					to = end
				}
			}
			b := Bar{X: x(from), Status: string(te.Status), Href: href(te), Retried: te.Attempt > 1}
			b.W = max(x(to)-b.X, 4)
			var parts []string
			parts = append(parts, fmt.Sprintf("%s #%d %s", task, te.SeqNum, te.Status))
			if te.Attempt > 1 || te.Failures > 0 {
				parts = append(parts, fmt.Sprintf("attempt %d/%d, %d failed", te.Attempt, te.MaxAttempts, te.Failures))
			}
			parts = append(parts, duration(to.Sub(from)))
			b.Title = strings.Join(parts, " · ")
			b.Label = fmt.Sprintf("#%d", te.SeqNum)
			if te.Attempt > 1 {
				b.Label += fmt.Sprintf(" ×%d", te.Attempt)
			}
			l.Bars = append(l.Bars, b)
		}
		t.Lanes = append(t.Lanes, l)
	}
	t.Height = tlTop + len(tasks)*tlLane + 6
	return t
}
