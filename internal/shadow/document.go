package shadow

import (
	"encoding/json"
	"math/big"
	"strconv"
	"time"
)

// Document is one shadow (classic or named). The zero value is a shadow
// that does not exist, at version 0. It is not safe for concurrent use;
// the caller serializes access per shadow.
//
// State values are map[string]any, []any, string, json.Number, bool and
// nil. Metadata trees mirror the state: an int64 epoch-seconds timestamp
// at each leaf, one per array element, and maps for objects.
type Document struct {
	exists     bool
	version    int64
	desired    map[string]any // nil or non-empty
	reported   map[string]any // nil or non-empty
	mdDesired  map[string]any
	mdReported map[string]any
	deletedAt  int64 // epoch seconds of the last Delete; 0 when never deleted
	stateSize  int   // compact size of desired + reported, as of the last Accept; sizes buffers
}

// Exists reports whether the shadow exists: it has had an accepted update
// and has not been deleted since.
func (d *Document) Exists() bool { return d.exists }

// Version is the current version; it survives Delete (§1.8).
func (d *Document) Version() int64 { return d.version }

// DeletedAt is when the shadow was last deleted (zero when it exists or was
// never deleted). AWS continues a recreated shadow's versions only within
// 48 hours of the delete (§1.8); the caller decides with this.
func (d *Document) DeletedAt() time.Time {
	if d.exists || d.deletedAt == 0 {
		return time.Time{}
	}
	return time.Unix(d.deletedAt, 0)
}

// Change is an update that Accept took. Its response bodies are built on
// demand, so that a service builds only those somebody receives. A Change
// stays valid after later changes to the Document: documents share maps,
// and no map of a document is modified once it is part of one.
type Change struct {
	u          *Update
	prev, next Document
	ts         int64
}

// Accept merges u into d at time now (reference §1.10, §1.11, §1.12) and
// returns the change. On error d is unchanged.
//
// The caller must answer 404 NotFound itself when d does not exist and
// u.HasVersion (§1.8: an update with a version on a missing shadow behaves
// as not found); Accept has no shadow name to put in the message.
func (d *Document) Accept(u *Update, now time.Time, lim Limits) (*Change, *Error) {
	lim = lim.withDefaults()
	if u.HasVersion && u.Version != d.version {
		return nil, &Error{Code: 409, Message: MsgVersionConflict, ClientToken: u.ClientToken}
	}
	ts := now.Unix()
	next := Document{exists: true, version: d.version + 1}
	if !u.stateNull {
		next.desired, next.mdDesired = mergeSection(d.desired, d.mdDesired, u.desired, ts)
		next.reported, next.mdReported = mergeSection(d.reported, d.mdReported, u.reported, ts)
	}
	next.stateSize = sectionSize(next.desired) + sectionSize(next.reported)
	if next.stateSize > lim.MaxBytes {
		return nil, &Error{Code: 413, Message: MsgTooLarge, ClientToken: u.ClientToken}
	}
	c := &Change{u: u, prev: *d, next: next, ts: ts}
	*d = next
	return c, nil
}

// Accepted is the update/accepted body (§1.5).
func (c *Change) Accepted() []byte { return c.u.acceptedJSON(c.next.version, c.ts) }

// Documents is the update/documents body (§1.7). previous is left out for
// a new shadow: UNCONFIRMED whether AWS sends "previous":null (§5.5).
func (c *Change) Documents() []byte {
	b := make([]byte, 0, c.prev.encodedSizeHint()+c.next.encodedSizeHint()+64)
	b = append(b, '{')
	if c.prev.exists {
		b = append(b, `"previous":`...)
		b = c.prev.appendStored(b)
		b = append(b, ',')
	}
	b = append(b, `"current":`...)
	b = c.next.appendStored(b)
	return appendTail(b, c.ts, c.u.ClientToken)
}

// Delta is the update/delta body (§1.6), or nil when the document after the
// change has no delta: delta is published after every accepted update
// whose delta is non-empty.
func (c *Change) Delta() []byte {
	ds, dm := computeDelta(c.next.desired, c.next.reported, c.next.mdDesired)
	if len(ds) == 0 {
		return nil
	}
	// §1.6 field order: version, timestamp, state, metadata, clientToken.
	b := make([]byte, 0, c.next.encodedSizeHint())
	b = append(b, `{"version":`...)
	b = strconv.AppendInt(b, c.next.version, 10)
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendInt(b, c.ts, 10)
	b = append(b, `,"state":`...)
	b = appendValue(b, ds)
	b = append(b, `,"metadata":`...)
	b = appendMeta(b, dm)
	if c.u.ClientToken != "" {
		b = append(b, `,"clientToken":`...)
		b = appendString(b, c.u.ClientToken)
	}
	return append(b, '}')
}

