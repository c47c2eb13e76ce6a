package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/thingcore/thingcore/internal/pki"
	"github.com/thingcore/thingcore/internal/policy"
)

type policySummary struct {
	Name             string `json:"name"`
	DefaultVersionID string `json:"defaultVersionId"`
	LastModified     int64  `json:"lastModified"`
}

// listPolicies: GET api/policies -> every policy, by name.
func (c *Console) listPolicies(w http.ResponseWriter, r *http.Request, _ *session) {
	out := []policySummary{}
	marker := ""
	for len(out) < maxListed {
		page, next, err := c.deps.Policies.ListPolicies(r.Context(), 250, marker, true)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		for _, p := range page {
			out = append(out, policySummary{p.Name, p.DefaultVersionID, p.LastModifiedAt.UnixMilli()})
		}
		if next == "" {
			break
		}
		marker = next
	}
	writeJSON(w, http.StatusOK, struct {
		Policies []policySummary `json:"policies"`
	}{out})
}

type policyVersion struct {
	VersionID string `json:"versionId"`
	IsDefault bool   `json:"isDefault"`
	Created   int64  `json:"created"`
	Document  string `json:"document"`
}

// getPolicy: GET api/policies/{name} -> its versions (newest first) and the
// certificates it is attached to.
func (c *Console) getPolicy(w http.ResponseWriter, r *http.Request, _ *session) {
	ctx := r.Context()
	name := r.PathValue("name")
	p, err := c.deps.Policies.GetPolicy(ctx, name)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	vs, err := c.deps.Policies.ListPolicyVersions(ctx, name)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	versions := []policyVersion{}
	for _, v := range vs {
		versions = append(versions, policyVersion{v.VersionID, v.IsDefault, v.CreatedAt.UnixMilli(), v.Document})
	}
	slices.Reverse(versions)
	targets, err := c.deps.Policies.Targets(ctx, name)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	slices.Sort(targets)
	writeJSON(w, http.StatusOK, struct {
		Name             string          `json:"name"`
		ARN              string          `json:"arn"`
		DefaultVersionID string          `json:"defaultVersionId"`
		Versions         []policyVersion `json:"versions"`
		Targets          []string        `json:"targets"`
	}{p.Name, p.ARN, p.DefaultVersionID, versions, targets})
}

// failPolicy writes a policy error; a document that does not validate
// points at the statement and field.
func (c *Console) failPolicy(w http.ResponseWriter, r *http.Request, err error) {
	var me *policy.MalformedError
	if errors.As(err, &me) {
		e := apiError{Message: me.Error(), Field: me.Field}
		if me.Statement >= 0 {
			e.Statement = &me.Statement
		}
		writeJSON(w, http.StatusBadRequest, e)
		return
	}
	c.fail(w, r, err)
}

