package aiflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aiflow-go/aiflow/internal/startstop"
	"github.com/aiflow-go/aiflow/store"
)

// Task logs: one per task execution (its attempts append to it), written by
// the operators through TaskContext.Log and read with Client.ReadTaskLog.
// They are kept in the store, or in files under Config.TaskLogDir, and
// pruned after Config.TaskLogRetention.

// taskLogs is where a client keeps task logs.
type taskLogs interface {
	append(ctx context.Context, te *store.TaskExecutionRecord, data []byte) error
	read(ctx context.Context, te *store.TaskExecutionRecord, offset int64, limit int) ([]byte, int64, error)
	prune(ctx context.Context, endedBefore time.Time) (int, error)
}

// storeLogs keeps task logs in the store.
type storeLogs struct{ st store.Store }

func (l storeLogs) append(ctx context.Context, te *store.TaskExecutionRecord, data []byte) error {
	return l.st.AppendTaskLog(ctx, te.ID, data)
}

func (l storeLogs) read(ctx context.Context, te *store.TaskExecutionRecord, offset int64, limit int) ([]byte, int64, error) {
	return l.st.ReadTaskLog(ctx, te.ID, offset, limit)
}

func (l storeLogs) prune(ctx context.Context, endedBefore time.Time) (int, error) {
	return l.st.PruneTaskLogs(ctx, endedBefore)
}

// dirLogs keeps task logs in files: <dir>/<namespace>/<workflow>/<execution
// id>/<task>/<seq>.log.
type dirLogs struct {
	dir string
	st  store.Store
}

// TaskLogPath returns the file that holds a task execution's log under a
// Config.TaskLogDir: <dir>/<namespace>/<workflow>/<execution id>/<task>/<seq>.log.
func TaskLogPath(dir string, te *TaskExecution) string {
	return taskLogPath(dir, te.Namespace, te.Workflow, te.ExecutionID, te.Task, te.SeqNum)
}

func taskLogPath(dir, ns, workflow string, executionID int64, task string, seq int) string {
	return filepath.Join(dir, ns, workflow, strconv.FormatInt(executionID, 10), task, strconv.Itoa(seq)+".log")
}

// recordLogPath is TaskLogPath for a store record.
func recordLogPath(dir string, te *store.TaskExecutionRecord) string {
	return taskLogPath(dir, te.Namespace, te.Workflow, te.ExecutionID, te.Task, te.SeqNum)
}

func (l dirLogs) append(_ context.Context, te *store.TaskExecutionRecord, data []byte) error {
	path := recordLogPath(l.dir, te)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}

func (l dirLogs) read(_ context.Context, te *store.TaskExecutionRecord, offset int64, limit int) ([]byte, int64, error) {
	f, err := os.Open(recordLogPath(l.dir, te))
	if errors.Is(err, fs.ErrNotExist) {
		return []byte{}, 0, nil
	}
	if err != nil {
		return nil, offset, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, offset, err
	}
	size := info.Size()
	if offset < 0 || offset > size {
		offset = size
	}
	end := size
	if limit > 0 && offset+int64(limit) < end {
		end = offset + int64(limit)
	}
	buf := make([]byte, end-offset)
	n, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, offset, err
	}
	return buf[:n], offset + int64(n), nil
}

// prune removes the files not written since endedBefore whose task
// execution finished before it or no longer exists.
func (l dirLogs) prune(ctx context.Context, endedBefore time.Time) (int, error) {
	n := 0
	err := filepath.WalkDir(l.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() || !strings.HasSuffix(path, ".log") {
			return nil
		}
		info, err := d.Info()
		if err != nil || !info.ModTime().Before(endedBefore) {
			return nil
		}
		rel, err := filepath.Rel(l.dir, path)
		if err != nil {
			return nil
		}
		parts := strings.Split(rel, string(filepath.Separator))
		if len(parts) != 5 {
			return nil // not a task log
		}
		execID, err1 := strconv.ParseInt(parts[2], 10, 64)
		seq, err2 := strconv.Atoi(strings.TrimSuffix(parts[4], ".log"))
		if err1 != nil || err2 != nil {
			return nil
		}
		tes, err := l.st.ListTaskExecutions(ctx, store.TaskExecutionFilter{ExecutionID: execID, Task: parts[3]})
		if err != nil {
			return err
		}
		for _, te := range tes {
			if te.SeqNum == seq && (!te.Status.Finished() || !te.EndedAt.Before(endedBefore)) {
				return nil // still running, or finished too recently
			}
		}
		if err := os.Remove(path); err == nil {
			n++
			// Remove the directories left empty, up to the log directory.
			for dir := filepath.Dir(path); dir != l.dir && os.Remove(dir) == nil; dir = filepath.Dir(dir) {
			}
		}
		return nil
	})
	return n, err
}

// Bounds of the interval between two prunes of the task logs (constants: the
// interval follows Config.TaskLogRetention, which is the setting).
const (
	// pruneIntervalMin keeps a tiny retention (in tests) from pruning in a
	// busy loop.
	pruneIntervalMin = 10 * time.Millisecond
	// pruneIntervalMax makes a long retention still prune every hour.
	pruneIntervalMax = time.Hour
)

// pruneInterval is how often logs are pruned for a retention: a tenth of
// it, within [pruneIntervalMin, pruneIntervalMax].
func pruneInterval(retention time.Duration) time.Duration {
	return min(max(retention/10, pruneIntervalMin), pruneIntervalMax)
}

