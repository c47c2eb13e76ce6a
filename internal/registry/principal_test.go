package registry_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/thingcore/thingcore/internal/registry"
	"github.com/thingcore/thingcore/internal/testcert"
)

func TestAttachThingPrincipal(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, registry.Deps{})
	ca := testcert.NewCA(t)
	for _, n := range []string{"t1", "t2", "t3", "solo"} {
		if _, err := r.CreateThing(ctx, n, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	shared := addCert(t, r, ca, registry.StatusActive)
	excl := addCert(t, r, ca, registry.StatusActive)
	other := addCert(t, r, ca, registry.StatusActive)

	// Steps run in order; each sees the attachments the earlier ones made.
	steps := []struct {
		name      string
		thing     string
		principal string
		exclusive bool
		want      error
	}{
		{"by ARN", "t1", shared.ARN, false, nil},
		{"by bare id", "t2", shared.ID, false, nil},
		{"again is idempotent", "t1", shared.ARN, false, nil},
		{"second principal on a thing", "t1", other.ARN, false, nil},
		{"missing thing", "nope", shared.ARN, false, registry.ErrNotFound},
		{"missing certificate", "t1", strings.Repeat("3", 64), false, registry.ErrNotFound},
		{"not a certificate", "t1", "us-east-1:abc", false, registry.ErrInvalid},
		{"bad thing name", "a b", shared.ARN, false, registry.ErrInvalid},
		{"exclusive while attached elsewhere", "t3", shared.ARN, true, registry.ErrInvalid},
		{"exclusive", "solo", excl.ARN, true, nil},
		{"exclusive again", "solo", excl.ARN, true, nil},
		{"second thing on an exclusive principal", "t3", excl.ARN, false, registry.ErrInvalid},
		{"second exclusive thing", "t3", excl.ARN, true, registry.ErrInvalid},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			err := r.AttachThingPrincipal(ctx, st.thing, st.principal, st.exclusive)
			wantErr(t, "AttachThingPrincipal", err, st.want)
		})
	}

	t.Run("lists both ways", func(t *testing.T) {
		principals, next, err := r.ThingPrincipals(ctx, "t1", 0, "")
		if err != nil || next != "" {
			t.Fatalf("ThingPrincipals = %v, %q, %v", principals, next, err)
		}
		if diff := cmp.Diff([]string{shared.ARN, other.ARN}, principals, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("ThingPrincipals(t1) (-want +got):\n%s", diff)
		}
		things, _, err := r.PrincipalThings(ctx, shared.ARN, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"t1", "t2"}, things); diff != "" {
			t.Errorf("PrincipalThings(shared) (-want +got):\n%s", diff)
		}
		c, things, err := r.CertificateThings(ctx, excl.ID)
		if err != nil || c.ID != excl.ID || !cmp.Equal(things, []string{"solo"}) {
			t.Errorf("CertificateThings(excl) = %s, %v, %v; want [solo]", c.ID, things, err)
		}
	})
	t.Run("unknown thing or principal", func(t *testing.T) {
		_, _, err := r.ThingPrincipals(ctx, "nope", 0, "")
		wantErr(t, "ThingPrincipals(missing)", err, registry.ErrNotFound)
		_, _, err = r.PrincipalThings(ctx, strings.Repeat("4", 64), 0, "")
		wantErr(t, "PrincipalThings(missing)", err, registry.ErrNotFound)
	})
	t.Run("exclusive to non-exclusive on the same thing", func(t *testing.T) {
		if err := r.AttachThingPrincipal(ctx, "solo", excl.ARN, false); err != nil {
			t.Fatalf("AttachThingPrincipal: %v", err)
		}
		if err := r.AttachThingPrincipal(ctx, "t3", excl.ARN, false); err != nil {
			t.Errorf("AttachThingPrincipal(second thing after non-exclusive) = %v", err)
		}
	})
	t.Run("detach", func(t *testing.T) {
		if err := r.DetachThingPrincipal(ctx, "t2", shared.ARN); err != nil {
			t.Fatalf("DetachThingPrincipal: %v", err)
		}
		if err := r.DetachThingPrincipal(ctx, "t2", shared.ARN); err != nil {
			t.Errorf("DetachThingPrincipal(again) = %v, want success", err)
		}
		err := r.DetachThingPrincipal(ctx, "nope", shared.ARN)
		wantErr(t, "DetachThingPrincipal(missing thing)", err, registry.ErrNotFound)
		things, _, err := r.PrincipalThings(ctx, shared.ID, 0, "")
		if err != nil || !cmp.Equal(things, []string{"t1"}) {
			t.Errorf("PrincipalThings after detach = %v, %v; want [t1]", things, err)
		}
		principals, _, err := r.ThingPrincipals(ctx, "t2", 0, "")
		if err != nil || len(principals) != 0 {
			t.Errorf("ThingPrincipals(t2) after detach = %v, %v; want none", principals, err)
		}
	})
}

