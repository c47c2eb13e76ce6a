// Package registry is thingcore's thing registry and certificate registry:
// things and their attributes, device certificates, registered CA
// certificates, the CA registration code, and the attachments between things
// and certificates (principals). It is pure domain logic over one kvstore
// bucket, following AWS IoT Core's rules (ids, ARNs, idempotency, status
// transitions); it knows nothing of HTTP. The control-plane API maps its
// sentinel errors to AWS error codes and its structs to JSON; device
// authentication reads certificates and their things on every CONNECT
// (CertificateThings costs two KV reads).
//
// Storage (bucket "registry"; every token encoded with kvstore.Key):
//
//	thing.<name>             thing record (JSON)
//	cert.<id>                device certificate record
//	certdate.<nanos>.<id>    creation-order index of certificates (empty value)
//	ca.<id>                  CA certificate record
//	tp.<thing>.<certID>      attachment, thing -> principal
//	pt.<certID>.<thing>      attachment, principal -> thing
//	meta.registration-code   the CA registration code
//
// Consistency: every read-modify-write of a record is compare-and-set on its
// KV revision, retried on conflict. NATS KV has no multi-key transactions,
// so an attachment (two index keys) is committed by re-writing the thing and
// certificate records at the revisions read before the keys were written;
// DeleteThing and DeleteCertificate delete at the revision they checked, so
// an attach racing a delete either makes the delete fail and retry (and see
// the attachment) or finds its record gone and undoes its keys. The gaps:
// a process crash between the steps of an attach or detach can leave an
// index key without its mirror (ListThingPrincipals and ListPrincipalThings
// then disagree, and a later Detach removes it), and a crash between writing
// certdate and cert leaves an index entry that listing skips. Readers may
// briefly see an attachment that its attach then undoes.
//
// Change notification: the registry publishes none and does not use KV
// watches. A consumer that caches registry state (the broker dropping a
// connection whose certificate was deactivated, for example) re-reads it;
// when that is needed, an OnChange hook in Deps, called after each committed
// write, is the planned extension.
//
// Imported by the control-plane API, device authentication and the
// composition root. It imports only kvstore and the standard library.
package registry

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/thingcore/thingcore/internal/kvstore"
)

// BucketName is the kvstore bucket holding the registry.
const BucketName = "registry"

// Config is the registry's configuration.
type Config struct {
	// Region is the AWS region in the ARNs the registry returns.
	// Default "us-east-1".
	Region string `json:"region"`
	// AccountID is the 12-digit account in ARNs and in certificates'
	// ownedBy. Default "000000000000".
	AccountID string `json:"account_id"`
	// MaxAttributes limits the attributes of a thing that has a thing type.
	// Default 50 (AWS's quota); negative means unlimited.
	MaxAttributes int `json:"max_attributes"`
	// MaxAttributesWithoutType limits the attributes of a thing without a
	// thing type. Default 3 (AWS's quota); negative means unlimited.
	MaxAttributesWithoutType int `json:"max_attributes_without_type"`
}

var (
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
)

func (c Config) withDefaults() Config {
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.AccountID == "" {
		c.AccountID = "000000000000"
	}
	if c.MaxAttributes == 0 {
		c.MaxAttributes = 50
	}
	if c.MaxAttributesWithoutType == 0 {
		c.MaxAttributesWithoutType = 3
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	c = c.withDefaults()
	if !regionRE.MatchString(c.Region) {
		return fmt.Errorf("registry: region %q is not an AWS region name such as us-east-1", c.Region)
	}
	if !accountRE.MatchString(c.AccountID) {
		return fmt.Errorf("registry: account_id %q must be 12 digits", c.AccountID)
	}
	return nil
}

// Deps are the registry's optional dependencies; the zero value is usable.
type Deps struct {
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// NewID returns a random UUID for thing and generation ids. Default: a
	// version 4 UUID from crypto/rand.
	NewID func() string
	// CheckThingType is called by CreateThing and UpdateThing with a thing
	// type name to assign. It returns nil when things may use the type, or an
	// error wrapping ErrNotFound (no such type) or ErrInvalid (deprecated).
	// Nil accepts every name: thing types are not kept here yet.
	CheckThingType func(ctx context.Context, typeName string) error
	// CertificateHasPolicies reports whether policies are attached to the
	// certificate with this ARN. DeleteCertificate refuses such a
	// certificate unless forced; a forced delete leaves removing the policy
	// attachments to the caller. Nil means no policies are ever attached.
	CertificateHasPolicies func(ctx context.Context, certARN string) (bool, error)
}

// Registry is the thing and certificate registry. It is safe for concurrent
// use, also by several processes sharing the bucket.
type Registry struct {
	cfg  Config
	deps Deps
	b    *kvstore.Bucket
}

// Open validates cfg and opens (creating if needed) the registry's bucket
// in store.
func Open(ctx context.Context, store *kvstore.Store, cfg Config, deps Deps) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.NewID == nil {
		deps.NewID = newUUID
	}
	b, err := store.Bucket(ctx, BucketName)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	return &Registry{cfg: cfg, deps: deps, b: b}, nil
}

// now returns the current time in UTC at millisecond precision (AWS returns
// timestamps as fractional epoch seconds), without a monotonic reading so
// that it compares equal after a round trip through JSON.
func (r *Registry) now() time.Time {
	return r.deps.Now().UTC().Truncate(time.Millisecond)
}

func (r *Registry) arn(resource string) string {
	return "arn:aws:iot:" + r.cfg.Region + ":" + r.cfg.AccountID + ":" + resource
}

// ThingARN returns the ARN of the thing with this name.
func (r *Registry) ThingARN(name string) string { return r.arn("thing/" + name) }

