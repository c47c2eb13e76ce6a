// Package policystore keeps AWS IoT Core policies: named policy documents
// with up to five versions (one of them the default), and their attachments
// to targets (device certificate ARNs; thing group ARNs are stored as
// opaque strings). It follows AWS IoT's rules for names, versions and
// deletion, knows nothing of HTTP, and gives enforcement what it needs: the
// compiled set of default versions attached to a certificate (EffectiveSet)
// and a synchronous hook when that set may have changed (OnChange).
//
// Storage (bucket "policies"; every token encoded with kvstore.Key):
//
//	policy.<name>             policy record with all its versions (JSON)
//	target.<target>.<name>    attachment, target -> policy (empty value)
//	attached.<name>.<target>  attachment, policy -> target (empty value)
//
// A policy and its at most five versions are one record, so every change
// to them is a single compare-and-set on its KV revision, retried on
// conflict. An attachment writes its two index keys and then re-writes the
// policy record at the revision read before; DeletePolicy deletes the record
// at the revision at which it found no attachments. So an attach racing a
// delete either makes the delete retry (and see the attachment) or finds
// the policy gone and removes its keys. A crash between the two key writes
// of an attach or detach can leave one key without its mirror; a later
// Detach removes it.
//
// Imported by the control-plane API (internal/iotapi) and the composition
// root. It imports kvstore, policy and the standard library.
package policystore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/thingcore/thingcore/internal/kvstore"
	"github.com/thingcore/thingcore/internal/policy"
)

// BucketName is the kvstore bucket holding policies and attachments.
const BucketName = "policies"

// MaxVersions is how many versions a policy may have (AWS's quota).
const MaxVersions = 5

// Config is the store's configuration.
type Config struct {
	// Region is the AWS region in policy ARNs, and the only region accepted
	// in certificate ARNs given as targets. Default "us-east-1".
	Region string `json:"region"`
	// AccountID is the 12-digit account in policy ARNs, and the only account
	// accepted in certificate ARNs given as targets. Default "000000000000".
	AccountID string `json:"account_id"`
}

var (
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
	nameRE    = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	versionRE = regexp.MustCompile(`^[0-9]{1,10}$`)
)

func (c Config) withDefaults() Config {
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.AccountID == "" {
		c.AccountID = "000000000000"
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	c = c.withDefaults()
	if !regionRE.MatchString(c.Region) {
		return fmt.Errorf("policystore: region %q is not an AWS region name such as us-east-1", c.Region)
	}
	if !accountRE.MatchString(c.AccountID) {
		return fmt.Errorf("policystore: account_id %q must be 12 digits", c.AccountID)
	}
	return nil
}

// Policy is a policy as GetPolicy shows it: its default version's document.
type Policy struct {
	Name             string
	ARN              string
	DefaultVersionID string
	Document         string
	CreatedAt        time.Time
	LastModifiedAt   time.Time
	GenerationID     string
}

// Version is one version of a policy.
type Version struct {
	PolicyName     string
	PolicyARN      string
	VersionID      string
	Document       string
	IsDefault      bool
	CreatedAt      time.Time
	LastModifiedAt time.Time
	GenerationID   string
}

// record is the stored form of a policy. Changing it needs a migration.
type record struct {
	Name           string          `json:"name"`
	DefaultVersion int             `json:"default_version"`
	LastVersion    int             `json:"last_version"` // highest id ever given; ids are never reused
	CreatedAt      time.Time       `json:"created_at"`
	LastModifiedAt time.Time       `json:"last_modified_at"`
	GenerationID   string          `json:"generation_id"`
	Versions       []versionRecord `json:"versions"` // ascending id
}

type versionRecord struct {
	ID        int       `json:"id"`
	Document  string    `json:"document"`
	CreatedAt time.Time `json:"created_at"`
}

func (r *record) version(id int) (*versionRecord, bool) {
	for i := range r.Versions {
		if r.Versions[i].ID == id {
			return &r.Versions[i], true
		}
	}
	return nil, false
}

// Store is the policy store. It is safe for concurrent use, also by several
// processes sharing the bucket (OnChange then fires only in the process that
// made the change).
type Store struct {
	cfg Config
	b   *kvstore.Bucket
	now func() time.Time

	mu       sync.Mutex
	compiled map[cacheKey]compiledDoc // guarded by mu
	hooks    []func(targets []string) // guarded by mu
}

type cacheKey struct {
	name    string
	version int
}

// compiledDoc is a parsed document with its text, so a policy deleted and
// created again under the same name never reuses a stale compilation.
type compiledDoc struct {
	doc string
	p   *policy.Policy
}

// Open validates cfg and opens (creating if needed) the store's bucket in
// kv. now is the clock (nil means time.Now).
func Open(ctx context.Context, kv *kvstore.Store, cfg Config, now func() time.Time) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	b, err := kv.Bucket(ctx, BucketName)
	if err != nil {
		return nil, fmt.Errorf("policystore: %w", err)
	}
	return &Store{cfg: cfg.withDefaults(), b: b, now: now, compiled: make(map[cacheKey]compiledDoc)}, nil
}

