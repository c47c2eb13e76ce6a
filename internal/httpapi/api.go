package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// DefaultMaxBodyBytes is the request body limit when Config.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 1 << 20

// Config configures an API.
type Config struct {
	// MaxBodyBytes is the largest request body accepted, in bytes. A larger
	// body is refused with 413 RequestEntityTooLargeException before
	// authentication. 0 means DefaultMaxBodyBytes (1 MiB); negative is
	// invalid.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// ErrorFormat is how errors are written: ErrorsRestJSON (the default,
	// the iot control plane) or ErrorsIoTData (the iot-data endpoint).
	ErrorFormat ErrorFormat `json:"error_format,omitempty"`
}

// Validate reports whether c is usable.
func (c Config) Validate() error {
	if c.MaxBodyBytes < 0 {
		return fmt.Errorf("httpapi: max_body_bytes %d: must not be negative", c.MaxBodyBytes)
	}
	if c.ErrorFormat > ErrorsIoTData {
		return fmt.Errorf("httpapi: error_format %d: unknown", c.ErrorFormat)
	}
	return nil
}

// HandlerFunc serves one operation. Path labels are available through
// r.PathValue, the caller through IdentityFrom(r.Context()), and the body is
// already read and bounded by Config.MaxBodyBytes (see ReadJSON). A handler
// writes its response (usually with WriteJSON) and returns nil, or returns an
// error and writes nothing: an *Error anywhere in the chain is sent as it is,
// any other error as a 500 InternalFailureException that is logged. A handler
// that writes nothing and returns nil sends 200 with "{}".
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

type route struct {
	method string
	pat    pattern
	op     string
	h      HandlerFunc
}

// API serves AWS-style restJson1 operations. It is an http.Handler; it starts
// nothing and owns no goroutines. Register every operation with Handle before
// serving.
type API struct {
	maxBody int64
	errFmt  ErrorFormat
	auth    Authenticator
	log     *slog.Logger
	routes  []route
}

// New returns an API that authenticates every request with auth. auth is
// required: there is no anonymous mode. log may be nil to discard logs.
func New(cfg Config, auth Authenticator, log *slog.Logger) (*API, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if auth == nil {
		return nil, errors.New("httpapi: an Authenticator is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxBody := cfg.MaxBodyBytes
	if maxBody == 0 {
		maxBody = DefaultMaxBodyBytes
	}
	return &API{maxBody: maxBody, errFmt: cfg.ErrorFormat, auth: auth, log: log}, nil
}

// Handle registers the operation op (e.g. "DescribeThing") for method and
// pattern. A pattern is a restJson1 URI such as "/things/{thingName}" or,
// with a greedy label in the last segment, "/topics/{topic+}". It is matched
// against the raw, escaped request path, and each label is unescaped once
// after matching, so an escaped "%2F" stays inside its label. When several
// patterns match, literal segments win over labels and labels over greedy
// labels. Like http.ServeMux, Handle panics on a malformed pattern or on a
// second registration of the same method and path shape: both are
// programming errors found at start-up.
func (a *API) Handle(method, pattern, op string, h HandlerFunc) {
	p, err := parsePattern(pattern)
	if err != nil {
		panic("httpapi: " + err.Error())
	}
	if method == "" || op == "" || h == nil {
		panic(fmt.Sprintf("httpapi: Handle(%q, %q, %q): method, op and handler are required", method, pattern, op))
	}
	for _, rt := range a.routes {
		if rt.method == method && rt.pat.shape() == p.shape() {
			panic(fmt.Sprintf("httpapi: %s %s (%s) conflicts with %s %s (%s)", method, pattern, op, rt.method, rt.pat.raw, rt.op))
		}
	}
	a.routes = append(a.routes, route{method: method, pat: p, op: op, h: h})
}

// lookup finds the route for method and escaped path. allowed lists the
// methods whose patterns match the path when none matches method.
func (a *API) lookup(method, escapedPath string) (rt *route, params []pathParam, allowed []string, err error) {
	segs := splitPath(escapedPath)
	for i := range a.routes {
		c := &a.routes[i]
		ps, ok, merr := c.pat.match(segs)
		if !ok {
			continue
		}
		if c.method != method {
			if !slices.Contains(allowed, c.method) {
				allowed = append(allowed, c.method)
			}
			continue
		}
		if rt == nil || c.pat.moreSpecific(rt.pat) {
			rt, params, err = c, ps, merr
		}
	}
	if rt != nil {
		allowed = nil
	}
	return rt, params, allowed, err
}

type ctxKey int

const (
	requestIDKey ctxKey = iota
	identityKey
	operationKey
)

// RequestID returns the id of the request being served (also sent as the
// x-amzn-RequestId header), or "" outside a request.
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// Operation returns the name of the operation being served, or "".
func Operation(ctx context.Context) string {
	s, _ := ctx.Value(operationKey).(string)
	return s
}

// ServeHTTP answers one request: request id, body limit, authentication,
// routing, then the operation's handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := newRequestID()
	w.Header()[headerRequestID] = []string{id}
	ctx := context.WithValue(r.Context(), requestIDKey, id)

	escaped := r.URL.EscapedPath()
	rt, params, allowed, matchErr := a.lookup(r.Method, escaped)
	op := ""
	if rt != nil {
		op = rt.op
		ctx = context.WithValue(ctx, operationKey, op)
	}
	r = r.WithContext(ctx)
	log := a.log.With(keyRequestID, id)

	if err := a.bufferBody(w, r); err != nil {
		e, _ := asError(err)
		log.Info("httpapi: request refused", keyOp, op, keyCode, string(e.Code), keyReason, e.Message)
		a.writeError(w, e)
		return
	}

	ident, err := a.auth.Authenticate(r)
	if err != nil {
		e, isAPI := asError(err)
		if !isAPI {
			// An authenticator that fails without an *Error denies access
			// rather than leaking its failure as a 500.
			e = Errorf(UnrecognizedClient, msgUnrecognizedClient).WithCause(err)
		}
		reason := e.Message
		if e.Err != nil {
			reason = e.Err.Error()
		}
		log.Warn("httpapi: request refused", keyOp, op, keyMethod, r.Method, keyPath, escaped,
			keyCode, string(e.Code), keyReason, reason)
		a.writeError(w, e)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), identityKey, ident))

	switch {
	case rt == nil && len(allowed) > 0:
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		a.writeError(w, Errorf(MethodNotAllowed, "Method %s is not allowed on %s", r.Method, escaped))
		return
	case rt == nil:
		a.writeError(w, Errorf(ResourceNotFound, "Not Found: no operation matches %s %s", r.Method, escaped))
		return
	case matchErr != nil:
		a.writeError(w, Errorf(InvalidRequest, "%s: %v", op, matchErr))
		return
	}
	for _, p := range params {
		r.SetPathValue(p.name, p.value)
	}
	a.serveOp(w, r, rt, log)
}

