package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/thingcore/thingcore/internal/devicebundle"
	"github.com/thingcore/thingcore/internal/policy"
)

// hubCertificate asks the hub about the folder's certificate once.
func (r *run) hubCertificate(ctx context.Context) (Certificate, error) {
	if r.hubCert != nil {
		return *r.hubCert, nil
	}
	c, err := r.deps.Hub.Certificate(ctx, r.certID)
	if err != nil {
		return c, err
	}
	r.hubCert = &c
	return c, nil
}

// checkRegistered: step 5.
func (r *run) checkRegistered(ctx context.Context) Result {
	if r.deps.Hub == nil {
		return r.hubUnknown()
	}
	c, err := r.hubCertificate(ctx)
	if errors.Is(err, ErrNotFound) {
		fix := "register it: thingcore cert register " + shq(r.certFile) + " --thing " + r.dev.ThingName
		if r.rootCert == nil || string(r.cert.RawIssuer) != string(r.rootCert.RawSubject) {
			fix += " --without-ca (or --ca-file for its registered CA)"
		} else {
			fix = "the hub CA issued it but the hub does not know it (deleted, or another hub's data directory?): " +
				"create a new one with `thingcore thing create " + r.dev.ThingName + "`"
		}
		return fail(CauseNotRegistered, fmt.Sprintf("certificate %s is not registered with the hub", short(r.certID)), fix)
	}
	if err != nil {
		return r.hubErr(err)
	}
	var details []string
	if r.dev.CertificateID != "" && r.dev.CertificateID != r.certID {
		details = append(details, fmt.Sprintf("device.json names certificate %s, but %s is %s", short(r.dev.CertificateID), r.certFile, short(r.certID)))
	}
	switch c.Status {
	case "ACTIVE":
		return pass(fmt.Sprintf("certificate %s is registered and ACTIVE", short(r.certID)), details...)
	case "INACTIVE":
		return fail(CauseInactive, fmt.Sprintf("certificate %s is INACTIVE: the hub refuses it", short(r.certID)),
			"activate it: thingcore cert activate "+r.certID, details...)
	case "REVOKED":
		return fail(CauseRevoked, fmt.Sprintf("certificate %s is REVOKED: the hub refuses it for good", short(r.certID)),
			"give the thing a new certificate: thingcore thing create "+r.dev.ThingName+" --out NEW_DIR, and copy NEW_DIR to the device", details...)
	}
	return fail(CauseNotActive, fmt.Sprintf("certificate %s is %s, not ACTIVE", short(r.certID), c.Status),
		"activate it: thingcore cert activate "+r.certID, details...)
}

// attachedThings asks the hub once which things the certificate is
// attached to.
func (r *run) attachedThings(ctx context.Context) ([]string, error) {
	if r.things == nil && r.thingsErr == nil {
		r.things, r.thingsErr = r.deps.Hub.PrincipalThings(ctx, r.hubCert.ARN)
		if r.things == nil && r.thingsErr == nil {
			r.things = []string{}
		}
	}
	return r.things, r.thingsErr
}

// checkThing: step 6.
func (r *run) checkThing(ctx context.Context) Result {
	if r.deps.Hub == nil || r.hubCert == nil {
		return r.hubUnknownAgain()
	}
	things, err := r.attachedThings(ctx)
	if err != nil {
		return r.hubErr(err)
	}
	if contains(things, r.dev.ThingName) {
		return pass(fmt.Sprintf("attached to thing %s", r.dev.ThingName))
	}
	attached := "none"
	if len(things) > 0 {
		attached = strings.Join(things, ", ")
	}
	fix := "attach it: thingcore thing attach " + r.dev.ThingName + " " + r.certID
	if _, err := r.deps.Hub.Thing(ctx, r.dev.ThingName); errors.Is(err, ErrNotFound) {
		fix = "thing " + r.dev.ThingName + " does not exist: create it with `thingcore thing create " + r.dev.ThingName +
			"` (a new certificate), or fix thing_name in device.json"
	}
	return fail(CauseThingNotAttached,
		fmt.Sprintf("certificate %s is not attached to thing %s (attached to: %s)", short(r.certID), r.dev.ThingName, attached), fix)
}

// request is one action the device needs.
type request struct {
	action, resourceType, name string
}

