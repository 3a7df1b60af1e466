// Package e2e drives the dashboard (package aiflowui) in headless Chromium.
// It is a module of its own so that the browser driver never enters the
// library's go.mod.
//
//	cd e2e && go test -count=1 ./...
//	AIFLOW_SCREENSHOTS=../docs/images go test -count=1 ./...   # also writes screenshots
//
// Without a Chromium (chromium, chromium-browser, google-chrome or
// headless-shell on PATH, or AIFLOW_CHROME naming it) the tests skip, loudly,
// except under CI (CI=true) or with AIFLOW_TEST_REQUIRE_BROWSER=1, where they
// fail.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowhttp"
	"github.com/aiflow-go/aiflow/aiflowui"
	"github.com/aiflow-go/aiflow/examples/dashboard/demo"
	"github.com/aiflow-go/aiflow/store/memory"
)

var screenshots = flag.String("screenshots", os.Getenv("AIFLOW_SCREENSHOTS"), "directory to write screenshots of the main pages to (none when empty)")

const (
	adminToken  = "e2e-admin"
	readerToken = "e2e-reader"
	waitLong    = 45 * time.Second
)

// chromePath finds Chromium, or skips (fails under CI) without it.
func chromePath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("AIFLOW_CHROME"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "NO BROWSER: the dashboard's browser tests need Chromium (apt-get install -y chromium); they did NOT run"
	if os.Getenv("CI") == "true" || os.Getenv("AIFLOW_TEST_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg)
	}
	fmt.Fprintln(os.Stderr, "=== "+msg)
	t.Skip(msg)
	return ""
}

// system is the demo's workflows on the memory store, served under /ui
// (the dashboard) and /api (the HTTP API).
type system struct {
	client *aiflow.Client
	srv    *httptest.Server
	ui     string
}

func newSystem(t *testing.T, ctx context.Context) *system {
	t.Helper()
	st := memory.New(nil)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := aiflow.New(&aiflow.Config{Store: st, Logger: logger})
	require.NoError(t, err)
	require.NoError(t, demo.Setup(ctx, c))
	require.NoError(t, c.Start(ctx))
	require.NoError(t, demo.Populate(ctx, c))
	auth := aiflowhttp.Auth{Token: adminToken, Tokens: map[string]*aiflowhttp.Caller{readerToken: {Name: "viewer", ReadOnly: true}}}
	mux := http.NewServeMux()
	mux.Handle("/api/", http.StripPrefix("/api", aiflowhttp.NewHandler(c, &aiflowhttp.Options{Auth: auth, Logger: logger})))
	mux.Handle("/ui/", http.StripPrefix("/ui", aiflowui.NewHandler(c, &aiflowui.Options{Auth: auth, Logger: logger,
		RefreshInterval: 500 * time.Millisecond})))
	s := &system{client: c, srv: httptest.NewServer(mux)}
	s.ui = s.srv.URL + "/ui"
	t.Cleanup(func() {
		s.srv.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Stop(sctx)
		_ = st.Close()
	})
	return s
}

// newBrowser starts headless Chromium and returns a tab's context.
func newBrowser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	path := chromePath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1440, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelA)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(cancelB)
	require.NoError(t, chromedp.Do(bctx)) // starts the browser
	return bctx
}

// within runs steps with a deadline.
func within(t *testing.T, ctx context.Context, d time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for i, step := range steps {
		if err := chromedp.Do(tctx, step); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("step %d of %d failed at %s: %v", i+1, len(steps), loc, err)
		}
	}
}

// until waits for a JavaScript condition to hold.
func until(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(waitLong), chromedp.WithPollingInterval(100*time.Millisecond))(ctx, tg)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", expr, err)
		}
		return nil
	})
}

func signIn(t *testing.T, ctx context.Context, s *system, token string) {
	t.Helper()
	within(t, ctx, waitLong,
		chromedp.Navigate(s.ui+"/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), token),
		chromedp.Submit(chromedp.CSS(`input[name="token"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-workflow]`)),
	)
}

func evaluate[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, waitLong)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	require.NoError(t, err, expr)
	return v
}