// CertificateARN returns the ARN of the device certificate with this id.
func (r *Registry) CertificateARN(id string) string { return r.arn("cert/" + id) }

// CACertificateARN returns the ARN of the CA certificate with this id.
func (r *Registry) CACertificateARN(id string) string { return r.arn("cacert/" + id) }

// ParsePrincipal returns the certificate id that p names: a certificate ARN
// (arn:aws:iot:<region>:<account>:cert/<id>, any region and account, since
// the id alone identifies the certificate) or a bare certificate id. Ids are
// 64 hex digits, returned in lower case. ok is false for anything else,
// Amazon Cognito identities included (thingcore has none).
func (r *Registry) ParsePrincipal(p string) (certID string, ok bool) {
	if rest, isARN := strings.CutPrefix(p, "arn:aws:iot:"); isARN {
		parts := strings.SplitN(rest, ":", 3)
		if len(parts) != 3 {
			return "", false
		}
		id, isCert := strings.CutPrefix(parts[2], "cert/")
		if !isCert {
			return "", false
		}
		p = id
	}
	id, err := normalizeCertID(p)
	return id, err == nil
}

// normalizeCertID lower-cases a certificate id and checks it is 64 hex
// digits (AWS's model allows upper case too).
func normalizeCertID(id string) (string, error) {
	if len(id) != 64 {
		return "", invalidf("Invalid certificate id %q: must be 64 hexadecimal characters", id)
	}
	id = strings.ToLower(id)
	if _, err := hex.DecodeString(id); err != nil {
		return "", invalidf("Invalid certificate id %q: must be 64 hexadecimal characters", id)
	}
	return id, nil
}

// maxCASAttempts bounds a compare-and-set loop. Each failed attempt means
// another writer succeeded, so running out takes sustained contention on
// one record.
const maxCASAttempts = 100

// errContention is returned when maxCASAttempts ran out.
var errContention = fmt.Errorf("too many concurrent updates: %w", ErrThrottled)

// Page sizes for the list operations (AWS: 1 to 250).
const (
	maxPageSize     = 250
	defaultPageSize = 250
)

// checkPageSize checks a requested page size; 0 means the default.
func checkPageSize(n int) (int, error) {
	switch {
	case n == 0:
		return defaultPageSize, nil
	case n < 0 || n > maxPageSize:
		return 0, invalidf("Page size %d is out of range: must be between 1 and %d", n, maxPageSize)
	}
	return n, nil
}

// Pagination tokens (nextToken and marker) are the standard base64 of the
// sort key of the last item returned: opaque to clients and within AWS's
// marker pattern [A-Za-z0-9+/]+={0,2}. Listing resumes after that key, so
// items deleted meanwhile do not shift pages.

func encodeToken(key string) string {
	if key == "" {
		return ""
	}
	return base64.StdEncoding.EncodeToString([]byte(key))
}

func decodeToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil || len(b) == 0 {
		return "", invalidf("Invalid pagination token")
	}
	return string(b), nil
}

// pageAfter returns up to n of the sorted keys that follow after (all when
// after is ""), and the token for the next page ("" when none follow).
func pageAfter(sorted []string, after string, n int, less func(a, b string) bool) ([]string, string) {
	start := 0
	if after != "" {
		for start < len(sorted) && !less(after, sorted[start]) {
			start++
		}
	}
	rest := sorted[start:]
	if len(rest) <= n {
		return rest, ""
	}
	return rest[:n], encodeToken(rest[n-1])
}

// newUUID returns a random version 4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand doc)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// decodeKeyTokens splits a key into its decoded tokens.
func decodeKeyTokens(key string) ([]string, error) {
	parts := strings.Split(key, ".")
	for i, p := range parts {
		s, err := kvstore.DecodeToken(p)
		if err != nil {
			return nil, fmt.Errorf("registry: key %q: %w", key, err)
		}
		parts[i] = s
	}
	return parts, nil
}

// isNotFound reports whether err is kvstore's ErrNotFound.
func isNotFound(err error) bool { return errors.Is(err, kvstore.ErrNotFound) }

// getRecord reads and decodes the JSON record at key with its revision. A
// missing key is the AWS-style not-found error notFound (a format taking
// name); what names the record in other errors.
func getRecord[T any](ctx context.Context, r *Registry, key, what, notFound, name string) (T, uint64, error) {
	var rec T
	e, err := r.b.Get(ctx, key)
	if isNotFound(err) {
		return rec, 0, notFoundf(notFound, name)
	}
	if err != nil {
		return rec, 0, fmt.Errorf("registry: %s: %w", what, err)
	}
	if err := json.Unmarshal(e.Value, &rec); err != nil {
		return rec, 0, fmt.Errorf("registry: %s: decode: %w", what, err)
	}
	return rec, e.Revision, nil
}

// updateRecord changes the record at key under compare-and-set, retrying
// when another writer got there first. get reads the record and its
// revision; mutate changes it and reports whether anything changed (nothing
// is written otherwise) or why the change is refused.
func updateRecord[T any](ctx context.Context, r *Registry, key, what string, get func() (T, uint64, error), mutate func(*T) (bool, error)) error {
	for range maxCASAttempts {
		rec, rev, err := get()
		if err != nil {
			return err
		}
		changed, err := mutate(&rec)
		if err != nil || !changed {
			return err
		}
		val, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("registry: update %s: %w", what, err)
		}
		_, err = r.b.Update(ctx, key, val, rev)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, kvstore.ErrConflict), isNotFound(err):
			continue // lost a race; read again (a deleted record then reports not found)
		default:
			return fmt.Errorf("registry: update %s: %w", what, err)
		}
	}
	return fmt.Errorf("registry: update %s: %w", what, errContention)
}
