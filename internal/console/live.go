package console

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/mqtt/packet"
	"github.com/thingcore/thingcore/internal/mqtt/topic"
)

// maxFilters bounds the topic filters of one live stream.
const maxFilters = 8

// heartbeat keeps idle streams (and the proxies in front of them) open.
const heartbeat = 15 * time.Second

type userProperty struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// streamMessage is a message as the MQTT test client shows it.
type streamMessage struct {
	Time            int64          `json:"time"` // Unix ms
	Topic           string         `json:"topic"`
	QoS             byte           `json:"qos"`
	Retain          bool           `json:"retain"`
	Payload         string         `json:"payload"`
	Base64          bool           `json:"base64,omitempty"` // Payload is base64: not UTF-8
	ContentType     string         `json:"contentType,omitempty"`
	ResponseTopic   string         `json:"responseTopic,omitempty"`
	CorrelationData string         `json:"correlationData,omitempty"` // base64
	PayloadFormat   byte           `json:"payloadFormat,omitempty"`
	UserProperties  []userProperty `json:"userProperties,omitempty"`
	Publisher       string         `json:"publisher,omitempty"`
}

func toStream(m *broker.Message) streamMessage {
	s := streamMessage{
		Time: m.Created.UnixMilli(), Topic: m.Topic, QoS: m.QoS, Retain: m.Retain,
		ContentType: m.ContentType, ResponseTopic: m.ResponseTopic, PayloadFormat: m.PayloadFormat,
		Publisher: m.PublisherID,
	}
	if utf8.Valid(m.Payload) {
		s.Payload = string(m.Payload)
	} else {
		s.Payload, s.Base64 = base64.StdEncoding.EncodeToString(m.Payload), true
	}
	if len(m.CorrelationData) > 0 {
		s.CorrelationData = base64.StdEncoding.EncodeToString(m.CorrelationData)
	}
	for _, p := range m.UserProperties {
		s.UserProperties = append(s.UserProperties, userProperty{p.Key, p.Value})
	}
	return s
}

// sse starts a Server-Sent Events response; ok is false when the
// connection cannot stream.
func sse(w http.ResponseWriter) (*http.ResponseController, bool) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return nil, false
	}
	// Live streams outlive the server's write timeout, if it has one.
	_ = rc.SetWriteDeadline(time.Time{})
	return rc, true
}

func writeEvent(w http.ResponseWriter, rc *http.ResponseController, event string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, data); err != nil {
		return err
	}
	return rc.Flush()
}

// stream: GET api/stream?filter=F&filter=G -> Server-Sent Events: a
// "message" event per matching message, "dropped" when a slow browser lost
// messages (the buffer per stream is bounded), "error" for a bad filter.
//
// A browser must open it from the console's own pages: a request whose
// Sec-Fetch-Site is there and says another site is refused. Shared
// subscriptions ($share/...) are refused: the console would take a share of
// the group's messages away from its members.
func (c *Console) stream(w http.ResponseWriter, r *http.Request, _ *session) {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		writeError(w, http.StatusForbidden, "cross-origin request refused: Sec-Fetch-Site is "+site)
		return
	}
	filters := r.URL.Query()["filter"]
	if len(filters) == 0 || len(filters) > maxFilters {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("give 1 to %d topic filters", maxFilters))
		return
	}
	for _, f := range filters {
		if err := topic.ValidateFilter(f); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("topic filter %q: %v", f, err))
			return
		}
	}
	tap, err := broker.NewTap(c.deps.Broker, filters, c.cfg.StreamBuffer)
	if err != nil { // a $share/ filter
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%v; subscribe to the topic filter without $share/{group}/", err))
		return
	}
	defer tap.Close()
	rc, ok := sse(w)
	if !ok {
		return
	}
	if err := writeEvent(w, rc, "subscribed", filters); err != nil {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastBeat := c.now()
	var reported uint64
	for {
		select {
		case m := <-tap.C:
			if err := writeEvent(w, rc, "message", toStream(m)); err != nil {
				return
			}
		case <-tick.C:
			if d := tap.Dropped(); d != reported {
				if err := writeEvent(w, rc, "dropped", struct {
					Dropped uint64 `json:"dropped"`
				}{d}); err != nil {
					return
				}
				reported = d
			}
			if now := c.now(); now.Sub(lastBeat) >= heartbeat {
				if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil || rc.Flush() != nil {
					return
				}
				lastBeat = now
			}
		case <-r.Context().Done():
			return
		case <-c.closed:
			return
		}
	}
}

type publishRequest struct {
	Topic          string         `json:"topic"`
	QoS            byte           `json:"qos"`
	Retain         bool           `json:"retain"`
	Payload        string         `json:"payload"`
	ContentType    string         `json:"contentType"`
	ResponseTopic  string         `json:"responseTopic"`
	UserProperties []userProperty `json:"userProperties"`
}

