package registry_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/thingcore/thingcore/internal/registry"
	"github.com/thingcore/thingcore/internal/testcert"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestCreateThing(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, registry.Deps{})
	first, err := r.CreateThing(ctx, "lamp", "", map[string]string{"color": "red"})
	if err != nil {
		t.Fatalf("CreateThing: %v", err)
	}
	if !uuidRE.MatchString(first.ID) || first.ARN != "arn:aws:iot:eu-west-1:123456789012:thing/lamp" || first.Version != 1 {
		t.Fatalf("CreateThing = %+v, want a UUID, the thing ARN and version 1", first)
	}
	tests := []struct {
		name     string
		thing    string
		typeName string
		attrs    map[string]string
		want     error
	}{
		{"same configuration is idempotent", "lamp", "", map[string]string{"color": "red"}, nil},
		{"empty value counts as absent", "lamp", "", map[string]string{"color": "red", "size": ""}, nil},
		{"different attributes", "lamp", "", map[string]string{"color": "blue"}, registry.ErrAlreadyExists},
		{"different type", "lamp", "bulb", map[string]string{"color": "red"}, registry.ErrAlreadyExists},
		{"colon in name", "site:7:lamp", "", nil, nil},
		{"128 characters", strings.Repeat("a", 128), "", nil, nil},
		{"129 characters", strings.Repeat("a", 129), "", nil, registry.ErrInvalid},
		{"empty name", "", "", nil, registry.ErrInvalid},
		{"slash in name", "a/b", "", nil, registry.ErrInvalid},
		{"bad type name", "typed", "a b", nil, registry.ErrInvalid},
		{"bad attribute name", "attr1", "", map[string]string{"a b": "x"}, registry.ErrInvalid},
		{"bad attribute value", "attr2", "", map[string]string{"a": "x y"}, registry.ErrInvalid},
		{"four attributes without type", "attr3", "", map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}, registry.ErrInvalid},
		{"four attributes with type", "attr4", "sensor", map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.CreateThing(ctx, tt.thing, tt.typeName, tt.attrs)
			wantErr(t, fmt.Sprintf("CreateThing(%q)", tt.thing), err, tt.want)
			if err != nil {
				return
			}
			d, err := r.DescribeThing(ctx, tt.thing)
			if err != nil {
				t.Fatalf("DescribeThing: %v", err)
			}
			if diff := cmp.Diff(d, got); diff != "" {
				t.Errorf("DescribeThing differs from CreateThing (-describe +create):\n%s", diff)
			}
		})
	}
	t.Run("conflict names the existing thing", func(t *testing.T) {
		_, err := r.CreateThing(ctx, "lamp", "", nil)
		var e *registry.Error
		if !errors.As(err, &e) || e.ResourceID != first.ID || e.ResourceARN != first.ARN {
			t.Errorf("CreateThing(conflict) = %#v, want resource %s %s", err, first.ID, first.ARN)
		}
	})
	t.Run("thing type hook", func(t *testing.T) {
		r := newRegistry(t, registry.Deps{CheckThingType: func(_ context.Context, name string) error {
			if name != "known" {
				return fmt.Errorf("thing type %s: %w", name, registry.ErrNotFound)
			}
			return nil
		}})
		if _, err := r.CreateThing(ctx, "a", "known", nil); err != nil {
			t.Errorf("CreateThing(known type) = %v", err)
		}
		_, err := r.CreateThing(ctx, "b", "unknown", nil)
		wantErr(t, "CreateThing(unknown type)", err, registry.ErrNotFound)
	})
}

