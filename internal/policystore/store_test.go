package policystore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/thingcore/thingcore/internal/kvstore"
	"github.com/thingcore/thingcore/internal/policy"
	"github.com/thingcore/thingcore/internal/policystore"
)

const (
	allowConnect = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}`
	allowPublish = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Publish","Resource":"*"}]}`
	denyConnect  = `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iot:Connect","Resource":"*"}]}`
	badEffect    = `{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"iot:Connect","Resource":"*"}]}`
)

var epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

type tickingClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *tickingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// changes records OnChange calls.
type changes struct {
	mu    sync.Mutex
	calls [][]string
}

func (c *changes) record(targets []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, targets)
}

func (c *changes) take() [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

func open(t *testing.T) (*policystore.Store, *changes) {
	t.Helper()
	ctx := context.Background()
	kv, err := kvstore.Open(ctx, kvstore.Config{Dir: t.TempDir()}, nil)
	if err != nil {
		t.Fatalf("kvstore.Open: %v", err)
	}
	t.Cleanup(func() { _ = kv.Close() })
	s, err := policystore.Open(ctx, kv, policystore.Config{Region: "eu-west-1", AccountID: "123456789012"}, (&tickingClock{t: epoch}).Now)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	c := &changes{}
	s.OnChange(c.record)
	return s, c
}

func certARN(n int) string {
	return fmt.Sprintf("arn:aws:iot:eu-west-1:123456789012:cert/%064x", n)
}

func wantErr(t *testing.T, op string, err, sentinel error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("%s = %v, want %v", op, err, sentinel)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  policystore.Config
		ok   bool
	}{
		{"defaults", policystore.Config{}, true},
		{"explicit", policystore.Config{Region: "ap-southeast-2", AccountID: "123456789012"}, true},
		{"bad region", policystore.Config{Region: "mars"}, false},
		{"bad account", policystore.Config{AccountID: "12"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate(%+v) = %v, want ok=%v", tt.cfg, err, tt.ok)
			}
		})
	}
}

func TestCreateAndGetPolicy(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	p, err := s.CreatePolicy(ctx, "dev-policy", allowConnect)
	if err != nil {
		t.Fatal(err)
	}
	want := policystore.Policy{
		Name: "dev-policy", ARN: "arn:aws:iot:eu-west-1:123456789012:policy/dev-policy",
		DefaultVersionID: "1", Document: allowConnect,
		CreatedAt: epoch.Add(time.Second), LastModifiedAt: epoch.Add(time.Second), GenerationID: p.GenerationID,
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("CreatePolicy (-want +got):\n%s", diff)
	}
	if len(p.GenerationID) != 64 {
		t.Errorf("GenerationID = %q, want 64 hex digits", p.GenerationID)
	}
	got, err := s.GetPolicy(ctx, "dev-policy")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetPolicy (-want +got):\n%s", diff)
	}

	tests := []struct {
		name, policy, doc string
		want              error
	}{
		{"duplicate", "dev-policy", allowConnect, policystore.ErrAlreadyExists},
		{"empty name", "", allowConnect, policystore.ErrInvalid},
		{"bad character", "a/b", allowConnect, policystore.ErrInvalid},
		{"too long", strings.Repeat("a", 129), allowConnect, policystore.ErrInvalid},
		{"malformed", "bad", badEffect, policystore.ErrMalformed},
		{"not json", "bad", "{", policystore.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreatePolicy(ctx, tt.policy, tt.doc)
			wantErr(t, "CreatePolicy", err, tt.want)
		})
	}
	t.Run("malformed message names statement and field", func(t *testing.T) {
		_, err := s.CreatePolicy(ctx, "bad", badEffect)
		var e *policystore.Error
		if !errors.As(err, &e) || !strings.Contains(e.Message, "Statement[0].Effect") {
			t.Errorf("CreatePolicy(bad effect) = %v, want a message naming Statement[0].Effect", err)
		}
		var me *policy.MalformedError
		if !errors.As(err, &me) {
			t.Errorf("CreatePolicy(bad effect) = %v, want it to wrap *policy.MalformedError", err)
		}
	})
	t.Run("get missing", func(t *testing.T) {
		_, err := s.GetPolicy(ctx, "ghost")
		wantErr(t, "GetPolicy", err, policystore.ErrNotFound)
	})
}

