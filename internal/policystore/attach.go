package policystore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/thingcore/thingcore/internal/kvstore"
	"github.com/thingcore/thingcore/internal/policy"
)

func targetKey(target, name string) string   { return kvstore.Key("target", target, name) }
func attachedKey(name, target string) string { return kvstore.Key("attached", name, target) }

// CanonicalTarget checks a target and returns the form it is stored under.
// A certificate ARN must be in the store's region and account and name a
// 64-hex-digit certificate id, which is lower-cased; a thing group ARN
// (arn:aws:iot:<region>:<account>:thinggroup/<name>) is kept as it is.
// Anything else (Amazon Cognito identities included: thingcore has none)
// is ErrInvalid.
func (s *Store) CanonicalTarget(target string) (string, error) {
	prefix := "arn:aws:iot:" + s.cfg.Region + ":" + s.cfg.AccountID + ":"
	rest, ok := strings.CutPrefix(target, prefix)
	if !ok {
		return "", invalidf("Target %q is not a certificate or thing group ARN in region %s, account %s",
			target, s.cfg.Region, s.cfg.AccountID)
	}
	if id, ok := strings.CutPrefix(rest, "cert/"); ok {
		id = strings.ToLower(id)
		if _, err := hex.DecodeString(id); err != nil || len(id) != 64 {
			return "", invalidf("Target %q does not name a certificate: the id must be 64 hexadecimal characters", target)
		}
		return prefix + "cert/" + id, nil
	}
	if g, ok := strings.CutPrefix(rest, "thinggroup/"); ok && g != "" {
		return target, nil
	}
	return "", invalidf("Target %q is not a certificate or thing group ARN", target)
}

// AttachPolicy attaches the policy name to target (see CanonicalTarget).
// The policy must exist (ErrNotFound). Attaching again is a no-op.
func (s *Store) AttachPolicy(ctx context.Context, name, target string) error {
	target, err := s.CanonicalTarget(target)
	if err != nil {
		return err
	}
	_, err = s.b.Get(ctx, targetKey(target, name))
	already := err == nil
	if err != nil && !errors.Is(err, kvstore.ErrNotFound) {
		return fmt.Errorf("policystore: attach %s: %w", name, err)
	}
	wrote := false // the index keys exist because of this call
	for range maxCASAttempts {
		rec, rev, err := s.get(ctx, name)
		if err != nil {
			if wrote && errors.Is(err, ErrNotFound) {
				// A DeletePolicy won the race after our keys were written:
				// take them back so nothing points at a deleted policy.
				s.removeKeys(ctx, name, target)
			}
			return err
		}
		if already {
			return nil
		}
		if _, err := s.b.Put(ctx, targetKey(target, name), nil); err != nil {
			return fmt.Errorf("policystore: attach %s: %w", name, err)
		}
		if _, err := s.b.Put(ctx, attachedKey(name, target), nil); err != nil {
			return fmt.Errorf("policystore: attach %s: %w", name, err)
		}
		wrote = true
		// Commit by re-writing the policy at the revision read above, so
		// that a DeletePolicy that checked for attachments before the keys
		// were written fails and checks again.
		val, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("policystore: attach %s: %w", name, err)
		}
		_, err = s.b.Update(ctx, policyKey(name), val, rev)
		switch {
		case err == nil:
			s.notify([]string{target})
			return nil
		case errors.Is(err, kvstore.ErrConflict):
			continue
		case errors.Is(err, kvstore.ErrNotFound):
			s.removeKeys(ctx, name, target)
			return policyNotFound(name)
		default:
			return fmt.Errorf("policystore: attach %s: %w", name, err)
		}
	}
	return fmt.Errorf("policystore: attach %s: %w", name, errContention)
}

// removeKeys deletes both keys of an attachment, best effort (used to undo
// an attach whose policy was deleted meanwhile).
func (s *Store) removeKeys(ctx context.Context, name, target string) {
	_ = s.b.Delete(ctx, attachedKey(name, target))
	_ = s.b.Delete(ctx, targetKey(target, name))
}

