package shadow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Marshal returns d's storage form:
//
//	{"state":{"desired":{...},"reported":{...}},"metadata":{...},"version":N[,"deleted":true[,"deletedAt":T]]}
//
// state and metadata have the get/accepted shape; "deleted" marks a shadow
// that does not exist but keeps its version, and "deletedAt" (epoch
// seconds) says since when. The form is stable: keys are
// sorted and numbers are kept as written.
func (d *Document) Marshal() []byte {
	return d.AppendMarshal(nil)
}

// AppendMarshal appends the storage form (see Marshal) to b.
func (d *Document) AppendMarshal(b []byte) []byte {
	b = slices.Grow(b, d.encodedSizeHint()+32)
	b = append(b, `{"state":`...)
	b = appendSections(b, false, section{"desired", opt(d.desired)}, section{"reported", opt(d.reported)})
	b = append(b, `,"metadata":`...)
	b = appendSections(b, true, section{"desired", opt(d.mdDesired)}, section{"reported", opt(d.mdReported)})
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, d.version, 10)
	if !d.exists {
		b = append(b, `,"deleted":true`...)
		if d.deletedAt != 0 {
			b = append(b, `,"deletedAt":`...)
			b = strconv.AppendInt(b, d.deletedAt, 10)
		}
	}
	return append(b, '}')
}

// ErrInvalidStored reports a storage form Unmarshal cannot accept; check it
// with errors.Is.
var ErrInvalidStored = errors.New("shadow: invalid stored document")

// Unmarshal parses the form written by Marshal.
func Unmarshal(data []byte) (*Document, error) {
	var s struct {
		State struct {
			Desired  map[string]any `json:"desired"`
			Reported map[string]any `json:"reported"`
		} `json:"state"`
		Metadata struct {
			Desired  map[string]any `json:"desired"`
			Reported map[string]any `json:"reported"`
		} `json:"metadata"`
		Version   *int64 `json:"version"`
		Deleted   bool   `json:"deleted"`
		DeletedAt int64  `json:"deletedAt"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidStored, err)
	}
	if s.Version == nil || *s.Version < 0 {
		return nil, fmt.Errorf("%w: missing or negative version", ErrInvalidStored)
	}
	d := &Document{exists: !s.Deleted, version: *s.Version}
	if s.Deleted {
		d.deletedAt = s.DeletedAt
	}
	var err error
	if d.desired, d.mdDesired, err = loadSection(s.State.Desired, s.Metadata.Desired); err != nil {
		return nil, fmt.Errorf("%w: desired: %w", ErrInvalidStored, err)
	}
	if d.reported, d.mdReported, err = loadSection(s.State.Reported, s.Metadata.Reported); err != nil {
		return nil, fmt.Errorf("%w: reported: %w", ErrInvalidStored, err)
	}
	if s.Deleted && (d.desired != nil || d.reported != nil) {
		return nil, fmt.Errorf("%w: deleted document has state", ErrInvalidStored)
	}
	d.stateSize = sectionSize(d.desired) + sectionSize(d.reported)
	return d, nil
}

func loadSection(state, meta map[string]any) (map[string]any, map[string]any, error) {
	if len(state) == 0 {
		if len(meta) != 0 {
			return nil, nil, errors.New("metadata without state")
		}
		return nil, nil, nil
	}
	md, err := loadMeta(state, meta)
	if err != nil {
		return nil, nil, err
	}
	return state, md.(map[string]any), nil
}

// loadMeta converts stored metadata into the internal tree, checking that
// it mirrors the state value v.
func loadMeta(v, meta any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		m, ok := meta.(map[string]any)
		if !ok || len(m) != len(v) {
			return nil, errors.New("metadata does not mirror state")
		}
		out := make(map[string]any, len(v))
		for k, c := range v {
			mc, ok := m[k]
			if !ok {
				return nil, fmt.Errorf("no metadata for %q", k)
			}
			t, err := loadMeta(c, mc)
			if err != nil {
				return nil, err
			}
			out[k] = t
		}
		return out, nil
	case []any:
		a, ok := meta.([]any)
		if !ok || len(a) != len(v) {
			return nil, errors.New("array metadata does not mirror state")
		}
		out := make([]any, len(a))
		for i, e := range a {
			t, err := loadStamp(e)
			if err != nil {
				return nil, err
			}
			out[i] = t
		}
		return out, nil
	}
	return loadStamp(meta)
}

func loadStamp(meta any) (int64, error) {
	m, ok := meta.(map[string]any)
	if !ok || len(m) != 1 {
		return 0, errors.New("want {\"timestamp\":N}")
	}
	n, ok := m["timestamp"].(json.Number)
	if !ok {
		return 0, errors.New("want {\"timestamp\":N}")
	}
	return strconv.ParseInt(n.String(), 10, 64)
}