func TestListPolicies(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	for _, n := range []string{"c", "a", "e", "b", "d"} {
		if _, err := s.CreatePolicy(ctx, n, allowConnect); err != nil {
			t.Fatal(err)
		}
	}
	list := func(asc bool) []string {
		var names []string
		marker := ""
		for {
			ps, next, err := s.ListPolicies(ctx, 2, marker, asc)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				names = append(names, p.Name)
			}
			if next == "" {
				return names
			}
			marker = next
		}
	}
	tests := []struct {
		name string
		asc  bool
		want []string
	}{
		{"ascending", true, []string{"a", "b", "c", "d", "e"}},
		{"descending", false, []string{"e", "d", "c", "b", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, list(tt.asc)); diff != "" {
				t.Errorf("ListPolicies pages (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("bad page size", func(t *testing.T) {
		_, _, err := s.ListPolicies(ctx, 251, "", true)
		wantErr(t, "ListPolicies(251)", err, policystore.ErrInvalid)
	})
	t.Run("bad marker", func(t *testing.T) {
		_, _, err := s.ListPolicies(ctx, 1, "!!", true)
		wantErr(t, "ListPolicies(marker !!)", err, policystore.ErrInvalid)
	})
}

func TestVersions(t *testing.T) {
	s, ch := open(t)
	ctx := context.Background()
	if _, err := s.CreatePolicy(ctx, "p", allowConnect); err != nil {
		t.Fatal(err)
	}
	cert := certARN(1)
	if err := s.AttachPolicy(ctx, "p", cert); err != nil {
		t.Fatal(err)
	}
	ch.take()
	for i := 2; i <= 5; i++ {
		v, err := s.CreatePolicyVersion(ctx, "p", allowPublish, false)
		if err != nil {
			t.Fatalf("CreatePolicyVersion #%d: %v", i, err)
		}
		if v.VersionID != fmt.Sprint(i) || v.IsDefault {
			t.Errorf("CreatePolicyVersion #%d = id %s default %v, want id %d not default", i, v.VersionID, v.IsDefault, i)
		}
	}
	if got := ch.take(); got != nil {
		t.Errorf("OnChange calls after non-default versions = %v, want none", got)
	}
	_, err := s.CreatePolicyVersion(ctx, "p", allowPublish, true)
	wantErr(t, "6th CreatePolicyVersion", err, policystore.ErrVersionsLimitExceeded)
	if !strings.Contains(err.Error(), "already has the maximum number of versions (5)") {
		t.Errorf("6th CreatePolicyVersion = %v, want AWS's message", err)
	}

	if err := s.SetDefaultPolicyVersion(ctx, "p", "3"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{{cert}}, ch.take()); diff != "" {
		t.Errorf("OnChange after SetDefaultPolicyVersion (-want +got):\n%s", diff)
	}
	p, err := s.GetPolicy(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if p.DefaultVersionID != "3" || p.Document != allowPublish {
		t.Errorf("GetPolicy = default %s document %s, want 3 and the publish document", p.DefaultVersionID, p.Document)
	}

	errTests := []struct {
		name string
		err  error
		want error
	}{
		{"delete default version", s.DeletePolicyVersion(ctx, "p", "3"), policystore.ErrDeleteConflict},
		{"delete missing version", s.DeletePolicyVersion(ctx, "p", "9"), policystore.ErrNotFound},
		{"set missing default", s.SetDefaultPolicyVersion(ctx, "p", "9"), policystore.ErrNotFound},
		{"bad version id", s.SetDefaultPolicyVersion(ctx, "p", "v1"), policystore.ErrInvalid},
		{"version of missing policy", s.SetDefaultPolicyVersion(ctx, "ghost", "1"), policystore.ErrNotFound},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) { wantErr(t, tt.name, tt.err, tt.want) })
	}

	if err := s.DeletePolicyVersion(ctx, "p", "5"); err != nil {
		t.Fatal(err)
	}
	v, err := s.CreatePolicyVersion(ctx, "p", denyConnect, true)
	if err != nil {
		t.Fatal(err)
	}
	if v.VersionID != "6" || !v.IsDefault {
		t.Errorf("CreatePolicyVersion after a delete = id %s default %v, want 6 (ids never reused), default", v.VersionID, v.IsDefault)
	}
	if diff := cmp.Diff([][]string{{cert}}, ch.take()); diff != "" {
		t.Errorf("OnChange after CreatePolicyVersion(setAsDefault) (-want +got):\n%s", diff)
	}
	vs, err := s.ListPolicyVersions(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range vs {
		ids = append(ids, fmt.Sprintf("%s:%v", v.VersionID, v.IsDefault))
	}
	if diff := cmp.Diff([]string{"6:true", "4:false", "3:false", "2:false", "1:false"}, ids); diff != "" {
		t.Errorf("ListPolicyVersions (-want +got):\n%s", diff)
	}
	gv, err := s.GetPolicyVersion(ctx, "p", "2")
	if err != nil {
		t.Fatal(err)
	}
	if gv.Document != allowPublish || gv.IsDefault || gv.PolicyName != "p" {
		t.Errorf("GetPolicyVersion(2) = %+v", gv)
	}
}

func TestDeletePolicy(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	if _, err := s.CreatePolicy(ctx, "p", allowConnect); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreatePolicyVersion(ctx, "p", allowPublish, false); err != nil {
		t.Fatal(err)
	}
	if err := s.AttachPolicy(ctx, "p", certARN(1)); err != nil {
		t.Fatal(err)
	}
	err := s.DeletePolicy(ctx, "p")
	wantErr(t, "DeletePolicy(attached)", err, policystore.ErrDeleteConflict)
	if !strings.Contains(err.Error(), "attached to one or more principals") {
		t.Errorf("DeletePolicy(attached) = %v", err)
	}
	if err := s.DetachPolicy(ctx, "p", certARN(1)); err != nil {
		t.Fatal(err)
	}
	err = s.DeletePolicy(ctx, "p")
	wantErr(t, "DeletePolicy(with versions)", err, policystore.ErrDeleteConflict)
	if err := s.DeletePolicyVersion(ctx, "p", "2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePolicy(ctx, "p"); err != nil {
		t.Fatalf("DeletePolicy: %v", err)
	}
	wantErr(t, "DeletePolicy again", s.DeletePolicy(ctx, "p"), policystore.ErrNotFound)
	_, err = s.GetPolicy(ctx, "p")
	wantErr(t, "GetPolicy after delete", err, policystore.ErrNotFound)
}

func TestAttachments(t *testing.T) {
	s, ch := open(t)
	ctx := context.Background()
	for _, n := range []string{"connect", "publish"} {
		doc := allowConnect
		if n == "publish" {
			doc = allowPublish
		}
		if _, err := s.CreatePolicy(ctx, n, doc); err != nil {
			t.Fatal(err)
		}
	}
	c1, c2 := certARN(1), certARN(2)
	group := "arn:aws:iot:eu-west-1:123456789012:thinggroup/lamps"
	for _, a := range []struct{ policy, target string }{
		{"connect", c1}, {"publish", c1}, {"connect", c2}, {"connect", group},
		{"connect", c1}, // again: a no-op
	} {
		if err := s.AttachPolicy(ctx, a.policy, a.target); err != nil {
			t.Fatalf("AttachPolicy(%s, %s): %v", a.policy, a.target, err)
		}
	}
	if diff := cmp.Diff([][]string{{c1}, {c1}, {c2}, {group}}, ch.take()); diff != "" {
		t.Errorf("OnChange after attaches (-want +got):\n%s", diff)
	}
	t.Run("upper-case certificate id is the same target", func(t *testing.T) {
		upper := "arn:aws:iot:eu-west-1:123456789012:cert/" + strings.ToUpper(fmt.Sprintf("%064x", 0xab))
		if err := s.AttachPolicy(ctx, "publish", upper); err != nil {
			t.Fatal(err)
		}
		ts, err := s.Targets(ctx, "publish")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(ts, certARN(0xab)) {
			t.Errorf("Targets(publish) = %v, want the lower-case ARN", ts)
		}
		if err := s.DetachPolicy(ctx, "publish", upper); err != nil {
			t.Fatal(err)
		}
		ch.take()
	})

	names := func(ps []policystore.Policy) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		slices.Sort(out)
		return out
	}
	ps, err := s.AttachedPolicies(ctx, c1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"connect", "publish"}, names(ps)); diff != "" {
		t.Errorf("AttachedPolicies(c1) (-want +got):\n%s", diff)
	}
	ts, err := s.Targets(ctx, "connect")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ts)
	want := []string{c1, c2, group}
	slices.Sort(want)
	if diff := cmp.Diff(want, ts); diff != "" {
		t.Errorf("Targets(connect) (-want +got):\n%s", diff)
	}

	errTests := []struct {
		name, policy, target string
		want                 error
	}{
		{"missing policy", "ghost", c1, policystore.ErrNotFound},
		{"other account", "connect", "arn:aws:iot:eu-west-1:999999999999:cert/" + fmt.Sprintf("%064x", 1), policystore.ErrInvalid},
		{"short cert id", "connect", "arn:aws:iot:eu-west-1:123456789012:cert/abc", policystore.ErrInvalid},
		{"cognito id", "connect", "eu-west-1:6a3b1b5e-0000-0000-0000-000000000000", policystore.ErrInvalid},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, "AttachPolicy", s.AttachPolicy(ctx, tt.policy, tt.target), tt.want)
		})
	}

	if err := s.DetachPolicy(ctx, "publish", c1); err != nil {
		t.Fatal(err)
	}
	if err := s.DetachPolicy(ctx, "publish", c1); err != nil {
		t.Fatalf("DetachPolicy again: %v", err)
	}
	if diff := cmp.Diff([][]string{{c1}}, ch.take()); diff != "" {
		t.Errorf("OnChange after detach, detach again (-want +got):\n%s", diff)
	}
	ps, err = s.AttachedPolicies(ctx, c1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"connect"}, names(ps)); diff != "" {
		t.Errorf("AttachedPolicies(c1) after detach (-want +got):\n%s", diff)
	}
}

