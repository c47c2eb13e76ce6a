package shadow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf8"
)

// Default limits (reference §1.12, §5.1).
const (
	// DefaultMaxBytes is IoT Core's 8 KB limit on desired + reported.
	DefaultMaxBytes = 8192
	// DefaultMaxDepth is the reference's suggested default. UNCONFIRMED
	// (§5.1): the error text says 6, the current quotas page reportedly 8.
	DefaultMaxDepth = 8
	// maxClientTokenBytes is the clientToken limit (§1.3).
	maxClientTokenBytes = 64
)

// Limits bounds a shadow document. The zero value means the defaults.
type Limits struct {
	// MaxBytes is the largest allowed size in bytes of the merged
	// desired + reported sections, serialized compactly and without
	// metadata. Zero means DefaultMaxBytes (8192). Exceeding it is 413.
	MaxBytes int
	// MaxDepth is the deepest allowed nesting of non-empty objects and
	// arrays, counting the desired or reported object itself as level 1
	// (GGSM's rule). Zero means DefaultMaxDepth (8). Exceeding it is 400.
	MaxDepth int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return l
}

// part is one section (desired or reported) of an update request.
type part struct {
	present bool           // the key was in the request
	null    bool           // it was JSON null: remove the whole section
	value   map[string]any // the object; may hold nulls (key removals)
}

// Update is a parsed and validated update request (reference §1.3).
type Update struct {
	// ClientToken is echoed in every response; empty when absent.
	ClientToken string
	// Version, when HasVersion, must equal the document's current version
	// (optimistic locking, §1.11).
	Version    int64
	HasVersion bool

	stateNull bool // {"state": null}: clear both sections
	size      int  // the request's size in bytes; sizes response buffers
	desired   part
	reported  part
}

// ParseUpdate parses and validates an update request body. Errors carry
// AWS's code and message and, when it was readable, the clientToken.
func ParseUpdate(body []byte, lim Limits) (*Update, *Error) {
	lim = lim.withDefaults()
	if len(bytes.TrimSpace(body)) == 0 {
		// GGSM's text; IoT Core's for an empty body is not documented.
		return nil, badRequest(MsgMissingPayload)
	}
	if !utf8.Valid(body) {
		// inferred from the 415 message in the catalogue (§1.9).
		return nil, &Error{Code: 415, Message: MsgUnsupportedEnc}
	}
	// One pass over the whole body checks its syntax and decodes it; valid
	// JSON that is not an object is Invalid JSON too.
	f, err := readUpdateBody(body)
	if err != nil {
		return nil, badRequest(MsgInvalidJSON)
	}
	u := &Update{size: len(body)}

	if f.hasToken {
		tok, isString := f.token.(string)
		if !isString || len(tok) > maxClientTokenBytes {
			return nil, badRequest(MsgInvalidClientToken)
		}
		u.ClientToken = tok
	}
	fail := func(e *Error) (*Update, *Error) { return nil, e.withToken(u.ClientToken) }

	if f.hasVersion {
		n, isNumber := f.version.(json.Number)
		if !isNumber {
			return fail(badRequest(MsgInvalidVersion))
		}
		v, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || v < 0 {
			return fail(badRequest(MsgInvalidVersion))
		}
		u.Version, u.HasVersion = v, true
	}

	switch {
	case !f.hasState:
		return fail(badRequest(MsgMissingState))
	case !f.stateObject && f.state == nil:
		u.stateNull = true
		return u, nil
	case !f.stateObject:
		return fail(badRequest(MsgStateNotObject))
	case f.hasInvalidNode:
		// AWS names the first such key in document order.
		return fail(badRequest(fmt.Sprintf(MsgInvalidNode, f.invalidNode)))
	}
	var e *Error
	if u.desired, e = parsePart(f.hasDesired, f.desired, MsgDesiredNotObject, lim); e != nil {
		return fail(e)
	}
	if u.reported, e = parsePart(f.hasReported, f.reported, MsgReportedNotObject, lim); e != nil {
		return fail(e)
	}
	// Inferred: a request whose own state is already over the limit is
	// refused up front; the merged document is checked again in Apply.
	if sectionSize(u.desired.value)+sectionSize(u.reported.value) > lim.MaxBytes {
		return fail(&Error{Code: 413, Message: MsgTooLarge})
	}
	return u, nil
}