// Apply is Accept with every response body built: update/accepted,
// update/documents and update/delta (nil when there is no delta).
func (d *Document) Apply(u *Update, now time.Time, lim Limits) (accepted, documents, delta []byte, err *Error) {
	c, err := d.Accept(u, now, lim)
	if err != nil {
		return nil, nil, nil, err
	}
	return c.Accepted(), c.Documents(), c.Delta(), nil
}

// encodedSizeHint estimates the size of d's state and metadata written
// out, to size buffers: a metadata leaf ({"timestamp":T}) is about twice a
// short state leaf.
func (d *Document) encodedSizeHint() int { return 3*d.stateSize + 96 }

// Get returns the get/accepted body (§1.4): state with desired, reported
// and delta when non-empty, metadata for desired and reported, version,
// the response timestamp now, and clientToken when non-empty. It does not
// check Exists; a missing shadow is the caller's 404.
func (d *Document) Get(clientToken string, now time.Time) []byte {
	ds, _ := computeDelta(d.desired, d.reported, d.mdDesired)
	b := []byte(`{"state":`)
	b = appendSections(b, false,
		section{"desired", opt(d.desired)}, section{"reported", opt(d.reported)}, section{"delta", opt(ds)})
	b = append(b, `,"metadata":`...)
	b = appendSections(b, true, section{"desired", opt(d.mdDesired)}, section{"reported", opt(d.mdReported)})
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, d.version, 10)
	return appendTail(b, now.Unix(), clientToken)
}

// Delete removes the shadow's state, keeps its version (§1.8: the deleted
// document's version, not incremented) and returns the delete/accepted
// body. A later Apply continues from that version; callers that honour
// AWS's 48-hour reset start from a zero Document instead.
func (d *Document) Delete(clientToken string, now time.Time) []byte {
	b := []byte(`{"version":`)
	b = strconv.AppendInt(b, d.version, 10)
	*d = Document{version: d.version, deletedAt: now.Unix()}
	return appendTail(b, now.Unix(), clientToken)
}

// Delta returns the desired keys whose values differ from reported
// (§1.6), nested paths kept and arrays compared whole; nil when in sync.
// The result shares no maps with d.
func (d *Document) Delta() map[string]any {
	ds, _ := computeDelta(d.desired, d.reported, d.mdDesired)
	if len(ds) == 0 {
		return nil
	}
	return cloneMap(ds)
}

// appendStored appends {"state":{...},"metadata":{...},"version":N}, the
// form of previous/current in update/documents (no delta, no timestamp).
func (d *Document) appendStored(b []byte) []byte {
	b = append(b, `{"state":`...)
	b = appendSections(b, false, section{"desired", opt(d.desired)}, section{"reported", opt(d.reported)})
	b = append(b, `,"metadata":`...)
	b = appendSections(b, true, section{"desired", opt(d.mdDesired)}, section{"reported", opt(d.mdReported)})
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, d.version, 10)
	return append(b, '}')
}

// appendTail closes a response with ,"timestamp":T[,"clientToken":...]}.
func appendTail(b []byte, ts int64, clientToken string) []byte {
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendInt(b, ts, 10)
	if clientToken != "" {
		b = append(b, `,"clientToken":`...)
		b = appendString(b, clientToken)
	}
	return append(b, '}')
}

// opt turns an empty map into an untyped nil so appendSections skips it.
func opt(m map[string]any) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

// acceptedJSON renders update/accepted (§1.5): the request state echoed,
// metadata for exactly those fields stamped ts, the new version.
func (u *Update) acceptedJSON(version, ts int64) []byte {
	b := make([]byte, 0, 3*u.size+96)
	b = append(b, `{"state":`...)
	if u.stateNull {
		b = append(b, `null,"metadata":{"timestamp":`...)
		b = strconv.AppendInt(b, ts, 10)
		b = append(b, '}')
	} else {
		var st, md []section
		for _, p := range []struct {
			key string
			p   part
		}{{"desired", u.desired}, {"reported", u.reported}} {
			switch {
			case !p.p.present:
				continue
			case p.p.null:
				// Echo the null, and stamp it: UNCONFIRMED (§1.5, §5.7),
				// the reference's suggested default.
				st = append(st, section{p.key, jsonNull{}})
				md = append(md, section{p.key, ts})
			default:
				st = append(st, section{p.key, p.p.value})
				md = append(md, section{p.key, stamped{p.p.value, ts}})
			}
		}
		b = appendSections(b, false, st...)
		b = append(b, `,"metadata":`...)
		b = appendSections(b, true, md...)
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, version, 10)
	return appendTail(b, ts, u.ClientToken)
}

// jsonNull is a non-nil stand-in for an explicit JSON null in a section list.
type jsonNull struct{}

// stamped is the metadata of a request value, written without building
// it: every leaf, array element and null (UNCONFIRMED §5.7: nulls get a
// timestamp) stamped ts (see appendStamped).
type stamped struct {
	v  any
	ts int64
}

// stampArray is the metadata of an n-element array: one timestamp object
// per element, whatever the element's type (§1.4).
func stampArray(n int, ts int64) []any {
	a := make([]any, n)
	for i := range a {
		a[i] = ts
	}
	return a
}

