package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/thingcore/thingcore/internal/kvstore"
)

// Thing is a registered thing.
type Thing struct {
	Name     string
	ID       string // random UUID, fixed at creation
	ARN      string
	TypeName string // "" for none
	// Attributes is never nil.
	Attributes map[string]string
	// Version starts at 1 and grows by one on every UpdateThing.
	Version   int64
	CreatedAt time.Time
}

// thingRecord is a thing as stored.
type thingRecord struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	TypeName   string            `json:"type_name,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Version    int64             `json:"version"`
	CreatedAt  time.Time         `json:"created_at"`
}

func (r *Registry) thing(rec thingRecord) Thing {
	attrs := rec.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	return Thing{
		Name: rec.Name, ID: rec.ID, ARN: r.ThingARN(rec.Name), TypeName: rec.TypeName,
		Attributes: attrs, Version: rec.Version, CreatedAt: rec.CreatedAt,
	}
}

// Name and value patterns from the iot service model.
var (
	thingNameRE      = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)
	attributeNameRE  = regexp.MustCompile(`^[a-zA-Z0-9_.,@/:#-]{1,128}$`)
	attributeValueRE = regexp.MustCompile(`^[a-zA-Z0-9_.,@/:#=\[\]-]{0,800}$`)
)

func thingKey(name string) string { return kvstore.Key("thing", name) }

func validateThingName(name string) error {
	if !thingNameRE.MatchString(name) {
		return invalidf("Invalid thing name %q: must be 1 to 128 characters of [a-zA-Z0-9:_-]", name)
	}
	return nil
}

// checkType validates a thing type name and asks Deps.CheckThingType.
func (r *Registry) checkType(ctx context.Context, typeName string) error {
	if !thingNameRE.MatchString(typeName) {
		return invalidf("Invalid thing type name %q: must be 1 to 128 characters of [a-zA-Z0-9:_-]", typeName)
	}
	if r.deps.CheckThingType == nil {
		return nil
	}
	return r.deps.CheckThingType(ctx, typeName)
}

func validateAttributes(attrs map[string]string) error {
	for k, v := range attrs {
		if !attributeNameRE.MatchString(k) {
			return invalidf("Invalid attribute name %q: must be 1 to 128 characters of [a-zA-Z0-9_.,@/:#-]", k)
		}
		if !attributeValueRE.MatchString(v) {
			return invalidf("Invalid value for attribute %s: must be at most 800 characters of [a-zA-Z0-9_.,@/:#=[]-]", k)
		}
	}
	return nil
}

// checkAttributeCount applies AWS's per-thing attribute quota.
func (r *Registry) checkAttributeCount(typeName string, attrs map[string]string) error {
	limit := r.cfg.MaxAttributes
	if typeName == "" {
		limit = r.cfg.MaxAttributesWithoutType
	}
	if limit >= 0 && len(attrs) > limit {
		if typeName == "" {
			return invalidf("Maximum number of attributes for a thing without a thing type is %d", limit)
		}
		return invalidf("Maximum number of attributes for a thing with a thing type is %d", limit)
	}
	return nil
}

// withoutEmpty returns attrs without the entries whose value is "" (which
// AWS treats as "no such attribute"); nil when none remain.
func withoutEmpty(attrs map[string]string) map[string]string {
	var out map[string]string
	for k, v := range attrs {
		if v == "" {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(attrs))
		}
		out[k] = v
	}
	return out
}

