// Package kvstore is thingcore's durable state: JetStream key-value buckets
// on a NATS server embedded in the process.
//
// One code path serves every deployment: a single node runs an in-process
// server with file storage in the data directory (one replica); a later
// cluster runs the same buckets with three replicas. Callers see only this
// package's types (Bucket, Entry and the sentinel errors), never NATS's.
//
// Decisions (see docs/architecture.md): file storage with a ~1 s sync
// interval (each acknowledged write has reached the OS; measured: no
// acknowledged write lost over 75 kill -9 cycles), never asynchronous
// persistence, and keys encoded because NATS keys cannot hold every character
// that thing names and topics can.
//
// Imported by the stores that adapt it (registry, sessions, shadows) and the
// composition root.
package kvstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Sentinel errors, checked with errors.Is.
var (
	ErrNotFound = errors.New("kvstore: key not found")
	ErrExists   = errors.New("kvstore: key already exists")
	ErrConflict = errors.New("kvstore: revision conflict")
)

// Config is the store's configuration.
type Config struct {
	// Dir is where JetStream keeps its files (created 0700). Required.
	Dir string `json:"dir"`
	// SyncInterval is how often file storage is flushed to disk with fsync.
	// Writes reach the OS before they are acknowledged either way. Default 1s.
	SyncInterval time.Duration `json:"sync_interval"`
	// Replicas is the number of copies of each bucket: 1 on a single node
	// (the default), 3 in a cluster.
	Replicas int `json:"replicas"`
	// StartTimeout bounds the embedded server's start. Default 30s.
	StartTimeout time.Duration `json:"start_timeout"`
}

func (c Config) withDefaults() Config {
	if c.SyncInterval == 0 {
		c.SyncInterval = time.Second
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 30 * time.Second
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Dir == "" {
		return errors.New("kvstore: dir is required")
	}
	if c.SyncInterval < 0 {
		return fmt.Errorf("kvstore: sync_interval is %s; must be positive", c.SyncInterval)
	}
	if c.Replicas != 1 && c.Replicas != 3 {
		return fmt.Errorf("kvstore: replicas is %d; allowed: 1 or 3", c.Replicas)
	}
	return nil
}

// Store is an open embedded JetStream.
type Store struct {
	cfg Config
	log *slog.Logger
	ns  *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	// acks serves the acknowledgements of every bucket's compare-and-set
	// writes (see writes.go).
	acks *acks
}

// Open starts the embedded NATS server with JetStream on cfg.Dir and
// connects to it in-process. Close stops it.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Join(cfg.Dir, "jetstream")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("kvstore: %w", err)
	}
	opts := &server.Options{
		ServerName:             "thingcore",
		JetStream:              true,
		StoreDir:               dir,
		SyncInterval:           cfg.SyncInterval,
		DontListen:             true, // in-process only; a cluster binds 127.0.0.1 instead
		NoSigs:                 true,
		NoLog:                  true,
		DisableJetStreamBanner: true,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("kvstore: start nats: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(cfg.StartTimeout) {
		ns.Shutdown()
		return nil, fmt.Errorf("kvstore: nats not ready after %s", cfg.StartTimeout)
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns), nats.Name("thingcore"))
	if err != nil {
		ns.Shutdown()
		return nil, fmt.Errorf("kvstore: connect: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		ns.Shutdown()
		return nil, fmt.Errorf("kvstore: jetstream: %w", err)
	}
	a, err := newAcks(nc)
	if err != nil {
		nc.Close()
		ns.Shutdown()
		return nil, err
	}
	log.Info("kvstore: open", "dir", dir, "sync_interval", cfg.SyncInterval.String())
	return &Store{cfg: cfg, log: log, ns: ns, nc: nc, js: js, acks: a}, nil
}

// Close flushes and stops the embedded server. Safe to call twice.
func (s *Store) Close() error {
	if s.nc != nil {
		_ = s.nc.Drain()
		s.nc.Close()
	}
	if s.ns != nil {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	}
	return nil
}

