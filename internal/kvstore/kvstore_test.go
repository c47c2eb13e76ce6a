package kvstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/thingcore/thingcore/internal/kvstore"
)

func openStore(t *testing.T, dir string) *kvstore.Store {
	t.Helper()
	s, err := kvstore.Open(context.Background(), kvstore.Config{Dir: dir}, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestBucketOperations(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	defer s.Close()
	b, err := s.Bucket(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	key := kvstore.Key("things", "my:thing/with spaces")
	if _, err := b.Get(ctx, key); !errors.Is(err, kvstore.ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
	rev, err := b.Create(ctx, key, []byte("v1"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := b.Create(ctx, key, []byte("again")); !errors.Is(err, kvstore.ErrExists) {
		t.Fatalf("Create(existing) = %v, want ErrExists", err)
	}
	if _, err := b.Update(ctx, key, []byte("v2"), rev+100); !errors.Is(err, kvstore.ErrConflict) {
		t.Fatalf("Update(wrong rev) = %v, want ErrConflict", err)
	}
	rev2, err := b.Update(ctx, key, []byte("v2"), rev)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	e, err := b.Get(ctx, key)
	if err != nil || string(e.Value) != "v2" || e.Revision != rev2 {
		t.Fatalf("Get = %+v, %v; want v2 at %d", e, err, rev2)
	}
	keys, err := b.Keys(ctx, "things.>")
	if err != nil || len(keys) != 1 || keys[0] != key {
		t.Fatalf("Keys = %v, %v; want [%s]", keys, err, key)
	}
	if err := b.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := b.Get(ctx, key); !errors.Is(err, kvstore.ErrNotFound) {
		t.Fatalf("Get(deleted) = %v, want ErrNotFound", err)
	}
	if keys, err := b.Keys(ctx, ">"); err != nil || len(keys) != 0 {
		t.Fatalf("Keys after delete = %v, %v; want none", keys, err)
	}
	if err := b.Delete(ctx, key); err != nil {
		t.Fatalf("Delete(missing) = %v, want nil", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	b, err := s.Bucket(ctx, "persist")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := b.Put(ctx, kvstore.Key("k", fmt.Sprint(i)), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = openStore(t, dir)
	defer s.Close()
	b, err = s.Bucket(ctx, "persist")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := b.Keys(ctx, "k.*")
	if err != nil || len(keys) != 50 {
		t.Fatalf("after reopen: %d keys, %v; want 50", len(keys), err)
	}
}

// Concurrent compare-and-set increments never lose an update.
func TestConcurrentCompareAndSet(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	defer s.Close()
	b, err := s.Bucket(ctx, "cas")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(ctx, "counter", []byte("0")); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				for {
					e, err := b.Get(ctx, "counter")
					if err != nil {
						t.Error(err)
						return
					}
					var n int
					fmt.Sscan(string(e.Value), &n)
					_, err = b.Update(ctx, "counter", []byte(fmt.Sprint(n+1)), e.Revision)
					if err == nil {
						break
					}
					if !errors.Is(err, kvstore.ErrConflict) {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	e, _ := b.Get(ctx, "counter")
	if string(e.Value) != fmt.Sprint(workers*each) {
		t.Fatalf("counter = %s, want %d", e.Value, workers*each)
	}
}

func TestKeyEncoding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "thing-1_a", "thing-1_a"},
		{"colon", "a:b", "a=3Ab"},
		{"dot and slash", "a.b/c", "a=2Eb=2Fc"},
		{"equals", "x=y", "x=3Dy"},
		{"empty", "", "="},
		{"utf8", "é", "=C3=A9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := kvstore.EncodeToken(tc.in)
			if got != tc.want {
				t.Fatalf("EncodeToken(%q) = %q, want %q", tc.in, got, tc.want)
			}
			back, err := kvstore.DecodeToken(got)
			if err != nil || back != tc.in {
				t.Fatalf("DecodeToken(%q) = %q, %v; want %q", got, back, err, tc.in)
			}
		})
	}
}

func FuzzKeyToken(f *testing.F) {
	for _, s := range []string{"", "a", "a:b", "=", "=3A", "x.y", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := kvstore.EncodeToken(s)
		back, err := kvstore.DecodeToken(enc)
		if err != nil || back != s {
			t.Fatalf("round trip %q -> %q -> %q, %v", s, enc, back, err)
		}
		_, _ = kvstore.DecodeToken(s) // never panics
	})
}

// UpdateBatch: each write succeeds or fails on its own compare-and-set.
func TestUpdateBatch(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	defer s.Close()
	b, err := s.Bucket(ctx, "batch")
	if err != nil {
		t.Fatal(err)
	}
	rev, err := b.Put(ctx, "old", []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	res := b.UpdateBatch(ctx, []kvstore.Write{
		{Key: "new", Value: []byte("n1")},                // create
		{Key: "old", Value: []byte("v2"), Rev: rev},      // right revision
		{Key: "other", Value: []byte("x"), Rev: rev + 5}, // wrong revision
	})
	if res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("create and update: %v, %v", res[0].Err, res[1].Err)
	}
	if !errors.Is(res[2].Err, kvstore.ErrConflict) {
		t.Errorf("wrong revision: %v, want ErrConflict", res[2].Err)
	}
	for key, want := range map[string]string{"new": "n1", "old": "v2"} {
		e, err := b.Get(ctx, key)
		if err != nil || string(e.Value) != want {
			t.Errorf("Get(%s) = %q, %v; want %q", key, e.Value, err, want)
		}
	}
	e, _ := b.Get(ctx, "old")
	if e.Revision != res[1].Rev {
		t.Errorf("revision of old = %d, UpdateBatch said %d", e.Revision, res[1].Rev)
	}
	// Creating an existing key conflicts.
	if res := b.UpdateBatch(ctx, []kvstore.Write{{Key: "new", Value: []byte("n2")}}); !errors.Is(res[0].Err, kvstore.ErrConflict) {
		t.Errorf("create of an existing key: %v, want ErrConflict", res[0].Err)
	}
}
