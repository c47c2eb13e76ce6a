package registry_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/thingcore/thingcore/internal/registry"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestStoredFormat pins the records and keys the registry writes: the
// bucket outlives releases, so a change here needs a migration.
func TestStoredFormat(t *testing.T) {
	ctx := context.Background()
	kv := openKV(t)
	ids := 0
	r, err := registry.Open(ctx, kv, registry.Config{}, registry.Deps{
		Now: (&fakeClock{t: epoch}).Now,
		NewID: func() string {
			ids++
			return fmt.Sprintf("00000000-0000-4000-8000-%012d", ids)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CreateThing(ctx, "site:7:lamp", "bulb", map[string]string{"color": "red", "room": "hall"}); err != nil {
		t.Fatal(err)
	}
	c, err := r.AddCertificate(ctx, fixedCertPEM(t, "golden device"), registry.StatusActive, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AttachThingPrincipal(ctx, "site:7:lamp", c.ARN, true); err != nil {
		t.Fatal(err)
	}
	if err := r.UpdateThing(ctx, "site:7:lamp", registry.ThingUpdate{Attributes: map[string]string{"room": ""}, Merge: true}); err != nil {
		t.Fatal(err)
	}

	b, err := kv.Bucket(ctx, registry.BucketName)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := b.Keys(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	var got bytes.Buffer
	for _, k := range keys {
		e, err := b.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&got, "%s\n\t%s\n", k, e.Value)
	}
	golden := filepath.Join("testdata", "store.golden")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got.String()); diff != "" {
		t.Errorf("stored records differ from %s (-want +got); run with -update if intended:\n%s", golden, diff)
	}
}