// CreateThing registers a thing. typeName "" means none; attributes with an
// empty value are dropped. Creating a thing that exists with the same type
// and attributes returns it unchanged (AWS's idempotency); with a different
// configuration the error wraps ErrAlreadyExists.
func (r *Registry) CreateThing(ctx context.Context, name, typeName string, attrs map[string]string) (Thing, error) {
	if err := validateThingName(name); err != nil {
		return Thing{}, err
	}
	if err := validateAttributes(attrs); err != nil {
		return Thing{}, err
	}
	attrs = withoutEmpty(attrs)
	if err := r.checkAttributeCount(typeName, attrs); err != nil {
		return Thing{}, err
	}
	if typeName != "" {
		if err := r.checkType(ctx, typeName); err != nil {
			return Thing{}, fmt.Errorf("registry: create thing %s: %w", name, err)
		}
	}
	rec := thingRecord{Name: name, ID: r.deps.NewID(), TypeName: typeName, Attributes: attrs, Version: 1, CreatedAt: r.now()}
	val, err := json.Marshal(rec)
	if err != nil {
		return Thing{}, fmt.Errorf("registry: create thing %s: %w", name, err)
	}
	for range maxCASAttempts {
		_, err := r.b.Create(ctx, thingKey(name), val)
		if err == nil {
			return r.thing(rec), nil
		}
		if !errors.Is(err, kvstore.ErrExists) {
			return Thing{}, fmt.Errorf("registry: create thing %s: %w", name, err)
		}
		old, _, err := r.getThing(ctx, name)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile: create again
		}
		if err != nil {
			return Thing{}, err
		}
		if old.TypeName == typeName && maps.Equal(old.Attributes, attrs) {
			return r.thing(old), nil
		}
		return Thing{}, &Error{
			Kind:        ErrAlreadyExists,
			Message:     fmt.Sprintf("Thing %s already exists in account with different attributes", name),
			ResourceID:  old.ID,
			ResourceARN: r.ThingARN(name),
		}
	}
	return Thing{}, fmt.Errorf("registry: create thing %s: %w", name, errContention)
}

// getThing reads a thing record and its revision.
func (r *Registry) getThing(ctx context.Context, name string) (thingRecord, uint64, error) {
	return getRecord[thingRecord](ctx, r, thingKey(name), "thing "+name, "Thing %s cannot be found.", name)
}

// DescribeThing returns the thing with this name.
func (r *Registry) DescribeThing(ctx context.Context, name string) (Thing, error) {
	if err := validateThingName(name); err != nil {
		return Thing{}, err
	}
	rec, _, err := r.getThing(ctx, name)
	if err != nil {
		return Thing{}, err
	}
	return r.thing(rec), nil
}

// ThingUpdate is a change to a thing (UpdateThing's request).
type ThingUpdate struct {
	// TypeName, when set, assigns this thing type.
	TypeName *string
	// RemoveThingType removes the thing type; not together with TypeName.
	RemoveThingType bool
	// Attributes, when not nil, replaces the thing's attributes, or with
	// Merge adds to them. Either way an attribute whose value is "" is
	// removed. A non-nil empty map without Merge removes every attribute.
	Attributes map[string]string
	Merge      bool
	// ExpectedVersion, when set, must equal the thing's version.
	ExpectedVersion *int64
}

// UpdateThing applies u to the thing and increments its version. The error
// wraps ErrVersionConflict when u.ExpectedVersion is not the current
// version, and ErrNotFound when the thing does not exist.
func (r *Registry) UpdateThing(ctx context.Context, name string, u ThingUpdate) error {
	if err := validateThingName(name); err != nil {
		return err
	}
	if u.RemoveThingType && u.TypeName != nil {
		return invalidf("Cannot set removeThingType and thingTypeName together")
	}
	if err := validateAttributes(u.Attributes); err != nil {
		return err
	}
	if u.TypeName != nil {
		if err := r.checkType(ctx, *u.TypeName); err != nil {
			return fmt.Errorf("registry: update thing %s: %w", name, err)
		}
	}
	for range maxCASAttempts {
		rec, rev, err := r.getThing(ctx, name)
		if err != nil {
			return err
		}
		if u.ExpectedVersion != nil && *u.ExpectedVersion != rec.Version {
			return newError(ErrVersionConflict,
				"The version for thing %s does not match the expected version.", name)
		}
		switch {
		case u.TypeName != nil:
			rec.TypeName = *u.TypeName
		case u.RemoveThingType:
			rec.TypeName = ""
		}
		if u.Attributes != nil {
			if u.Merge {
				merged := maps.Clone(rec.Attributes)
				if merged == nil {
					merged = map[string]string{}
				}
				for k, v := range u.Attributes {
					if v == "" {
						delete(merged, k)
					} else {
						merged[k] = v
					}
				}
				rec.Attributes = withoutEmpty(merged)
			} else {
				rec.Attributes = withoutEmpty(u.Attributes)
			}
		}
		if err := r.checkAttributeCount(rec.TypeName, rec.Attributes); err != nil {
			return err
		}
		rec.Version++
		val, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("registry: update thing %s: %w", name, err)
		}
		_, err = r.b.Update(ctx, thingKey(name), val, rev)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, kvstore.ErrConflict), isNotFound(err):
			continue // re-read: changed or deleted meanwhile
		default:
			return fmt.Errorf("registry: update thing %s: %w", name, err)
		}
	}
	return fmt.Errorf("registry: update thing %s: %w", name, errContention)
}