// updateBody is an update request's members as read in one pass: whether
// each was there and its value (of duplicates the last wins, as in
// encoding/json). The state object's members are read the same way, without
// building a map.
type updateBody struct {
	token, version, state          any
	hasToken, hasVersion, hasState bool
	stateObject                    bool // state is an object: its members follow
	desired, reported              any
	hasDesired, hasReported        bool
	// invalidNode is the first member of state, in document order, that is
	// neither desired nor reported.
	invalidNode    string
	hasInvalidNode bool
}

// readUpdateBody reads body in one pass; it fails on invalid JSON and on
// JSON that is not an object.
func readUpdateBody(body []byte) (updateBody, error) {
	var f updateBody
	stateMember := func(key string, v any) {
		switch key {
		case "desired":
			f.desired, f.hasDesired = v, true
		case "reported":
			f.reported, f.hasReported = v, true
		default:
			if !f.hasInvalidNode {
				f.invalidNode, f.hasInvalidNode = key, true
			}
		}
	}
	notObject, err := parseObjectMembers(body, func(p *jsonParser, key string, i int) (int, error) {
		if key == "state" && i < len(body) && body[i] == '{' {
			f.state, f.hasState, f.stateObject = nil, true, true
			f.desired, f.reported, f.hasDesired, f.hasReported = nil, nil, false, false
			f.invalidNode, f.hasInvalidNode = "", false
			return p.members(i, func(key string, i int) (int, error) {
				v, j, err := p.value(i)
				stateMember(key, v)
				return j, err
			})
		}
		v, j, err := p.value(i)
		switch key {
		case "clientToken":
			f.token, f.hasToken = v, true
		case "version":
			f.version, f.hasVersion = v, true
		case "state":
			f.state, f.hasState, f.stateObject = v, true, false
		}
		return j, err
	})
	if err == nil && notObject {
		err = errors.New("shadow: request is not a JSON object")
	}
	return f, err
}

func parsePart(present bool, v any, notObject string, lim Limits) (part, *Error) {
	if !present {
		return part{}, nil
	}
	if v == nil {
		return part{present: true, null: true}, nil
	}
	m, isObject := v.(map[string]any)
	if !isObject {
		return part{}, badRequest(notObject)
	}
	if depth(m) > lim.MaxDepth {
		return part{}, badRequest(MsgTooDeep)
	}
	if hasNullInArray(m) {
		// AWS rejects arrays holding null with 400 but documents no message
		// (§1.3, §1.10); "Invalid JSON" is thingcore's choice.
		return part{}, badRequest(MsgInvalidJSON)
	}
	return part{present: true, value: m}, nil
}

// depth counts nesting levels of non-empty objects and arrays; v itself is
// level 1 when it is a non-empty container.
func depth(v any) int {
	maxChild := 0
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 {
			return 0
		}
		for _, c := range v {
			maxChild = max(maxChild, depth(c))
		}
	case []any:
		if len(v) == 0 {
			return 0
		}
		for _, c := range v {
			maxChild = max(maxChild, depth(c))
		}
	default:
		return 0
	}
	return 1 + maxChild
}

// hasNullInArray reports whether any array in v has a null element.
func hasNullInArray(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for _, c := range v {
			if hasNullInArray(c) {
				return true
			}
		}
	case []any:
		for _, c := range v {
			if c == nil || hasNullInArray(c) {
				return true
			}
		}
	}
	return false
}

// sectionSize is the compact serialized size of a section; an empty or
// absent section counts zero.
func sectionSize(m map[string]any) int {
	if len(m) == 0 {
		return 0
	}
	bp := sizeScratch.Get().(*[]byte)
	b := appendValue((*bp)[:0], m)
	n := len(b)
	if cap(b) <= 16<<10 { // keep the pool's buffers small
		*bp = b
	}
	sizeScratch.Put(bp)
	return n
}

// sizeScratch holds buffers sectionSize writes into and throws away.
var sizeScratch = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
