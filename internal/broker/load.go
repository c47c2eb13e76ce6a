package broker

import (
	"context"
	"fmt"
)

// load restores persistent sessions and retained messages from the stores.
func (b *Broker) load(ctx context.Context) error {
	if b.deps.Retained != nil {
		msgs, err := b.deps.Retained.LoadRetained(ctx)
		if err != nil {
			return fmt.Errorf("retained messages: %w", err)
		}
		b.retained.mu.Lock()
		for _, m := range msgs {
			b.retained.msgs[m.Topic] = m
		}
		b.retained.mu.Unlock()
	}
	if b.deps.Sessions == nil {
		return nil
	}
	stored, err := b.deps.Sessions.LoadSessions(ctx)
	if err != nil {
		return fmt.Errorf("sessions: %w", err)
	}
	now := b.now()
	for _, st := range stored {
		rec := st.Record
		s := newSession(b, rec.ClientID, rec.ProtocolVersion)
		s.expiry = rec.Expiry
		s.stored = true
		s.gen = 1
		for _, sub := range rec.Subscriptions {
			o := subOptions{qos: sub.QoS, noLocal: sub.NoLocal, retainAsPublished: sub.RetainAsPublished,
				retainHandling: sub.RetainHandling, subID: sub.SubscriptionID}
			s.subs[sub.Filter] = o
			b.subs.Subscribe(sub.Filter, s, o)
		}
		for _, qm := range st.Messages {
			s.pending = append(s.pending, &outMsg{msg: qm.Message, qos: qm.QoS, subIDs: qm.SubIDs, seq: qm.Seq})
			if qm.Seq > s.seq {
				s.seq = qm.Seq
			}
		}
		b.sessions[rec.ClientID] = s
		// A session restored after a restart is offline: its expiry runs from
		// when it was disconnected, or from now if it was connected when the
		// broker stopped.
		from := rec.DisconnectedAt
		if from.IsZero() {
			from = now
		}
		b.timers.add(from.Add(rec.Expiry), timerExpire, s, s.gen, nil)
	}
	b.log.Info("broker: state loaded", "sessions", len(stored), "retained", b.retained.len())
	return nil
}
