package console

import (
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"strings"

	"github.com/thingcore/thingcore/internal/policystore"
	"github.com/thingcore/thingcore/internal/registry"
	"github.com/thingcore/thingcore/internal/shadow"
)

//go:embed assets
var assets embed.FS

// maxBody bounds a JSON request body (a policy document is at most 2 KB on
// AWS, a shadow 8 KB; a published payload up to 128 KB).
const maxBody = 256 << 10

func (c *Console) routes() {
	m := http.NewServeMux()
	p := Prefix
	static, _ := fs.Sub(assets, "assets")
	files := http.FileServerFS(static)
	m.Handle(p, http.StripPrefix(p, cacheHeaders(files)))
	m.HandleFunc("GET "+p+"api/login", c.loginMethods)
	m.HandleFunc("POST "+p+"api/login", c.login)
	m.HandleFunc("GET "+p+"api/session", c.authed(c.sessionInfo))
	m.HandleFunc("POST "+p+"api/logout", c.authed(c.logout))

	m.HandleFunc("GET "+p+"api/things", c.authed(c.listThings))
	m.HandleFunc("POST "+p+"api/things", c.authed(c.createThing))
	m.HandleFunc("GET "+p+"api/things/{thing}", c.authed(c.describeThing))
	m.HandleFunc("GET "+p+"api/boards", c.authed(c.listBoards))
	m.HandleFunc("GET "+p+"api/downloads/{id}", c.authed(c.download))
	m.HandleFunc("POST "+p+"api/certificates/{id}/status", c.authed(c.setCertificateStatus))

	m.HandleFunc("GET "+p+"api/things/{thing}/shadows", c.authed(c.listShadows))
	m.HandleFunc("GET "+p+"api/things/{thing}/shadow", c.authed(c.getShadow))
	m.HandleFunc("POST "+p+"api/things/{thing}/shadow", c.authed(c.updateShadow))
	m.HandleFunc("DELETE "+p+"api/things/{thing}/shadow", c.authed(c.deleteShadow))

	m.HandleFunc("GET "+p+"api/policies", c.authed(c.listPolicies))
	m.HandleFunc("POST "+p+"api/policies", c.authed(c.createPolicy))
	m.HandleFunc("GET "+p+"api/policies/{name}", c.authed(c.getPolicy))
	m.HandleFunc("POST "+p+"api/policies/{name}/versions", c.authed(c.createPolicyVersion))
	m.HandleFunc("POST "+p+"api/policies/{name}/default", c.authed(c.setDefaultPolicyVersion))
	m.HandleFunc("POST "+p+"api/policies/{name}/attach", c.authed(c.attachPolicy))
	m.HandleFunc("POST "+p+"api/policies/{name}/detach", c.authed(c.detachPolicy))
	m.HandleFunc("POST "+p+"api/authorize", c.authed(c.testAuthorization))

	m.HandleFunc("GET "+p+"api/stream", c.authed(c.stream))
	m.HandleFunc("POST "+p+"api/publish", c.authed(c.publish))
	m.HandleFunc("GET "+p+"api/diagnostics", c.authed(c.diagnostics))
	m.HandleFunc("GET "+p+"api/stats", c.authed(c.statsStream))
	m.HandleFunc(p+"api/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "no such console API")
	})
	c.mux = m
}

// cacheHeaders makes the browser revalidate the assets (they change with
// the binary) and sets the types the CSP and nosniff need.
func cacheHeaders(h http.Handler) http.Handler {
	_ = mime.AddExtensionType(".mjs", "text/javascript")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// apiError is the JSON error body: a message, and for a policy that does
// not validate, the statement it points at.
type apiError struct {
	Message   string `json:"message"`
	Statement *int   `json:"statement,omitempty"`
	Field     string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Message: msg})
}

// fail writes err with the status its kind calls for.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		se  *shadow.Error
		msg = err.Error()
		st  = http.StatusInternalServerError
	)
	var re *registry.Error
	var pe *policystore.Error
	switch {
	case errors.As(err, &se):
		st, msg = se.Code, se.Message
	case errors.As(err, &re):
		msg = re.Message
	case errors.As(err, &pe):
		msg = pe.Message
	}
	switch {
	case errors.Is(err, registry.ErrNotFound), errors.Is(err, policystore.ErrNotFound):
		st = http.StatusNotFound
	case errors.Is(err, registry.ErrAlreadyExists), errors.Is(err, policystore.ErrAlreadyExists),
		errors.Is(err, registry.ErrDeleteConflict), errors.Is(err, policystore.ErrDeleteConflict),
		errors.Is(err, registry.ErrVersionConflict), errors.Is(err, registry.ErrCertificateState):
		st = http.StatusConflict
	case errors.Is(err, registry.ErrInvalid), errors.Is(err, policystore.ErrInvalid),
		errors.Is(err, policystore.ErrMalformed), errors.Is(err, policystore.ErrVersionsLimitExceeded),
		errors.Is(err, registry.ErrLimitExceeded):
		st = http.StatusBadRequest
	}
	if st >= 500 {
		c.log.Error("console: request failed", "path", r.URL.Path, "err", err)
		msg = "internal error: " + msg
	}
	writeJSON(w, st, apiError{Message: msg})
}

// readJSON decodes the body into v. It needs Content-Type
// application/json, which a cross-site HTML form cannot send.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "the body must be application/json")
		return false
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "malformed JSON body: "+strings.TrimPrefix(err.Error(), "json: "))
		return false
	}
	return true
}
