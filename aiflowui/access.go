package aiflowui

// Access: which namespaces a caller may see and act on.

import (
	"context"
	"net/http"
	"strconv"

	"github.com/aiflow-go/aiflow/aiflowhttp"
)

func (h *Handler) access(ctx context.Context, ns string) aiflowhttp.Access {
	return h.opts.Access(ctx, aiflowhttp.CallerFrom(ctx), ns)
}

func (h *Handler) require(ctx context.Context, ns string, need aiflowhttp.Access) error {
	return aiflowhttp.Require(ctx, &h.opts.Auth, ns, need)
}

// visibleNamespaces lists the namespaces the caller may see.
func (h *Handler) visibleNamespaces(ctx context.Context) ([]string, error) {
	nss, err := h.c.ListNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range nss {
		if h.access(ctx, n.Name) >= aiflowhttp.AccessRead {
			out = append(out, n.Name)
		}
	}
	return out, nil
}

func pathID(r *http.Request, name string) (int64, error) {
	return parseID(name, r.PathValue(name))
}

func parseID(name, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(http.StatusBadRequest, "%s %q: expected a positive integer", name, s)
	}
	return id, nil
}
