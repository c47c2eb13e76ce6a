package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/dataplane"
	"github.com/thingcore/thingcore/internal/httpapi"
	"github.com/thingcore/thingcore/internal/shadowsvc"
	"github.com/thingcore/thingcore/internal/transport"
)

// newDataPlane builds the iot-data API (shadows, publish, retained
// messages, and thingcore's watch stream) for the admin, signing with SigV4,
// and for devices presenting their certificate on the HTTPS port.
func (h *Hub) newDataPlane(b *broker.Broker, auth *deviceAuth, creds AdminCredentials, shadows *shadowsvc.Service) (*dataplane.DataPlane, error) {
	sig, err := httpapi.NewSigV4(httpapi.SigV4Config{}, httpapi.StaticCredentials{creds.AccessKeyID: creds.SecretAccessKey}, time.Now)
	if err != nil {
		return nil, err
	}
	return dataplane.New(dataplane.Config{
		Region: h.cfg.Region, AccountID: h.cfg.AccountID,
		MaxBodyBytes:     int64(b.Config().MaxPayloadSize),
		MaxMessageExpiry: b.Config().MaxMessageExpiry,
	}, dataplane.Deps{
		Shadows: shadows, Broker: b, Admin: sig, Devices: httpDevices{auth}, PeerTLS: transport.RequestTLS,
		Logger: h.log, Now: time.Now,
	})
}

// withDataPlane serves the data plane's paths with dp and everything else
// with api (the control plane). On AWS they are different hosts; here they
// share the HTTPS port, and their paths do not overlap.
func withDataPlane(api http.Handler, dp *dataplane.DataPlane) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if dataplane.Owns(r.URL.EscapedPath()) {
			dp.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// dataPlaneComponent drains the data plane: its shutdown ends the watch
// streams before the HTTP servers drain (it comes after the listeners, and
// components are drained in reverse order).
func dataPlaneComponent(dp *dataplane.DataPlane) component {
	return component{name: "dataplane", serve: dp.Serve, shutdown: dp.Shutdown}
}

// httpDevices authenticates devices on the data plane by the certificate
// they present, exactly as MQTT CONNECT does (registered, ACTIVE, within
// its validity, chaining to its CA, with policies attached), and authorizes
// their requests with those policies.
type httpDevices struct{ auth *deviceAuth }

var _ dataplane.Devices = httpDevices{}

// AuthenticateDevice implements dataplane.Devices. HTTP has no client id,
// so iot:ClientId and the thing variables (iot:Connection.Thing.*) do not
// resolve, as on AWS where they exist for MQTT connections only; the
// certificate variables do.
func (d httpDevices) AuthenticateDevice(ctx context.Context, cs *tls.ConnectionState, remoteAddr string) (dataplane.Device, error) {
	var addr net.Addr
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		addr = net.TCPAddrFromAddrPort(ap)
	}
	p, err := d.auth.Authenticate(ctx, &broker.ConnectRequest{
		Conn: broker.ConnInfo{Listener: "https", Transport: "https", RemoteAddr: addr, TLS: cs},
	})
	if err != nil {
		return nil, err
	}
	dp, ok := p.(*devicePrincipal)
	if !ok {
		return nil, errors.New("hub: unexpected principal type")
	}
	return httpDevice{allowAll: d.auth.allowAll, p: dp}, nil
}

// httpDevice is a device authenticated on the data plane.
type httpDevice struct {
	allowAll bool
	p        *devicePrincipal
}

func (d httpDevice) CertificateID() string { return d.p.certID }

// Authorize evaluates the certificate's policies; the error of a denial is
// a *policy.DeniedError naming the deciding statement.
func (d httpDevice) Authorize(action, resource string) error {
	if d.allowAll {
		return nil
	}
	b := d.p.bound.Load()
	if b == nil {
		return errors.New("not authorized: no policies bound")
	}
	return b.Evaluate(action, resource).Err()
}
