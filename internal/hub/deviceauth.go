package hub

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/mqtt/packet"
	"github.com/thingcore/thingcore/internal/pki"
	"github.com/thingcore/thingcore/internal/policy"
	"github.com/thingcore/thingcore/internal/registry"
)

// failureReason is AWS's connectFailureReason for refused devices.
const failureReason = "AUTHORIZATION_FAILED"

// devicePrincipal is an authenticated device: its certificate and the
// policies bound to its connection.
type devicePrincipal struct {
	certID  string
	certARN string
	things  []string       // things the certificate is attached to
	pctx    policy.Context // the connection's policy variables, to bind again when policies change
	bound   atomic.Pointer[policy.Bound]
}

// bind evaluates the principal's policies from now on with set; live
// connections pick the change up on their next action, without reconnecting.
func (p *devicePrincipal) bind(set *policy.Set) { p.bound.Store(set.Bind(p.pctx)) }

// policySource gives the policies in effect for a certificate.
type policySource interface {
	EffectiveSet(ctx context.Context, certARN string) (*policy.Set, error)
}

// ID implements broker.Principal: lifecycle events report the certificate id
// as principalIdentifier, as AWS does.
func (p *devicePrincipal) ID() string { return p.certID }

// deviceAuth authenticates devices by their X.509 certificate and authorizes
// their actions with policies.
//
// A device connects only if its certificate is registered and ACTIVE, is
// within its validity, and chains to the hub CA or to the registered ACTIVE
// CA it was registered with (certificates registered without a CA need no
// chain, as with AWS's RegisterCertificateWithoutCA). Every refusal names the
// certificate and the reason.
type deviceAuth struct {
	reg      *registry.Registry
	hubCA    *x509.Certificate
	roots    *x509.CertPool // the hub CA
	policies policySource
	allowAll bool
	region   string
	account  string
	now      func() time.Time
}

var (
	_ broker.Authenticator = (*deviceAuth)(nil)
	_ broker.Authorizer    = (*deviceAuth)(nil)
)

func refusal(certID, format string, args ...any) error {
	return &broker.Refusal{Code: packet.NotAuthorized, FailureReason: failureReason, PrincipalID: certID, Err: fmt.Errorf(format, args...)}
}

