// Package brokerstore keeps the broker's durable state in kvstore buckets:
// persistent sessions (their subscriptions and queued QoS ≥ 1 messages) and
// retained messages. It implements broker.SessionStore and
// broker.RetainedStore; the composition root plugs it into the broker.
package brokerstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/thingcore/thingcore/internal/broker"
	"github.com/thingcore/thingcore/internal/kvstore"
	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// Bucket names.
const (
	SessionsBucket = "sessions"
	RetainedBucket = "retained"
)

// Store is the KV-backed session and retained-message store.
type Store struct {
	sessions *kvstore.Bucket
	retained *kvstore.Bucket
}

var (
	_ broker.SessionStore  = (*Store)(nil)
	_ broker.RetainedStore = (*Store)(nil)
)

// Open opens (creating if needed) the buckets in kv.
func Open(ctx context.Context, kv *kvstore.Store) (*Store, error) {
	s, err := kv.Bucket(ctx, SessionsBucket)
	if err != nil {
		return nil, err
	}
	r, err := kv.Bucket(ctx, RetainedBucket)
	if err != nil {
		return nil, err
	}
	return &Store{sessions: s, retained: r}, nil
}

// storedMessage is a broker.Message as JSON.
type storedMessage struct {
	Topic           string                `json:"topic"`
	Payload         []byte                `json:"payload"`
	QoS             byte                  `json:"qos"`
	Retain          bool                  `json:"retain,omitempty"`
	PayloadFormat   byte                  `json:"payload_format,omitempty"`
	ContentType     string                `json:"content_type,omitempty"`
	ResponseTopic   string                `json:"response_topic,omitempty"`
	CorrelationData []byte                `json:"correlation_data,omitempty"`
	UserProperties  []packet.UserProperty `json:"user_properties,omitempty"`
	Expiry          time.Time             `json:"expiry,omitzero"`
	PublisherID     string                `json:"publisher_id,omitempty"`
	Created         time.Time             `json:"created"`
	// Queued messages only.
	DeliverQoS byte     `json:"deliver_qos,omitempty"`
	SubIDs     []uint32 `json:"sub_ids,omitempty"`
}

func fromMessage(m *broker.Message) storedMessage {
	return storedMessage{
		Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain, PayloadFormat: m.PayloadFormat,
		ContentType: m.ContentType, ResponseTopic: m.ResponseTopic, CorrelationData: m.CorrelationData,
		UserProperties: m.UserProperties, Expiry: m.Expiry, PublisherID: m.PublisherID, Created: m.Created,
	}
}

func (sm *storedMessage) message() *broker.Message {
	return &broker.Message{
		Topic: sm.Topic, Payload: sm.Payload, QoS: sm.QoS, Retain: sm.Retain, PayloadFormat: sm.PayloadFormat,
		ContentType: sm.ContentType, ResponseTopic: sm.ResponseTopic, CorrelationData: sm.CorrelationData,
		UserProperties: sm.UserProperties, Expiry: sm.Expiry, PublisherID: sm.PublisherID, Created: sm.Created,
	}
}

func sessionKey(clientID string) string { return kvstore.Key("s", clientID) }

func queueKey(clientID string, seq uint64) string {
	return kvstore.Key("q", clientID) + "." + fmt.Sprintf("%020d", seq)
}

