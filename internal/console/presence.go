package console

import (
	"encoding/json"
	"strings"
	"sync"

	"github.com/thingcore/thingcore/internal/broker"
)

// maxPresence bounds the clients whose last lifecycle event is kept, and
// maxEvents the recent lifecycle events kept for the thing pages.
const (
	maxPresence = 10000
	maxEvents   = 1000
)

// lifecycleEvent is the part of AWS's lifecycle event JSON the console
// shows.
type lifecycleEvent struct {
	ClientID             string `json:"clientId"`
	Timestamp            int64  `json:"timestamp"`
	EventType            string `json:"eventType"`
	ConnectFailureReason string `json:"connectFailureReason,omitempty"`
	DisconnectReason     string `json:"disconnectReason,omitempty"`
	PrincipalIdentifier  string `json:"principalIdentifier,omitempty"`
	IPAddress            string `json:"ipAddress,omitempty"`
}

// presence remembers each client's last connect or disconnect, and a ring
// of recent lifecycle events, from the events the hub publishes on
// $aws/events/presence/... .
type presence struct {
	mu     sync.Mutex
	last   map[string]lifecycleEvent
	recent []lifecycleEvent // ring, newest last
}

func (p *presence) init() { p.last = map[string]lifecycleEvent{} }

// observe runs on the publisher's goroutine: it only decodes and stores.
func (p *presence) observe(m *broker.Message) {
	var ev lifecycleEvent
	if err := json.Unmarshal(m.Payload, &ev); err != nil || ev.ClientID == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.recent) == maxEvents {
		copy(p.recent, p.recent[1:])
		p.recent = p.recent[:maxEvents-1]
	}
	p.recent = append(p.recent, ev)
	if ev.EventType == "connect_failed" {
		return // a refused attempt does not change a live connection
	}
	if _, ok := p.last[ev.ClientID]; !ok && len(p.last) >= maxPresence {
		for k := range p.last { // forget an arbitrary one
			delete(p.last, k)
			break
		}
	}
	p.last[ev.ClientID] = ev
}

func (p *presence) lastOf(clientID string) (lifecycleEvent, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ev, ok := p.last[clientID]
	return ev, ok
}

// eventsOf returns the recent events of a client or of any of the
// certificates, newest first.
func (p *presence) eventsOf(clientID string, certIDs []string, limit int) []lifecycleEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []lifecycleEvent
	for i := len(p.recent) - 1; i >= 0 && len(out) < limit; i-- {
		ev := p.recent[i]
		if ev.ClientID == clientID || containsFold(certIDs, ev.PrincipalIdentifier) {
			out = append(out, ev)
		}
	}
	return out
}

func containsFold(list []string, s string) bool {
	if s == "" {
		return false
	}
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
