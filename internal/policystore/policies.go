package policystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/thingcore/thingcore/internal/kvstore"
)

func (s *Store) policyOf(rec record) Policy {
	p := Policy{
		Name: rec.Name, ARN: s.PolicyARN(rec.Name), DefaultVersionID: strconv.Itoa(rec.DefaultVersion),
		CreatedAt: rec.CreatedAt, LastModifiedAt: rec.LastModifiedAt, GenerationID: rec.GenerationID,
	}
	if v, ok := rec.version(rec.DefaultVersion); ok {
		p.Document = v.Document
	}
	return p
}

func (s *Store) versionOf(rec record, v versionRecord) Version {
	return Version{
		PolicyName: rec.Name, PolicyARN: s.PolicyARN(rec.Name), VersionID: strconv.Itoa(v.ID),
		Document: v.Document, IsDefault: v.ID == rec.DefaultVersion,
		CreatedAt: v.CreatedAt, LastModifiedAt: v.CreatedAt, GenerationID: rec.GenerationID,
	}
}

// CreatePolicy creates the policy name with document as its version "1",
// the default. The name is 1 to 128 characters of [\w+=,.@-] (ErrInvalid);
// the document must validate (ErrMalformed, with the statement and field at
// fault in the message); a policy of that name must not exist
// (ErrAlreadyExists).
func (s *Store) CreatePolicy(ctx context.Context, name, document string) (Policy, error) {
	if err := checkName(name); err != nil {
		return Policy{}, err
	}
	if _, err := checkDocument(document); err != nil {
		return Policy{}, err
	}
	now := s.nowMS()
	rec := record{
		Name: name, DefaultVersion: 1, LastVersion: 1, CreatedAt: now, LastModifiedAt: now,
		GenerationID: newGenerationID(),
		Versions:     []versionRecord{{ID: 1, Document: document, CreatedAt: now}},
	}
	val, err := json.Marshal(rec)
	if err != nil {
		return Policy{}, fmt.Errorf("policystore: create %s: %w", name, err)
	}
	if _, err := s.b.Create(ctx, policyKey(name), val); err != nil {
		if errors.Is(err, kvstore.ErrExists) {
			e := newError(ErrAlreadyExists, "Policy cannot be created - name already exists (name=%s)", name)
			e.ResourceID, e.ResourceARN = name, s.PolicyARN(name)
			return Policy{}, e
		}
		return Policy{}, fmt.Errorf("policystore: create %s: %w", name, err)
	}
	return s.policyOf(rec), nil
}

// GetPolicy returns the policy name with its default version's document.
func (s *Store) GetPolicy(ctx context.Context, name string) (Policy, error) {
	rec, _, err := s.get(ctx, name)
	if err != nil {
		return Policy{}, err
	}
	return s.policyOf(rec), nil
}

// ListPolicies returns up to pageSize (1 to 250; 0 means 250) policies in
// name order, ascending or descending, from the page marker names ("" for
// the first), and the marker of the next page ("" on the last).
func (s *Store) ListPolicies(ctx context.Context, pageSize int, marker string, ascending bool) ([]Policy, string, error) {
	keys, err := s.b.Keys(ctx, "policy.*")
	if err != nil {
		return nil, "", fmt.Errorf("policystore: list policies: %w", err)
	}
	names := make([]string, 0, len(keys))
	for _, k := range keys {
		toks, err := decodeKey(k)
		if err != nil {
			return nil, "", err
		}
		names = append(names, toks[1])
	}
	page, next, err := Page(names, pageSize, marker, ascending)
	if err != nil {
		return nil, "", err
	}
	out := make([]Policy, 0, len(page))
	for _, n := range page {
		rec, _, err := s.get(ctx, n)
		if errors.Is(err, ErrNotFound) {
			continue // deleted since listed
		}
		if err != nil {
			return nil, "", err
		}
		out = append(out, s.policyOf(rec))
	}
	return out, next, nil
}

// DeletePolicy deletes the policy name. As AWS, it refuses
// (ErrDeleteConflict) while the policy is attached to any target or has
// versions other than the default: detach it and delete those first.
func (s *Store) DeletePolicy(ctx context.Context, name string) error {
	for range maxCASAttempts {
		rec, rev, err := s.get(ctx, name)
		if err != nil {
			return err
		}
		targets, err := s.Targets(ctx, name)
		if err != nil {
			return err
		}
		if len(targets) > 0 {
			return newError(ErrDeleteConflict,
				"The policy cannot be deleted as the policy is attached to one or more principals (name=%s)", name)
		}
		if len(rec.Versions) > 1 {
			return newError(ErrDeleteConflict,
				"The policy cannot be deleted as versions other than than default version exist (name=%s)", name)
		}
		err = s.b.DeleteIf(ctx, policyKey(name), rev)
		switch {
		case err == nil:
			s.forget(name)
			return nil
		case errors.Is(err, kvstore.ErrConflict), errors.Is(err, kvstore.ErrNotFound):
			continue // changed or attached meanwhile: check again
		default:
			return fmt.Errorf("policystore: delete %s: %w", name, err)
		}
	}
	return fmt.Errorf("policystore: delete %s: %w", name, errContention)
}