func TestDashboardInABrowser(t *testing.T) {
	chromePath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s := newSystem(t, ctx)
	b := newBrowser(t, ctx)
	signIn(t, b, s, adminToken)

	t.Run("OverviewStartsAnExecutionWhoseTasksSucceedWithoutAReload", func(t *testing.T) {
		within(t, b, waitLong,
			chromedp.Navigate(s.ui+"/"),
			chromedp.Click(chromedp.CSS(`tr[data-workflow="`+demo.Quickstart+`"] button[data-action="start"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#xstatus`)),
		)
		loc := evaluate[string](t, b, `location.pathname`)
		require.Regexp(t, `^/ui/executions/\d+$`, loc)
		// A mark that a reload would erase.
		evaluate[int](t, b, `window.__noReload = 42`)
		within(t, b, waitLong,
			until(`document.querySelector('#xstatus[data-status="SUCCESS"]') !== null`),
			until(`document.querySelectorAll('.task[data-status="SUCCESS"]').length === 4`),
		)
		require.Equal(t, 42, evaluate[int](t, b, `window.__noReload`), "the page was reloaded")
	})

	t.Run("ThemeToggleSwitchesAndIsRemembered", func(t *testing.T) {
		within(t, b, waitLong, chromedp.Navigate(s.ui+"/"), chromedp.WaitVisible(chromedp.CSS(`#theme`)))
		before := evaluate[string](t, b, `getComputedStyle(document.body).backgroundColor`)
		within(t, b, waitLong, chromedp.Click(chromedp.CSS(`#theme`)))
		after := evaluate[string](t, b, `getComputedStyle(document.body).backgroundColor`)
		require.NotEqual(t, before, after)
		within(t, b, waitLong, chromedp.Navigate(s.ui+"/events"), chromedp.WaitVisible(chromedp.CSS(`main`)))
		require.Equal(t, after, evaluate[string](t, b, `getComputedStyle(document.body).backgroundColor`), "the choice lasts across pages")
		within(t, b, waitLong, chromedp.Click(chromedp.CSS(`#theme`)))
		require.Equal(t, before, evaluate[string](t, b, `getComputedStyle(document.body).backgroundColor`))
		evaluate[bool](t, b, `localStorage.removeItem("aiflow-theme"), document.documentElement.removeAttribute("data-theme"), true`)
	})

	t.Run("TaskLog", func(t *testing.T) {
		xs, err := s.client.ListWorkflowExecutions(ctx, &aiflow.ExecutionFilter{Workflow: demo.Quickstart, Limit: 1})
		require.NoError(t, err)
		require.Len(t, xs, 1)
		within(t, b, waitLong,
			chromedp.Navigate(fmt.Sprintf("%s/executions/%d", s.ui, xs[0].ID)),
			chromedp.Click(chromedp.CSS(`#task-task1 a[data-log]`)),
			chromedp.WaitVisible(chromedp.CSS(`#log`)),
			until(`document.querySelector('#log').textContent.includes('I am the 1st task.')`),
		)
	})

	t.Run("PauseAndResumeASchedule", func(t *testing.T) {
		scheds, err := s.client.ListWorkflowSchedules(ctx, aiflow.DefaultNamespace, demo.Interval)
		require.NoError(t, err)
		require.Len(t, scheds, 1)
		row := fmt.Sprintf(`tr[data-schedule="%d"]`, scheds[0].ID)
		within(t, b, waitLong,
			chromedp.Navigate(s.ui+"/namespaces/default/workflows/"+demo.Interval),
			chromedp.Click(chromedp.CSS(row+` button[value="pause"]`)),
			chromedp.WaitVisible(chromedp.CSS(row+` button[value="resume"]`)),
		)
		got, err := s.client.GetWorkflowSchedule(ctx, scheds[0].ID)
		require.NoError(t, err)
		require.True(t, got.Paused)
		within(t, b, waitLong,
			chromedp.Click(chromedp.CSS(row+` button[value="resume"]`)),
			chromedp.WaitVisible(chromedp.CSS(row+` button[value="pause"]`)),
		)
		got, err = s.client.GetWorkflowSchedule(ctx, scheds[0].ID)
		require.NoError(t, err)
		require.False(t, got.Paused)
	})

	t.Run("SendAnEventFromTheFormAndSeeTheTaskItStarts", func(t *testing.T) {
		id, err := s.client.StartWorkflowExecution(ctx, demo.Approval, nil)
		require.NoError(t, err)
		within(t, b, waitLong,
			chromedp.Navigate(fmt.Sprintf("%s/executions/%d", s.ui, id)),
			until(`document.querySelector('.task[data-task="prepare"][data-status="SUCCESS"]') !== null`),
			chromedp.Navigate(s.ui+"/events"),
			chromedp.SendKeys(chromedp.CSS(`#sendform input[name="key"]`), demo.ApprovedKey),
			chromedp.SendKeys(chromedp.CSS(`#sendform input[name="execution"]`), fmt.Sprint(id)),
			chromedp.Submit(chromedp.CSS(`#sendform input[name="key"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#sent`)),
			until(fmt.Sprintf(`document.querySelector('#events tr[data-key=%q]') !== null`, demo.ApprovedKey)),
			chromedp.Navigate(fmt.Sprintf("%s/executions/%d", s.ui, id)),
			until(`document.querySelector('.task[data-task="publish"][data-status="SUCCESS"]') !== null`),
			until(`document.querySelector('#xstatus[data-status="SUCCESS"]') !== null`),
		)
	})

	t.Run("AScriptInAnEventValueIsText", func(t *testing.T) {
		const value = `<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">`
		within(t, b, waitLong,
			chromedp.Navigate(s.ui+"/events"),
			chromedp.SendKeys(chromedp.CSS(`#sendform input[name="key"]`), "note"),
			chromedp.SendKeys(chromedp.CSS(`#sendform input[name="value"]`), value),
			chromedp.Submit(chromedp.CSS(`#sendform input[name="key"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#sent`)),
			until(`document.querySelector('#events tr[data-key="note"]') !== null`),
		)
		require.Equal(t, value, evaluate[string](t, b, `document.querySelector('#events tr[data-key="note"] .evval').textContent`))
		require.Equal(t, "undefined", evaluate[string](t, b, `typeof window.__xss`))
		require.Zero(t, evaluate[int](t, b, `document.querySelectorAll('#events script, #events img').length`))
	})

	t.Run("StopStartAndRestartATaskFromTheExecutionPage", func(t *testing.T) {
		xs, err := s.client.ListWorkflowExecutions(ctx, &aiflow.ExecutionFilter{Workflow: demo.OnlineML, Limit: 1})
		require.NoError(t, err)
		require.Len(t, xs, 1)
		id := xs[0].ID
		// latest is the newest run of the streaming task predicting.
		latest := func() aiflow.TaskExecution {
			tes, err := s.client.ListTaskExecutions(ctx, &aiflow.TaskExecutionFilter{ExecutionID: id, Task: "predicting"})
			require.NoError(t, err)
			require.NotEmpty(t, tes)
			newest := tes[0]
			for _, te := range tes {
				if te.SeqNum > newest.SeqNum {
					newest = te
				}
			}
			return newest
		}
		task := `#task-predicting`
		// Each button posts a form and comes back to the page, which then
		// follows the task live: wait with queries that survive navigation.
		status := func(st aiflow.TaskStatus) chromedp.Action[chromedp.Void] {
			return chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`%s[data-status="%s"]`, task, st)))
		}
		logLink := func(te aiflow.TaskExecution) chromedp.Action[chromedp.Void] {
			return chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`%s a[data-log="%d"]`, task, te.ID)))
		}
		newRun := func(after int) aiflow.TaskExecution {
			var te aiflow.TaskExecution
			require.Eventually(t, func() bool { te = latest(); return te.SeqNum > after && te.Status == aiflow.TaskRunning },
				waitLong, 20*time.Millisecond, "a run after #%d runs", after)
			return te
		}
		within(t, b, waitLong,
			chromedp.Navigate(fmt.Sprintf("%s/executions/%d", s.ui, id)),
			status(aiflow.TaskRunning),
		)
		first := latest()

		// Stop: the run ends STOPPED and the button becomes Start.
		within(t, b, waitLong,
			chromedp.Click(chromedp.CSS(task+` button[value="stop"]`)),
			status(aiflow.TaskStopped),
			chromedp.WaitVisible(chromedp.CSS(task+` button[value="start"]`)),
		)
		stopped := latest()
		require.Equal(t, first.ID, stopped.ID)
		require.Equal(t, aiflow.TaskStopped, stopped.Status)

		// Start: a new run, shown with its log link and a Stop button.
		within(t, b, waitLong, chromedp.Click(chromedp.CSS(task+` button[value="start"]`)))
		second := newRun(first.SeqNum)
		within(t, b, waitLong, logLink(second), status(aiflow.TaskRunning), chromedp.WaitVisible(chromedp.CSS(task+` button[value="stop"]`)))

		// Restart: the running run stops and another starts.
		within(t, b, waitLong, chromedp.Click(chromedp.CSS(task+` button[value="restart"]`)))
		third := newRun(second.SeqNum)
		within(t, b, waitLong, logLink(third), status(aiflow.TaskRunning))
		restarted, err := s.client.GetTaskExecution(ctx, second.ID)
		require.NoError(t, err)
		require.Equal(t, aiflow.TaskStopped, restarted.Status, "the restarted run was stopped")
		x, err := s.client.GetWorkflowExecution(ctx, id)
		require.NoError(t, err)
		require.Equal(t, aiflow.WorkflowRunning, x.Status, "the execution runs on")
	})

	if *screenshots != "" {
		t.Run("Screenshots", func(t *testing.T) { takeScreenshots(t, b, s) })
	}

	t.Run("AReadOnlyIdentitySeesNoButtonsAndIsRefused", func(t *testing.T) {
		within(t, b, waitLong,
			chromedp.Click(chromedp.CSS(`form[action$="/logout"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)),
		)
		signIn(t, b, s, readerToken)
		within(t, b, waitLong, chromedp.Navigate(s.ui+"/namespaces/default/workflows/"+demo.Quickstart), chromedp.WaitVisible(chromedp.CSS(`svg.graph`)))
		require.Zero(t, evaluate[int](t, b, `document.querySelectorAll('form[action*="/actions/"]').length`))
		// A forged form, with this browser's own CSRF token: refused.
		status := evaluate[int](t, b, `fetch(location.pathname.replace(/\/namespaces\/.*/, '/actions/start-execution'), {method: 'POST',
			body: new URLSearchParams({csrf: document.querySelector('meta[name="csrf-token"]').content, namespace: 'default', workflow: '`+demo.Quickstart+`'})}).then(r => r.status)`)
		require.Equal(t, http.StatusForbidden, status)
	})
}

// takeScreenshots writes the main pages, light and dark, desktop and phone.
func takeScreenshots(t *testing.T, b context.Context, s *system) {
	require.NoError(t, os.MkdirAll(*screenshots, 0o755))
	// Let the living system show something: a few finished quickstarts,
	// online_ml's loop going round.
	var ids []int64
	for i := range 14 {
		wf := demo.Quickstart
		if i%2 == 1 {
			wf = demo.Report
		}
		id, err := s.client.StartWorkflowExecution(b, wf, nil)
		require.NoError(t, err)
		ids = append(ids, id)
	}
	for _, id := range ids {
		_, err := s.client.WaitWorkflowExecution(b, id)
		require.NoError(t, err)
	}
	xs, err := s.client.ListWorkflowExecutions(b, &aiflow.ExecutionFilter{Workflow: demo.OnlineML, Limit: 1})
	require.NoError(t, err)
	require.Len(t, xs, 1)
	within(t, b, 2*waitLong, chromedp.Navigate(fmt.Sprintf("%s/executions/%d", s.ui, xs[0].ID)),
		until(`document.querySelectorAll('.task[data-task="deploying"] a[data-log]').length >= 1`))
	tes, err := s.client.ListTaskExecutions(b, &aiflow.TaskExecutionFilter{ExecutionID: xs[0].ID, Task: "validating"})
	require.NoError(t, err)
	require.NotEmpty(t, tes)
	pages := []struct{ name, path string }{
		{"overview", "/"},
		{"workflow", "/namespaces/default/workflows/" + demo.OnlineML},
		{"execution", fmt.Sprintf("/executions/%d", xs[0].ID)},
		{"executions", "/executions"},
		{"events", "/events?user_only=on"},
		{"task-log", fmt.Sprintf("/task-executions/%d", tes[0].ID)},
	}
	for _, theme := range []string{"light", "dark"} {
		for _, dev := range []struct {
			name string
			w, h int64
			opts []chromedp.EmulateViewportOption
		}{{"desktop", 1440, 900, nil}, {"phone", 390, 844, []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait}}} {
			within(t, b, waitLong,
				chromedp.EmulateViewport(dev.w, dev.h, dev.opts...),
				chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
						Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: theme}}})
					return err
				}))
			for _, p := range pages {
				within(t, b, waitLong, chromedp.Navigate(s.ui+p.path), chromedp.WaitVisible(chromedp.CSS(`main`)))
				var shot chromedp.Action[[]byte] = chromedp.CaptureScreenshot()
				if dev.name == "desktop" {
					shot = chromedp.FullScreenshot(100)
				}
				tctx, cancel := context.WithTimeout(b, waitLong)
				png, err := chromedp.Run(tctx, shot)
				cancel()
				require.NoError(t, err)
				file := filepath.Join(*screenshots, fmt.Sprintf("%s-%s-%s.png", p.name, theme, dev.name))
				require.NoError(t, os.WriteFile(file, png, 0o644))
				t.Logf("wrote %s", file)
			}
		}
	}
	within(t, b, waitLong, chromedp.EmulateViewport(1440, 900))
}
