package policy

import (
	"net/netip"
	"strings"
)

// op is a condition operator without its set qualifier and IfExists suffix.
type op uint8

const (
	opStringEquals op = iota + 1
	opStringNotEquals
	opStringEqualsIgnoreCase
	opStringNotEqualsIgnoreCase
	opStringLike
	opStringNotLike
	opBool
	opIPAddress
	opNotIPAddress
	opNull
)

var opNames = map[string]op{
	"StringEquals":              opStringEquals,
	"StringNotEquals":           opStringNotEquals,
	"StringEqualsIgnoreCase":    opStringEqualsIgnoreCase,
	"StringNotEqualsIgnoreCase": opStringNotEqualsIgnoreCase,
	"StringLike":                opStringLike,
	"StringNotLike":             opStringNotLike,
	"Bool":                      opBool,
	"IpAddress":                 opIPAddress,
	"NotIpAddress":              opNotIPAddress,
	"Null":                      opNull,
}

// negated reports whether o is the negation of a positive operator. Such an
// operator is true for a value when the positive one is false, and (IAM)
// true when the key is absent.
func (o op) negated() bool {
	switch o {
	case opStringNotEquals, opStringNotEqualsIgnoreCase, opStringNotLike, opNotIPAddress:
		return true
	}
	return false
}

func (o op) fold() bool {
	return o == opStringEqualsIgnoreCase || o == opStringNotEqualsIgnoreCase || o == opBool
}

func (o op) wild() bool { return o == opStringLike || o == opStringNotLike }

func (o op) ip() bool { return o == opIPAddress || o == opNotIPAddress }

// setOp is the ForAnyValue:/ForAllValues: qualifier.
type setOp uint8

const (
	setNone setOp = iota
	setAnyValue
	setAllValues
)

// condition is one (operator, key, values) triple of a Condition block. A
// statement's conditions are ANDed; the values of one condition are ORed.
type condition struct {
	operator string // as written, e.g. "ForAnyValue:StringLike"
	op       op
	set      setOp
	ifExists bool
	key      key
	raw      []string       // values as strings, as written
	values   []pattern      // string and Bool operators
	prefixes []netip.Prefix // IpAddress, NotIpAddress
	null     []bool         // Null: true means "key must be absent"
}

// parseOperator splits "ForAllValues:StringLikeIfExists" into its parts.
// Operator names are matched ignoring case (IAM is lenient here too).
func parseOperator(s string) (o op, set setOp, ifExists, ok bool) {
	name := s
	if r, ok := cutPrefixFold(name, "ForAnyValue:"); ok {
		set, name = setAnyValue, r
	} else if r, ok := cutPrefixFold(name, "ForAllValues:"); ok {
		set, name = setAllValues, r
	}
	if len(name) > len("IfExists") && strings.EqualFold(name[len(name)-len("IfExists"):], "IfExists") {
		ifExists, name = true, name[:len(name)-len("IfExists")]
	}
	for n, v := range opNames {
		if strings.EqualFold(n, name) {
			o = v
		}
	}
	if o == 0 || (o == opNull && (set != setNone || ifExists)) {
		return 0, 0, false, false
	}
	return o, set, ifExists, true
}

// eval evaluates c against ctx.
func (c *condition) eval(ctx *Context) bool {
	if c.op == opNull {
		_, _, _, present := c.key.values(ctx)
		if c.key.kind == keySourceIP {
			_, present = sourceAddr(ctx)
		}
		for _, wantAbsent := range c.null {
			if wantAbsent != present {
				return true
			}
		}
		return false
	}

	one, list, multi, ok := c.key.values(ctx)
	var addr netip.Addr
	if c.op.ip() && c.key.kind == keySourceIP {
		// Read the address directly rather than through its string form.
		addr, ok = sourceAddr(ctx)
		one, multi = "", false
	}
	if !ok {
		switch {
		case c.ifExists:
			return true
		case c.set == setAllValues:
			return true // IAM: ForAllValues over no values is vacuously true
		case c.set == setAnyValue:
			return false
		}
		return c.op.negated()
	}

	var single [1]string
	if !multi {
		single[0] = one
		list = single[:]
	}
	if addr.IsValid() {
		return c.test(ctx, addr, "")
	}
	switch c.set {
	case setAllValues:
		for _, v := range list {
			if !c.test(ctx, netip.Addr{}, v) {
				return false
			}
		}
		return true
	case setAnyValue:
		for _, v := range list {
			if c.test(ctx, netip.Addr{}, v) {
				return true
			}
		}
		return false
	}
	// No qualifier: a positive operator needs some value to match; a negated
	// one needs no value to match the positive operator.
	for _, v := range list {
		if c.positive(ctx, netip.Addr{}, v) {
			return !c.op.negated()
		}
	}
	return c.op.negated()
}

// test applies the operator (negation included) to one request value.
func (c *condition) test(ctx *Context, addr netip.Addr, v string) bool {
	return c.positive(ctx, addr, v) != c.op.negated()
}

// positive reports whether one request value (v, or addr when valid)
// matches any of the condition's values under the positive form of the
// operator.
func (c *condition) positive(ctx *Context, addr netip.Addr, v string) bool {
	if c.op.ip() {
		if !addr.IsValid() {
			a, err := netip.ParseAddr(v)
			if err != nil {
				return false
			}
			addr = a.Unmap()
		}
		for _, p := range c.prefixes {
			if p.Contains(addr) {
				return true
			}
		}
		return false
	}
	for i := range c.values {
		// ctx resolves variables in the condition's own values.
		if c.values[i].match(v, ctx, c.op.fold()) {
			return true
		}
	}
	return false
}
