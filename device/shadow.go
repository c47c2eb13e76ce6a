package device

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Shadow is a client of one Device Shadow — the classic shadow of a thing,
// or one of its named shadows — over the Client's MQTT connection, on the
// AWS IoT Core topics that thingcore serves the same way:
// $aws/things/THING/shadow[/name/NAME]/{get,update,delete} and their
// /accepted and /rejected answers, /update/delta and /update/documents.
//
// Every request carries a unique clientToken, and the answer with the same
// token completes it, so concurrent requests and other clients' traffic on
// the same topics do not mix. Open one Shadow per shadow and Client.
type Shadow struct {
	c       *Client
	thing   string
	name    string
	prefix  string // $aws/things/THING/shadow or .../shadow/name/NAME
	filters []string
	onDelta func(Delta)

	stop      chan struct{}
	closeOnce sync.Once
	deltas    chan Delta // latest delta waiting for onDelta; capacity 1

	mu      sync.Mutex
	pending map[string]chan reply // by clientToken
}

// ShadowOption configures OpenShadow.
type ShadowOption func(*Shadow)

// ShadowName selects a named shadow instead of the thing's classic one. A
// name is 1 to 64 characters: letters, digits, and '$', ':', '_', '-'.
func ShadowName(name string) ShadowOption { return func(s *Shadow) { s.name = name } }

// OnDelta sets the function that receives the shadow's deltas: the desired
// state that differs from the reported state, published by the service
// after every update that leaves a difference. It runs on a goroutine of
// the Shadow, one call at a time, and may call the Shadow's methods (to
// report the applied state, typically). When deltas arrive faster than it
// returns, it is given only the latest: each delta holds every key that
// still differs.
func OnDelta(fn func(Delta)) ShadowOption { return func(s *Shadow) { s.onDelta = fn } }

// Document is a shadow document as the service returns it for get and
// update. State holds JSON objects: decode them into your own types.
type Document struct {
	State struct {
		Desired  json.RawMessage `json:"desired,omitempty"`
		Reported json.RawMessage `json:"reported,omitempty"`
		// Delta is the desired state that differs from reported (get only).
		Delta json.RawMessage `json:"delta,omitempty"`
	} `json:"state"`
	// Metadata mirrors State with {"timestamp": epoch seconds} at each leaf.
	Metadata    json.RawMessage `json:"metadata,omitempty"`
	Version     int64           `json:"version"`
	Timestamp   int64           `json:"timestamp"` // epoch seconds of the response
	ClientToken string          `json:"clientToken,omitempty"`
}

