package httpapi

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// segKind is what one segment of a path pattern matches. The order is the
// precedence when two patterns match the same path: a literal beats a label,
// which beats a greedy label.
type segKind uint8

const (
	segLiteral segKind = iota // matches itself exactly (raw, escaped form)
	segLabel                  // {name}: one non-empty segment
	segGreedy                 // {name+}: one or more segments, '/' included; last only
)

type segment struct {
	kind segKind
	text string // the literal, or the label name
}

// pattern is a parsed restJson1 URI pattern such as "/things/{thingName}" or
// "/topics/{topic+}".
type pattern struct {
	raw  string
	segs []segment
}

// parsePattern parses a URI pattern. It must start with '/'; labels are
// {name} or, in the last segment only, {name+}; label names are unique and
// made of letters, digits and '_'; literal segments may not contain '{', '}',
// '?' or '%' (they are matched against the escaped path as written).
func parsePattern(s string) (pattern, error) {
	if !strings.HasPrefix(s, "/") {
		return pattern{}, fmt.Errorf("pattern %q: must start with /", s)
	}
	p := pattern{raw: s}
	if s == "/" {
		return p, nil
	}
	parts := strings.Split(s[1:], "/")
	seen := make(map[string]bool, len(parts))
	for i, part := range parts {
		if strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}") && len(part) > 2 {
			name := part[1 : len(part)-1]
			kind := segLabel
			if n, ok := strings.CutSuffix(name, "+"); ok {
				if i != len(parts)-1 {
					return pattern{}, fmt.Errorf("pattern %q: greedy label %s must be the last segment", s, part)
				}
				name, kind = n, segGreedy
			}
			if !validLabelName(name) {
				return pattern{}, fmt.Errorf("pattern %q: bad label name %q", s, name)
			}
			if seen[name] {
				return pattern{}, fmt.Errorf("pattern %q: label %q repeated", s, name)
			}
			seen[name] = true
			p.segs = append(p.segs, segment{kind: kind, text: name})
			continue
		}
		if part == "" && i != len(parts)-1 {
			return pattern{}, fmt.Errorf("pattern %q: empty segment", s)
		}
		if strings.ContainsAny(part, "{}?%") {
			return pattern{}, fmt.Errorf("pattern %q: bad literal segment %q", s, part)
		}
		p.segs = append(p.segs, segment{kind: segLiteral, text: part})
	}
	return p, nil
}

func validLabelName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// errBadEscape reports a label whose escaped value does not unescape.
var errBadEscape = errors.New("invalid percent-encoding in path")

// pathParam is one matched label, unescaped once.
type pathParam struct {
	name, value string
}

// splitPath splits an escaped path such as "/things/a%2Fb" into its raw
// segments ["things", "a%2Fb"]. The root "/" is no segments.
func splitPath(escaped string) []string {
	escaped = strings.TrimPrefix(escaped, "/")
	if escaped == "" {
		return nil
	}
	return strings.Split(escaped, "/")
}

// match matches raw path segments against p. Labels are unescaped once after
// matching, so "%2F" inside a {label} is a '/' in its value and never a
// separator. A label or greedy label never matches an empty value. It returns
// errBadEscape (and ok) when the path matches but a label does not unescape.
func (p pattern) match(segs []string) (params []pathParam, ok bool, err error) {
	for i, sg := range p.segs {
		switch sg.kind {
		case segLiteral:
			if i >= len(segs) || segs[i] != sg.text {
				return nil, false, nil
			}
		case segLabel:
			if i >= len(segs) || segs[i] == "" {
				return nil, false, nil
			}
			params = append(params, pathParam{name: sg.text, value: segs[i]})
		case segGreedy:
			if i >= len(segs) {
				return nil, false, nil
			}
			rest := strings.Join(segs[i:], "/")
			if rest == "" {
				return nil, false, nil
			}
			params = append(params, pathParam{name: sg.text, value: rest})
			segs = segs[:i+1] // consumed
		}
	}
	if len(segs) != len(p.segs) {
		return nil, false, nil
	}
	for i := range params {
		v, uerr := url.PathUnescape(params[i].value)
		if uerr != nil {
			return nil, true, errBadEscape
		}
		params[i].value = v
	}
	return params, true, nil
}

// moreSpecific reports whether p should win over q when both match a path:
// compared segment by segment, literal beats label beats greedy; on a tie the
// longer pattern wins.
func (p pattern) moreSpecific(q pattern) bool {
	for i := 0; i < len(p.segs) && i < len(q.segs); i++ {
		if p.segs[i].kind != q.segs[i].kind {
			return p.segs[i].kind < q.segs[i].kind
		}
	}
	return len(p.segs) > len(q.segs)
}

// shape is p with label names erased: two patterns with the same shape
// match exactly the same paths.
func (p pattern) shape() string {
	var b strings.Builder
	for _, sg := range p.segs {
		b.WriteByte('/')
		switch sg.kind {
		case segLiteral:
			b.WriteString(sg.text)
		case segLabel:
			b.WriteString("{}")
		case segGreedy:
			b.WriteString("{+}")
		}
	}
	return b.String()
}