// checkPolicy: step 7. It evaluates the certificate's policies as the hub
// does at CONNECT, with the connection's policy variables.
func (r *run) checkPolicy(ctx context.Context) Result {
	if r.deps.Hub == nil || r.hubCert == nil {
		return r.hubUnknownAgain()
	}
	pols, err := r.deps.Hub.Policies(ctx, r.hubCert.ARN)
	if err != nil {
		return r.hubErr(err)
	}
	arn := r.hubCert.ARN
	if len(pols) == 0 {
		return fail(CauseNoPolicy, fmt.Sprintf("certificate %s has no policy attached, so the hub allows it nothing", short(r.certID)),
			"attach one: aws iot attach-policy --policy-name "+r.cfg.DefaultPolicyName+" --target "+arn+" --endpoint-url "+r.cfg.APIEndpoint)
	}
	var named []policy.Named
	var details []string
	for _, p := range pols {
		doc, err := policy.Parse(p.Document)
		if err != nil {
			details = append(details, fmt.Sprintf("policy %s does not parse: %v", p.Name, err))
			continue
		}
		named = append(named, policy.Named{Name: p.Name, Policy: doc})
	}
	set := policy.NewSet(named...)
	things, err := r.attachedThings(ctx)
	if err != nil {
		return r.hubErr(err)
	}
	clientID := r.dev.ClientID
	pctx := policy.Context{
		ClientID:      clientID,
		CertificateID: r.certID,
		Subject:       policy.NameAttributes(r.cert.Subject),
		Issuer:        policy.NameAttributes(r.cert.Issuer),
		SerialNumber:  r.cert.SerialNumber.String(),
		IsAttached:    contains(things, clientID),
	}
	if pctx.IsAttached {
		pctx.ThingName = clientID
		if th, err := r.deps.Hub.Thing(ctx, clientID); err == nil {
			pctx.ThingTypeName, pctx.ThingAttributes = th.TypeName, th.Attributes
		}
	}
	region, account := arnRegionAccount(arn)
	thing := r.dev.ThingName
	reqs := []request{
		{"iot:Connect", policy.ResourceClient, clientID},
		{"iot:Publish", policy.ResourceTopic, devicebundle.ShadowTopic(thing, "update")},
		{"iot:Subscribe", policy.ResourceTopicFilter, devicebundle.ShadowTopic(thing, "update/accepted")},
		{"iot:Receive", policy.ResourceTopic, devicebundle.ShadowTopic(thing, "update/accepted")},
	}
	var denied []string
	var firstDenied *request
	var firstDecision policy.Decision
	for i, q := range reqs {
		d := set.Evaluate(policy.Request{Action: q.action, Resource: policy.ARN(region, account, q.resourceType, q.name), Context: pctx})
		mark := "allowed"
		if !d.Allowed {
			mark = "DENIED"
			denied = append(denied, q.action)
			if firstDenied == nil {
				firstDenied, firstDecision = &reqs[i], d
			}
		}
		details = append(details, fmt.Sprintf("%s %s/%s: %s, %s", q.action, q.resourceType, q.name, mark, explain(d)))
	}
	if firstDenied == nil {
		names := make([]string, len(named))
		for i, n := range named {
			names[i] = n.Name
		}
		return pass(fmt.Sprintf("%s allows connecting as %s, publishing to its shadow update topic and receiving update/accepted",
			strings.Join(names, ", "), clientID), details...)
	}
	q := firstDenied
	summary := fmt.Sprintf("%s on %s is denied: %s", q.action, q.name, explain(firstDecision))
	if q.action == "iot:Connect" && clientID != thing && !pctx.IsAttached {
		return fail(CauseClientID,
			fmt.Sprintf("client id %q is not the thing name %q, and iot:Connect as %q is denied: %s", clientID, thing, clientID, explain(firstDecision)),
			"connect with the thing name as client id: set client_id in device.json (and the device program) to "+thing, details...)
	}
	fix := fmt.Sprintf("allow %s on %s in a policy attached to the certificate, e.g. attach %s: aws iot attach-policy --policy-name %s --target %s --endpoint-url %s",
		q.action, policy.ARN(region, account, q.resourceType, q.name), r.cfg.DefaultPolicyName, r.cfg.DefaultPolicyName, arn, r.cfg.APIEndpoint)
	if firstDecision.Effect == "Deny" {
		fix = fmt.Sprintf("remove or narrow statement %d of policy %s, which denies %s", firstDecision.Statement, firstDecision.Policy, q.action)
	}
	return fail(CausePolicyDenies, summary, fix, details...)
}

// explain names the policy and statement behind a decision.
func explain(d policy.Decision) string {
	if d.Policy == "" {
		return d.Reason
	}
	verb := "denied"
	if d.Allowed {
		verb = "allowed"
	}
	s := fmt.Sprintf("%s by policy %s statement %d", verb, d.Policy, d.Statement)
	if d.Sid != "" {
		s += " (" + d.Sid + ")"
	}
	return s
}

// arnRegionAccount returns the region and account of an ARN
// (arn:aws:iot:REGION:ACCOUNT:...), or "*" for a part it cannot find.
func arnRegionAccount(arn string) (region, account string) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[3] == "" || parts[4] == "" {
		return "*", "*"
	}
	return parts[3], parts[4]
}