// Authenticate implements broker.Authenticator.
func (a *deviceAuth) Authenticate(ctx context.Context, req *broker.ConnectRequest) (broker.Principal, error) {
	st := req.Conn.TLS
	if st == nil || len(st.PeerCertificates) == 0 {
		return nil, refusal("", "no client certificate: devices must present an X.509 certificate issued or registered by this hub")
	}
	leaf := st.PeerCertificates[0]
	id := pki.CertificateID(leaf.Raw)
	cert, things, err := a.reg.CertificateThings(ctx, id)
	if errors.Is(err, registry.ErrNotFound) {
		if string(leaf.RawIssuer) != string(a.hubCA.RawSubject) {
			return nil, refusal(id, "certificate %s is not registered with this hub and was issued by %q, not by the hub CA "+
				"(register it, or its CA, with `thingcore cert register`)", id, leaf.Issuer.String())
		}
		return nil, refusal(id, "certificate %s is not registered with this hub (create one with `thingcore thing create`, or register it)", id)
	}
	if err != nil {
		return nil, &broker.Refusal{Code: packet.ServerUnavailable, FailureReason: "SERVER_ERROR", Err: fmt.Errorf("certificate %s: %w", id, err)}
	}
	if cert.Status != registry.StatusActive {
		return nil, refusal(id, "certificate %s is %s, not ACTIVE (activate it with `thingcore cert activate %s`)", id, cert.Status, id)
	}
	now := a.now()
	if now.Before(leaf.NotBefore) {
		return nil, refusal(id, "certificate %s is not valid before %s", id, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(leaf.NotAfter) {
		return nil, refusal(id, "certificate %s expired at %s", id, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if err := a.verifyChain(ctx, cert, leaf, st.PeerCertificates[1:], now); err != nil {
		return nil, refusal(id, "certificate %s: %v", id, err)
	}
	p := &devicePrincipal{certID: id, certARN: cert.ARN, things: things}
	if a.allowAll {
		return p, nil
	}
	pctx := policy.Context{
		ClientID:        req.ClientID,
		CertificateID:   id,
		Subject:         policy.NameAttributes(leaf.Subject),
		Issuer:          policy.NameAttributes(leaf.Issuer),
		SerialNumber:    leaf.SerialNumber.String(),
		IsAttached:      slices.Contains(things, req.ClientID),
		SourceIP:        remoteIP(req.Conn.RemoteAddr),
		ThingAttributes: nil,
	}
	if pctx.IsAttached {
		// AWS resolves the thing variables for a non-exclusive attachment only
		// when the client id is the thing's name.
		pctx.ThingName = req.ClientID
		if th, err := a.reg.DescribeThing(ctx, req.ClientID); err == nil {
			pctx.ThingTypeName = th.TypeName
			pctx.ThingAttributes = th.Attributes
		}
	}
	set, err := a.policies.EffectiveSet(ctx, cert.ARN)
	if err != nil {
		return nil, &broker.Refusal{Code: packet.ServerUnavailable, FailureReason: "SERVER_ERROR", PrincipalID: id,
			Err: fmt.Errorf("certificate %s: policies: %w", id, err)}
	}
	if set.Len() == 0 {
		return nil, refusal(id, "certificate %s has no policy attached, so it may do nothing (attach one: `thingcore thing create` "+
			"attaches %s to new certificates; or `aws iot attach-policy --policy-name NAME --target %s`)", id, DefaultPolicyName, cert.ARN)
	}
	p.pctx = pctx
	p.bind(set)
	return p, nil
}

// verifyChain checks that leaf chains to the CA the certificate was
// registered with: the hub CA by default, or a registered ACTIVE CA.
func (a *deviceAuth) verifyChain(ctx context.Context, cert registry.Certificate, leaf *x509.Certificate, presented []*x509.Certificate, now time.Time) error {
	inter := x509.NewCertPool()
	for _, c := range presented {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: a.roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if cert.CACertificateID == "" {
		if _, err := leaf.Verify(opts); err == nil {
			return nil
		}
		// Registered without a CA (RegisterCertificateWithoutCA): the
		// registration itself is the trust.
		if string(leaf.RawIssuer) != string(a.hubCA.RawSubject) {
			return nil
		}
		return errors.New("does not chain to the hub CA")
	}
	ca, err := a.reg.CACertificate(ctx, cert.CACertificateID)
	if err != nil {
		return fmt.Errorf("its CA %s: %w", cert.CACertificateID, err)
	}
	if ca.Status != registry.CAActive {
		return fmt.Errorf("its CA %s is %s, not ACTIVE", ca.ID, ca.Status)
	}
	caCert, err := pki.ParseCertificatePEM([]byte(ca.PEM))
	if err != nil {
		return fmt.Errorf("its CA %s: %w", ca.ID, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	opts.Roots = pool
	if _, err := leaf.Verify(opts); err != nil {
		return fmt.Errorf("does not chain to its registered CA %s: %w", ca.ID, err)
	}
	return nil
}

func remoteIP(a net.Addr) net.IP {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP
	}
	return nil
}

// actions maps the broker's actions to policy actions and resource types.
var actions = [...]struct{ action, resource string }{
	broker.ActionConnect:       {"iot:Connect", policy.ResourceClient},
	broker.ActionPublish:       {"iot:Publish", policy.ResourceTopic},
	broker.ActionRetainPublish: {"iot:RetainPublish", policy.ResourceTopic},
	broker.ActionSubscribe:     {"iot:Subscribe", policy.ResourceTopicFilter},
	broker.ActionReceive:       {"iot:Receive", policy.ResourceTopic},
}

// Authorize implements broker.Authorizer.
func (a *deviceAuth) Authorize(p broker.Principal, _ string, action broker.Action, resource string) error {
	if a.allowAll {
		return nil
	}
	dp, ok := p.(*devicePrincipal)
	var bound *policy.Bound
	if ok {
		bound = dp.bound.Load()
	}
	if bound == nil || int(action) >= len(actions) || actions[action].action == "" {
		return errors.New("not authorized: unknown principal or action")
	}
	m := actions[action]
	d := bound.Evaluate(m.action, policy.ARN(a.region, a.account, m.resource, resource))
	if d.Allowed {
		return nil
	}
	if action == broker.ActionConnect && !slices.Contains(dp.things, resource) {
		// The commonest refusal: the client id is not the thing's name.
		return fmt.Errorf("%w (client id %q is not a thing attached to certificate %s; attached: %s; "+
			"connect with the thing name as client id)", d.Err(), resource, dp.certID, thingList(dp.things))
	}
	return d.Err()
}

func thingList(things []string) string {
	if len(things) == 0 {
		return "none"
	}
	return strings.Join(things, ", ")
}

// rebindPolicies re-evaluates the policies of the live connections of the
// certificates in targets, after an attach, detach or new default version.
func rebindPolicies(ctx context.Context, b *broker.Broker, pol policySource, targets []string, log *slog.Logger) {
	b.EachPrincipal(func(clientID string, p broker.Principal) {
		dp, ok := p.(*devicePrincipal)
		if !ok || !slices.ContainsFunc(targets, func(t string) bool { return strings.EqualFold(t, dp.certARN) }) {
			return
		}
		set, err := pol.EffectiveSet(ctx, dp.certARN)
		if err != nil {
			log.Error("hub: policies changed but cannot be read; the connection keeps its previous policies",
				"client_id", clientID, "cert_id", dp.certID, "err", err)
			return
		}
		dp.bind(set)
		log.Info("hub: policies of a live connection changed", "client_id", clientID, "cert_id", dp.certID, "policies", set.Len())
	})
}