// createPolicy: POST api/policies {name, document}.
func (c *Console) createPolicy(w http.ResponseWriter, r *http.Request, _ *session) {
	var in struct {
		Name     string `json:"name"`
		Document string `json:"document"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if _, err := c.deps.Policies.CreatePolicy(r.Context(), in.Name, in.Document); err != nil {
		c.failPolicy(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Name string `json:"name"`
	}{in.Name})
}

// createPolicyVersion: POST api/policies/{name}/versions {document,
// setAsDefault}. Connected devices get a new default version at once.
func (c *Console) createPolicyVersion(w http.ResponseWriter, r *http.Request, _ *session) {
	var in struct {
		Document     string `json:"document"`
		SetAsDefault bool   `json:"setAsDefault"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	v, err := c.deps.Policies.CreatePolicyVersion(r.Context(), r.PathValue("name"), in.Document, in.SetAsDefault)
	if err != nil {
		c.failPolicy(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		VersionID string `json:"versionId"`
	}{v.VersionID})
}

// setDefaultPolicyVersion: POST api/policies/{name}/default {versionId}.
func (c *Console) setDefaultPolicyVersion(w http.ResponseWriter, r *http.Request, _ *session) {
	var in struct {
		VersionID string `json:"versionId"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if err := c.deps.Policies.SetDefaultPolicyVersion(r.Context(), r.PathValue("name"), in.VersionID); err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// target turns a certificate id or ARN into the ARN policies attach to.
func (c *Console) target(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "arn:") {
		return s
	}
	return c.deps.Registry.CertificateARN(strings.ToLower(s))
}

// attachPolicy: POST api/policies/{name}/attach {target}: a certificate id
// or ARN.
func (c *Console) attachPolicy(w http.ResponseWriter, r *http.Request, _ *session) {
	c.attachment(w, r, true)
}

// detachPolicy: POST api/policies/{name}/detach {target}.
func (c *Console) detachPolicy(w http.ResponseWriter, r *http.Request, _ *session) {
	c.attachment(w, r, false)
}

func (c *Console) attachment(w http.ResponseWriter, r *http.Request, attach bool) {
	var in struct {
		Target string `json:"target"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	t := c.target(in.Target)
	name := r.PathValue("name")
	var err error
	if attach {
		if id, ok := c.deps.Registry.ParsePrincipal(t); ok {
			// Attaching to a certificate that does not exist is a mistake
			// the API would accept silently.
			if _, err := c.deps.Registry.Certificate(r.Context(), id); err != nil {
				c.fail(w, r, err)
				return
			}
		}
		err = c.deps.Policies.AttachPolicy(r.Context(), name, t)
	} else {
		err = c.deps.Policies.DetachPolicy(r.Context(), name, t)
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Target string `json:"target"`
	}{t})
}

type authorizeRequest struct {
	CertificateID string `json:"certificateId"`
	ClientID      string `json:"clientId"`
	Action        string `json:"action"`   // e.g. iot:Publish
	Resource      string `json:"resource"` // client id, topic or topic filter, as the action takes
}

type authorizeResponse struct {
	Allowed     bool            `json:"allowed"`
	Reason      string          `json:"reason"`
	Policy      string          `json:"policy,omitempty"`
	Statement   *int            `json:"statement,omitempty"`
	Sid         string          `json:"sid,omitempty"`
	Effect      string          `json:"effect,omitempty"`
	StatementJS json.RawMessage `json:"statementDocument,omitempty"`
	ResourceARN string          `json:"resourceArn"`
	Policies    []string        `json:"policies"`
	Note        string          `json:"note,omitempty"`
}

// testAuthorization: POST api/authorize {certificateId, clientId, action,
// resource} -> the decision of the certificate's policies, with the
// statement behind it, evaluated as the hub evaluates a device's request.
func (c *Console) testAuthorization(w http.ResponseWriter, r *http.Request, _ *session) {
	var in authorizeRequest
	if !readJSON(w, r, &in) {
		return
	}
	typ := policy.ResourceType(in.Action)
	if typ == "" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("action %q: want iot:Connect, iot:Publish, iot:RetainPublish, iot:Subscribe or iot:Receive", in.Action))
		return
	}
	ctx := r.Context()
	reg := c.deps.Registry
	id, ok := reg.ParsePrincipal(strings.TrimSpace(in.CertificateID))
	if !ok {
		writeError(w, http.StatusBadRequest, "certificate: give its 64-hex-digit id or its ARN")
		return
	}
	cert, things, err := reg.CertificateThings(ctx, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	pctx := policy.Context{ClientID: in.ClientID, CertificateID: cert.ID, IsAttached: slices.Contains(things, in.ClientID)}
	if leaf, err := pki.ParseCertificatePEM([]byte(cert.PEM)); err == nil {
		pctx.Subject = policy.NameAttributes(leaf.Subject)
		pctx.Issuer = policy.NameAttributes(leaf.Issuer)
		pctx.SerialNumber = leaf.SerialNumber.String()
	}
	if pctx.IsAttached {
		pctx.ThingName = in.ClientID
		if th, err := reg.DescribeThing(ctx, in.ClientID); err == nil {
			pctx.ThingTypeName, pctx.ThingAttributes = th.TypeName, th.Attributes
		}
	}
	set, err := c.deps.Policies.EffectiveSet(ctx, cert.ARN)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	arn := policy.ARN(c.cfg.Region, c.cfg.AccountID, typ, in.Resource)
	d := set.Evaluate(policy.Request{Action: in.Action, Resource: arn, Context: pctx})
	out := authorizeResponse{Allowed: d.Allowed, Reason: d.Reason, Policy: d.Policy, Sid: d.Sid, Effect: d.Effect,
		ResourceARN: arn, Policies: []string{}}
	if pols, err := c.deps.Policies.AttachedPolicies(ctx, cert.ARN); err == nil {
		for _, p := range pols {
			out.Policies = append(out.Policies, p.Name)
		}
	}
	if d.Statement >= 0 {
		out.Statement = &d.Statement
		if p, err := c.deps.Policies.GetPolicy(ctx, d.Policy); err == nil {
			out.StatementJS = statementOf(p.Document, d.Statement)
		}
	}
	if cert.Status != "ACTIVE" {
		out.Note = fmt.Sprintf("certificate %s is %s: the hub refuses its connections before policies are evaluated", cert.ID, cert.Status)
	}
	writeJSON(w, http.StatusOK, out)
}

// statementOf returns Statement[i] of a policy document, or nil.
func statementOf(doc string, i int) json.RawMessage {
	var d struct {
		Statement json.RawMessage `json:"Statement"`
	}
	if json.Unmarshal([]byte(doc), &d) != nil {
		return nil
	}
	var list []json.RawMessage
	if json.Unmarshal(d.Statement, &list) != nil {
		if i == 0 {
			return d.Statement // a single statement object
		}
		return nil
	}
	if i < len(list) {
		return list[i]
	}
	return nil
}
