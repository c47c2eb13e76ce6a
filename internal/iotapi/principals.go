package iotapi

import (
	"net/http"

	"github.com/thingcore/thingcore/internal/httpapi"
)

func (s *service) registerPrincipals(api *httpapi.API) {
	handle(api, http.MethodPut, "/things/{thingName}/principals", "AttachThingPrincipal", s.attachThingPrincipal)
	handle(api, http.MethodDelete, "/things/{thingName}/principals", "DetachThingPrincipal", s.detachThingPrincipal)
	handle(api, http.MethodGet, "/things/{thingName}/principals", "ListThingPrincipals", s.listThingPrincipals)
	handle(api, http.MethodGet, "/principals/things", "ListPrincipalThings", s.listPrincipalThings)
}

// principalHeader carries the principal (a certificate ARN) of
// AttachThingPrincipal, DetachThingPrincipal and ListPrincipalThings.
const principalHeader = "x-amzn-principal"

// principal returns the required x-amzn-principal header.
func principal(r *http.Request) (string, error) {
	p := r.Header.Get(principalHeader)
	if p == "" {
		return "", httpapi.Errorf(httpapi.InvalidRequest, "The %s header (the principal) is required", principalHeader)
	}
	return p, nil
}

// attachThingPrincipal: PUT /things/{thingName}/principals
// ?thingPrincipalType=EXCLUSIVE_THING|NON_EXCLUSIVE_THING with the
// principal in x-amzn-principal -> {}.
func (s *service) attachThingPrincipal(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	var exclusive bool
	switch t := query(r, "thingPrincipalType"); t {
	case "", "NON_EXCLUSIVE_THING":
	case "EXCLUSIVE_THING":
		exclusive = true
	default:
		return httpapi.Errorf(httpapi.InvalidRequest,
			"thingPrincipalType %q is not valid: use EXCLUSIVE_THING or NON_EXCLUSIVE_THING", t)
	}
	return s.reg.AttachThingPrincipal(r.Context(), r.PathValue("thingName"), p, exclusive)
}

// detachThingPrincipal: DELETE /things/{thingName}/principals with
// x-amzn-principal -> {}.
func (s *service) detachThingPrincipal(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	return s.reg.DetachThingPrincipal(r.Context(), r.PathValue("thingName"), p)
}

// listThingPrincipals: GET /things/{thingName}/principals?nextToken&
// maxResults -> principals (certificate ARNs), nextToken.
func (s *service) listThingPrincipals(w http.ResponseWriter, r *http.Request) error {
	n, err := pageSize(r, "maxResults")
	if err != nil {
		return err
	}
	arns, next, err := s.reg.ThingPrincipals(r.Context(), r.PathValue("thingName"), n, query(r, "nextToken"))
	if err != nil {
		return err
	}
	if arns == nil {
		arns = []string{}
	}
	return httpapi.WriteJSON(w, struct {
		Principals []string `json:"principals"`
		NextToken  string   `json:"nextToken,omitempty"`
	}{arns, next})
}

// listPrincipalThings: GET /principals/things?nextToken&maxResults with
// x-amzn-principal -> things (names), nextToken.
func (s *service) listPrincipalThings(w http.ResponseWriter, r *http.Request) error {
	p, err := principal(r)
	if err != nil {
		return err
	}
	n, err := pageSize(r, "maxResults")
	if err != nil {
		return err
	}
	names, next, err := s.reg.PrincipalThings(r.Context(), p, n, query(r, "nextToken"))
	if err != nil {
		return err
	}
	if names == nil {
		names = []string{}
	}
	return httpapi.WriteJSON(w, struct {
		Things    []string `json:"things"`
		NextToken string   `json:"nextToken,omitempty"`
	}{names, next})
}