// DeleteThing deletes a thing. Deleting a thing that does not exist
// succeeds, as AWS documents. The error wraps ErrVersionConflict when
// expectedVersion is set and differs, and ErrInvalid while principals are
// attached to the thing.
func (r *Registry) DeleteThing(ctx context.Context, name string, expectedVersion *int64) error {
	if err := validateThingName(name); err != nil {
		return err
	}
	for range maxCASAttempts {
		rec, rev, err := r.getThing(ctx, name)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if expectedVersion != nil && *expectedVersion != rec.Version {
			return newError(ErrVersionConflict,
				"The version for thing %s does not match the expected version.", name)
		}
		attached, err := r.b.Keys(ctx, kvstore.Key("tp", name)+".*")
		if err != nil {
			return fmt.Errorf("registry: delete thing %s: %w", name, err)
		}
		if len(attached) > 0 {
			return invalidf("Cannot delete. Thing %s is still attached to one or more principals", name)
		}
		// At the revision checked: an attach in between re-writes the
		// record, so this fails and the next round sees its attachment.
		err = r.b.DeleteIf(ctx, thingKey(name), rev)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, kvstore.ErrConflict), isNotFound(err):
			continue
		default:
			return fmt.Errorf("registry: delete thing %s: %w", name, err)
		}
	}
	return fmt.Errorf("registry: delete thing %s: %w", name, errContention)
}

// ThingFilter selects things in ListThings; zero fields match everything.
type ThingFilter struct {
	// AttributeName alone selects things that have the attribute.
	AttributeName string
	// AttributeValue selects things whose AttributeName attribute has this
	// value (or, with UsePrefixAttributeValue, starts with it).
	AttributeValue          string
	UsePrefixAttributeValue bool
	// TypeName selects things of this thing type.
	TypeName string
}

func (f ThingFilter) validate() error {
	if f.AttributeName != "" && !attributeNameRE.MatchString(f.AttributeName) {
		return invalidf("Invalid attributeName %q", f.AttributeName)
	}
	if f.AttributeValue != "" || f.UsePrefixAttributeValue {
		if f.AttributeName == "" {
			return invalidf("attributeValue requires attributeName")
		}
		if !attributeValueRE.MatchString(f.AttributeValue) {
			return invalidf("Invalid attributeValue %q", f.AttributeValue)
		}
	}
	return nil
}

func (f ThingFilter) match(rec thingRecord) bool {
	if f.TypeName != "" && rec.TypeName != f.TypeName {
		return false
	}
	if f.AttributeName == "" {
		return true
	}
	v, ok := rec.Attributes[f.AttributeName]
	switch {
	case !ok:
		return false
	case f.UsePrefixAttributeValue:
		return strings.HasPrefix(v, f.AttributeValue)
	case f.AttributeValue != "":
		return v == f.AttributeValue
	}
	return true
}

// ListThings returns up to maxResults (1 to 250; 0 means 250) things
// matching f, sorted by name, from the page that nextToken names ("" for
// the first). The returned token is "" on the last page.
//
// It reads every thing key and then one record per candidate, so a filtered
// listing of a large registry costs a read per thing scanned.
func (r *Registry) ListThings(ctx context.Context, f ThingFilter, maxResults int, nextToken string) ([]Thing, string, error) {
	n, err := checkPageSize(maxResults)
	if err != nil {
		return nil, "", err
	}
	if err := f.validate(); err != nil {
		return nil, "", err
	}
	after, err := decodeToken(nextToken)
	if err != nil {
		return nil, "", err
	}
	keys, err := r.b.Keys(ctx, "thing.*")
	if err != nil {
		return nil, "", fmt.Errorf("registry: list things: %w", err)
	}
	names := make([]string, 0, len(keys))
	for _, k := range keys {
		t, err := decodeKeyTokens(k)
		if err != nil {
			return nil, "", err
		}
		if t[1] > after {
			names = append(names, t[1])
		}
	}
	slices.Sort(names)
	var out []Thing
	for _, name := range names {
		rec, _, err := r.getThing(ctx, name)
		if errors.Is(err, ErrNotFound) {
			continue // deleted since listed
		}
		if err != nil {
			return nil, "", err
		}
		if !f.match(rec) {
			continue
		}
		if len(out) == n { // one more match: there is a next page
			return out, encodeToken(out[n-1].Name), nil
		}
		out = append(out, r.thing(rec))
	}
	return out, "", nil
}
