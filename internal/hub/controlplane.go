package hub

import (
	"log"
	"log/slog"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/httpapi"
	"github.com/thingcore/thingcore/internal/iotapi"
	"github.com/thingcore/thingcore/internal/policystore"
	"github.com/thingcore/thingcore/internal/registry"
)

// registerControlPlane hangs the AWS IoT control-plane operations on api.
func registerControlPlane(api *httpapi.API, h *Hub, b *broker.Broker, pk *pkiState, reg *registry.Registry, pol *policystore.Store) {
	iotapi.Register(api, iotapi.Deps{
		Registry: reg,
		Policies: pol,
		CA:       pk.ca,
		// Read per request: the host is known once the listeners are up.
		Endpoint: func(string) string { return h.Endpoints().Host },
		CertificateStatusChanged: func(certID string, status registry.CertStatus) {
			h.certificateStatusChanged(b, certID, status)
		},
		Now: time.Now,
	})
}

// slogErrorLog adapts net/http's error log to slog (TLS handshake noise
// from scanners goes to Debug).
func slogErrorLog(l *slog.Logger) *log.Logger {
	return slog.NewLogLogger(l.Handler(), slog.LevelDebug)
}