// OnChange registers fn to be called after every committed change that may
// change what a target is allowed: an attach or detach, a new default
// version (SetDefaultPolicyVersion, or CreatePolicyVersion with
// setAsDefault), with the targets affected. It is called synchronously in
// the goroutine that made the change, after the KV write, and must not call
// back into the store's write methods.
func (s *Store) OnChange(fn func(targets []string)) {
	if fn == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = append(s.hooks, fn)
}

func (s *Store) notify(targets []string) {
	if len(targets) == 0 {
		return
	}
	s.mu.Lock()
	hooks := slices.Clone(s.hooks)
	s.mu.Unlock()
	for _, fn := range hooks {
		fn(slices.Clone(targets))
	}
}

// PolicyARN returns the ARN of the policy with this name.
func (s *Store) PolicyARN(name string) string {
	return policy.ARN(s.cfg.Region, s.cfg.AccountID, "policy", name)
}

// now returns the time at millisecond precision in UTC, without a
// monotonic reading, so it compares equal after a JSON round trip.
func (s *Store) nowMS() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

func policyKey(name string) string { return kvstore.Key("policy", name) }

// maxCASAttempts bounds a compare-and-set loop; each failed attempt means
// another writer succeeded.
const maxCASAttempts = 100

var errContention = errors.New("policystore: too many concurrent updates")

// get reads the policy record of name with its revision.
func (s *Store) get(ctx context.Context, name string) (record, uint64, error) {
	var rec record
	e, err := s.b.Get(ctx, policyKey(name))
	if errors.Is(err, kvstore.ErrNotFound) {
		return rec, 0, policyNotFound(name)
	}
	if err != nil {
		return rec, 0, fmt.Errorf("policystore: get %s: %w", name, err)
	}
	if err := json.Unmarshal(e.Value, &rec); err != nil {
		return rec, 0, fmt.Errorf("policystore: decode %s: %w", name, err)
	}
	return rec, e.Revision, nil
}

// update changes the record of name under compare-and-set. mutate reports
// whether it changed anything (nothing is written otherwise) or why the
// change is refused. It returns the record as committed.
func (s *Store) update(ctx context.Context, name string, mutate func(*record) (bool, error)) (record, bool, error) {
	for range maxCASAttempts {
		rec, rev, err := s.get(ctx, name)
		if err != nil {
			return rec, false, err
		}
		changed, err := mutate(&rec)
		if err != nil || !changed {
			return rec, false, err
		}
		val, err := json.Marshal(rec)
		if err != nil {
			return rec, false, fmt.Errorf("policystore: encode %s: %w", name, err)
		}
		_, err = s.b.Update(ctx, policyKey(name), val, rev)
		switch {
		case err == nil:
			return rec, true, nil
		case errors.Is(err, kvstore.ErrConflict), errors.Is(err, kvstore.ErrNotFound):
			continue // lost a race: read again (a deleted policy then reports not found)
		default:
			return rec, false, fmt.Errorf("policystore: update %s: %w", name, err)
		}
	}
	return record{}, false, fmt.Errorf("policystore: update %s: %w", name, errContention)
}