func TestDescribeThing(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, registry.Deps{})
	if _, err := r.CreateThing(ctx, "t1", "sensor", map[string]string{"a": "1"}); err != nil {
		t.Fatal(err)
	}
	got, err := r.DescribeThing(ctx, "t1")
	if err != nil {
		t.Fatalf("DescribeThing: %v", err)
	}
	want := registry.Thing{
		Name: "t1", ID: got.ID, ARN: "arn:aws:iot:eu-west-1:123456789012:thing/t1", TypeName: "sensor",
		Attributes: map[string]string{"a": "1"}, Version: 1, CreatedAt: epoch.Add(1e9),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DescribeThing (-want +got):\n%s", diff)
	}
	_, err = r.DescribeThing(ctx, "nope")
	wantErr(t, "DescribeThing(missing)", err, registry.ErrNotFound)
}

func ptr[T any](v T) *T { return &v }

func TestUpdateThing(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, registry.Deps{})
	tests := []struct {
		name      string
		update    registry.ThingUpdate
		want      error
		wantType  string
		wantAttrs map[string]string
	}{
		{
			name:      "merge adds and overwrites",
			update:    registry.ThingUpdate{Attributes: map[string]string{"b": "20", "c": "3"}, Merge: true},
			wantType:  "sensor",
			wantAttrs: map[string]string{"a": "1", "b": "20", "c": "3"},
		},
		{
			name:      "merge with empty value removes",
			update:    registry.ThingUpdate{Attributes: map[string]string{"a": "", "missing": ""}, Merge: true},
			wantType:  "sensor",
			wantAttrs: map[string]string{"b": "2"},
		},
		{
			name:      "replace",
			update:    registry.ThingUpdate{Attributes: map[string]string{"z": "9", "a": ""}},
			wantType:  "sensor",
			wantAttrs: map[string]string{"z": "9"},
		},
		{
			name:      "replace with empty map clears",
			update:    registry.ThingUpdate{Attributes: map[string]string{}},
			wantType:  "sensor",
			wantAttrs: map[string]string{},
		},
		{
			name:      "nil attributes leave them",
			update:    registry.ThingUpdate{TypeName: ptr("lamp")},
			wantType:  "lamp",
			wantAttrs: map[string]string{"a": "1", "b": "2"},
		},
		{
			name:      "remove thing type",
			update:    registry.ThingUpdate{RemoveThingType: true},
			wantAttrs: map[string]string{"a": "1", "b": "2"},
		},
		{
			name:   "remove type and set type",
			update: registry.ThingUpdate{RemoveThingType: true, TypeName: ptr("lamp")},
			want:   registry.ErrInvalid,
		},
		{
			name:      "expected version matches",
			update:    registry.ThingUpdate{ExpectedVersion: ptr(int64(1)), Attributes: map[string]string{"c": "3"}, Merge: true},
			wantType:  "sensor",
			wantAttrs: map[string]string{"a": "1", "b": "2", "c": "3"},
		},
		{
			name:   "expected version stale",
			update: registry.ThingUpdate{ExpectedVersion: ptr(int64(7)), Attributes: map[string]string{"c": "3"}, Merge: true},
			want:   registry.ErrVersionConflict,
		},
		{
			name:   "over the untyped attribute limit",
			update: registry.ThingUpdate{RemoveThingType: true, Attributes: map[string]string{"c": "3", "d": "4"}, Merge: true},
			want:   registry.ErrInvalid,
		},
		{
			name:   "bad attribute value",
			update: registry.ThingUpdate{Attributes: map[string]string{"c": "a b"}, Merge: true},
			want:   registry.ErrInvalid,
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("thing%d", i)
			if _, err := r.CreateThing(ctx, name, "sensor", map[string]string{"a": "1", "b": "2"}); err != nil {
				t.Fatal(err)
			}
			err := r.UpdateThing(ctx, name, tt.update)
			wantErr(t, "UpdateThing", err, tt.want)
			got, derr := r.DescribeThing(ctx, name)
			if derr != nil {
				t.Fatal(derr)
			}
			if err != nil {
				if got.Version != 1 {
					t.Errorf("version after failed update = %d, want 1", got.Version)
				}
				return
			}
			if got.Version != 2 || got.TypeName != tt.wantType {
				t.Errorf("after UpdateThing: version %d type %q, want 2 %q", got.Version, got.TypeName, tt.wantType)
			}
			if diff := cmp.Diff(tt.wantAttrs, got.Attributes); diff != "" {
				t.Errorf("attributes (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("missing thing", func(t *testing.T) {
		err := r.UpdateThing(ctx, "nope", registry.ThingUpdate{RemoveThingType: true})
		wantErr(t, "UpdateThing(missing)", err, registry.ErrNotFound)
	})
}

func TestConcurrentUpdateThingLosesNothing(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, registry.Deps{})
	if _, err := r.CreateThing(ctx, "busy", "sensor", nil); err != nil {
		t.Fatal(err)
	}
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			u := registry.ThingUpdate{Attributes: map[string]string{fmt.Sprintf("w%d", i): "x"}, Merge: true}
			errs <- r.UpdateThing(ctx, "busy", u)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("UpdateThing: %v", err)
		}
	}
	got, err := r.DescribeThing(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Attributes) != writers || got.Version != writers+1 {
		t.Errorf("after %d concurrent merges: attributes %v version %d, want %d attributes and version %d",
			writers, got.Attributes, got.Version, writers, writers+1)
	}
}

