// Command dashboard runs the quickstart, periodic and online_ml workflows
// (and one waiting for an approval event), starts executions every few
// seconds, and serves the dashboard (package aiflowui) and the HTTP API
// (package aiflowhttp) on -addr:
//
//	go run ./examples/dashboard
//	open http://127.0.0.1:8080/
//
// It runs on the memory store, or on Postgres when AIFLOW_DATABASE_URL is
// set. With -token (or AIFLOW_UI_TOKEN), the dashboard asks for that token;
// without one it is open to whoever reaches -addr, which is why -addr
// defaults to the loopback interface.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowhttp"
	"github.com/aiflow-go/aiflow/aiflowui"
	"github.com/aiflow-go/aiflow/examples/dashboard/demo"
	"github.com/aiflow-go/aiflow/examples/internal/exampleenv"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to serve the dashboard on")
	token := flag.String("token", os.Getenv("AIFLOW_UI_TOKEN"), "token that signs in with write access (open when empty)")
	readToken := flag.String("read-token", "", "token that signs in read-only")
	every := flag.Duration("every", 4*time.Second, "start a quickstart execution this often")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
	if err := run(ctx, ln, *token, *readToken, *every); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
}

// run serves on ln until ctx ends.
func run(ctx context.Context, ln net.Listener, token, readToken string, every time.Duration) error {
	defer ln.Close()
	logger := slog.Default()
	st, closeStore, err := exampleenv.OpenStore(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	client, err := aiflow.New(&aiflow.Config{Store: st, Logger: logger})
	if err != nil {
		return err
	}
	if err := demo.Setup(ctx, client); err != nil {
		return err
	}
	if err := client.Start(ctx); err != nil {
		return err
	}
	defer client.Stop(context.WithoutCancel(ctx))
	if err := demo.Populate(ctx, client); err != nil {
		return err
	}
	go demo.Keep(ctx, client, every, logger)

	auth := aiflowhttp.Auth{Token: token, AllowUnauthenticated: token == ""}
	if readToken != "" {
		auth.Tokens = map[string]*aiflowhttp.Caller{readToken: {Name: "viewer", ReadOnly: true}}
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", http.StripPrefix("/api", aiflowhttp.NewHandler(client, &aiflowhttp.Options{Auth: auth})))
	mux.Handle("/", aiflowui.NewHandler(client, &aiflowui.Options{Auth: auth, Explainer: aiflowui.DecisionsExplainer{Client: client}}))

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("dashboard: serving", "url", "http://"+ln.Addr().String()+"/", "api", "http://"+ln.Addr().String()+"/api/v1/")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
