package iotapi

import (
	"net/http"

	"github.com/thingcore/thingcore/internal/httpapi"
	"github.com/thingcore/thingcore/internal/registry"
)

func (s *service) registerThings(api *httpapi.API) {
	handle(api, http.MethodPost, "/things/{thingName}", "CreateThing", s.createThing)
	handle(api, http.MethodGet, "/things/{thingName}", "DescribeThing", s.describeThing)
	handle(api, http.MethodPatch, "/things/{thingName}", "UpdateThing", s.updateThing)
	handle(api, http.MethodDelete, "/things/{thingName}", "DeleteThing", s.deleteThing)
	handle(api, http.MethodGet, "/things", "ListThings", s.listThings)
}

// attributePayload is AWS's AttributePayload.
type attributePayload struct {
	Attributes map[string]string `json:"attributes"`
	Merge      bool              `json:"merge"`
}

type createThingRequest struct {
	ThingTypeName    string            `json:"thingTypeName"`
	AttributePayload *attributePayload `json:"attributePayload"`
	BillingGroupName string            `json:"billingGroupName"`
}

type createThingResponse struct {
	ThingName string `json:"thingName"`
	ThingARN  string `json:"thingArn"`
	ThingID   string `json:"thingId"`
}

// createThing: POST /things/{thingName}. Idempotent for the same
// configuration, ResourceAlreadyExistsException for a different one.
func (s *service) createThing(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("thingName")
	in, err := httpapi.ReadJSON[createThingRequest](r)
	if err != nil {
		return err
	}
	if in.BillingGroupName != "" {
		// thingcore has no billing groups, so none can be found.
		return httpapi.Errorf(httpapi.ResourceNotFound, "Billing group %s does not exist", in.BillingGroupName)
	}
	var attrs map[string]string
	if in.AttributePayload != nil {
		attrs = in.AttributePayload.Attributes
	}
	t, err := s.reg.CreateThing(r.Context(), name, in.ThingTypeName, attrs)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, createThingResponse{ThingName: t.Name, ThingARN: t.ARN, ThingID: t.ID})
}

type describeThingResponse struct {
	DefaultClientID string            `json:"defaultClientId"`
	ThingName       string            `json:"thingName"`
	ThingID         string            `json:"thingId"`
	ThingARN        string            `json:"thingArn"`
	ThingTypeName   string            `json:"thingTypeName,omitempty"`
	Attributes      map[string]string `json:"attributes"`
	Version         int64             `json:"version"`
}

// describeThing: GET /things/{thingName}. defaultClientId is the thing
// name, as AWS sends it.
func (s *service) describeThing(w http.ResponseWriter, r *http.Request) error {
	t, err := s.reg.DescribeThing(r.Context(), r.PathValue("thingName"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, describeThingResponse{
		DefaultClientID: t.Name, ThingName: t.Name, ThingID: t.ID, ThingARN: t.ARN,
		ThingTypeName: t.TypeName, Attributes: t.Attributes, Version: t.Version,
	})
}

type updateThingRequest struct {
	ThingTypeName    string            `json:"thingTypeName"`
	AttributePayload *attributePayload `json:"attributePayload"`
	ExpectedVersion  *int64            `json:"expectedVersion"`
	RemoveThingType  bool              `json:"removeThingType"`
}

// updateThing: PATCH /things/{thingName} -> {}. Attributes replace the
// stored ones, or with merge are merged into them; "" removes one.
func (s *service) updateThing(w http.ResponseWriter, r *http.Request) error {
	in, err := httpapi.ReadJSON[updateThingRequest](r)
	if err != nil {
		return err
	}
	u := registry.ThingUpdate{RemoveThingType: in.RemoveThingType, ExpectedVersion: in.ExpectedVersion}
	if in.ThingTypeName != "" {
		u.TypeName = &in.ThingTypeName
	}
	if in.AttributePayload != nil {
		u.Attributes, u.Merge = in.AttributePayload.Attributes, in.AttributePayload.Merge
	}
	return s.reg.UpdateThing(r.Context(), r.PathValue("thingName"), u)
}

// deleteThing: DELETE /things/{thingName}?expectedVersion= -> {}. A thing
// that does not exist is deleted already (AWS's documented behaviour).
func (s *service) deleteThing(w http.ResponseWriter, r *http.Request) error {
	v, ok, err := httpapi.QueryInt(r, "expectedVersion")
	if err != nil {
		return err
	}
	var expected *int64
	if ok {
		expected = &v
	}
	return s.reg.DeleteThing(r.Context(), r.PathValue("thingName"), expected)
}

// thingAttribute is AWS's ThingAttribute, an item of ListThings.
type thingAttribute struct {
	ThingName     string            `json:"thingName"`
	ThingTypeName string            `json:"thingTypeName,omitempty"`
	ThingARN      string            `json:"thingArn"`
	Attributes    map[string]string `json:"attributes"`
	Version       int64             `json:"version"`
}

type listThingsResponse struct {
	Things    []thingAttribute `json:"things"`
	NextToken string           `json:"nextToken,omitempty"`
}

// listThings: GET /things?nextToken&maxResults&attributeName&attributeValue
// &thingTypeName&usePrefixAttributeValue, sorted by name.
func (s *service) listThings(w http.ResponseWriter, r *http.Request) error {
	n, err := pageSize(r, "maxResults")
	if err != nil {
		return err
	}
	prefix, _, err := httpapi.QueryBool(r, "usePrefixAttributeValue")
	if err != nil {
		return err
	}
	f := registry.ThingFilter{
		AttributeName: query(r, "attributeName"), AttributeValue: query(r, "attributeValue"),
		UsePrefixAttributeValue: prefix, TypeName: query(r, "thingTypeName"),
	}
	things, next, err := s.reg.ListThings(r.Context(), f, n, query(r, "nextToken"))
	if err != nil {
		return err
	}
	out := listThingsResponse{Things: make([]thingAttribute, len(things)), NextToken: next}
	for i, t := range things {
		out.Things[i] = thingAttribute{ThingName: t.Name, ThingTypeName: t.TypeName, ThingARN: t.ARN,
			Attributes: t.Attributes, Version: t.Version}
	}
	return httpapi.WriteJSON(w, out)
}