// pruneLoop deletes the logs older than the retention until ctx ends.
func (c *Client) pruneLoop(ctx context.Context) {
	c.prunePeriodically(ctx, c.cfg.TaskLogRetention, "task logs", c.logs.prune)
}

// prunePeriodically calls prune with the time retention ago every
// pruneInterval(retention) until ctx ends, and logs what it pruned (what
// names the records, such as "task logs").
func (c *Client) prunePeriodically(ctx context.Context, retention time.Duration, what string, prune func(ctx context.Context, before time.Time) (int, error)) {
	t := c.clock.NewTicker(pruneInterval(retention))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
		n, err := prune(ctx, c.clock.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			c.log.WarnContext(ctx, "pruning "+what+" failed", slog.Any("error", err))
		case n > 0:
			c.log.InfoContext(ctx, "pruned "+what, slog.Int("count", n), slog.Duration("retention", retention))
		}
	}
}

// ReadTaskLog reads a task execution's log from offset (up to limit bytes;
// everything when limit is 0) and returns the offset to continue from. A
// log pruned after Config.TaskLogRetention reads as empty.
func (c *Client) ReadTaskLog(ctx context.Context, taskExecutionID, offset int64, limit int) ([]byte, int64, error) {
	if err := c.stoppedError("read task log"); err != nil {
		return nil, 0, err
	}
	if _, ok := c.logs.(storeLogs); ok {
		data, next, err := c.store.ReadTaskLog(ctx, taskExecutionID, offset, limit)
		return data, next, opError("read task log", err)
	}
	te, err := c.store.GetTaskExecution(ctx, taskExecutionID)
	if err != nil {
		return nil, offset, opError("read task log", err)
	}
	data, next, err := c.logs.read(ctx, &te, offset, limit)
	if err != nil {
		return nil, offset, opError("read task log", fmt.Errorf("task execution %d: %w", taskExecutionID, err))
	}
	return data, next, nil
}

// logWriter buffers task output and appends it to the store's task log in
// the background. Writes after Close go to the store directly. Output it
// fails to append is lost: the first failure of a task execution's attempt
// is logged through the client's logger at once, and Close logs how much
// was lost in all.
type logWriter struct {
	logs   taskLogs
	te     *store.TaskExecutionRecord
	logger *slog.Logger
	mu     sync.Mutex
	closed bool
	ch     chan []byte
	// bg runs the background writer (loop) until Close.
	bg startstop.Service
	// lost counts the failed appends and their bytes; guarded by lostMu.
	lostMu     sync.Mutex
	lostWrites int
	lostBytes  int
}

// The log writer appends what it buffered every logFlushInterval, or as
// soon as logFlushBytes are buffered; up to logQueueWrites writes wait for
// it before Write blocks.
const (
	logFlushInterval = 200 * time.Millisecond
	logFlushBytes    = 64 << 10
	logQueueWrites   = 64
)

// newLogWriter returns the log writer of an attempt; its background writer
// starts with the first write (most attempts of light tasks write nothing).
func newLogWriter(logs taskLogs, te *store.TaskExecutionRecord, logger *slog.Logger) *logWriter {
	return &logWriter{logs: logs, te: te, logger: logger}
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		if err := w.logs.append(context.Background(), w.te, slices.Clone(p)); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if w.ch == nil {
		w.ch = make(chan []byte, logQueueWrites)
		_ = w.bg.Start(context.Background(), w.loop) // a new service with a live context: cannot fail
	}
	w.ch <- slices.Clone(p)
	return len(p), nil
}

// appendOrReport appends buffered output and reports a failure.
func (w *logWriter) appendOrReport(data []byte) {
	err := w.logs.append(context.Background(), w.te, data)
	if err == nil {
		return
	}
	w.lostMu.Lock()
	w.lostWrites++
	w.lostBytes += len(data)
	first := w.lostWrites == 1
	w.lostMu.Unlock()
	if first {
		w.logger.Error("appending to the task log failed: the output is lost (further failures of this attempt are counted when it ends)",
			slog.Int64("task_execution_id", w.te.ID), slog.Int("bytes", len(data)), slog.Any("error", err))
	}
}

// loop appends the queued writes in the background until ctx ends (Close),
// then appends what is still queued and returns.
func (w *logWriter) loop(ctx context.Context) {
	t := time.NewTicker(logFlushInterval)
	defer t.Stop()
	var buf []byte
	flush := func() {
		if len(buf) > 0 {
			w.appendOrReport(buf)
			buf = nil
		}
	}
	add := func(p []byte) {
		buf = append(buf, p...)
		if len(buf) >= logFlushBytes {
			flush()
		}
	}
	for {
		select {
		case p := <-w.ch:
			add(p)
		case <-t.C:
			flush()
		case <-ctx.Done():
			// Close has stopped the writes to ch: drain it.
			for {
				select {
				case p := <-w.ch:
					add(p)
				default:
					flush()
					return
				}
			}
		}
	}
}

// Close flushes what is buffered, stops the background writer and logs how
// much output was lost if appends failed more than once.
func (w *logWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	_ = w.bg.Stop(context.Background()) // nothing to stop if nothing was written
	w.lostMu.Lock()
	writes, bytes := w.lostWrites, w.lostBytes
	w.lostMu.Unlock()
	if writes > 1 {
		w.logger.Error("task log output was lost",
			slog.Int64("task_execution_id", w.te.ID), slog.Int("failed_appends", writes), slog.Int("bytes", bytes))
	}
	return nil
}
