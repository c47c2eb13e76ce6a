package console

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"regexp"
)

// shadowNameRE is AWS's constraint on named shadow names.
var shadowNameRE = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,64}$`)

// shadowsAvailable writes a 503 when the hub runs without shadows.
func (c *Console) shadowsAvailable(w http.ResponseWriter) bool {
	if c.deps.Shadows == nil {
		writeError(w, http.StatusServiceUnavailable, "the shadow service is not running in this hub")
		return false
	}
	return true
}

// shadowName reads ?name= ("" for the classic shadow).
func shadowName(w http.ResponseWriter, r *http.Request) (string, bool) {
	n := r.URL.Query().Get("name")
	if n != "" && !shadowNameRE.MatchString(n) {
		writeError(w, http.StatusBadRequest, "shadow name: use 1 to 64 letters, digits, '_', '-' or ':'")
		return "", false
	}
	return n, true
}

// listShadows: GET api/things/{thing}/shadows -> the classic shadow ("")
// and the named shadows.
func (c *Console) listShadows(w http.ResponseWriter, r *http.Request, _ *session) {
	names := []string{""}
	avail := c.deps.Shadows != nil
	if l, ok := c.deps.Shadows.(namedShadowLister); ok {
		named, err := l.ListNamed(r.Context(), r.PathValue("thing"))
		if err != nil {
			c.fail(w, r, err)
			return
		}
		names = append(names, named...)
	}
	writeJSON(w, http.StatusOK, struct {
		Available bool     `json:"available"`
		Names     []string `json:"names"`
	}{avail, names})
}

// writeDocument passes a shadow service document through.
func writeDocument(w http.ResponseWriter, doc []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(doc)
}

// getShadow: GET api/things/{thing}/shadow?name= -> the shadow document.
func (c *Console) getShadow(w http.ResponseWriter, r *http.Request, _ *session) {
	name, ok := shadowName(w, r)
	if !ok || !c.shadowsAvailable(w) {
		return
	}
	doc, err := c.deps.Shadows.Get(r.Context(), r.PathValue("thing"), name)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeDocument(w, doc)
}

// updateShadow: POST api/things/{thing}/shadow?name= with a shadow update
// request ({"state":{"desired":{...}}}) -> update/accepted. The shadow
// service publishes the delta to the device.
func (c *Console) updateShadow(w http.ResponseWriter, r *http.Request, _ *session) {
	name, ok := shadowName(w, r)
	if !ok || !c.shadowsAvailable(w) {
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "the body must be application/json")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	if !json.Valid(body) {
		writeError(w, http.StatusBadRequest, "the shadow update is not valid JSON")
		return
	}
	doc, err := c.deps.Shadows.Update(r.Context(), r.PathValue("thing"), name, body)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeDocument(w, doc)
}

// deleteShadow: DELETE api/things/{thing}/shadow?name= -> delete/accepted.
func (c *Console) deleteShadow(w http.ResponseWriter, r *http.Request, _ *session) {
	name, ok := shadowName(w, r)
	if !ok || !c.shadowsAvailable(w) {
		return
	}
	doc, err := c.deps.Shadows.Delete(r.Context(), r.PathValue("thing"), name)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeDocument(w, doc)
}
