package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/thingcore/thingcore/internal/kvstore"
)

// attachment is the value of both index keys of a thing-principal pair.
type attachment struct {
	// Exclusive: the thing is the only one attached to the principal
	// (AWS's EXCLUSIVE_THING).
	Exclusive bool `json:"exclusive,omitempty"`
}

func tpKey(thing, certID string) string { return kvstore.Key("tp", thing, certID) }
func ptKey(certID, thing string) string { return kvstore.Key("pt", certID, thing) }

// principalCertID resolves a principal to a certificate id.
func (r *Registry) principalCertID(p string) (string, error) {
	id, ok := r.ParsePrincipal(p)
	if !ok {
		return "", invalidf("Invalid principal %q: must be a certificate ARN or id", p)
	}
	return id, nil
}

// getAttachment reads the principal -> thing key of a pair.
func (r *Registry) getAttachment(ctx context.Context, certID, thing string) (attachment, bool, error) {
	e, err := r.b.Get(ctx, ptKey(certID, thing))
	if isNotFound(err) {
		return attachment{}, false, nil
	}
	if err != nil {
		return attachment{}, false, fmt.Errorf("registry: attachment %s/%s: %w", thing, certID, err)
	}
	var a attachment
	if err := json.Unmarshal(e.Value, &a); err != nil {
		return attachment{}, false, fmt.Errorf("registry: attachment %s/%s: decode: %w", thing, certID, err)
	}
	return a, true, nil
}

// putPair writes both index keys of a pair.
func (r *Registry) putPair(ctx context.Context, thing, certID string, a attachment) error {
	val, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if _, err := r.b.Put(ctx, ptKey(certID, thing), val); err != nil {
		return err
	}
	_, err = r.b.Put(ctx, tpKey(thing, certID), val)
	return err
}

// deletePair removes both index keys of a pair, principal -> thing first
// so that authentication stops seeing the pair first.
func (r *Registry) deletePair(ctx context.Context, thing, certID string) error {
	if err := r.b.Delete(ctx, ptKey(certID, thing)); err != nil {
		return err
	}
	return r.b.Delete(ctx, tpKey(thing, certID))
}

// AttachThingPrincipal attaches a certificate (its ARN or id) to a thing;
// attaching again succeeds, and sets the exclusivity asked for. Exclusive
// (EXCLUSIVE_THING) requires that no other thing is attached to the
// certificate, and while a certificate is attached exclusively no other
// thing can be attached to it (both ErrInvalid). The error wraps
// ErrNotFound when the thing or the certificate does not exist.
//
// Protocol: read thing and certificate (with revisions), check the
// certificate's other attachments, write both index keys, then re-write the
// thing and the certificate at the revisions read. A conflict there means a
// concurrent change (another attach, an update, a delete) and the whole
// check repeats; a record gone undoes the keys.
func (r *Registry) AttachThingPrincipal(ctx context.Context, thing, principal string, exclusive bool) error {
	if err := validateThingName(thing); err != nil {
		return err
	}
	id, err := r.principalCertID(principal)
	if err != nil {
		return err
	}
	prior, hadPrior, err := r.getAttachment(ctx, id, thing)
	if err != nil {
		return err
	}
	want := attachment{Exclusive: exclusive}
	wrote := false
	// fail undoes this call's writes (restoring the pair as it was before
	// the call) and returns err.
	fail := func(err error) error {
		if !wrote {
			return err
		}
		var uerr error
		if hadPrior {
			uerr = r.putPair(ctx, thing, id, prior)
		} else {
			uerr = r.deletePair(ctx, thing, id)
		}
		if uerr != nil {
			return errors.Join(err, fmt.Errorf("registry: attach %s to %s: undo: %w", id, thing, uerr))
		}
		return err
	}
	for range maxCASAttempts {
		te, err := r.getRaw(ctx, thingKey(thing), func() error { return notFoundf("Thing %s cannot be found.", thing) })
		if err != nil {
			return fail(err)
		}
		ce, err := r.getRaw(ctx, certKey(id), func() error { return notFoundf("Certificate %s does not exist", id) })
		if err != nil {
			return fail(err)
		}
		others, err := r.principalThings(ctx, id)
		if err != nil {
			return fail(err)
		}
		others = slices.DeleteFunc(others, func(n string) bool { return n == thing })
		if exclusive && len(others) > 0 {
			return fail(invalidf("Principal %s is attached to other things; an exclusive attachment must be its only one", principal))
		}
		// An exclusive attachment is the principal's only one, so only a
		// single other attachment can be exclusive.
		if len(others) == 1 {
			a, ok, err := r.getAttachment(ctx, id, others[0])
			if err != nil {
				return fail(err)
			}
			if ok && a.Exclusive {
				return fail(invalidf("Principal %s is exclusively attached to thing %s", principal, others[0]))
			}
		}
		cur, ok, err := r.getAttachment(ctx, id, thing)
		if err != nil {
			return fail(err)
		}
		if !ok || cur != want {
			if err := r.putPair(ctx, thing, id, want); err != nil {
				return fail(fmt.Errorf("registry: attach %s to %s: %w", id, thing, err))
			}
			wrote = true
		} else if !wrote {
			return nil // attached already, as asked
		}
		retry, err := r.touch(ctx, te)
		if err != nil {
			return fail(err)
		}
		if retry {
			continue
		}
		retry, err = r.touch(ctx, ce)
		if err != nil {
			return fail(err)
		}
		if retry {
			continue
		}
		return nil
	}
	return fail(fmt.Errorf("registry: attach %s to %s: %w", id, thing, errContention))
}

