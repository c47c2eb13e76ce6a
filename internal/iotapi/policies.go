package iotapi

import (
	"net/http"

	"github.com/thingcore/thingcore/internal/httpapi"
	"github.com/thingcore/thingcore/internal/policystore"
)

func (s *service) registerPolicies(api *httpapi.API) {
	handle(api, http.MethodPost, "/policies/{policyName}", "CreatePolicy", s.createPolicy)
	handle(api, http.MethodGet, "/policies/{policyName}", "GetPolicy", s.getPolicy)
	handle(api, http.MethodDelete, "/policies/{policyName}", "DeletePolicy", s.deletePolicy)
	handle(api, http.MethodGet, "/policies", "ListPolicies", s.listPolicies)
	handle(api, http.MethodPost, "/policies/{policyName}/version", "CreatePolicyVersion", s.createPolicyVersion)
	handle(api, http.MethodGet, "/policies/{policyName}/version", "ListPolicyVersions", s.listPolicyVersions)
	handle(api, http.MethodGet, "/policies/{policyName}/version/{policyVersionId}", "GetPolicyVersion", s.getPolicyVersion)
	handle(api, http.MethodPatch, "/policies/{policyName}/version/{policyVersionId}", "SetDefaultPolicyVersion", s.setDefaultPolicyVersion)
	handle(api, http.MethodDelete, "/policies/{policyName}/version/{policyVersionId}", "DeletePolicyVersion", s.deletePolicyVersion)
	handle(api, http.MethodPut, "/target-policies/{policyName}", "AttachPolicy", s.attachPolicy)
	handle(api, http.MethodPost, "/target-policies/{policyName}", "DetachPolicy", s.detachPolicy)
	handle(api, http.MethodPost, "/attached-policies/{target}", "ListAttachedPolicies", s.listAttachedPolicies)
	handle(api, http.MethodPost, "/policy-targets/{policyName}", "ListTargetsForPolicy", s.listTargetsForPolicy)
	handle(api, http.MethodPut, "/principal-policies/{policyName}", "AttachPrincipalPolicy", s.attachPrincipalPolicy)
	handle(api, http.MethodDelete, "/principal-policies/{policyName}", "DetachPrincipalPolicy", s.detachPrincipalPolicy)
	handle(api, http.MethodGet, "/principal-policies", "ListPrincipalPolicies", s.listPrincipalPolicies)
	handle(api, http.MethodGet, "/policy-principals", "ListPolicyPrincipals", s.listPolicyPrincipals)
}

type policyDocumentRequest struct {
	PolicyDocument string `json:"policyDocument"`
}

// readDocument reads the required policyDocument member.
func readDocument(r *http.Request) (string, error) {
	in, err := httpapi.ReadJSON[policyDocumentRequest](r)
	if err != nil {
		return "", err
	}
	if in.PolicyDocument == "" {
		return "", httpapi.Errorf(httpapi.InvalidRequest, "policyDocument is required")
	}
	return in.PolicyDocument, nil
}

// createPolicy: POST /policies/{policyName} {policyDocument, tags} ->
// policyName, policyArn, policyDocument, policyVersionId. Tags are ignored.
func (s *service) createPolicy(w http.ResponseWriter, r *http.Request) error {
	doc, err := readDocument(r)
	if err != nil {
		return err
	}
	p, err := s.policies.CreatePolicy(r.Context(), r.PathValue("policyName"), doc)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, struct {
		PolicyName      string `json:"policyName"`
		PolicyARN       string `json:"policyArn"`
		PolicyDocument  string `json:"policyDocument"`
		PolicyVersionID string `json:"policyVersionId"`
	}{p.Name, p.ARN, p.Document, p.DefaultVersionID})
}