// DetachPolicy detaches the policy name from target. Detaching what is not
// attached is a no-op, as it is for AWS.
func (s *Store) DetachPolicy(ctx context.Context, name, target string) error {
	if canon, err := s.CanonicalTarget(target); err == nil {
		target = canon
	}
	k1, k2 := targetKey(target, name), attachedKey(name, target)
	_, err1 := s.b.Get(ctx, k1)
	_, err2 := s.b.Get(ctx, k2)
	if errors.Is(err1, kvstore.ErrNotFound) && errors.Is(err2, kvstore.ErrNotFound) {
		return nil
	}
	if err := s.b.Delete(ctx, k1); err != nil {
		return fmt.Errorf("policystore: detach %s: %w", name, err)
	}
	if err := s.b.Delete(ctx, k2); err != nil {
		return fmt.Errorf("policystore: detach %s: %w", name, err)
	}
	s.notify([]string{target})
	return nil
}

// attachedNames returns the names of the policies attached to target, in
// no particular order.
func (s *Store) attachedNames(ctx context.Context, target string) ([]string, error) {
	keys, err := s.b.Keys(ctx, kvstore.Key("target", target)+".*")
	if err != nil {
		return nil, fmt.Errorf("policystore: list attached policies: %w", err)
	}
	names := make([]string, 0, len(keys))
	for _, k := range keys {
		toks, err := decodeKey(k)
		if err != nil {
			return nil, err
		}
		names = append(names, toks[len(toks)-1])
	}
	return names, nil
}

// AttachedPolicies returns the policies attached to target, by name. An
// attachment whose policy no longer exists (left by a crash) is skipped.
func (s *Store) AttachedPolicies(ctx context.Context, target string) ([]Policy, error) {
	if canon, err := s.CanonicalTarget(target); err == nil {
		target = canon
	}
	names, err := s.attachedNames(ctx, target)
	if err != nil {
		return nil, err
	}
	out := make([]Policy, 0, len(names))
	for _, n := range names {
		rec, _, err := s.get(ctx, n)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s.policyOf(rec))
	}
	return out, nil
}

// Targets returns the targets the policy name is attached to, in no
// particular order. A policy that does not exist has none.
func (s *Store) Targets(ctx context.Context, name string) ([]string, error) {
	keys, err := s.b.Keys(ctx, kvstore.Key("attached", name)+".*")
	if err != nil {
		return nil, fmt.Errorf("policystore: list targets: %w", err)
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		toks, err := decodeKey(k)
		if err != nil {
			return nil, err
		}
		out = append(out, toks[len(toks)-1])
	}
	return out, nil
}

// EffectiveSet returns the policies in effect for target: the default
// version of every policy attached to it, compiled. Compilations are cached
// by policy name and version. A target with nothing attached gets an empty
// set, which denies everything. A stored document that no longer compiles
// is an error rather than a policy left out, since leaving out a policy
// could drop a Deny.
func (s *Store) EffectiveSet(ctx context.Context, target string) (*policy.Set, error) {
	if canon, err := s.CanonicalTarget(target); err == nil {
		target = canon
	}
	names, err := s.attachedNames(ctx, target)
	if err != nil {
		return nil, err
	}
	named := make([]policy.Named, 0, len(names))
	for _, n := range names {
		rec, _, err := s.get(ctx, n)
		if errors.Is(err, ErrNotFound) {
			continue // attachment left by a crash; the policy is gone
		}
		if err != nil {
			return nil, err
		}
		v, ok := rec.version(rec.DefaultVersion)
		if !ok {
			return nil, fmt.Errorf("policystore: policy %s: default version %d missing", n, rec.DefaultVersion)
		}
		p, err := s.compile(n, *v)
		if err != nil {
			return nil, err
		}
		named = append(named, policy.Named{Name: n, Policy: p})
	}
	return policy.NewSet(named...), nil
}

// compile returns version v of the policy name compiled, from the cache
// when it holds the same document.
func (s *Store) compile(name string, v versionRecord) (*policy.Policy, error) {
	k := cacheKey{name, v.ID}
	s.mu.Lock()
	c, ok := s.compiled[k]
	s.mu.Unlock()
	if ok && c.doc == v.Document {
		return c.p, nil
	}
	p, err := policy.Parse([]byte(v.Document))
	if err != nil {
		return nil, fmt.Errorf("policystore: policy %s version %d: %w", name, v.ID, err)
	}
	s.mu.Lock()
	s.compiled[k] = compiledDoc{doc: v.Document, p: p}
	s.mu.Unlock()
	return p, nil
}
