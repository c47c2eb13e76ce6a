package shadowsvc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/shadow"
)

// onMessage receives every publish to a shadow request topic. It runs on
// the publisher's goroutine, so it only queues the request.
func (s *Service) onMessage(m *broker.Message) {
	id, o, ok := parseRequestTopic(m.Topic)
	if !ok {
		return
	}
	// The message is immutable once routed (broker.Message), so the request
	// keeps its payload without a copy.
	r := request{op: o, id: id, body: m.Payload, clientID: m.PublisherID}
	if err := id.validate(); err != nil {
		s.answer(r, nil, err)
		return
	}
	if err := s.workerFor(id).enqueue(context.Background(), r, false); err != nil {
		s.answer(r, nil, err)
	}
}

// answer publishes the result of a device request: get/accepted, or the
// operation's rejected topic. update/accepted and delete/accepted were
// published by the worker, for devices and API callers alike.
func (s *Service) answer(r request, body []byte, err error) {
	if err == nil {
		if r.op == opGet {
			s.publish(r.id.prefix()+"/get/accepted", body)
		}
		return
	}
	if errors.Is(err, ErrNotRunning) {
		return // shutting down: no answer, as when the service is away
	}
	var se *shadow.Error
	if !errors.As(err, &se) {
		s.log.Error("shadow: request failed", "thing", r.id.thing, "shadow", r.id.name, "op", r.op.String(), "client_id", r.clientID, "err", err)
		se = &shadow.Error{Code: 500, Message: shadow.MsgInternalFailure}
	}
	if se.ClientToken == "" {
		if token, terr := parseTokenOnly(r.body); terr == nil && token != "" {
			c := *se
			c.ClientToken = token
			se = &c
		}
	}
	s.workerFor(r.id).rejected.Add(1)
	s.logRejection(r, se)
	s.publish(r.id.prefix()+"/"+r.op.String()+"/rejected", se.JSON())
}

// hintEvery limits the "missing state" hint to one line per thing per
// interval: a device that sends bare telemetry every few seconds should not
// flood the log.
const hintEvery = time.Minute

// logRejection logs a rejected device request. The seed recipe's device
// publishes bare JSON to its shadow update topic; AWS rejects it with
// "Missing required node: state", and the hub says how to fix it.
func (s *Service) logRejection(r request, se *shadow.Error) {
	attrs := []any{"thing", r.id.thing, "shadow", r.id.name, "op", r.op.String(), "client_id", r.clientID,
		"code", se.Code, "message", se.Message}
	if r.op != opUpdate || se.Message != shadow.MsgMissingState {
		s.log.Info("shadow: request rejected", attrs...)
		return
	}
	if !s.hintDue(r.id.thing) {
		return
	}
	s.log.Warn(`shadow: update rejected (400 Missing required node: state): the message is not a shadow document; `+
		`to update the shadow send {"state":{"reported":{...}}} (subscribers of the update topic still got the message as it was)`,
		append(attrs, "topic", r.id.prefix()+"/update")...)
}

// hintDue reports whether the hint for thing may be logged now.
func (s *Service) hintDue(thing string) bool {
	now := s.deps.Now()
	s.hintMu.Lock()
	defer s.hintMu.Unlock()
	if last, ok := s.hints[thing]; ok && now.Sub(last) < hintEvery {
		return false
	}
	if len(s.hints) > 10000 {
		clear(s.hints)
	}
	s.hints[thing] = now
	return true
}

// publish sends a response as an ordinary broker message, at QoS 1 so that
// subscribers with QoS 1 (and their offline persistent sessions) get it as
// they asked.
func (s *Service) publish(topic string, payload []byte) {
	if err := s.deps.Broker.Publish(&broker.Message{Topic: topic, Payload: payload, QoS: 1}); err != nil {
		s.log.Error("shadow: publish response", "topic", topic, "err", err)
	}
}

// parseTokenOnly reads the clientToken of a get or delete request. AWS
// ignores the rest of those bodies, so anything that is not a JSON object
// counts as no token.
func parseTokenOnly(body []byte) (string, *shadow.Error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return "", nil
	}
	var v struct {
		ClientToken string `json:"clientToken"`
	}
	if json.Unmarshal(body, &v) != nil {
		return "", nil
	}
	if len(v.ClientToken) > 64 {
		return "", &shadow.Error{Code: 400, Message: shadow.MsgInvalidClientToken}
	}
	return v.ClientToken, nil
}