// CreatePolicyVersion adds a version with document to the policy name,
// making it the default when setAsDefault. A policy has at most five
// versions (ErrVersionsLimitExceeded). Version ids keep increasing: one
// deleted is never given again.
func (s *Store) CreatePolicyVersion(ctx context.Context, name, document string, setAsDefault bool) (Version, error) {
	if _, err := checkDocument(document); err != nil {
		return Version{}, err
	}
	var v versionRecord
	rec, _, err := s.update(ctx, name, func(r *record) (bool, error) {
		if len(r.Versions) >= MaxVersions {
			return false, newError(ErrVersionsLimitExceeded,
				"The policy %s already has the maximum number of versions (%d)", name, MaxVersions)
		}
		now := s.nowMS()
		r.LastVersion++
		v = versionRecord{ID: r.LastVersion, Document: document, CreatedAt: now}
		r.Versions = append(r.Versions, v)
		if setAsDefault {
			r.DefaultVersion = v.ID
		}
		r.LastModifiedAt = now
		r.GenerationID = newGenerationID()
		return true, nil
	})
	if err != nil {
		return Version{}, err
	}
	if setAsDefault {
		if err := s.notifyTargetsOf(ctx, name); err != nil {
			return Version{}, err
		}
	}
	return s.versionOf(rec, v), nil
}

// GetPolicyVersion returns version versionID of the policy name.
func (s *Store) GetPolicyVersion(ctx context.Context, name, versionID string) (Version, error) {
	id, err := parseVersionID(versionID)
	if err != nil {
		return Version{}, err
	}
	rec, _, err := s.get(ctx, name)
	if err != nil {
		return Version{}, err
	}
	v, ok := rec.version(id)
	if !ok {
		return Version{}, versionNotFound(name, versionID)
	}
	return s.versionOf(rec, *v), nil
}

// ListPolicyVersions returns the versions of the policy name, newest first
// (as AWS lists them).
func (s *Store) ListPolicyVersions(ctx context.Context, name string) ([]Version, error) {
	rec, _, err := s.get(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]Version, 0, len(rec.Versions))
	for i := len(rec.Versions) - 1; i >= 0; i-- {
		out = append(out, s.versionOf(rec, rec.Versions[i]))
	}
	return out, nil
}

// SetDefaultPolicyVersion makes version versionID the default of the
// policy name: the one in effect for every target it is attached to.
func (s *Store) SetDefaultPolicyVersion(ctx context.Context, name, versionID string) error {
	id, err := parseVersionID(versionID)
	if err != nil {
		return err
	}
	_, changed, err := s.update(ctx, name, func(r *record) (bool, error) {
		if _, ok := r.version(id); !ok {
			return false, versionNotFound(name, versionID)
		}
		if r.DefaultVersion == id {
			return false, nil
		}
		r.DefaultVersion = id
		r.LastModifiedAt = s.nowMS()
		r.GenerationID = newGenerationID()
		return true, nil
	})
	if err != nil || !changed {
		return err
	}
	return s.notifyTargetsOf(ctx, name)
}

// DeletePolicyVersion deletes version versionID of the policy name. The
// default version cannot be deleted (ErrDeleteConflict): delete the policy
// instead.
func (s *Store) DeletePolicyVersion(ctx context.Context, name, versionID string) error {
	id, err := parseVersionID(versionID)
	if err != nil {
		return err
	}
	_, changed, err := s.update(ctx, name, func(r *record) (bool, error) {
		if _, ok := r.version(id); !ok {
			return false, versionNotFound(name, versionID)
		}
		if r.DefaultVersion == id {
			// UNCONFIRMED code: the model lists DeleteConflictException for
			// this operation (IAM uses it for the same case); moto sends
			// InvalidRequestException with this message.
			return false, newError(ErrDeleteConflict, "Cannot delete the default version of a policy")
		}
		r.Versions = deleteVersion(r.Versions, id)
		r.LastModifiedAt = s.nowMS()
		r.GenerationID = newGenerationID()
		return true, nil
	})
	if err != nil || !changed {
		return err
	}
	s.mu.Lock()
	delete(s.compiled, cacheKey{name, id})
	s.mu.Unlock()
	return nil
}

func deleteVersion(vs []versionRecord, id int) []versionRecord {
	out := vs[:0]
	for _, v := range vs {
		if v.ID != id {
			out = append(out, v)
		}
	}
	return out
}

// forget drops the compiled documents of the policy name.
func (s *Store) forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.compiled {
		if k.name == name {
			delete(s.compiled, k)
		}
	}
}

// notifyTargetsOf tells OnChange about every target of the policy name.
func (s *Store) notifyTargetsOf(ctx context.Context, name string) error {
	targets, err := s.Targets(ctx, name)
	if err != nil {
		return err
	}
	s.notify(targets)
	return nil
}