// getPolicy: GET /policies/{policyName} -> the default version's document
// with the policy's dates and generationId.
func (s *service) getPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := s.policies.GetPolicy(r.Context(), r.PathValue("policyName"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, struct {
		PolicyName       string `json:"policyName"`
		PolicyARN        string `json:"policyArn"`
		PolicyDocument   string `json:"policyDocument"`
		DefaultVersionID string `json:"defaultVersionId"`
		CreationDate     epoch  `json:"creationDate,omitzero"`
		LastModifiedDate epoch  `json:"lastModifiedDate,omitzero"`
		GenerationID     string `json:"generationId"`
	}{p.Name, p.ARN, p.Document, p.DefaultVersionID, epoch(p.CreatedAt), epoch(p.LastModifiedAt), p.GenerationID})
}

// deletePolicy: DELETE /policies/{policyName} -> {}.
func (s *service) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	return s.policies.DeletePolicy(r.Context(), r.PathValue("policyName"))
}

// policySummary is AWS's Policy, an item of the policy list operations.
type policySummary struct {
	PolicyName string `json:"policyName"`
	PolicyARN  string `json:"policyArn"`
}

type policyList struct {
	Policies   []policySummary `json:"policies"`
	NextMarker string          `json:"nextMarker,omitempty"`
}

// markerPage reads pageSize, marker and isAscendingOrder.
func markerPage(r *http.Request) (n int, marker string, asc bool, err error) {
	if n, err = pageSize(r, "pageSize"); err != nil {
		return 0, "", false, err
	}
	if asc, _, err = httpapi.QueryBool(r, "isAscendingOrder"); err != nil {
		return 0, "", false, err
	}
	return n, query(r, "marker"), asc, nil
}

// listPolicies: GET /policies?marker&pageSize&isAscendingOrder -> policies
// (by name), nextMarker.
func (s *service) listPolicies(w http.ResponseWriter, r *http.Request) error {
	n, marker, asc, err := markerPage(r)
	if err != nil {
		return err
	}
	ps, next, err := s.policies.ListPolicies(r.Context(), n, marker, asc)
	if err != nil {
		return err
	}
	out := policyList{Policies: make([]policySummary, 0, len(ps)), NextMarker: next}
	for _, p := range ps {
		out.Policies = append(out.Policies, policySummary{p.Name, p.ARN})
	}
	return httpapi.WriteJSON(w, out)
}

// createPolicyVersion: POST /policies/{policyName}/version?setAsDefault
// {policyDocument} -> policyArn, policyDocument, policyVersionId,
// isDefaultVersion.
func (s *service) createPolicyVersion(w http.ResponseWriter, r *http.Request) error {
	setDefault, _, err := httpapi.QueryBool(r, "setAsDefault")
	if err != nil {
		return err
	}
	doc, err := readDocument(r)
	if err != nil {
		return err
	}
	v, err := s.policies.CreatePolicyVersion(r.Context(), r.PathValue("policyName"), doc, setDefault)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, struct {
		PolicyARN        string `json:"policyArn"`
		PolicyDocument   string `json:"policyDocument"`
		PolicyVersionID  string `json:"policyVersionId"`
		IsDefaultVersion bool   `json:"isDefaultVersion"`
	}{v.PolicyARN, v.Document, v.VersionID, v.IsDefault})
}

// getPolicyVersion: GET /policies/{policyName}/version/{policyVersionId}.
func (s *service) getPolicyVersion(w http.ResponseWriter, r *http.Request) error {
	v, err := s.policies.GetPolicyVersion(r.Context(), r.PathValue("policyName"), r.PathValue("policyVersionId"))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, struct {
		PolicyARN        string `json:"policyArn"`
		PolicyName       string `json:"policyName"`
		PolicyDocument   string `json:"policyDocument"`
		PolicyVersionID  string `json:"policyVersionId"`
		IsDefaultVersion bool   `json:"isDefaultVersion"`
		CreationDate     epoch  `json:"creationDate,omitzero"`
		LastModifiedDate epoch  `json:"lastModifiedDate,omitzero"`
		GenerationID     string `json:"generationId"`
	}{v.PolicyARN, v.PolicyName, v.Document, v.VersionID, v.IsDefault, epoch(v.CreatedAt), epoch(v.LastModifiedAt), v.GenerationID})
}