// serveOp runs rt's handler and turns its error or panic into a response.
func (a *API) serveOp(w http.ResponseWriter, r *http.Request, rt *route, log *slog.Logger) {
	rw := &responseWriter{ResponseWriter: w}
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			panic(v)
		}
		log.Error("httpapi: operation panicked", keyOp, rt.op, keyErr, fmt.Sprint(v))
		if !rw.wrote {
			a.writeError(w, &Error{Code: InternalFailure, Message: internalMessage})
		}
	}()
	err := rt.h(rw, r)
	switch {
	case err == nil && !rw.wrote:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
	case err == nil:
	case rw.wrote:
		log.Error("httpapi: operation failed after writing its response", keyOp, rt.op, keyErr, err)
	default:
		e, isAPI := asError(err)
		switch {
		case !isAPI || e.HTTPStatus() >= 500:
			log.Error("httpapi: operation failed", keyOp, rt.op, keyCode, string(e.Code), keyErr, err)
		default:
			log.Debug("httpapi: operation refused", keyOp, rt.op, keyCode, string(e.Code), keyReason, e.Message)
		}
		a.writeError(w, e)
	}
}

// bodyReadTimeout bounds reading a request body, which happens before the
// request is authenticated: a client that sends its body a byte at a time
// must not hold a connection and a buffer for ever.
const bodyReadTimeout = 30 * time.Second

// bufferBody reads the whole body, up to the limit, so that authentication
// can hash it and the handler can still read it.
func (a *API) bufferBody(w http.ResponseWriter, r *http.Request) error {
	if r.ContentLength > a.maxBody {
		return Errorf(RequestEntityTooLarge, msgTooLarge)
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		rc := http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(bodyReadTimeout)) == nil {
			defer rc.SetReadDeadline(time.Time{}) // handlers that stream are not bounded
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, a.maxBody+1))
		if err != nil {
			return Errorf(InvalidRequest, "The request body could not be read").WithCause(err)
		}
		if int64(len(b)) > a.maxBody {
			return Errorf(RequestEntityTooLarge, msgTooLarge)
		}
		body = b
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return nil
}

const msgTooLarge = "The payload exceeds the maximum size allowed"

// responseWriter records whether the handler wrote anything.
type responseWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *responseWriter) WriteHeader(status int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