// getRaw reads a record as stored; missing makes the error for a key that
// does not exist.
func (r *Registry) getRaw(ctx context.Context, key string, missing func() error) (kvstore.Entry, error) {
	e, err := r.b.Get(ctx, key)
	if isNotFound(err) {
		return kvstore.Entry{}, missing()
	}
	if err != nil {
		return kvstore.Entry{}, fmt.Errorf("registry: %w", err)
	}
	return e, nil
}

// touch re-writes a record unchanged (byte for byte, so fields this version
// does not know survive) at the revision read, which gives it a new
// revision: operations that read the old one then fail their
// compare-and-set. retry reports a conflict or a record gone; the next
// round's read tells them apart.
func (r *Registry) touch(ctx context.Context, e kvstore.Entry) (retry bool, err error) {
	_, err = r.b.Update(ctx, e.Key, e.Value, e.Revision)
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, kvstore.ErrConflict), isNotFound(err):
		return true, nil
	}
	return false, fmt.Errorf("registry: %w", err)
}

// DetachThingPrincipal detaches a certificate (its ARN or id) from a thing.
// Detaching a pair that is not attached succeeds while the thing and the
// certificate exist, and is ErrNotFound otherwise.
func (r *Registry) DetachThingPrincipal(ctx context.Context, thing, principal string) error {
	if err := validateThingName(thing); err != nil {
		return err
	}
	id, err := r.principalCertID(principal)
	if err != nil {
		return err
	}
	_, ptExists, err := r.getAttachment(ctx, id, thing)
	if err != nil {
		return err
	}
	_, err = r.b.Get(ctx, tpKey(thing, id))
	tpExists := err == nil
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("registry: detach %s from %s: %w", id, thing, err)
	}
	if !ptExists && !tpExists {
		if _, _, err := r.getThing(ctx, thing); err != nil {
			return err
		}
		if _, _, err := r.getCert(ctx, id); err != nil {
			return err
		}
		return nil
	}
	if err := r.deletePair(ctx, thing, id); err != nil {
		return fmt.Errorf("registry: detach %s from %s: %w", id, thing, err)
	}
	return nil
}

// ThingPrincipals returns the ARNs of up to maxResults (1 to 250; 0 means
// 250) certificates attached to a thing, sorted, from the page that
// nextToken names. The error wraps ErrNotFound for an unknown thing.
func (r *Registry) ThingPrincipals(ctx context.Context, thing string, maxResults int, nextToken string) ([]string, string, error) {
	if err := validateThingName(thing); err != nil {
		return nil, "", err
	}
	n, err := checkPageSize(maxResults)
	if err != nil {
		return nil, "", err
	}
	after, err := decodeToken(nextToken)
	if err != nil {
		return nil, "", err
	}
	if _, _, err := r.getThing(ctx, thing); err != nil {
		return nil, "", err
	}
	ids, err := r.lastTokens(ctx, kvstore.Key("tp", thing)+".*")
	if err != nil {
		return nil, "", err
	}
	page, next := pageAfter(ids, after, n, func(a, b string) bool { return a < b })
	arns := make([]string, len(page))
	for i, id := range page {
		arns[i] = r.CertificateARN(id)
	}
	return arns, next, nil
}

// PrincipalThings returns the names of up to maxResults (1 to 250; 0 means
// 250) things attached to a certificate (its ARN or id), sorted, from the
// page that nextToken names. The error wraps ErrNotFound for an unknown
// certificate.
func (r *Registry) PrincipalThings(ctx context.Context, principal string, maxResults int, nextToken string) ([]string, string, error) {
	id, err := r.principalCertID(principal)
	if err != nil {
		return nil, "", err
	}
	n, err := checkPageSize(maxResults)
	if err != nil {
		return nil, "", err
	}
	after, err := decodeToken(nextToken)
	if err != nil {
		return nil, "", err
	}
	if _, _, err := r.getCert(ctx, id); err != nil {
		return nil, "", err
	}
	names, err := r.principalThings(ctx, id)
	if err != nil {
		return nil, "", err
	}
	page, next := pageAfter(names, after, n, func(a, b string) bool { return a < b })
	return page, next, nil
}

// principalThings lists the things attached to a certificate, sorted.
func (r *Registry) principalThings(ctx context.Context, certID string) ([]string, error) {
	return r.lastTokens(ctx, kvstore.Key("pt", certID)+".*")
}

// lastTokens lists the keys matching filter and returns each one's last
// token decoded, sorted.
func (r *Registry) lastTokens(ctx context.Context, filter string) ([]string, error) {
	keys, err := r.b.Keys(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("registry: list %s: %w", filter, err)
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		t, err := decodeKeyTokens(k)
		if err != nil {
			return nil, err
		}
		out = append(out, t[len(t)-1])
	}
	slices.Sort(out)
	return out, nil
}