// listPolicyVersions: GET /policies/{policyName}/version -> policyVersions
// [{versionId, isDefaultVersion, createDate}], newest first; not paginated.
func (s *service) listPolicyVersions(w http.ResponseWriter, r *http.Request) error {
	vs, err := s.policies.ListPolicyVersions(r.Context(), r.PathValue("policyName"))
	if err != nil {
		return err
	}
	type item struct {
		VersionID        string `json:"versionId"`
		IsDefaultVersion bool   `json:"isDefaultVersion"`
		CreateDate       epoch  `json:"createDate,omitzero"`
	}
	out := struct {
		PolicyVersions []item `json:"policyVersions"`
	}{make([]item, 0, len(vs))}
	for _, v := range vs {
		out.PolicyVersions = append(out.PolicyVersions, item{v.VersionID, v.IsDefault, epoch(v.CreatedAt)})
	}
	return httpapi.WriteJSON(w, out)
}

// setDefaultPolicyVersion: PATCH /policies/{policyName}/version/{policyVersionId} -> {}.
func (s *service) setDefaultPolicyVersion(w http.ResponseWriter, r *http.Request) error {
	return s.policies.SetDefaultPolicyVersion(r.Context(), r.PathValue("policyName"), r.PathValue("policyVersionId"))
}

// deletePolicyVersion: DELETE /policies/{policyName}/version/{policyVersionId} -> {}.
func (s *service) deletePolicyVersion(w http.ResponseWriter, r *http.Request) error {
	return s.policies.DeletePolicyVersion(r.Context(), r.PathValue("policyName"), r.PathValue("policyVersionId"))
}

// readTarget reads the required target member of AttachPolicy and
// DetachPolicy.
func readTarget(r *http.Request) (string, error) {
	in, err := httpapi.ReadJSON[struct {
		Target string `json:"target"`
	}](r)
	if err != nil {
		return "", err
	}
	if in.Target == "" {
		return "", httpapi.Errorf(httpapi.InvalidRequest, "target is required")
	}
	return in.Target, nil
}

// attach attaches the policy to target after checking that a certificate
// target exists in the registry.
func (s *service) attach(r *http.Request, name, target string) error {
	if id, ok := s.reg.ParsePrincipal(target); ok {
		if _, err := s.reg.Certificate(r.Context(), id); err != nil {
			return err
		}
	}
	return s.policies.AttachPolicy(r.Context(), name, target)
}

// attachPolicy: PUT /target-policies/{policyName} {target} -> {}.
func (s *service) attachPolicy(w http.ResponseWriter, r *http.Request) error {
	target, err := readTarget(r)
	if err != nil {
		return err
	}
	return s.attach(r, r.PathValue("policyName"), target)
}

// detachPolicy: POST /target-policies/{policyName} {target} -> {}.
func (s *service) detachPolicy(w http.ResponseWriter, r *http.Request) error {
	target, err := readTarget(r)
	if err != nil {
		return err
	}
	return s.policies.DetachPolicy(r.Context(), r.PathValue("policyName"), target)
}

// attachedPolicies returns one page of the policies attached to target, by
// name.
func (s *service) attachedPolicies(r *http.Request, target string, n int, marker string, asc bool) (policyList, error) {
	ps, err := s.policies.AttachedPolicies(r.Context(), target)
	if err != nil {
		return policyList{}, err
	}
	arns := make(map[string]string, len(ps))
	names := make([]string, 0, len(ps))
	for _, p := range ps {
		arns[p.Name] = p.ARN
		names = append(names, p.Name)
	}
	page, next, err := policystore.Page(names, n, marker, asc)
	if err != nil {
		return policyList{}, err
	}
	out := policyList{Policies: make([]policySummary, 0, len(page)), NextMarker: next}
	for _, name := range page {
		out.Policies = append(out.Policies, policySummary{name, arns[name]})
	}
	return out, nil
}