func TestDeleteThing(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, registry.Deps{})
	ca := testcert.NewCA(t)
	cert := addCert(t, r, ca, registry.StatusActive)
	for _, n := range []string{"plain", "versioned", "attached"} {
		if _, err := r.CreateThing(ctx, n, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.UpdateThing(ctx, "versioned", registry.ThingUpdate{RemoveThingType: true}); err != nil {
		t.Fatal(err)
	}
	if err := r.AttachThingPrincipal(ctx, "attached", cert.ARN, false); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		thing    string
		expected *int64
		want     error
	}{
		{"missing thing succeeds", "nope", nil, nil},
		{"stale expected version", "versioned", ptr(int64(1)), registry.ErrVersionConflict},
		{"current expected version", "versioned", ptr(int64(2)), nil},
		{"principal attached", "attached", nil, registry.ErrInvalid},
		{"no version", "plain", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.DeleteThing(ctx, tt.thing, tt.expected)
			wantErr(t, "DeleteThing", err, tt.want)
			_, derr := r.DescribeThing(ctx, tt.thing)
			if gone := errors.Is(derr, registry.ErrNotFound); gone != (err == nil) {
				t.Errorf("after DeleteThing = %v: DescribeThing = %v", err, derr)
			}
		})
	}
	t.Run("message while attached", func(t *testing.T) {
		err := r.DeleteThing(ctx, "attached", nil)
		if got, want := message(t, err), "Cannot delete. Thing attached is still attached to one or more principals"; got != want {
			t.Errorf("message = %q, want %q", got, want)
		}
	})
	t.Run("after detach", func(t *testing.T) {
		if err := r.DetachThingPrincipal(ctx, "attached", cert.ID); err != nil {
			t.Fatal(err)
		}
		if err := r.DeleteThing(ctx, "attached", nil); err != nil {
			t.Errorf("DeleteThing after detach = %v", err)
		}
	})
}

func names(things []registry.Thing) []string {
	out := make([]string, len(things))
	for i, th := range things {
		out[i] = th.Name
	}
	return out
}

