package policy

import (
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Context is what is known about the connection a request comes from. It
// supplies the values of policy variables (`${iot:ClientId}`) and condition
// keys (`iot:Connection.Thing.IsAttached`). An empty string or a nil map
// means "not known": a variable with no value is not substituted.
type Context struct {
	// ClientID is the MQTT client ID (`iot:ClientId`). It is substituted
	// literally: a client ID of `+` turns `topicfilter/my/${iot:ClientId}`
	// into the literal filter `my/+`, exactly as AWS IoT warns.
	ClientID string
	// CertificateID is the certificate ID, the hex SHA-256 of its DER
	// (`iot:CertificateId`).
	CertificateID string

	// ThingName is the registry thing associated with the connection
	// (`iot:Connection.Thing.ThingName`). The caller decides the association:
	// with a non-exclusive attachment AWS requires the client ID to equal the
	// thing name; with an exclusive one the single attached thing is used.
	// Empty means no thing, so thing variables do not resolve.
	ThingName string
	// ThingTypeName is the thing's type (`iot:Connection.Thing.ThingTypeName`).
	ThingTypeName string
	// ThingAttributes are the thing's attributes
	// (`iot:Connection.Thing.Attributes[name]`; names are case-sensitive).
	ThingAttributes map[string]string
	// IsAttached is `iot:Connection.Thing.IsAttached`: whether the thing named
	// by the client ID is attached to the certificate. It always has a value
	// ("true" or "false").
	IsAttached bool

	// Subject and Issuer hold the certificate's distinguished-name attributes
	// by AWS's attribute names: CommonName, Country, Organization,
	// OrganizationalUnit, State, SerialNumber, Title, Surname, GivenName,
	// Initials, Pseudonym, GenerationQualifier, DistinguishedNameQualifier.
	// Values keep certificate order; only the first five are considered.
	Subject, Issuer map[string][]string
	// SubjectAltNames and IssuerAltNames hold the alternative names by AWS's
	// names: RFC822Name, DNSName, DirectoryName, UniformResourceIdentifier,
	// IPAddress.
	SubjectAltNames, IssuerAltNames map[string][]string
	// SerialNumber is `iot:Certificate.SerialNumber`.
	SerialNumber string

	// SourceIP is the client's address (`aws:SourceIp`); nil if unknown.
	SourceIP net.IP
}

// keyKind says which part of a Context a variable or condition key reads.
type keyKind uint8

const (
	keyUnknown keyKind = iota
	keyClientID
	keyCertificateID
	keyThingName
	keyThingTypeName
	keyThingAttr
	keyIsAttached
	keyCertName    // iot:Certificate.{Subject,Issuer}.<Attr>
	keyCertAltName // iot:Certificate.{Subject,Issuer}.AlternativeName.<X>
	keyCertSerial
	keyAvailableKeys
	keySourceIP
)

// maxCertValues is how many values of a multi-valued certificate attribute
// AWS considers ("only the first 5 array items").
const maxCertValues = 5

// key is a parsed variable or condition-key name.
type key struct {
	kind   keyKind
	name   string // as written in the policy
	attr   string // thing attribute name, or canonical certificate attribute name
	issuer bool   // certificate issuer rather than subject
	index  int    // certificate attributes: which value (0 = first)
	list   bool   // certificate attributes: the `.List` form, all values
}

var certNameAttrs = []string{
	"DistinguishedNameQualifier", "Country", "Organization", "OrganizationalUnit", "State",
	"CommonName", "SerialNumber", "Title", "Surname", "GivenName", "Initials", "Pseudonym",
	"GenerationQualifier",
}

var certAltNameAttrs = []string{"RFC822Name", "DNSName", "DirectoryName", "UniformResourceIdentifier", "IPAddress"}

// cutPrefixFold is strings.CutPrefix ignoring ASCII case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// parseKey recognises the variables and condition keys of AWS IoT policies.
// Names are matched ignoring case, as IAM treats condition key names; thing
// attribute names are case-sensitive.
//
// UNCONFIRMED: whether IoT treats variable names case-insensitively (IAM does
// for condition keys). Unknown names give keyUnknown: as variables they stay
// literal text, as condition keys they are absent from every request.
//
// UNCONFIRMED: `${iot:Thing.ThingName}`, seen in older AWS examples, is not
// treated as an alias (the reference cannot confirm it), so it stays literal.
func parseKey(name string) key {
	k := key{name: name}
	switch {
	case strings.EqualFold(name, "iot:ClientId"):
		k.kind = keyClientID
	case strings.EqualFold(name, "iot:CertificateId"):
		k.kind = keyCertificateID
	case strings.EqualFold(name, "aws:SourceIp"):
		k.kind = keySourceIP
	case strings.EqualFold(name, "iot:Connection.Thing.ThingName"):
		k.kind = keyThingName
	case strings.EqualFold(name, "iot:Connection.Thing.ThingTypeName"):
		k.kind = keyThingTypeName
	case strings.EqualFold(name, "iot:Connection.Thing.IsAttached"):
		k.kind = keyIsAttached
	case strings.EqualFold(name, "iot:Certificate.SerialNumber"):
		k.kind = keyCertSerial
	case strings.EqualFold(name, "iot:Certificate.AvailableKeys"):
		k.kind = keyAvailableKeys
	default:
		if rest, ok := cutPrefixFold(name, "iot:Connection.Thing.Attributes["); ok {
			if attr, ok := strings.CutSuffix(rest, "]"); ok && attr != "" && !strings.ContainsAny(attr, "[]") {
				k.kind, k.attr = keyThingAttr, attr
			}
			return k
		}
		rest, ok := cutPrefixFold(name, "iot:Certificate.")
		if !ok {
			return k
		}
		if r, ok := cutPrefixFold(rest, "Issuer."); ok {
			k.issuer, rest = true, r
		} else if r, ok := cutPrefixFold(rest, "Subject."); ok {
			rest = r
		} else {
			return k
		}
		kind, attrs := keyCertName, certNameAttrs
		if r, ok := cutPrefixFold(rest, "AlternativeName."); ok {
			kind, attrs, rest = keyCertAltName, certAltNameAttrs, r
		}
		attr, sel, hasSel := strings.Cut(rest, ".")
		i := slices.IndexFunc(attrs, func(a string) bool { return strings.EqualFold(a, attr) })
		if i < 0 {
			return k
		}
		k.attr = attrs[i]
		if hasSel {
			switch n, err := strconv.Atoi(sel); {
			case strings.EqualFold(sel, "List"):
				k.list = true
			case err == nil && n >= 1 && n < maxCertValues && sel[0] != '+' && sel[0] != '-':
				// `.N` is 1-based past the first value: `.1` is the second
				// value. `.0` is not documented, so it is not recognised.
				k.index = n
			default:
				return key{name: name}
			}
		}
		k.kind = kind
	}
	return k
}

// certKind reports whether substitution of k follows the certificate rules.
func (k *key) certKind() bool {
	switch k.kind {
	case keyCertName, keyCertAltName, keyCertSerial:
		return true
	}
	return false
}

// values returns the value of k in ctx: one string, or (for `.List` and
// AvailableKeys) a list. ok is false when the key has no value.
func (k *key) values(ctx *Context) (one string, list []string, multi, ok bool) {
	if ctx == nil {
		return "", nil, false, false
	}
	switch k.kind {
	case keyClientID:
		one = ctx.ClientID
	case keyCertificateID:
		one = ctx.CertificateID
	case keyThingName:
		one = ctx.ThingName
	case keyThingTypeName:
		if ctx.ThingName != "" {
			one = ctx.ThingTypeName
		}
	case keyThingAttr:
		if ctx.ThingName != "" {
			one = ctx.ThingAttributes[k.attr]
		}
	case keyIsAttached:
		return strconv.FormatBool(ctx.IsAttached), nil, false, true
	case keyCertSerial:
		one = ctx.SerialNumber
	case keyCertName, keyCertAltName:
		m := ctx.Subject
		switch {
		case k.kind == keyCertName && k.issuer:
			m = ctx.Issuer
		case k.kind == keyCertAltName && !k.issuer:
			m = ctx.SubjectAltNames
		case k.kind == keyCertAltName:
			m = ctx.IssuerAltNames
		}
		vs := m[k.attr]
		if k.list {
			vs = vs[:min(len(vs), maxCertValues)]
			return "", vs, true, len(vs) > 0
		}
		if k.index < len(vs) {
			one = vs[k.index]
		}
	case keyAvailableKeys:
		list = availableKeys(ctx)
		return "", list, true, len(list) > 0
	case keySourceIP:
		if ctx.SourceIP != nil {
			one = ctx.SourceIP.String()
		}
	}
	return one, nil, false, one != ""
}

// sourceAddr returns ctx.SourceIP as a netip.Addr without allocating.
func sourceAddr(ctx *Context) (netip.Addr, bool) {
	if ctx == nil {
		return netip.Addr{}, false
	}
	a, ok := netip.AddrFromSlice(ctx.SourceIP)
	return a.Unmap(), ok
}

// availableKeys lists the names of the certificate variables that have a
// value, sorted.
func availableKeys(ctx *Context) []string {
	var out []string
	add := func(prefix string, m map[string][]string, attrs []string) {
		for _, a := range attrs {
			if len(m[a]) > 0 {
				out = append(out, prefix+a)
			}
		}
	}
	add("iot:Certificate.Subject.", ctx.Subject, certNameAttrs)
	add("iot:Certificate.Issuer.", ctx.Issuer, certNameAttrs)
	add("iot:Certificate.Subject.AlternativeName.", ctx.SubjectAltNames, certAltNameAttrs)
	add("iot:Certificate.Issuer.AlternativeName.", ctx.IssuerAltNames, certAltNameAttrs)
	if ctx.SerialNumber != "" {
		out = append(out, "iot:Certificate.SerialNumber")
	}
	slices.Sort(out)
	return out
}

// substitute returns the text that replaces the variable k in a pattern, and
// false if the variable is not replaced (it then stays as literal `${...}`).
//
// Multi-valued forms (`.List`, AvailableKeys) are never substituted. For
// certificate variables the reference's rules apply: a value containing any
// of `*$+?#` or longer than 1024 characters is not substituted, and `,` `"`
// `\` `+` `=` `<` `>` `;` are backslash-escaped. Every other value (the
// client ID included) is substituted as is; the caller matches it literally.
func (k *key) substitute(ctx *Context) (string, bool) {
	one, _, multi, ok := k.values(ctx)
	if !ok || multi {
		return "", false
	}
	if !k.certKind() {
		return one, true
	}
	if strings.ContainsAny(one, "*$+?#") || utf8.RuneCountInString(one) > 1024 {
		return "", false
	}
	const special = ",\"\\+=<>;"
	if !strings.ContainsAny(one, special) {
		return one, true
	}
	var b strings.Builder
	for _, r := range one {
		if strings.ContainsRune(special, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String(), true
}
