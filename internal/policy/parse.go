package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxDocumentChars is the largest policy document AWS IoT accepts, counted in
// characters excluding whitespace.
const MaxDocumentChars = 2048

// Policy versions. A document without Version is read as IAM reads it, as
// VersionLegacy.
const (
	Version2012   = "2012-10-17"
	VersionLegacy = "2008-10-17"
)

// MalformedError is a policy document that does not validate. Its text is
// meant for the message of AWS's MalformedPolicyException.
type MalformedError struct {
	// Statement is the 0-based index of the offending statement, or -1 when
	// the problem is with the document as a whole.
	Statement int
	// Field names the offending element, e.g. "Effect", "Resource[2]",
	// "Condition.StringEquals.iot:ClientId"; "" for the whole document.
	Field string
	// Problem says what is wrong, e.g. `must be "Allow" or "Deny"`.
	Problem string
}

func (e *MalformedError) Error() string {
	var b strings.Builder
	b.WriteString("malformed policy: ")
	if e.Statement >= 0 {
		fmt.Fprintf(&b, "Statement[%d]", e.Statement)
		if e.Field != "" {
			b.WriteByte('.')
		}
	}
	b.WriteString(e.Field)
	if e.Statement >= 0 || e.Field != "" {
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

// Policy is a parsed, validated and compiled policy document. It is
// immutable and safe for concurrent use.
type Policy struct {
	version string // "" when absent
	id      string
	hasID   bool
	stmts   []statement
}

// Version returns the document's Version, or "" if it had none.
func (p *Policy) Version() string { return p.version }

type effect bool

const (
	effectDeny  effect = false
	effectAllow effect = true
)

func (e effect) String() string {
	if e == effectAllow {
		return "Allow"
	}
	return "Deny"
}

type statement struct {
	sid        string
	hasSid     bool
	effect     effect
	notAction  bool
	actions    []pattern
	mask       uint64 // known actions the statement applies to (NotAction applied)
	notRes     bool
	resources  []pattern
	resVars    bool // some resource pattern has a variable
	conditions []condition
}

// Parse validates and compiles a policy document. A document that does not
// validate gives a *MalformedError.
func Parse(doc []byte) (*Policy, error) {
	if !utf8.Valid(doc) {
		return nil, malformed(-1, "", "document is not valid UTF-8")
	}
	n := 0
	for _, r := range string(doc) {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	if n == 0 {
		return nil, malformed(-1, "", "document is empty")
	}
	// UNCONFIRMED: whether AWS reports an oversized document as
	// MalformedPolicyException; the limit itself is documented.
	if n > MaxDocumentChars {
		return nil, malformed(-1, "", fmt.Sprintf("document has %d characters excluding whitespace, more than the limit of %d", n, MaxDocumentChars))
	}
	return parse(doc)
}

// parse is Parse without the size limit.
func parse(doc []byte) (*Policy, error) {
	root, err := decodeJSON(doc)
	if err != nil {
		return nil, malformed(-1, "", err.Error())
	}
	return compile(root)
}

func malformed(stmt int, field, problem string) *MalformedError {
	return &MalformedError{Statement: stmt, Field: field, Problem: problem}
}

// compile validates the decoded document and compiles it.
func compile(root *jnode) (*Policy, error) {
	if root.kind != jObject {
		return nil, malformed(-1, "", "document must be a JSON object")
	}
	p := &Policy{}
	var stmtNode *jnode
	for i, k := range root.keys {
		v := root.vals[i]
		switch k {
		case "Version":
			if v.kind != jString {
				return nil, malformed(-1, "Version", "must be a string")
			}
			// UNCONFIRMED: IoT accepting "2008-10-17" and a missing
			// Version; both are accepted as IAM accepts them.
			if v.str != Version2012 && v.str != VersionLegacy {
				return nil, malformed(-1, "Version", fmt.Sprintf("%q is not supported, use %q", v.str, Version2012))
			}
			p.version = v.str
		case "Id":
			if v.kind != jString {
				return nil, malformed(-1, "Id", "must be a string")
			}
			p.id, p.hasID = v.str, true
		case "Statement":
			stmtNode = v
		default:
			return nil, malformed(-1, k, "unknown element (want Version, Id or Statement)")
		}
	}
	if stmtNode == nil {
		return nil, malformed(-1, "Statement", "is required")
	}
	// UNCONFIRMED: a single Statement object (not an array) is accepted, as
	// IAM accepts it.
	stmts := []*jnode{stmtNode}
	if stmtNode.kind == jArray {
		stmts = stmtNode.vals
	}
	if len(stmts) == 0 {
		return nil, malformed(-1, "Statement", "must contain at least one statement")
	}
	// Policy variables are a feature of Version 2012-10-17; with an older or
	// missing Version IAM reads `${...}` as literal text, and so do we.
	vars := p.version == Version2012
	for i, s := range stmts {
		st, err := compileStatement(i, s, vars)
		if err != nil {
			return nil, err
		}
		p.stmts = append(p.stmts, st)
	}
	return p, nil
}

func compileStatement(idx int, n *jnode, vars bool) (statement, error) {
	var st statement
	if n.kind != jObject {
		return st, malformed(idx, "", "must be a JSON object")
	}
	var action, resource *jnode
	var hasEffect bool
	for i, k := range n.keys {
		v := n.vals[i]
		switch k {
		case "Sid":
			// UNCONFIRMED: IAM limits Sid to [A-Za-z0-9]; IoT's rule is not
			// documented, so any string is accepted.
			if v.kind != jString {
				return st, malformed(idx, "Sid", "must be a string")
			}
			st.sid, st.hasSid = v.str, true
		case "Effect":
			if v.kind != jString || (v.str != "Allow" && v.str != "Deny") {
				return st, malformed(idx, "Effect", `must be "Allow" or "Deny"`)
			}
			hasEffect, st.effect = true, effect(v.str == "Allow")
		case "Action", "NotAction":
			// UNCONFIRMED: NotAction is accepted as IAM accepts it.
			if action != nil {
				return st, malformed(idx, k, "cannot be combined with "+otherOf(k, "Action", "NotAction"))
			}
			action, st.notAction = v, k == "NotAction"
		case "Resource", "NotResource":
			if resource != nil {
				return st, malformed(idx, k, "cannot be combined with "+otherOf(k, "Resource", "NotResource"))
			}
			resource, st.notRes = v, k == "NotResource"
		case "Condition":
			conds, err := compileConditions(idx, v, vars)
			if err != nil {
				return st, err
			}
			st.conditions = conds
		case "Principal", "NotPrincipal":
			return st, malformed(idx, k, "is not supported in AWS IoT policies")
		default:
			return st, malformed(idx, k, "unknown element")
		}
	}
	if !hasEffect {
		return st, malformed(idx, "Effect", "is required")
	}
	if action == nil {
		return st, malformed(idx, "Action", "is required (or NotAction)")
	}
	if resource == nil {
		return st, malformed(idx, "Resource", "is required (or NotResource)")
	}

	aField := "Action"
	if st.notAction {
		aField = "NotAction"
	}
	actions, err := stringList(idx, aField, action)
	if err != nil {
		return st, err
	}
	for i, a := range actions {
		if !validAction(a) {
			return st, malformed(idx, elem(aField, i, len(actions)), fmt.Sprintf(`%q is not an action (want "*" or "service:Name", e.g. "iot:Publish")`, a))
		}
		p := compilePattern(a, true, false)
		st.actions = append(st.actions, p)
		for b, known := range knownActions {
			if p.match(known, nil, true) {
				st.mask |= 1 << b
			}
		}
	}
	if st.notAction {
		st.mask = ^st.mask & (1<<len(knownActions) - 1)
	}

	rField := "Resource"
	if st.notRes {
		rField = "NotResource"
	}
	resources, err := stringList(idx, rField, resource)
	if err != nil {
		return st, err
	}
	for i, r := range resources {
		if !validResource(r) {
			return st, malformed(idx, elem(rField, i, len(resources)), fmt.Sprintf(`%q is not "*" or an ARN (arn:partition:service:region:account:resource)`, r))
		}
		p := compilePattern(r, true, vars)
		st.resVars = st.resVars || p.vars
		st.resources = append(st.resources, p)
	}
	return st, nil
}

func otherOf(k, a, b string) string {
	if k == a {
		return b
	}
	return a
}

// elem names element i of field; a single string is named by the field.
func elem(field string, i, n int) string {
	if n == 1 {
		return field
	}
	return field + "[" + strconv.Itoa(i) + "]"
}

// stringList reads a string or a non-empty array of strings.
func stringList(idx int, field string, n *jnode) ([]string, error) {
	switch n.kind {
	case jString:
		if n.str == "" {
			return nil, malformed(idx, field, "must not be empty")
		}
		return []string{n.str}, nil
	case jArray:
		if len(n.vals) == 0 {
			return nil, malformed(idx, field, "must not be an empty array")
		}
		out := make([]string, 0, len(n.vals))
		for i, v := range n.vals {
			if v.kind != jString {
				return nil, malformed(idx, field+"["+strconv.Itoa(i)+"]", "must be a string")
			}
			if v.str == "" {
				return nil, malformed(idx, field+"["+strconv.Itoa(i)+"]", "must not be empty")
			}
			out = append(out, v.str)
		}
		return out, nil
	}
	return nil, malformed(idx, field, "must be a string or an array of strings")
}

// validAction accepts "*" and "service:name", where the service is letters,
// digits and `-`, and the name letters, digits, `_`, `-` and the wildcards.
// Services other than iot are accepted (Greengrass core policies use
// greengrass:*); they never match an iot action.
//
// UNCONFIRMED: action names are matched ignoring case, as IAM does.
func validAction(a string) bool {
	if a == "*" {
		return true
	}
	svc, name, ok := strings.Cut(a, ":")
	if !ok || svc == "" || name == "" {
		return false
	}
	for _, c := range []byte(svc) {
		if !isAlnum(c) && c != '-' {
			return false
		}
	}
	for _, c := range []byte(name) {
		if !isAlnum(c) && c != '-' && c != '_' && c != '*' && c != '?' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// validResource accepts "*" and anything shaped like an ARN: "arn:" and at
// least five more colon-separated fields. Region and account may be
// wildcards or placeholders; resource ARNs are case-sensitive.
func validResource(r string) bool {
	return r == "*" || strings.HasPrefix(r, "arn:") && strings.Count(r, ":") >= 5
}

func compileConditions(idx int, n *jnode, vars bool) ([]condition, error) {
	if n.kind != jObject {
		return nil, malformed(idx, "Condition", "must be a JSON object")
	}
	var out []condition
	for i, opName := range n.keys {
		field := "Condition." + opName
		block := n.vals[i]
		o, set, ifExists, ok := parseOperator(opName)
		if !ok {
			return nil, malformed(idx, field, "unsupported condition operator (supported: String[Not]Equals[IgnoreCase], String[Not]Like, Bool, [Not]IpAddress, Null, with optional ForAnyValue:/ForAllValues: and IfExists)")
		}
		if block.kind != jObject {
			return nil, malformed(idx, field, "must be a JSON object of condition keys")
		}
		if len(block.keys) == 0 {
			return nil, malformed(idx, field, "must contain at least one condition key")
		}
		for j, keyName := range block.keys {
			kfield := field + "." + keyName
			c := condition{operator: opName, op: o, set: set, ifExists: ifExists, key: parseKey(keyName)}
			if keyName == "" {
				return nil, malformed(idx, field, "condition key must not be empty")
			}
			vals, err := conditionValues(idx, kfield, block.vals[j])
			if err != nil {
				return nil, err
			}
			c.raw = vals
			for k, v := range vals {
				vfield := elem(kfield, k, len(vals))
				switch {
				case o == opNull, o == opBool:
					var b bool
					switch {
					case strings.EqualFold(v, "true"):
						b = true
					case strings.EqualFold(v, "false"):
					default:
						// UNCONFIRMED: how IAM treats other Bool/Null values;
						// rejecting them is the safe reading.
						return nil, malformed(idx, vfield, fmt.Sprintf(`%q must be "true" or "false"`, v))
					}
					c.null = append(c.null, b)
					c.values = append(c.values, compilePattern(v, false, false))
				case o.ip():
					p, err := parsePrefix(v)
					if err != nil {
						return nil, malformed(idx, vfield, fmt.Sprintf("%q is not an IP address or CIDR block", v))
					}
					c.prefixes = append(c.prefixes, p)
				default:
					c.values = append(c.values, compilePattern(v, o.wild(), vars))
				}
			}
			if o != opNull {
				c.null = nil
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// conditionValues reads a condition's value: a scalar or a non-empty array
// of scalars. Numbers and booleans are taken as their JSON text, as IAM does.
func conditionValues(idx int, field string, n *jnode) ([]string, error) {
	scalar := func(v *jnode) (string, bool) {
		switch v.kind {
		case jString, jNumber, jBool:
			return v.str, true
		}
		return "", false
	}
	if s, ok := scalar(n); ok {
		return []string{s}, nil
	}
	if n.kind != jArray {
		return nil, malformed(idx, field, "must be a string or an array of strings")
	}
	if len(n.vals) == 0 {
		return nil, malformed(idx, field, "must not be an empty array")
	}
	out := make([]string, 0, len(n.vals))
	for i, v := range n.vals {
		s, ok := scalar(v)
		if !ok {
			return nil, malformed(idx, field+"["+strconv.Itoa(i)+"]", "must be a string")
		}
		out = append(out, s)
	}
	return out, nil
}

// parsePrefix reads a CIDR block or a single address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// jnode is a decoded JSON value that keeps object keys in order.
type jnode struct {
	kind jkind
	str  string   // string value, number text, "true"/"false"
	keys []string // object keys
	vals []*jnode // object values, array elements
}

type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

const maxJSONDepth = 32

// decodeJSON decodes exactly one JSON value, rejecting duplicate object keys
// (their meaning would be ambiguous) and trailing data.
func decodeJSON(doc []byte) (*jnode, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	n, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: data after the top-level value")
	}
	return n, nil
}

// jsonErr wraps a decoding error; the end of input inside a value is
// reported as unexpected.
func jsonErr(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

func decodeValue(dec *json.Decoder, depth int) (*jnode, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("invalid JSON: nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonErr(err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &jnode{kind: jObject}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, jsonErr(err)
				}
				k, _ := kt.(string)
				for _, seen := range n.keys {
					if seen == k {
						return nil, fmt.Errorf("invalid JSON: duplicate key %q", k)
					}
				}
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.keys, n.vals = append(n.keys, k), append(n.vals, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, jsonErr(err)
			}
			return n, nil
		case '[':
			n := &jnode{kind: jArray}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				n.vals = append(n.vals, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, jsonErr(err)
			}
			return n, nil
		}
		return nil, fmt.Errorf("invalid JSON: unexpected %q", t)
	case string:
		return &jnode{kind: jString, str: t}, nil
	case json.Number:
		return &jnode{kind: jNumber, str: t.String()}, nil
	case bool:
		return &jnode{kind: jBool, str: strconv.FormatBool(t)}, nil
	default:
		return &jnode{kind: jNull}, nil
	}
}