func TestEffectiveSet(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	cert := certARN(7)
	req := func(action string) policy.Request {
		return policy.Request{Action: action, Resource: "arn:aws:iot:eu-west-1:123456789012:client/dev"}
	}
	decide := func(action string) bool {
		t.Helper()
		set, err := s.EffectiveSet(ctx, cert)
		if err != nil {
			t.Fatalf("EffectiveSet: %v", err)
		}
		return set.Evaluate(req(action)).Allowed
	}
	if decide("iot:Connect") {
		t.Fatal("nothing attached: Connect allowed, want denied")
	}
	if _, err := s.CreatePolicy(ctx, "p", allowConnect); err != nil {
		t.Fatal(err)
	}
	if err := s.AttachPolicy(ctx, "p", cert); err != nil {
		t.Fatal(err)
	}
	if !decide("iot:Connect") {
		t.Error("allow-connect attached: Connect denied, want allowed")
	}
	if _, err := s.CreatePolicyVersion(ctx, "p", denyConnect, true); err != nil {
		t.Fatal(err)
	}
	if decide("iot:Connect") {
		t.Error("deny-connect made default: Connect allowed, want denied")
	}
	if err := s.SetDefaultPolicyVersion(ctx, "p", "1"); err != nil {
		t.Fatal(err)
	}
	if !decide("iot:Connect") {
		t.Error("version 1 default again: Connect denied, want allowed")
	}
	// Deleted and created again under the same name: version 1 is a new
	// document, which the cache must not hide.
	if err := s.DetachPolicy(ctx, "p", cert); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePolicyVersion(ctx, "p", "2"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePolicy(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreatePolicy(ctx, "p", denyConnect); err != nil {
		t.Fatal(err)
	}
	if err := s.AttachPolicy(ctx, "p", cert); err != nil {
		t.Fatal(err)
	}
	if decide("iot:Connect") {
		t.Error("recreated as deny-connect: Connect allowed, want denied")
	}
}

// TestConcurrentAttachAndDelete checks that a policy is never deleted while
// an attach of it succeeds: afterwards either the policy exists, or no
// attachment to it is left.
func TestConcurrentAttachAndDelete(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	for i := range 10 {
		name := fmt.Sprintf("p%d", i)
		if _, err := s.CreatePolicy(ctx, name, allowConnect); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var attachErr, deleteErr error
		wg.Go(func() { attachErr = s.AttachPolicy(ctx, name, certARN(i)) })
		wg.Go(func() { deleteErr = s.DeletePolicy(ctx, name) })
		wg.Wait()
		_, getErr := s.GetPolicy(ctx, name)
		ts, err := s.Targets(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case attachErr == nil && deleteErr == nil:
			t.Errorf("%s: attach and delete both succeeded", name)
		case errors.Is(getErr, policystore.ErrNotFound) && len(ts) > 0:
			t.Errorf("%s: deleted but still attached to %v", name, ts)
		}
	}
}