func TestPrincipalPagination(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, registry.Deps{})
	ca := testcert.NewCA(t)
	cert := addCert(t, r, ca, registry.StatusActive)
	var want []string
	for i := range 5 {
		n := fmt.Sprintf("pg:%d", i)
		want = append(want, n)
		if _, err := r.CreateThing(ctx, n, "", nil); err != nil {
			t.Fatal(err)
		}
		if err := r.AttachThingPrincipal(ctx, n, cert.ARN, false); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	token := ""
	for pages := 1; ; pages++ {
		things, next, err := r.PrincipalThings(ctx, cert.ARN, 2, token)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, things...)
		if next == "" {
			if pages != 3 {
				t.Errorf("%d pages, want 3", pages)
			}
			break
		}
		token = next
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PrincipalThings pages (-want +got):\n%s", diff)
	}
}

// TestConcurrentExclusiveAttach races exclusive attachments of one
// certificate to different things: exactly one may win.
func TestConcurrentExclusiveAttach(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, registry.Deps{})
	cert := addCert(t, r, testcert.NewCA(t), registry.StatusActive)
	const n = 8
	for i := range n {
		if _, err := r.CreateThing(ctx, fmt.Sprintf("race%d", i), "", nil); err != nil {
			t.Fatal(err)
		}
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := r.AttachThingPrincipal(ctx, fmt.Sprintf("race%d", i), cert.ARN, true)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, registry.ErrInvalid):
				t.Errorf("AttachThingPrincipal: %v", err)
			}
		})
	}
	wg.Wait()
	things, _, err := r.PrincipalThings(ctx, cert.ARN, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if wins.Load() != 1 || len(things) != 1 {
		t.Fatalf("%d exclusive attaches won, certificate attached to %v; want exactly one", wins.Load(), things)
	}
	for i := range n {
		name := fmt.Sprintf("race%d", i)
		principals, _, err := r.ThingPrincipals(ctx, name, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		if attached := len(principals) == 1; attached != (name == things[0]) {
			t.Errorf("ThingPrincipals(%s) = %v; the winner is %s", name, principals, things[0])
		}
	}
}

// TestConcurrentAttachAndDelete races attaching certificates to things
// against deleting those things: afterwards every attachment has a thing,
// and a thing that is gone has no attachment in either direction.
func TestConcurrentAttachAndDelete(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, registry.Deps{})
	ca := testcert.NewCA(t)
	const n = 6
	certs := make([]registry.Certificate, n)
	for i := range n {
		certs[i] = addCert(t, r, ca, registry.StatusActive)
		if _, err := r.CreateThing(ctx, fmt.Sprintf("victim%d", i), "", nil); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range n {
		name := fmt.Sprintf("victim%d", i)
		wg.Go(func() {
			err := r.AttachThingPrincipal(ctx, name, certs[i].ARN, false)
			if err != nil && !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("AttachThingPrincipal(%s): %v", name, err)
			}
		})
		wg.Go(func() {
			err := r.DeleteThing(ctx, name, nil)
			if err != nil && !errors.Is(err, registry.ErrInvalid) {
				t.Errorf("DeleteThing(%s): %v", name, err)
			}
		})
	}
	wg.Wait()
	for i := range n {
		name := fmt.Sprintf("victim%d", i)
		_, err := r.DescribeThing(ctx, name)
		exists := err == nil
		things, _, perr := r.PrincipalThings(ctx, certs[i].ARN, 0, "")
		if perr != nil {
			t.Fatal(perr)
		}
		if !exists && len(things) > 0 {
			t.Errorf("%s is deleted but certificate %s still lists it: %v", name, certs[i].ID, things)
		}
		if exists {
			principals, _, err := r.ThingPrincipals(ctx, name, 0, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(principals) != len(things) {
				t.Errorf("%s: ThingPrincipals %v and PrincipalThings %v disagree", name, principals, things)
			}
		}
	}
}
