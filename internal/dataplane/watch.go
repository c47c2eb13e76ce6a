package dataplane

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/httpapi"
	"github.com/thingcore/thingcore/internal/mqtt/topic"
)

// WatchPath is thingcore's own streaming endpoint, not an AWS operation:
// GET /thingcore/v1/watch?filter=F[&filter=G...], signed by the admin,
// answers with server-sent events, one per broker message matching a
// filter, until the client goes away or the hub shuts down.
//
// Each message is an event named "message" whose data is one line of JSON:
// {"topic":..., "payload": base64, "qos":..., "retain":..., "timestamp": epoch ms,
// and when set "contentType", "responseTopic", "correlationData" (base64),
// "userProperties" ([{"key":...,"value":...}])}. When the client reads too
// slowly the stream drops messages (its buffer is Config.WatchBuffer) and
// then sends an event "dropped" with {"dropped": n}. A comment line is sent
// every KeepAlive to keep proxies from closing an idle stream.
const WatchPath = "/thingcore/v1/watch"

// Limits of a watch request.
const (
	maxWatchFilters = 8
	// watchKeepAlive is how often an idle stream gets a comment line.
	watchKeepAlive = 15 * time.Second
)

// WatchEvent is the data of a "message" event (exported for clients such
// as the CLI, which decode it).
type WatchEvent struct {
	Topic           string          `json:"topic"`
	Payload         []byte          `json:"payload"`
	QoS             byte            `json:"qos"`
	Retain          bool            `json:"retain,omitempty"`
	Timestamp       int64           `json:"timestamp"`
	ContentType     string          `json:"contentType,omitempty"`
	ResponseTopic   string          `json:"responseTopic,omitempty"`
	CorrelationData []byte          `json:"correlationData,omitempty"`
	UserProperties  []WatchProperty `json:"userProperties,omitempty"`
}

// WatchProperty is one MQTT 5 user property of a WatchEvent.
type WatchProperty struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// track registers a stream: it returns a context that ends with the request
// or at Shutdown, and the function to call when the stream ends. ok is
// false after Shutdown.
func (d *DataPlane) track(parent context.Context) (ctx context.Context, done func(), ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, nil, false
	}
	d.streams.Add(1)
	ctx, cancel := context.WithCancel(parent)
	stop := context.AfterFunc(d.closing, cancel)
	return ctx, func() {
		stop()
		cancel()
		d.streams.Done()
	}, true
}

// watch streams broker messages as server-sent events. Admin only.
func (d *DataPlane) watch(w http.ResponseWriter, r *http.Request) error {
	if !isAdmin(r) {
		return httpapi.Errorf(httpapi.Forbidden, "%s: watch streams are for the admin", msgForbidden)
	}
	filters := r.URL.Query()["filter"]
	if len(filters) == 0 || len(filters) > maxWatchFilters {
		return invalid("Give 1 to %d filter query parameters", maxWatchFilters)
	}
	ctx, done, ok := d.track(r.Context())
	if !ok {
		return httpapi.Errorf(httpapi.ServiceUnavailable, "The hub is shutting down")
	}
	defer done()

	for _, f := range filters {
		if err := topic.ValidateFilter(f); err != nil {
			return invalid("filter %q is not a valid topic filter", f).WithCause(err)
		}
	}
	tap, err := broker.NewTap(d.deps.Broker, filters, d.cfg.WatchBuffer)
	if err != nil {
		return invalid("%v", err) // a $share/ filter
	}
	defer tap.Close()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, ": watching\n\n"); err != nil {
		return nil // the client went away
	}
	_ = rc.Flush()
	d.log.Info("dataplane: watch started", keyRequestID, httpapi.RequestID(r.Context()), keyFilter, filters)
	defer d.log.Info("dataplane: watch ended", keyRequestID, httpapi.RequestID(r.Context()))

	keepAlive := time.NewTicker(watchKeepAlive)
	defer keepAlive.Stop()
	var reported uint64 // drops already told
	for {
		var err error
		select {
		case <-ctx.Done():
			return nil
		case <-keepAlive.C:
			_, err = fmt.Fprint(w, ": keep-alive\n\n")
		case m := <-tap.C:
			if n := tap.Dropped(); n > reported {
				if _, err = fmt.Fprintf(w, "event: dropped\ndata: {\"dropped\":%d}\n\n", n-reported); err != nil {
					break
				}
				reported = n
			}
			err = writeEvent(w, m)
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return nil // the client went away; nothing to answer
		}
	}
}

// writeEvent writes m as a "message" event.
func writeEvent(w http.ResponseWriter, m *broker.Message) error {
	ev := WatchEvent{
		Topic: m.Topic, Payload: nonNilBytes(m.Payload), QoS: m.QoS, Retain: m.Retain, Timestamp: m.Created.UnixMilli(),
		ContentType: m.ContentType, ResponseTopic: m.ResponseTopic, CorrelationData: m.CorrelationData,
	}
	for _, p := range m.UserProperties {
		ev.UserProperties = append(ev.UserProperties, WatchProperty{p.Key, p.Value})
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: message\ndata: %s\n\n", b)
	return err
}