func TestListThingsPagination(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, registry.Deps{})
	// Created out of order; listing sorts by name. "a:1" encodes to a key
	// that sorts differently from its name.
	all := []string{"g", "c", "a:1", "e", "b", "f", "d"}
	for _, n := range all {
		if _, err := r.CreateThing(ctx, n, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	var pages [][]string
	token := ""
	for {
		things, next, err := r.ListThings(ctx, registry.ThingFilter{}, 3, token)
		if err != nil {
			t.Fatalf("ListThings(token %q): %v", token, err)
		}
		pages = append(pages, names(things))
		if next == "" {
			break
		}
		token = next
		if len(pages) > 5 {
			t.Fatal("pagination does not end")
		}
	}
	want := [][]string{{"a:1", "b", "c"}, {"d", "e", "f"}, {"g"}}
	if diff := cmp.Diff(want, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	t.Run("exact final page has no token", func(t *testing.T) {
		things, next, err := r.ListThings(ctx, registry.ThingFilter{}, 7, "")
		if err != nil || len(things) != 7 || next != "" {
			t.Errorf("ListThings(7) = %d things, %q, %v; want 7, no token", len(things), next, err)
		}
	})
	for _, tt := range []struct {
		name  string
		max   int
		token string
	}{
		{"max 251", 251, ""},
		{"negative max", -1, ""},
		{"bad token", 3, "!!not base64"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := r.ListThings(ctx, registry.ThingFilter{}, tt.max, tt.token)
			wantErr(t, "ListThings", err, registry.ErrInvalid)
		})
	}
}

func TestListThingsFilters(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t, registry.Deps{})
	things := []struct {
		name, typeName string
		attrs          map[string]string
	}{
		{"red-bulb", "bulb", map[string]string{"color": "red", "watts": "60"}},
		{"redish-bulb", "bulb", map[string]string{"color": "reddish"}},
		{"blue-lamp", "lamp", map[string]string{"color": "blue"}},
		{"bare", "", nil},
	}
	for _, th := range things {
		if _, err := r.CreateThing(ctx, th.name, th.typeName, th.attrs); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		filter  registry.ThingFilter
		want    []string
		wantErr error
	}{
		{"none", registry.ThingFilter{}, []string{"bare", "blue-lamp", "red-bulb", "redish-bulb"}, nil},
		{"attribute present", registry.ThingFilter{AttributeName: "color"}, []string{"blue-lamp", "red-bulb", "redish-bulb"}, nil},
		{"attribute exact", registry.ThingFilter{AttributeName: "color", AttributeValue: "red"}, []string{"red-bulb"}, nil},
		{"attribute prefix", registry.ThingFilter{AttributeName: "color", AttributeValue: "red", UsePrefixAttributeValue: true}, []string{"red-bulb", "redish-bulb"}, nil},
		{"type", registry.ThingFilter{TypeName: "bulb"}, []string{"red-bulb", "redish-bulb"}, nil},
		{"type and attribute", registry.ThingFilter{TypeName: "bulb", AttributeName: "watts"}, []string{"red-bulb"}, nil},
		{"no match", registry.ThingFilter{AttributeName: "color", AttributeValue: "green"}, nil, nil},
		{"value without name", registry.ThingFilter{AttributeValue: "red"}, nil, registry.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, next, err := r.ListThings(ctx, tt.filter, 0, "")
			wantErr(t, "ListThings", err, tt.wantErr)
			if diff := cmp.Diff(tt.want, names(got), cmpopts.EquateEmpty()); diff != "" || next != "" {
				t.Errorf("ListThings(%+v) next %q, names (-want +got):\n%s", tt.filter, next, diff)
			}
		})
	}
	t.Run("filtered pages", func(t *testing.T) {
		f := registry.ThingFilter{AttributeName: "color"}
		page1, next, err := r.ListThings(ctx, f, 2, "")
		if err != nil || next == "" {
			t.Fatalf("ListThings page 1 = %v, %q, %v", names(page1), next, err)
		}
		page2, next2, err := r.ListThings(ctx, f, 2, next)
		if err != nil || next2 != "" {
			t.Fatalf("ListThings page 2 = %v, %q, %v", names(page2), next2, err)
		}
		if diff := cmp.Diff([]string{"blue-lamp", "red-bulb", "redish-bulb"}, append(names(page1), names(page2)...)); diff != "" {
			t.Errorf("pages (-want +got):\n%s", diff)
		}
	})
}