// publish: POST api/publish {topic, qos, retain, payload, ...} publishes as
// the hub's own service (no device policy applies: the console is admin),
// after the checks a device's PUBLISH gets: the topic name and its limits,
// reserved topics, the payload size.
func (c *Console) publish(w http.ResponseWriter, r *http.Request, _ *session) {
	var in publishRequest
	if !readJSON(w, r, &in) {
		return
	}
	if err := c.deps.Broker.CheckClientPublish(in.Topic, len(in.Payload), in.Retain); err != nil {
		writeError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "broker: "))
		return
	}
	if in.QoS > 1 {
		writeError(w, http.StatusBadRequest, "QoS must be 0 or 1 (AWS IoT Core has no QoS 2)")
		return
	}
	m := &broker.Message{Topic: in.Topic, QoS: in.QoS, Retain: in.Retain, Payload: []byte(in.Payload),
		ContentType: in.ContentType, ResponseTopic: in.ResponseTopic}
	if utf8.ValidString(in.Payload) && in.Payload != "" {
		m.PayloadFormat = 1
	}
	for _, p := range in.UserProperties {
		if p.Key == "" {
			continue
		}
		m.UserProperties = append(m.UserProperties, packet.UserProperty{Key: p.Key, Value: p.Value})
	}
	if err := c.deps.Broker.Publish(m); err != nil {
		writeError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "broker: "))
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Topic string `json:"topic"`
	}{in.Topic})
}

// refusal is one refused connection or abnormal disconnect, as the
// connection log shows it.
type refusal struct {
	Time          int64  `json:"time"`
	Kind          string `json:"kind"` // "refused" or "dropped"
	ClientID      string `json:"clientId"`
	CertificateID string `json:"certificateId,omitempty"`
	Code          string `json:"code"`   // AWS's connectFailureReason or disconnectReason
	Reason        string `json:"reason"` // in words
	Remote        string `json:"remote,omitempty"`
}

// refusals returns the recent refusals of a client id or certificates,
// or all when both are empty, newest first.
func (c *Console) refusals(clientID string, certIDs []string, limit int) []refusal {
	out := []refusal{}
	if c.deps.Refusals == nil {
		return out
	}
	for _, ev := range c.deps.Refusals.Recent() {
		if len(out) == limit {
			break
		}
		if (clientID != "" || len(certIDs) > 0) && ev.ClientID != clientID && !containsFold(certIDs, ev.PrincipalID) {
			continue
		}
		out = append(out, toRefusal(ev))
	}
	return out
}

func toRefusal(ev broker.Event) refusal {
	rf := refusal{Time: ev.Time.UnixMilli(), ClientID: ev.ClientID, CertificateID: ev.PrincipalID,
		Reason: ev.Detail, Remote: ev.RemoteAddr}
	if ev.Kind == broker.EventConnectFailed {
		rf.Kind, rf.Code = "refused", ev.FailureReason
	} else {
		rf.Kind, rf.Code = "dropped", ev.DisconnectReason
	}
	if rf.Reason == "" {
		rf.Reason = rf.Code
	}
	return rf
}

// diagnostics: GET api/diagnostics?q= -> the connection log of refused and
// dropped devices whose client id, certificate or reason contains q,
// newest first.
func (c *Console) diagnostics(w http.ResponseWriter, r *http.Request, _ *session) {
	q := strings.ToLower(r.URL.Query().Get("q"))
	out := []refusal{}
	for _, rf := range c.refusals("", nil, -1) {
		if q != "" && !strings.Contains(strings.ToLower(rf.ClientID), q) &&
			!strings.Contains(strings.ToLower(rf.CertificateID), q) && !strings.Contains(strings.ToLower(rf.Reason), q) {
			continue
		}
		out = append(out, rf)
	}
	writeJSON(w, http.StatusOK, struct {
		Log       []refusal `json:"log"`
		Available bool      `json:"available"`
	}{out, c.deps.Refusals != nil})
}

// stats is one sample of the live counts.
type stats struct {
	Time              int64   `json:"time"`
	Connections       int64   `json:"connections"`
	Sessions          int     `json:"sessions"`
	Retained          int     `json:"retained"`
	MessagesInPerSec  float64 `json:"messagesInPerSec"`
	MessagesOutPerSec float64 `json:"messagesOutPerSec"`
	DroppedPerSec     float64 `json:"droppedPerSec"`
	ShadowUpdPerSec   float64 `json:"shadowUpdatesPerSec"`
}

// statsStream: GET api/stats -> Server-Sent Events: a "stats" event every
// second with the connected devices and the rates since the last one.
func (c *Console) statsStream(w http.ResponseWriter, r *http.Request, _ *session) {
	rc, ok := sse(w)
	if !ok {
		return
	}
	prev, prevShadow, prevAt := c.deps.Broker.Snapshot(), c.shadowUpdates.Load(), c.now()
	send := func() error {
		s, sh, now := c.deps.Broker.Snapshot(), c.shadowUpdates.Load(), c.now()
		secs := now.Sub(prevAt).Seconds()
		rate := func(now, before uint64) float64 {
			if secs <= 0 || now < before {
				return 0
			}
			return float64(now-before) / secs
		}
		out := stats{Time: now.UnixMilli(), Connections: s.Connections, Sessions: s.Sessions, Retained: s.Retained}
		if secs > 0 {
			out.MessagesInPerSec = rate(s.MessagesIn, prev.MessagesIn)
			out.MessagesOutPerSec = rate(s.MessagesOut, prev.MessagesOut)
			out.DroppedPerSec = rate(s.MessagesDropped, prev.MessagesDropped)
			out.ShadowUpdPerSec = rate(sh, prevShadow)
		}
		prev, prevShadow, prevAt = s, sh, now
		return writeEvent(w, rc, "stats", out)
	}
	if send() != nil {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if send() != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-c.closed:
			return
		}
	}
}