// Bucket opens (creating if needed) a key-value bucket keeping only the
// latest value of each key.
func (s *Store) Bucket(ctx context.Context, name string) (*Bucket, error) {
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   name,
		History:  1,
		Storage:  jetstream.FileStorage,
		Replicas: s.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("kvstore: bucket %s: %w", name, err)
	}
	return &Bucket{name: name, kv: kv, nc: s.nc, acks: s.acks, subjectPrefix: "$KV." + name + "."}, nil
}

// Bucket is one key-value bucket. Keys are '.'-separated tokens of
// [A-Za-z0-9_=-]; use Key to build them from arbitrary strings.
type Bucket struct {
	name string
	kv   jetstream.KeyValue
	nc   *nats.Conn // compare-and-set writes are published on it (writes.go)
	acks *acks
	// subjectPrefix is "$KV.<name>.", the stream subject of a key without it.
	subjectPrefix string
}

// Entry is a stored value with its revision (for compare-and-set).
type Entry struct {
	Key      string
	Value    []byte
	Revision uint64
}

// Get returns the current value of key, or ErrNotFound.
func (b *Bucket) Get(ctx context.Context, key string) (Entry, error) {
	e, err := b.kv.Get(ctx, key)
	if err != nil {
		return Entry{}, b.wrap("get", key, err)
	}
	return Entry{Key: key, Value: e.Value(), Revision: e.Revision()}, nil
}

// Put stores value under key unconditionally and returns the new revision.
func (b *Bucket) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := b.kv.Put(ctx, key, value)
	return rev, b.wrap("put", key, err)
}

// Create stores value only if key does not exist (ErrExists otherwise).
func (b *Bucket) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := b.kv.Create(ctx, key, value)
	return rev, b.wrap("create", key, err)
}

// Update stores value only if key's current revision is rev (ErrConflict
// otherwise). Like UpdateBatch, it waits at most WriteTimeout.
func (b *Bucket) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	r := b.UpdateBatch(ctx, []Write{{Key: key, Value: value, Rev: rev}})[0]
	return r.Rev, r.Err
}

// Write is one compare-and-set write of a batch: Value replaces Key if the
// key's current revision is Rev; Rev 0 creates a key that has never existed.
type Write struct {
	Key   string
	Value []byte
	Rev   uint64
}

// WriteResult is the outcome of one Write: the new revision, or ErrConflict
// (the revision moved on; for Rev 0, the key exists) or another error.
type WriteResult struct {
	Rev uint64
	Err error
}

// Delete removes key and its history. Deleting a missing key is not an error.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	err := b.kv.Purge(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return b.wrap("delete", key, err)
}

// DeleteIf removes key only if its current revision is rev (ErrConflict
// otherwise).
func (b *Bucket) DeleteIf(ctx context.Context, key string, rev uint64) error {
	return b.wrap("delete", key, b.kv.Purge(ctx, key, jetstream.LastRevision(rev)))
}

// Keys lists the keys matching a NATS subject filter such as "things.>" or
// "q.abc.*" ("" or ">" for all).
func (b *Bucket) Keys(ctx context.Context, filter string) ([]string, error) {
	if filter == "" {
		filter = ">"
	}
	l, err := b.kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, b.wrap("list", filter, err)
	}
	defer func() { _ = l.Stop() }()
	var keys []string
	for k := range l.Keys() {
		keys = append(keys, k)
	}
	return keys, nil
}

func (b *Bucket) wrap(op, key string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return fmt.Errorf("kvstore: %s %s/%s: %w", op, b.name, key, ErrNotFound)
	case errors.Is(err, jetstream.ErrKeyExists) && op == "create":
		return fmt.Errorf("kvstore: %s %s/%s: %w", op, b.name, key, ErrExists)
	case isWrongLastSequence(err):
		return fmt.Errorf("kvstore: %s %s/%s: %w", op, b.name, key, ErrConflict)
	}
	return fmt.Errorf("kvstore: %s %s/%s: %w", op, b.name, key, err)
}

func isWrongLastSequence(err error) bool {
	var je jetstream.JetStreamError
	if errors.As(err, &je) && je.APIError() != nil {
		c := je.APIError().ErrorCode
		return c == jetstream.JSErrCodeStreamWrongLastSequence || c == jetstream.JSErrCodeStreamWrongLastSequenceConstant
	}
	return false
}
