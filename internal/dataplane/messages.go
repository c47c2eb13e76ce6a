package dataplane

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/httpapi"
	"github.com/thingcore/thingcore/internal/mqtt/packet"
	"github.com/thingcore/thingcore/internal/mqtt/topic"
	"github.com/thingcore/thingcore/internal/policy"
)

// The MQTT 5 headers of Publish (botocore's iot-data model).
const (
	headerUserProperties  = "x-amz-mqtt5-user-properties"
	headerPayloadFormat   = "x-amz-mqtt5-payload-format-indicator"
	headerCorrelationData = "x-amz-mqtt5-correlation-data"
)

// Page sizes of ListRetainedMessages (botocore: maxResults 1–200).
const maxRetainedPage = 200

// registerMessages hangs Publish and the retained-message operations on the
// API (reference §2.4, §4.1). Topics are greedy labels so that both an
// escaped "a%2Fb" (what the SDKs send) and a raw "a/b" reach the operation.
func (d *DataPlane) registerMessages() {
	d.api.Handle(http.MethodPost, "/topics/{topic+}", "Publish", d.publish)
	d.api.Handle(http.MethodGet, "/retainedMessage/{topic+}", "GetRetainedMessage", d.getRetained)
	d.api.Handle(http.MethodGet, "/retainedMessage", "ListRetainedMessages", d.listRetained)
}

func (d *DataPlane) topicARN(t string) string {
	return policy.ARN(d.cfg.Region, d.cfg.AccountID, policy.ResourceTopic, t)
}

func invalid(format string, args ...any) *httpapi.Error {
	return httpapi.Errorf(httpapi.InvalidRequest, format, args...)
}

// publish: POST /topics/{topic}?qos=&retain=&contentType=&responseTopic=
// &messageExpiry= with the payload as the body and the MQTT 5 headers ->
// {"message":"OK","traceId":request id}, as captured from AWS.
func (d *DataPlane) publish(w http.ResponseWriter, r *http.Request) error {
	t := r.PathValue("topic")
	m, err := d.readPublish(r, t)
	if err != nil {
		return err
	}
	if err := d.deps.Broker.CheckClientPublish(t, len(m.Payload), m.Retain); err != nil {
		return invalid("%s", upperFirst(err.Error()))
	}
	if err := d.authorize(r, "iot:Publish", d.topicARN(t)); err != nil {
		return err
	}
	if m.Retain {
		if err := d.authorize(r, "iot:RetainPublish", d.topicARN(t)); err != nil {
			return err
		}
	}
	if err := d.deps.Broker.Publish(m); err != nil {
		switch {
		case errors.Is(err, broker.ErrServerClosed):
			return httpapi.Errorf(httpapi.ServiceUnavailable, "Service unavailable").WithCause(err)
		case m.Retain && strings.Contains(err.Error(), "limit"):
			// The retained-message quota: AWS throttles RETAIN publishes
			// until the count drops (reference §2.4).
			return throttled("The retained message quota is reached").WithCause(err)
		}
		return fmt.Errorf("dataplane: publish %s: %w", t, err)
	}
	d.log.Debug("dataplane: published", keyTopic, t)
	return httpapi.WriteJSON(w, struct {
		Message string `json:"message"`
		TraceID string `json:"traceId"`
	}{"OK", httpapi.RequestID(r.Context())})
}

// readPublish builds the message of a Publish request from its query,
// headers and body.
func (d *DataPlane) readPublish(r *http.Request, t string) (*broker.Message, error) {
	qos, _, err := httpapi.QueryInt(r, "qos")
	if err != nil {
		return nil, err
	}
	if qos < 0 || qos > 1 {
		return nil, invalid("qos must be 0 or 1")
	}
	retain, _, err := httpapi.QueryBool(r, "retain")
	if err != nil {
		return nil, err
	}
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, invalid("The request body could not be read").WithCause(err)
	}
	m := &broker.Message{Topic: t, Payload: payload, QoS: byte(qos), Retain: retain}
	q := r.URL.Query()
	m.ContentType = q.Get("contentType")
	if rt := q.Get("responseTopic"); rt != "" {
		if err := topic.ValidateName(rt); err != nil {
			return nil, invalid("responseTopic is not a valid topic name: %v", err)
		}
		m.ResponseTopic = rt
	}
	if exp, given, err := httpapi.QueryInt(r, "messageExpiry"); err != nil {
		return nil, err
	} else if given {
		if exp < 0 {
			return nil, invalid("messageExpiry must not be negative")
		}
		// As on MQTT: 0 is raised to 1 s and long expiries are capped.
		dur := d.cfg.MaxMessageExpiry
		if exp < int64(dur/time.Second) {
			dur = time.Duration(max(exp, 1)) * time.Second
		}
		m.Expiry = d.deps.Now().Add(dur)
	}
	switch f := r.Header.Get(headerPayloadFormat); f {
	case "", "UNSPECIFIED_BYTES":
	case "UTF8_DATA":
		if !utf8.Valid(payload) {
			return nil, invalid("The payload is not valid UTF-8, as %s UTF8_DATA says", headerPayloadFormat)
		}
		m.PayloadFormat = 1
	default:
		return nil, invalid("%s must be UNSPECIFIED_BYTES or UTF8_DATA", headerPayloadFormat)
	}
	if v := r.Header.Get(headerCorrelationData); v != "" {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, invalid("%s must be base64", headerCorrelationData)
		}
		m.CorrelationData = b
	}
	if v := r.Header.Get(headerUserProperties); v != "" {
		props, err := parseUserProperties(v)
		if err != nil {
			return nil, invalid("%s must be the base64 of a JSON array of objects with string values, "+
				`such as [{"deviceName":"alpha"}]: %v`, headerUserProperties, err)
		}
		m.UserProperties = props
	}
	return m, nil
}