// LoadSessions implements broker.SessionStore.
func (s *Store) LoadSessions(ctx context.Context) ([]broker.StoredSession, error) {
	keys, err := s.sessions.Keys(ctx, "s.*")
	if err != nil {
		return nil, err
	}
	out := make([]broker.StoredSession, 0, len(keys))
	for _, k := range keys {
		e, err := s.sessions.Get(ctx, k)
		if errors.Is(err, kvstore.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var rec broker.SessionRecord
		if err := json.Unmarshal(e.Value, &rec); err != nil {
			return nil, fmt.Errorf("brokerstore: session %s: %w", k, err)
		}
		msgs, err := s.loadQueue(ctx, rec.ClientID)
		if err != nil {
			return nil, err
		}
		out = append(out, broker.StoredSession{Record: rec, Messages: msgs})
	}
	return out, nil
}

func (s *Store) loadQueue(ctx context.Context, clientID string) ([]broker.QueuedMessage, error) {
	keys, err := s.sessions.Keys(ctx, kvstore.Key("q", clientID)+".*")
	if err != nil {
		return nil, err
	}
	msgs := make([]broker.QueuedMessage, 0, len(keys))
	for _, k := range keys {
		seq, err := strconv.ParseUint(k[strings.LastIndexByte(k, '.')+1:], 10, 64)
		if err != nil {
			continue
		}
		e, err := s.sessions.Get(ctx, k)
		if errors.Is(err, kvstore.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var sm storedMessage
		if err := json.Unmarshal(e.Value, &sm); err != nil {
			return nil, fmt.Errorf("brokerstore: queued message %s: %w", k, err)
		}
		msgs = append(msgs, broker.QueuedMessage{Seq: seq, Message: sm.message(), QoS: sm.DeliverQoS, SubIDs: sm.SubIDs})
	}
	// Keys come back in no particular order; the queue is ordered by sequence.
	sortQueued(msgs)
	return msgs, nil
}

func sortQueued(m []broker.QueuedMessage) {
	for i := 1; i < len(m); i++ {
		for j := i; j > 0 && m[j].Seq < m[j-1].Seq; j-- {
			m[j], m[j-1] = m[j-1], m[j]
		}
	}
}

// PutSession implements broker.SessionStore.
func (s *Store) PutSession(ctx context.Context, rec broker.SessionRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("brokerstore: %w", err)
	}
	_, err = s.sessions.Put(ctx, sessionKey(rec.ClientID), b)
	return err
}

// DeleteSession implements broker.SessionStore.
func (s *Store) DeleteSession(ctx context.Context, clientID string) error {
	keys, err := s.sessions.Keys(ctx, kvstore.Key("q", clientID)+".*")
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.sessions.Delete(ctx, k); err != nil {
			return err
		}
	}
	return s.sessions.Delete(ctx, sessionKey(clientID))
}

// AppendMessages implements broker.SessionStore.
func (s *Store) AppendMessages(ctx context.Context, clientID string, msgs []broker.QueuedMessage) error {
	for _, qm := range msgs {
		sm := fromMessage(qm.Message)
		sm.DeliverQoS, sm.SubIDs = qm.QoS, qm.SubIDs
		b, err := json.Marshal(sm)
		if err != nil {
			return fmt.Errorf("brokerstore: %w", err)
		}
		if _, err := s.sessions.Put(ctx, queueKey(clientID, qm.Seq), b); err != nil {
			return err
		}
	}
	return nil
}

// RemoveMessages implements broker.SessionStore.
func (s *Store) RemoveMessages(ctx context.Context, clientID string, seqs []uint64) error {
	for _, seq := range seqs {
		if err := s.sessions.Delete(ctx, queueKey(clientID, seq)); err != nil {
			return err
		}
	}
	return nil
}

func retainedKey(topic string) string { return kvstore.Key("r", topic) }

// LoadRetained implements broker.RetainedStore.
func (s *Store) LoadRetained(ctx context.Context) ([]*broker.Message, error) {
	keys, err := s.retained.Keys(ctx, "r.*")
	if err != nil {
		return nil, err
	}
	out := make([]*broker.Message, 0, len(keys))
	for _, k := range keys {
		e, err := s.retained.Get(ctx, k)
		if errors.Is(err, kvstore.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var sm storedMessage
		if err := json.Unmarshal(e.Value, &sm); err != nil {
			return nil, fmt.Errorf("brokerstore: retained %s: %w", k, err)
		}
		out = append(out, sm.message())
	}
	return out, nil
}

// PutRetained implements broker.RetainedStore.
func (s *Store) PutRetained(ctx context.Context, m *broker.Message) error {
	b, err := json.Marshal(fromMessage(m))
	if err != nil {
		return fmt.Errorf("brokerstore: %w", err)
	}
	_, err = s.retained.Put(ctx, retainedKey(m.Topic), b)
	return err
}

// DeleteRetained implements broker.RetainedStore.
func (s *Store) DeleteRetained(ctx context.Context, topic string) error {
	return s.retained.Delete(ctx, retainedKey(topic))
}