// checkDocument validates a policy document, returning an ErrMalformed
// *Error with the policy package's message (statement and field) when it
// does not validate.
func checkDocument(doc string) (*policy.Policy, error) {
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		var me *policy.MalformedError
		if errors.As(err, &me) {
			return nil, &Error{Kind: ErrMalformed, Message: me.Error(), cause: err}
		}
		return nil, fmt.Errorf("policystore: parse document: %w", err)
	}
	return p, nil
}

func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return invalidf("Policy name %q is not valid: it must be 1 to 128 characters of letters, digits and _+=,.@-", name)
	}
	return nil
}

// parseVersionID parses a version id ("1", "2", ...). Anything else cannot
// name a version.
func parseVersionID(id string) (int, error) {
	if !versionRE.MatchString(id) {
		return 0, invalidf("Policy version id %q is not valid: it must be a decimal number", id)
	}
	var n int
	for _, c := range id {
		n = n*10 + int(c-'0')
	}
	return n, nil
}

// newGenerationID returns 64 hex digits, as AWS's generationId.
func newGenerationID() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand doc)
	return hex.EncodeToString(b[:])
}

// Markers are the standard base64 of the last name returned, within AWS's
// marker pattern [A-Za-z0-9+/]+={0,2}.

func encodeMarker(s string) string {
	if s == "" {
		return ""
	}
	return base64.StdEncoding.EncodeToString([]byte(s))
}

func decodeMarker(m string) (string, error) {
	if m == "" {
		return "", nil
	}
	b, err := base64.StdEncoding.DecodeString(m)
	if err != nil || len(b) == 0 {
		return "", invalidf("Invalid marker")
	}
	return string(b), nil
}

// Page sizes of the list operations (AWS: 1 to 250).
const (
	maxPageSize     = 250
	defaultPageSize = 250
)

// Page returns up to pageSize (1 to 250; 0 means 250) of items, sorted
// ascending or descending, that follow the item marker names, and the
// marker of the next page ("" on the last page). Listing resumes after the
// last item returned, so items removed meanwhile do not shift pages. The
// API layer pages attachment lists with it.
func Page(items []string, pageSize int, marker string, ascending bool) ([]string, string, error) {
	switch {
	case pageSize == 0:
		pageSize = defaultPageSize
	case pageSize < 0 || pageSize > maxPageSize:
		return nil, "", invalidf("Page size %d is out of range: must be between 1 and %d", pageSize, maxPageSize)
	}
	after, err := decodeMarker(marker)
	if err != nil {
		return nil, "", err
	}
	sorted := slices.Clone(items)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	follows := func(s string) bool { return s > after }
	if !ascending {
		slices.Reverse(sorted)
		follows = func(s string) bool { return s < after }
	}
	start := 0
	if after != "" {
		for start < len(sorted) && !follows(sorted[start]) {
			start++
		}
	}
	rest := sorted[start:]
	if len(rest) <= pageSize {
		return rest, "", nil
	}
	return rest[:pageSize], encodeMarker(rest[pageSize-1]), nil
}

// decodeKey splits a key into its decoded tokens.
func decodeKey(key string) ([]string, error) {
	parts := strings.Split(key, ".")
	for i, p := range parts {
		t, err := kvstore.DecodeToken(p)
		if err != nil {
			return nil, fmt.Errorf("policystore: key %q: %w", key, err)
		}
		parts[i] = t
	}
	return parts, nil
}
