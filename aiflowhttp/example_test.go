package aiflowhttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/aiflow-go/aiflow"
	"github.com/aiflow-go/aiflow/aiflowhttp"
	"github.com/aiflow-go/aiflow/operators"
	"github.com/aiflow-go/aiflow/store/memory"
)

// Serving a client over HTTP: mount the handler on the application's mux,
// next to its own routes, then run the client (client.Run in a service).
func ExampleNewHandler() {
	ctx := context.Background()
	client, err := aiflow.New(&aiflow.Config{Store: memory.New(nil)})
	if err != nil {
		panic(err)
	}
	wf := aiflow.NewWorkflow("hello")
	wf.Task("greet", operators.Func(func(context.Context, *aiflow.TaskContext) error { return nil }))
	if err := client.Register(ctx, wf); err != nil {
		panic(err)
	}
	if err := client.Start(ctx); err != nil {
		panic(err)
	}
	defer client.Stop(ctx)

	// The handler answers callers with a known token (see Auth); read the
	// token from the service's configuration, not from the code.
	const token = "example-token"
	mux := http.NewServeMux()
	mux.Handle("/aiflow/", http.StripPrefix("/aiflow", aiflowhttp.NewHandler(client, &aiflowhttp.Options{Auth: aiflowhttp.Auth{Token: token}})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	req, err := http.NewRequest(http.MethodPost, srv.URL+"/aiflow/v1/namespaces/default/workflows/hello/executions", strings.NewReader("{}"))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	var x struct {
		ID       int64  `json:"id"`
		Workflow string `json:"workflow"`
	}
	err = json.NewDecoder(resp.Body).Decode(&x)
	resp.Body.Close()
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.StatusCode, x.Workflow)

	done, err := client.WaitWorkflowExecution(ctx, x.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println(done.Status)
	// Output:
	// 201 hello
	// SUCCESS
}
