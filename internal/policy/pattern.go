package policy

import (
	"strings"
	"unicode/utf8"
)

// tokKind is the kind of one compiled pattern token.
type tokKind uint8

const (
	tokLit   tokKind = iota // literal text
	tokStar                 // `*`: any run of characters, `/` and `:` included
	tokQuest                // `?`: exactly one character
	tokVar                  // a policy variable; text is its literal `${...}` form
)

type token struct {
	kind tokKind
	text string
	key  *key // tokVar only
}

// pattern is a compiled resource, action or condition-value string.
type pattern struct {
	raw  string
	toks []token
	vars bool // has at least one tokVar
}

// compilePattern compiles s. With wild, `*` and `?` are wildcards; without,
// they are literal (StringEquals values). With vars, `${name}` is a policy
// variable and `${*}`, `${?}` and `${$}` are the literal characters `*`, `?`
// and `$` (IAM's spelling).
//
// UNCONFIRMED: the IoT guide writes the escapes as `$(*)`, `$(?)`, `$($)`;
// the reference takes that for a typo of IAM's `${*}` form, so `$(` has no
// special meaning here. A `$` is only special before `{`, and `${` with no
// closing `}` is literal text.
func compilePattern(s string, wild, vars bool) pattern {
	p := pattern{raw: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			p.toks = append(p.toks, token{kind: tokLit, text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case vars && c == '$' && strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				lit.WriteString("${")
				i += 2
				continue
			}
			name := s[i+2 : i+2+end]
			text := s[i : i+3+end]
			i += 3 + end
			switch name {
			case "*", "?", "$":
				lit.WriteString(name)
				continue
			}
			k := parseKey(name)
			if k.kind == keyUnknown {
				lit.WriteString(text)
				continue
			}
			flush()
			p.toks = append(p.toks, token{kind: tokVar, text: text, key: &k})
			p.vars = true
		case wild && c == '*':
			flush()
			if n := len(p.toks); n == 0 || p.toks[n-1].kind != tokStar {
				p.toks = append(p.toks, token{kind: tokStar})
			}
			i++
		case wild && c == '?':
			flush()
			p.toks = append(p.toks, token{kind: tokQuest})
			i++
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return p
}

// bind returns p with its variables replaced by ctx's values as literal text
// (or their `${...}` text where they do not resolve).
func (p *pattern) bind(ctx *Context) pattern {
	if !p.vars {
		return *p
	}
	out := pattern{raw: p.raw}
	for _, t := range p.toks {
		if t.kind == tokVar {
			t = token{kind: tokLit, text: t.literal(ctx)}
		}
		if n := len(out.toks); t.kind == tokLit && n > 0 && out.toks[n-1].kind == tokLit {
			out.toks[n-1].text += t.text
			continue
		}
		out.toks = append(out.toks, t)
	}
	return out
}

// unresolvable starts the text an unresolved variable stands for. AWS leaves
// the literal ${...} text in place (reference: "might cause authorization
// failure"), which lets a client whose request literally contains that
// text match it: a client id or topic "${iot:Connection.Thing.ThingName}"
// would pass a thing policy for a certificate with no thing. A NUL byte
// can be in no client id, topic or ARN, so here such a resource matches
// nothing: the statement cannot apply, as the reference intends ("in
// practice that Allow never matches").
const unresolvable = "\x00"

// literal is the text a literal or variable token stands for in ctx.
func (t *token) literal(ctx *Context) string {
	if t.kind == tokVar {
		if v, ok := t.key.substitute(ctx); ok {
			return v
		}
		return unresolvable + t.text
	}
	return t.text
}

// hasPrefix reports whether s starts with prefix, ignoring case if fold.
func hasPrefix(s, prefix string, fold bool) bool {
	if len(s) < len(prefix) {
		return false
	}
	if fold {
		return strings.EqualFold(s[:len(prefix)], prefix)
	}
	return s[:len(prefix)] == prefix
}

// match reports whether the whole of s matches p, with variables resolved in
// ctx. It backtracks only to the last `*`, so it runs in O(len(p)·len(s))
// and does not allocate (except when a certificate variable needs escaping).
// With fold, literal text is compared ignoring case.
func (p *pattern) match(s string, ctx *Context, fold bool) bool {
	toks := p.toks
	ti, si := 0, 0
	starTi, starSi := -1, 0
	for {
		if ti < len(toks) {
			t := &toks[ti]
			switch t.kind {
			case tokStar:
				starTi, starSi = ti, si
				ti++
				continue
			case tokQuest:
				if si < len(s) {
					_, n := utf8.DecodeRuneInString(s[si:])
					si += n
					ti++
					continue
				}
			default:
				if lit := t.literal(ctx); hasPrefix(s[si:], lit, fold) {
					si += len(lit)
					ti++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		if starTi < 0 || starSi >= len(s) {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starSi:])
		starSi += n
		ti, si = starTi+1, starSi
	}
}