// Delta is an update/delta message: the desired keys that differ from
// reported (State, a JSON object), with the document's new version.
type Delta struct {
	State       json.RawMessage `json:"state"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
	Version     int64           `json:"version"`
	Timestamp   int64           `json:"timestamp"`
	ClientToken string          `json:"clientToken,omitempty"` // of the update that caused it
}

// StateUpdate is an update request. Desired and Reported are marshalled to
// JSON objects; a nil one is left out, and json.RawMessage("null") deletes
// the section. Inside them, a key set to nil (JSON null) is deleted.
type StateUpdate struct {
	Desired  any
	Reported any
	// Version, if not zero, makes the update conditional: the service
	// rejects it with ErrVersionConflict unless the shadow is at Version.
	Version int64
}

// reply is an accepted or rejected answer to a request.
type reply struct {
	rejected bool
	payload  []byte
}

// OpenShadow subscribes to the answers of the shadow of thing ("" means
// Config.ThingName) and returns its client. It waits until the client is
// connected and the server acknowledged the subscriptions (one per
// operation, $aws/things/THING/shadow/get/+, .../update/+, .../delete/+, as
// AWS's SDKs do), or until ctx ends. Close the Shadow when done; the Client's
// Close also ends it.
func (c *Client) OpenShadow(ctx context.Context, thing string, opts ...ShadowOption) (*Shadow, error) {
	if thing == "" {
		thing = c.cfg.ThingName
	}
	s := &Shadow{c: c, thing: thing, stop: make(chan struct{}), deltas: make(chan Delta, 1), pending: map[string]chan reply{}}
	for _, o := range opts {
		o(s)
	}
	if err := checkShadowID(s.thing, s.name); err != nil {
		return nil, err
	}
	s.prefix = "$aws/things/" + s.thing + "/shadow"
	if s.name != "" {
		s.prefix += "/name/" + s.name
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if s.onDelta != nil {
		c.wg.Add(1)
		go s.deliverDeltas()
	}
	c.mu.Unlock()
	for _, op := range []string{"get", "update", "delete"} {
		f := s.prefix + "/" + op + "/+"
		if err := c.Subscribe(ctx, f, AtLeastOnce, s.onMessage); err != nil {
			s.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("shadow: open %s: %w", s.label(), err)
		}
		s.filters = append(s.filters, f)
	}
	return s, nil
}

// checkShadowID checks names as AWS does.
func checkShadowID(thing, name string) error {
	ok := func(s string, max int, extra string) bool {
		if len(s) < 1 || len(s) > max {
			return false
		}
		for _, r := range s {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(":_-"+extra, r)) {
				return false
			}
		}
		return true
	}
	if !ok(thing, 128, "") {
		return fmt.Errorf("shadow: thing name %q: want 1 to 128 letters, digits, ':', '_' or '-'", thing)
	}
	if name != "" && !ok(name, 64, "$") {
		return fmt.Errorf("shadow: shadow name %q: want 1 to 64 letters, digits, '$', ':', '_' or '-'", name)
	}
	return nil
}

// Thing returns the shadow's thing name.
func (s *Shadow) Thing() string { return s.thing }

// Name returns the shadow's name; "" for the classic shadow.
func (s *Shadow) Name() string { return s.name }

func (s *Shadow) label() string { return shadowLabel(s.thing, s.name) }

// Get returns the shadow document. A shadow that does not exist gives a
// *ShadowError matching ErrShadowNotFound.
func (s *Shadow) Get(ctx context.Context) (*Document, error) {
	return s.document(ctx, "get", map[string]any{})
}

// Update sends an update request and returns the service's update/accepted
// document: the state sent, with its metadata and the new version. A
// rejection gives a *ShadowError (ErrVersionConflict for a stale Version).
func (s *Shadow) Update(ctx context.Context, u StateUpdate) (*Document, error) {
	state := map[string]any{}
	if u.Desired != nil {
		state["desired"] = u.Desired
	}
	if u.Reported != nil {
		state["reported"] = u.Reported
	}
	req := map[string]any{"state": state}
	if u.Version != 0 {
		req["version"] = u.Version
	}
	return s.document(ctx, "update", req)
}

// UpdateReported reports the device's state: reported is marshalled to a
// JSON object and merged into the shadow's reported section.
func (s *Shadow) UpdateReported(ctx context.Context, reported any) (*Document, error) {
	return s.Update(ctx, StateUpdate{Reported: reported})
}

// UpdateDesired sets desired state: desired is marshalled to a JSON object
// and merged into the shadow's desired section.
func (s *Shadow) UpdateDesired(ctx context.Context, desired any) (*Document, error) {
	return s.Update(ctx, StateUpdate{Desired: desired})
}

// Delete deletes the shadow. Deleting a shadow that does not exist gives a
// *ShadowError matching ErrShadowNotFound.
func (s *Shadow) Delete(ctx context.Context) error {
	_, err := s.request(ctx, "delete", map[string]any{})
	return err
}

func (s *Shadow) document(ctx context.Context, op string, body map[string]any) (*Document, error) {
	payload, err := s.request(ctx, op, body)
	if err != nil {
		return nil, err
	}
	var d Document
	if err := json.Unmarshal(payload, &d); err != nil {
		return nil, fmt.Errorf("shadow: %s %s: answer: %w", op, s.label(), err)
	}
	return &d, nil
}

// request publishes body, with a new clientToken, to the op's topic and
// waits for the answer carrying that token.
func (s *Shadow) request(ctx context.Context, op string, body map[string]any) ([]byte, error) {
	token := newClientToken()
	body["clientToken"] = token
	payload, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("shadow: %s %s: %w", op, s.label(), err)
	}
	ch := make(chan reply, 1)
	s.mu.Lock()
	s.pending[token] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, token)
		s.mu.Unlock()
	}()
	select {
	case <-s.stop:
		return nil, ErrClosed
	default:
	}
	// A request needs the connection: it is not put in the offline queue,
	// where it could outlive ctx and apply a stale state later.
	if err := s.c.waitOnline(ctx); err != nil {
		return nil, fmt.Errorf("shadow: %s %s: %w", op, s.label(), err)
	}
	err = s.c.sess.publish(ctx, Message{Topic: s.prefix + "/" + op, Payload: payload, QoS: AtLeastOnce})
	if errors.Is(err, errDown) {
		err = ErrNotConnected
	}
	if err != nil {
		return nil, fmt.Errorf("shadow: %s %s: %w", op, s.label(), err)
	}
	s.c.log.Debug("shadow: request sent", "thing", s.thing, "shadow", s.name, "op", op, "client_token", token)
	select {
	case r := <-ch:
		if r.rejected {
			return nil, s.rejection(op, r.payload)
		}
		return r.payload, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("shadow: %s %s: no answer: %w", op, s.label(), ctx.Err())
	case <-s.stop:
		return nil, ErrClosed
	case <-s.c.stop:
		return nil, ErrClosed
	}
}

func (s *Shadow) rejection(op string, payload []byte) error {
	var e struct {
		Code        int    `json:"code"`
		Message     string `json:"message"`
		ClientToken string `json:"clientToken"`
	}
	if err := json.Unmarshal(payload, &e); err != nil {
		return fmt.Errorf("shadow: %s %s: rejected, unreadable error document: %w", op, s.label(), err)
	}
	return &ShadowError{Op: op, Thing: s.thing, ShadowName: s.name, Code: e.Code, Message: e.Message, ClientToken: e.ClientToken}
}

// onMessage handles everything on the shadow's subscriptions, on the
// Client's dispatcher: it must not block.
func (s *Shadow) onMessage(m Message) {
	suffix, ok := strings.CutPrefix(m.Topic, s.prefix+"/")
	if !ok {
		return
	}
	switch suffix {
	case "get/accepted", "get/rejected", "update/accepted", "update/rejected", "delete/accepted", "delete/rejected":
		var t struct {
			ClientToken string `json:"clientToken"`
		}
		if json.Unmarshal(m.Payload, &t) != nil || t.ClientToken == "" {
			return
		}
		s.mu.Lock()
		ch := s.pending[t.ClientToken]
		s.mu.Unlock()
		if ch == nil {
			return // another client's request, or one that gave up
		}
		select {
		case ch <- reply{rejected: strings.HasSuffix(suffix, "/rejected"), payload: m.Payload}:
		default: // answered already (a QoS 1 duplicate)
		}
	case "update/delta":
		if s.onDelta == nil {
			return
		}
		var d Delta
		if err := json.Unmarshal(m.Payload, &d); err != nil {
			s.c.log.Warn("shadow: unreadable delta", "thing", s.thing, "shadow", s.name, "reason", err.Error())
			return
		}
		// Latest wins: replace a delta not yet taken.
		for {
			select {
			case s.deltas <- d:
				return
			default:
			}
			select {
			case <-s.deltas:
			default:
			}
		}
	}
}

func (s *Shadow) deliverDeltas() {
	defer s.c.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-s.c.stop:
			return
		case d := <-s.deltas:
			s.onDelta(d)
		}
	}
}

// Close unsubscribes from the shadow's topics and ends its requests and
// delta deliveries. Calling it again returns nil.
func (s *Shadow) Close(ctx context.Context) error {
	first := false
	s.closeOnce.Do(func() {
		first = true
		close(s.stop)
	})
	if !first {
		return nil
	}
	var errs []error
	for _, f := range s.filters {
		if err := s.c.Unsubscribe(ctx, f); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// newClientToken returns a unique clientToken: 32 hex digits (AWS allows up
// to 64 bytes).
func newClientToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
