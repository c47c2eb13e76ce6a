package dataplane

import (
	"io"
	"net/http"

	"github.com/thingcore/thingcore/internal/httpapi"
	"github.com/thingcore/thingcore/internal/policy"
)

// registerShadows hangs the Device Shadow operations on the API
// (reference §1.13).
func (d *DataPlane) registerShadows() {
	d.api.Handle(http.MethodGet, "/things/{thingName}/shadow", "GetThingShadow", d.getShadow)
	d.api.Handle(http.MethodPost, "/things/{thingName}/shadow", "UpdateThingShadow", d.updateShadow)
	d.api.Handle(http.MethodDelete, "/things/{thingName}/shadow", "DeleteThingShadow", d.deleteShadow)
	d.api.Handle(http.MethodGet, "/api/things/shadow/ListNamedShadowsForThing/{thingName}", "ListNamedShadowsForThing", d.listNamedShadows)
}

// shadowResource is the ARN a shadow action is authorized on:
// thing/{thing} for the classic shadow and thing/{thing}/{shadow} for a
// named one, AWS's resource for named shadows (policy reference §1.2: "for
// a named shadow ... also uses …:thing/thingOne/shadowOne"; it is used for
// all three actions here, so a policy grants named shadows with
// thing/NAME/* or thing/NAME*, and the classic shadow alone with thing/NAME).
func (d *DataPlane) shadowResource(thing, shadowName string) string {
	name := thing
	if shadowName != "" {
		name += "/" + shadowName
	}
	return policy.ARN(d.cfg.Region, d.cfg.AccountID, policy.ResourceThing, name)
}

// shadowRequest reads the thing and the optional ?name= and authorizes
// action on the shadow.
func (d *DataPlane) shadowRequest(r *http.Request, action string) (thing, shadowName string, err error) {
	thing, shadowName = r.PathValue("thingName"), r.URL.Query().Get("name")
	return thing, shadowName, d.authorize(r, action, d.shadowResource(thing, shadowName))
}

// writeDocument writes a shadow service response, already JSON, as the
// operation's payload.
func writeDocument(w http.ResponseWriter, doc []byte) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(doc)
	return err
}

// getShadow: GET /things/{thingName}/shadow[?name=] -> the full document
// (reference §1.4).
func (d *DataPlane) getShadow(w http.ResponseWriter, r *http.Request) error {
	thing, name, err := d.shadowRequest(r, "iot:GetThingShadow")
	if err != nil {
		return err
	}
	doc, err := d.deps.Shadows.Get(r.Context(), thing, name)
	if err != nil {
		return apiError(err)
	}
	return writeDocument(w, doc)
}

// updateShadow: POST /things/{thingName}/shadow[?name=] with the request
// document -> the accepted document (reference §1.5). The shadow service
// also publishes update/accepted, update/documents and update/delta.
func (d *DataPlane) updateShadow(w http.ResponseWriter, r *http.Request) error {
	thing, name, err := d.shadowRequest(r, "iot:UpdateThingShadow")
	if err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return httpapi.Errorf(httpapi.InvalidRequest, "The request body could not be read").WithCause(err)
	}
	doc, err := d.deps.Shadows.Update(r.Context(), thing, name, body)
	if err != nil {
		return apiError(err)
	}
	d.log.Debug("dataplane: shadow updated", keyThing, thing, keyShadow, name)
	return writeDocument(w, doc)
}

// deleteShadow: DELETE /things/{thingName}/shadow[?name=] ->
// {"version":N,"timestamp":T} (reference §1.8).
func (d *DataPlane) deleteShadow(w http.ResponseWriter, r *http.Request) error {
	thing, name, err := d.shadowRequest(r, "iot:DeleteThingShadow")
	if err != nil {
		return err
	}
	doc, err := d.deps.Shadows.Delete(r.Context(), thing, name)
	if err != nil {
		return apiError(err)
	}
	return writeDocument(w, doc)
}

// listNamedShadows: GET /api/things/shadow/ListNamedShadowsForThing/{thing}
// ?nextToken=&pageSize= -> {"results":[...],"nextToken":"...","timestamp":T}.
// Its policy resource must be `*` (policy reference §1.2).
func (d *DataPlane) listNamedShadows(w http.ResponseWriter, r *http.Request) error {
	if err := d.authorize(r, "iot:ListNamedShadowsForThing", policy.AnyResource); err != nil {
		return err
	}
	size, given, err := httpapi.QueryInt(r, "pageSize")
	if err != nil {
		return err
	}
	if given && (size < 1 || size > 100) {
		return httpapi.Errorf(httpapi.InvalidRequest, "pageSize must be between 1 and 100")
	}
	names, next, err := d.deps.Shadows.ListNamed(r.Context(), r.PathValue("thingName"), r.URL.Query().Get("nextToken"), int(size))
	if err != nil {
		return apiError(err)
	}
	if names == nil {
		names = []string{}
	}
	return httpapi.WriteJSON(w, struct {
		Results   []string `json:"results"`
		NextToken string   `json:"nextToken,omitempty"`
		Timestamp int64    `json:"timestamp"`
	}{names, next, d.deps.Now().Unix()})
}
