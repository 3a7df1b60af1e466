package aiflowhttp

// Errors and JSON: how a request fails, how answers are written and how
// bodies, path and query values are read.

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/aiflow-go/aiflow"
)

// httpError is an error with its status and code.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(code, format string, args ...any) error {
	return &httpError{http.StatusBadRequest, code, fmt.Sprintf(format, args...)}
}

type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{Error: msg, Code: code})
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	var mbe *http.MaxBytesError
	msg := strings.TrimPrefix(err.Error(), "aiflow: ")
	switch {
	case errors.As(err, &he):
		writeError(w, he.status, he.code, he.msg)
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the request body is over %d bytes", mbe.Limit))
	case errors.Is(err, aiflow.ErrEventTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "event_too_large", msg)
	case errors.Is(err, aiflow.ErrInvalid):
		writeError(w, http.StatusBadRequest, "invalid", msg)
	case errors.Is(err, aiflow.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", msg)
	case errors.Is(err, aiflow.ErrAlreadyExists):
		writeError(w, http.StatusConflict, "already_exists", msg)
	case errors.Is(err, aiflow.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", msg)
	case r.Context().Err() != nil:
		writeError(w, http.StatusServiceUnavailable, "cancelled", "the request was cancelled")
	default:
		h.opts.Logger.ErrorContext(r.Context(), "aiflowhttp: request failed", slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Any("error", err))
		writeError(w, http.StatusInternalServerError, "internal", "internal error: see the server's log")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// decode reads a JSON body into v: exactly one object of known fields. An
// empty body is allowed when optional.
func decode(r *http.Request, v any, optional bool) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if optional {
			return nil
		}
		return badRequest("malformed_body", "the request body is empty: expected a JSON object")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &httpError{http.StatusUnsupportedMediaType, "unsupported_media_type",
			fmt.Sprintf("Content-Type %q: expected application/json", r.Header.Get("Content-Type"))}
	}
	if problem := checkJSONText(body); problem != "" {
		return badRequest("invalid", "%s", problem)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("malformed_body", "the request body is not the expected JSON object: %v", err)
	}
	if dec.More() {
		return badRequest("malformed_body", "the request body has data after its JSON object")
	}
	return nil
}

func pathID(r *http.Request, name string) (int64, error) {
	s := r.PathValue(name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("invalid", "%s %q: expected a positive integer", name, s)
	}
	return id, nil
}

func queryInt(r *http.Request, name string, min, max int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min || n > max {
		return 0, badRequest("invalid", "query parameter %s=%q: expected an integer from %d to %d", name, s, min, max)
	}
	return n, nil
}
