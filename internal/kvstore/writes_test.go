package kvstore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

func TestParseAck(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		status   string
		wantSeq  uint64
		wantCode jetstream.ErrorCode // an *APIError with this code
		wantErr  error               // errors.Is
		anyErr   bool
	}{
		{name: "ok", data: `{"stream":"KV_shadows","seq":42}`, wantSeq: 42},
		{name: "ok-domain-duplicate", data: `{"stream":"KV_s","domain":"hub","seq":7,"duplicate":true}`, wantSeq: 7},
		{name: "ok-spaced", data: `{"stream": "KV_s", "seq": 9}`, wantSeq: 9},
		{name: "ok-large", data: `{"stream":"KV_s","seq":18446744073709551615}`, wantSeq: 18446744073709551615},
		{name: "wrong-last-sequence", data: `{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 5"},"stream":"KV_s","seq":0}`, wantCode: 10071},
		{name: "wrong-last-sequence-replicated", data: `{"error":{"code":400,"err_code":10164,"description":"wrong last sequence"}}`, wantCode: 10164},
		{name: "other-api-error", data: `{"error":{"code":503,"err_code":10008,"description":"JetStream system temporarily unavailable"}}`, wantCode: 10008},
		{name: "no-responders", data: ``, status: "503", wantErr: errNoStream},
		{name: "empty-other-status", data: ``, status: "408", anyErr: true},
		{name: "empty", data: ``, anyErr: true},
		{name: "error-not-json", data: `"error" {`, anyErr: true},
		{name: "error-null", data: `{"error":null,"seq":3}`, anyErr: true},
		{name: "no-seq", data: `{"stream":"KV_s"}`, anyErr: true},
		{name: "seq-zero", data: `{"stream":"KV_s","seq":0}`, anyErr: true},
		{name: "seq-not-a-number", data: `{"stream":"KV_s","seq":"x"}`, anyErr: true},
		{name: "seq-overflow", data: `{"stream":"KV_s","seq":18446744073709551616}`, anyErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq, err := parseAck([]byte(tt.data), tt.status)
			switch {
			case tt.wantCode != 0:
				var api *jetstream.APIError
				if !errors.As(err, &api) || api.ErrorCode != tt.wantCode {
					t.Fatalf("parseAck = %d, %v; want an API error with code %d", seq, err, tt.wantCode)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("parseAck = %d, %v; want %v", seq, err, tt.wantErr)
				}
			case tt.anyErr:
				if err == nil {
					t.Fatalf("parseAck = %d, nil; want an error", seq)
				}
			default:
				if err != nil || seq != tt.wantSeq {
					t.Fatalf("parseAck = %d, %v; want %d", seq, err, tt.wantSeq)
				}
			}
		})
	}
}

// A conflict from the ack reaches callers as ErrConflict.
func TestAckConflictIsErrConflict(t *testing.T) {
	_, err := parseAck([]byte(`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 5"}}`), "")
	b := &Bucket{name: "b"}
	if got := b.wrap("update", "k", err); !errors.Is(got, ErrConflict) {
		t.Fatalf("wrap(%v) = %v, want ErrConflict", err, got)
	}
}

func FuzzParseAck(f *testing.F) {
	for _, s := range []string{
		`{"stream":"KV_shadows","seq":42}`, `{"stream": "KV_s", "seq": 9}`,
		`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 5"}}`,
		``, `"seq":`, `{"seq":-1}`, `{"error":{}}`,
	} {
		f.Add([]byte(s), "")
	}
	f.Add([]byte(nil), "503")
	f.Fuzz(func(t *testing.T, data []byte, status string) {
		seq, err := parseAck(data, status)
		if err == nil && seq == 0 {
			t.Fatalf("parseAck(%q) = 0 without an error", data)
		}
		if err != nil && seq != 0 {
			t.Fatalf("parseAck(%q) = %d with error %v", data, seq, err)
		}
	})
}

// A batch whose context ends before its acks come gets the context's
// error for the writes without an ack, and leaves no waiter behind: acks
// that come later are dropped, and later batches work.
func TestUpdateBatchContextEnded(t *testing.T) {
	s, err := Open(context.Background(), Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := s.Bucket(context.Background(), "ctx")
	if err != nil {
		t.Fatal(err)
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	writes := make([]Write, 50)
	for i := range writes {
		writes[i] = Write{Key: fmt.Sprintf("k%d", i), Value: []byte("v")}
	}
	for i, r := range b.UpdateBatch(ended, writes) {
		if r.Err != nil && !errors.Is(r.Err, context.Canceled) {
			t.Errorf("write %d: %v; want success or context.Canceled", i, r.Err)
		}
	}
	s.acks.mu.Lock()
	left := len(s.acks.waiting)
	s.acks.mu.Unlock()
	if left != 0 {
		t.Errorf("%d writes still waiting after the batch returned", left)
	}
	// The keys written anyway (acks that came too late) conflict with a
	// create; the others are created now. Either way every write answers.
	for i, r := range b.UpdateBatch(context.Background(), writes) {
		if r.Err != nil && !errors.Is(r.Err, ErrConflict) {
			t.Errorf("second batch, write %d: %v", i, r.Err)
		}
	}
	if got := b.UpdateBatch(context.Background(), nil); len(got) != 0 {
		t.Errorf("empty batch: %v", got)
	}
}
