package hub

import (
	"log"
	"log/slog"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/httpapi"
	"github.com/thingcore/thingcore/internal/registry"
)

// registerControlPlane hangs the AWS IoT control-plane operations on api.
func registerControlPlane(api *httpapi.API, h *Hub, b *broker.Broker, pk *pkiState, reg *registry.Registry) {
	_ = api
	_ = pk
	_ = reg
	_ = b
	_ = h
}

// slogErrorLog adapts net/http's error log to slog (TLS handshake noise
// from scanners goes to Debug).
func slogErrorLog(l *slog.Logger) *log.Logger {
	return slog.NewLogLogger(l.Handler(), slog.LevelDebug)
}