// parseUserProperties decodes x-amz-mqtt5-user-properties: the base64 of a
// JSON array such as [{"deviceName":"alpha"},{"deviceCnt":"45"}]. Every
// member of every object is one property, in order; keys may repeat.
func parseUserProperties(v string) ([]packet.UserProperty, error) {
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, errors.New("not base64")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	expect := func(want json.Delim) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); !ok || d != want {
			return fmt.Errorf("want %q, got %v", want, tok)
		}
		return nil
	}
	if err := expect('['); err != nil {
		return nil, err
	}
	var props []packet.UserProperty
	for dec.More() {
		if err := expect('{'); err != nil {
			return nil, err
		}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			val, err := dec.Token()
			if err != nil {
				return nil, err
			}
			s, ok := val.(string)
			if !ok {
				return nil, fmt.Errorf("the value of %q is not a string", k)
			}
			props = append(props, packet.UserProperty{Key: k.(string), Value: s})
		}
		if err := expect('}'); err != nil {
			return nil, err
		}
	}
	if err := expect(']'); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the array")
	}
	return props, nil
}

// encodeUserProperties is the inverse of parseUserProperties, as
// GetRetainedMessage returns them (base64 of the JSON array); "" when there
// are none.
func encodeUserProperties(props []packet.UserProperty) string {
	if len(props) == 0 {
		return ""
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, p := range props {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p.Key)
		v, _ := json.Marshal(p.Value)
		b.WriteByte('{')
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// retainedMessage is GetRetainedMessage's response.
type retainedMessage struct {
	Topic            string `json:"topic"`
	Payload          []byte `json:"payload"` // base64, as a blob
	QoS              byte   `json:"qos"`
	LastModifiedTime int64  `json:"lastModifiedTime"` // epoch milliseconds
	UserProperties   string `json:"userProperties,omitempty"`
}

// getRetained: GET /retainedMessage/{topic} -> the retained message.
func (d *DataPlane) getRetained(w http.ResponseWriter, r *http.Request) error {
	t := r.PathValue("topic")
	if err := d.authorize(r, "iot:GetRetainedMessage", d.topicARN(t)); err != nil {
		return err
	}
	m, ok := d.deps.Broker.Retained(t)
	if !ok || (!m.Expiry.IsZero() && !d.deps.Now().Before(m.Expiry)) {
		return httpapi.Errorf(httpapi.ResourceNotFound, "No retained message exists for topic: '%s'", t)
	}
	return httpapi.WriteJSON(w, retainedMessage{
		Topic: m.Topic, Payload: nonNilBytes(m.Payload), QoS: m.QoS, LastModifiedTime: m.Created.UnixMilli(),
		UserProperties: encodeUserProperties(m.UserProperties),
	})
}

func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// retainedSummary is one item of ListRetainedMessages.
type retainedSummary struct {
	Topic            string `json:"topic"`
	PayloadSize      int    `json:"payloadSize"`
	QoS              byte   `json:"qos"`
	LastModifiedTime int64  `json:"lastModifiedTime"`
}

// listRetained: GET /retainedMessage?maxResults=&nextToken= -> the retained
// topics, without payloads, sorted by topic. nextToken is the base64url of
// the last topic of the page.
func (d *DataPlane) listRetained(w http.ResponseWriter, r *http.Request) error {
	if err := d.authorize(r, "iot:ListRetainedMessages", policy.AnyResource); err != nil {
		return err
	}
	size, given, err := httpapi.QueryInt(r, "maxResults")
	if err != nil {
		return err
	}
	if !given {
		size = maxRetainedPage
	}
	if size < 1 || size > maxRetainedPage {
		return invalid("maxResults must be between 1 and %d", maxRetainedPage)
	}
	after := ""
	if tok := r.URL.Query().Get("nextToken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(b) == 0 {
			return invalid("Invalid nextToken")
		}
		after = string(b)
	}
	msgs := d.deps.Broker.RetainedMessages()
	slices.SortFunc(msgs, func(a, b *broker.Message) int { return strings.Compare(a.Topic, b.Topic) })
	out := struct {
		RetainedTopics []retainedSummary `json:"retainedTopics"`
		NextToken      string            `json:"nextToken,omitempty"`
	}{RetainedTopics: []retainedSummary{}}
	for _, m := range msgs {
		if m.Topic <= after {
			continue
		}
		if len(out.RetainedTopics) == int(size) {
			out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(out.RetainedTopics[size-1].Topic))
			break
		}
		out.RetainedTopics = append(out.RetainedTopics, retainedSummary{
			Topic: m.Topic, PayloadSize: len(m.Payload), QoS: m.QoS, LastModifiedTime: m.Created.UnixMilli(),
		})
	}
	return httpapi.WriteJSON(w, out)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