// mergeSection applies one request section to a stored section and its
// metadata, returning new maps (the inputs are not modified). Empty
// top-level sections come back nil: they vanish from GET (§1.10).
func mergeSection(cur, md map[string]any, p part, ts int64) (map[string]any, map[string]any) {
	if !p.present {
		return cur, md
	}
	if p.null {
		return nil, nil
	}
	cur, md = cloneMap(cur), cloneMap(md)
	if cur == nil {
		cur, md = map[string]any{}, map[string]any{}
	}
	mergeObject(cur, md, p.value, ts)
	if len(cur) == 0 {
		return nil, nil
	}
	return cur, md
}

// mergeObject merges upd into dst (and its metadata dmd) in place.
// Nested objects emptied by nulls are kept (UNCONFIRMED §5.6; the
// reference's default: do not prune nested objects).
func mergeObject(dst, dmd, upd map[string]any, ts int64) {
	for k, v := range upd {
		switch v := v.(type) {
		case nil:
			delete(dst, k)
			delete(dmd, k)
		case map[string]any:
			if cur, ok := dst[k].(map[string]any); ok {
				cmd, ok := dmd[k].(map[string]any)
				if !ok { // cannot happen while metadata mirrors state
					cmd = map[string]any{}
					dmd[k] = cmd
				}
				mergeObject(cur, cmd, v, ts)
				continue
			}
			// A new object (or one replacing a scalar or array). Like GGSM's
			// createMergeTree, an all-null new subtree writes nothing.
			if nv, nmd, keep := newTree(v, ts); keep {
				dst[k], dmd[k] = nv, nmd
			}
		case []any:
			dst[k], dmd[k] = v, stampArray(len(v), ts) // arrays are never mutated in place
		default:
			dst[k], dmd[k] = v, ts
		}
	}
}

// newTree copies v without its nulls and stamps it. keep is false when v
// was non-empty but held only nulls (recursively).
func newTree(v map[string]any, ts int64) (map[string]any, map[string]any, bool) {
	out, md := make(map[string]any, len(v)), make(map[string]any, len(v))
	for k, c := range v {
		switch c := c.(type) {
		case nil:
		case map[string]any:
			if nv, nmd, keep := newTree(c, ts); keep {
				out[k], md[k] = nv, nmd
			}
		case []any:
			out[k], md[k] = c, stampArray(len(c), ts)
		default:
			out[k], md[k] = c, ts
		}
	}
	return out, md, len(v) == 0 || len(out) > 0
}

// cloneMap deep-copies the maps of a state or metadata tree. Arrays and
// scalars are shared: they are never mutated.
func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = cloneMap(sub)
		}
		c[k] = v
	}
	return c
}

// computeDelta returns the delta of desired against reported and its
// metadata, copied from the desired metadata (§1.6).
func computeDelta(desired, reported, md map[string]any) (map[string]any, map[string]any) {
	var ds, dm map[string]any
	for k, dv := range desired {
		rv := reported[k]
		var v, m any
		dmap, dIsMap := dv.(map[string]any)
		rmap, rIsMap := rv.(map[string]any)
		switch {
		case rv == nil:
			v, m = dv, md[k]
		case dIsMap && rIsMap:
			// An empty desired object against a non-empty reported one is
			// omitted (UNCONFIRMED §1.6 item 8, GGSM; the suggested default).
			subMD, _ := md[k].(map[string]any)
			sd, sm := computeDelta(dmap, rmap, subMD)
			if len(sd) == 0 {
				continue
			}
			v, m = sd, sm
		case equalValue(dv, rv):
			continue
		default:
			v, m = dv, md[k]
		}
		if ds == nil {
			ds, dm = map[string]any{}, map[string]any{}
		}
		ds[k], dm[k] = v, m
	}
	return ds, dm
}

// equalValue compares state values deeply. Numbers compare by value, so 1
// equals 1.0: GGSM's rule, UNCONFIRMED for IoT Core (§1.6 item 7).
func equalValue(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		bb, ok := b.(bool)
		return ok && a == bb
	case string:
		bs, ok := b.(string)
		return ok && a == bs
	case json.Number:
		bn, ok := b.(json.Number)
		return ok && equalNumber(a, bn)
	case []any:
		ba, ok := b.([]any)
		if !ok || len(a) != len(ba) {
			return false
		}
		for i := range a {
			if !equalValue(a[i], ba[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, av := range a {
			bv, ok := bm[k]
			if !ok || !equalValue(av, bv) {
				return false
			}
		}
		return true
	}
	return false
}

func equalNumber(a, b json.Number) bool {
	if a == b {
		return true
	}
	const prec = 512
	x, _, errA := big.ParseFloat(string(a), 10, prec, big.ToNearestEven)
	y, _, errB := big.ParseFloat(string(b), 10, prec, big.ToNearestEven)
	if errA != nil || errB != nil {
		return false
	}
	return x.Cmp(y) == 0
}