// listAttachedPolicies: POST /attached-policies/{target}?recursive&marker&
// pageSize -> policies, nextMarker. The target (an ARN) arrives
// percent-encoded in one path segment. recursive adds nothing: thingcore has
// no thing group hierarchy.
func (s *service) listAttachedPolicies(w http.ResponseWriter, r *http.Request) error {
	n, err := pageSize(r, "pageSize")
	if err != nil {
		return err
	}
	if _, _, err := httpapi.QueryBool(r, "recursive"); err != nil {
		return err
	}
	out, err := s.attachedPolicies(r, r.PathValue("target"), n, query(r, "marker"), true)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, out)
}

// targetPage returns one page of the targets of a policy, which must exist.
func (s *service) targetPage(r *http.Request, name string, n int, marker string, asc bool) ([]string, string, error) {
	if _, err := s.policies.GetPolicy(r.Context(), name); err != nil {
		return nil, "", err
	}
	ts, err := s.policies.Targets(r.Context(), name)
	if err != nil {
		return nil, "", err
	}
	return policystore.Page(ts, n, marker, asc)
}

// listTargetsForPolicy: POST /policy-targets/{policyName}?marker&pageSize
// -> targets, nextMarker.
func (s *service) listTargetsForPolicy(w http.ResponseWriter, r *http.Request) error {
	n, err := pageSize(r, "pageSize")
	if err != nil {
		return err
	}
	ts, next, err := s.targetPage(r, r.PathValue("policyName"), n, query(r, "marker"), true)
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []string{}
	}
	return httpapi.WriteJSON(w, struct {
		Targets    []string `json:"targets"`
		NextMarker string   `json:"nextMarker,omitempty"`
	}{ts, next})
}

// Headers of the legacy principal-policy operations.
const (
	iotPrincipalHeader = "x-amzn-iot-principal"
	iotPolicyHeader    = "x-amzn-iot-policy"
)

func requiredHeader(r *http.Request, name, what string) (string, error) {
	v := r.Header.Get(name)
	if v == "" {
		return "", httpapi.Errorf(httpapi.InvalidRequest, "The %s header (the %s) is required", name, what)
	}
	return v, nil
}

// attachPrincipalPolicy (legacy): PUT /principal-policies/{policyName}
// with x-amzn-iot-principal -> {}.
func (s *service) attachPrincipalPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := requiredHeader(r, iotPrincipalHeader, "principal")
	if err != nil {
		return err
	}
	return s.attach(r, r.PathValue("policyName"), p)
}

// detachPrincipalPolicy (legacy): DELETE /principal-policies/{policyName}
// with x-amzn-iot-principal -> {}.
func (s *service) detachPrincipalPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := requiredHeader(r, iotPrincipalHeader, "principal")
	if err != nil {
		return err
	}
	return s.policies.DetachPolicy(r.Context(), r.PathValue("policyName"), p)
}

// listPrincipalPolicies (legacy): GET /principal-policies?marker&pageSize&
// isAscendingOrder with x-amzn-iot-principal -> policies, nextMarker.
func (s *service) listPrincipalPolicies(w http.ResponseWriter, r *http.Request) error {
	p, err := requiredHeader(r, iotPrincipalHeader, "principal")
	if err != nil {
		return err
	}
	n, marker, asc, err := markerPage(r)
	if err != nil {
		return err
	}
	out, err := s.attachedPolicies(r, p, n, marker, asc)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, out)
}

// listPolicyPrincipals (legacy): GET /policy-principals?marker&pageSize&
// isAscendingOrder with x-amzn-iot-policy -> principals, nextMarker.
func (s *service) listPolicyPrincipals(w http.ResponseWriter, r *http.Request) error {
	name, err := requiredHeader(r, iotPolicyHeader, "policy name")
	if err != nil {
		return err
	}
	n, marker, asc, err := markerPage(r)
	if err != nil {
		return err
	}
	ts, next, err := s.targetPage(r, name, n, marker, asc)
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []string{}
	}
	return httpapi.WriteJSON(w, struct {
		Principals []string `json:"principals"`
		NextMarker string   `json:"nextMarker,omitempty"`
	}{ts, next})
}
