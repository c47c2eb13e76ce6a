package shadow

import (
	"encoding/json"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONNesting is encoding/json's limit on nested arrays and objects
// (maxNestingDepth in encoding/json/scanner.go): 10000 levels are accepted,
// the 10001st opening bracket is an error.
const maxJSONNesting = 10000

// jsonSyntaxError is a parseValue error; off is the byte offset in the
// input where parsing stopped.
type jsonSyntaxError struct {
	off int
	msg string
}

func (e *jsonSyntaxError) Error() string {
	return "invalid JSON at offset " + strconv.Itoa(e.off) + ": " + e.msg
}

// jsonKV is an object member waiting on the parser's scratch stack.
type jsonKV struct {
	key string
	val any
}

// jsonParser is the state of one parseValue call.
type jsonParser struct {
	b     []byte
	depth int // open arrays and objects
	// Scratch stacks shared by all nesting levels: a container's members
	// are collected here and copied into a value of exactly the right size,
	// so slices and maps never grow (and leave garbage) while parsing.
	elems []any
	kvs   []jsonKV
	str   []byte // unescaped string being built
}

// parseValue parses exactly one JSON value in b (surrounding whitespace
// allowed, nothing else after it) into the same Go values that
// encoding/json's Decoder with UseNumber() produces when decoding into any:
// map[string]any, []any, string, json.Number, bool, nil. It accepts exactly
// the inputs json.Valid accepts, including its nesting limit of 10000.
// Strings are decoded as encoding/json does: invalid UTF-8 bytes and lone
// UTF-16 surrogates become U+FFFD. Of duplicate object keys the last wins.
func parseValue(b []byte) (any, error) {
	p := jsonParsers.Get().(*jsonParser)
	defer p.release()
	p.b = b
	v, i, err := p.value(skipJSONSpace(b, 0))
	if err != nil {
		return nil, err
	}
	if i = skipJSONSpace(b, i); i != len(b) {
		return nil, p.errorf(i, "after top-level value")
	}
	return v, nil
}

// jsonParsers keeps parsers, with their scratch stacks, between calls.
var jsonParsers = sync.Pool{New: func() any { return new(jsonParser) }}

// maxPooledScratch bounds the scratch a pooled parser keeps, in elements or
// bytes, so that one huge document does not pin memory.
const maxPooledScratch = 1024

// release clears p and returns it to jsonParsers.
func (p *jsonParser) release() {
	if cap(p.elems) > maxPooledScratch || cap(p.kvs) > maxPooledScratch || cap(p.str) > 16*maxPooledScratch {
		return
	}
	clear(p.elems) // left over when parsing failed
	clear(p.kvs)
	*p = jsonParser{elems: p.elems[:0], kvs: p.kvs[:0], str: p.str[:0]}
	jsonParsers.Put(p)
}

func (p *jsonParser) errorf(off int, context string) error {
	if off >= len(p.b) {
		return &jsonSyntaxError{off: off, msg: "unexpected end of input " + context}
	}
	return &jsonSyntaxError{off: off, msg: "invalid character " + strconv.QuoteRuneToASCII(rune(p.b[off])) + " " + context}
}

// isJSONSpace is JSON's whitespace: space, tab, newline, carriage return.
func isJSONSpace(c byte) bool {
	return c <= ' ' && (c == ' ' || c == '\t' || c == '\n' || c == '\r')
}

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

// value parses the value starting at b[i] (not whitespace) and returns it
// with the offset just after it.
func (p *jsonParser) value(i int) (any, int, error) {
	b := p.b
	if i >= len(b) {
		return nil, i, p.errorf(i, "looking for beginning of value")
	}
	switch c := b[i]; {
	case c == '{':
		return p.object(i)
	case c == '[':
		return p.array(i)
	case c == '"':
		s, j, err := p.string(i)
		if err != nil {
			return nil, j, err
		}
		return s, j, nil
	case c == '-' || '0' <= c && c <= '9':
		return p.number(i)
	case c == 't':
		if len(b)-i >= 4 && string(b[i:i+4]) == "true" {
			return true, i + 4, nil
		}
	case c == 'f':
		if len(b)-i >= 5 && string(b[i:i+5]) == "false" {
			return false, i + 5, nil
		}
	case c == 'n':
		if len(b)-i >= 4 && string(b[i:i+4]) == "null" {
			return nil, i + 4, nil
		}
	}
	return nil, i, p.errorf(i, "looking for beginning of value")
}

func (p *jsonParser) object(i int) (any, int, error) {
	base := len(p.kvs)
	i, err := p.members(i, func(key string, i int) (int, error) {
		v, j, err := p.value(i)
		if err == nil {
			p.kvs = append(p.kvs, jsonKV{key, v})
		}
		return j, err
	})
	if err != nil {
		return nil, i, err
	}
	kvs := p.kvs[base:]
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.key] = kv.val // a later duplicate wins, as in encoding/json
	}
	clear(kvs) // the pool must not keep parsed values alive
	p.kvs = p.kvs[:base]
	return m, i, nil
}

// members parses the object starting at b[i] ('{'), calling member with
// each key, in document order (duplicates included), and the offset of its
// value; member parses the value (with value or members) and returns the
// offset just after it. It returns the offset after the object.
func (p *jsonParser) members(i int, member func(key string, i int) (int, error)) (int, error) {
	b := p.b
	if p.depth++; p.depth > maxJSONNesting {
		return i, &jsonSyntaxError{off: i, msg: "exceeded max depth"}
	}
	i = skipJSONSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		p.depth--
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, p.errorf(i, "looking for beginning of object key string")
		}
		k, j, err := p.string(i)
		if err != nil {
			return j, err
		}
		if i = skipJSONSpace(b, j); i >= len(b) || b[i] != ':' {
			return i, p.errorf(i, "after object key")
		}
		if j, err = member(k, skipJSONSpace(b, i+1)); err != nil {
			return j, err
		}
		if i = skipJSONSpace(b, j); i < len(b) && b[i] == ',' {
			i = skipJSONSpace(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			p.depth--
			return i + 1, nil
		}
		return i, p.errorf(i, "after object key:value pair")
	}
}

// parseObjectMembers parses b, which must hold exactly one JSON object
// (whitespace around it allowed), calling member for each of its members
// as members does; member gets the parser to parse the value with. It
// fails, as parseValue would, on anything that is not valid JSON, and on
// valid JSON that is not an object (notObject).
func parseObjectMembers(b []byte, member func(p *jsonParser, key string, i int) (int, error)) (notObject bool, err error) {
	p := jsonParsers.Get().(*jsonParser)
	defer p.release()
	p.b = b
	i := skipJSONSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		_, i, err = p.value(i)
		if err == nil {
			if i = skipJSONSpace(b, i); i != len(b) {
				return false, p.errorf(i, "after top-level value")
			}
		}
		return err == nil, err
	}
	if i, err = p.members(i, func(key string, i int) (int, error) { return member(p, key, i) }); err != nil {
		return false, err
	}
	if i = skipJSONSpace(b, i); i != len(b) {
		return false, p.errorf(i, "after top-level value")
	}
	return false, nil
}

func (p *jsonParser) array(i int) (any, int, error) {
	b := p.b
	if p.depth++; p.depth > maxJSONNesting {
		return nil, i, &jsonSyntaxError{off: i, msg: "exceeded max depth"}
	}
	i = skipJSONSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		p.depth--
		return []any{}, i + 1, nil // not nil: encoding/json makes an empty slice
	}
	base := len(p.elems)
	for {
		v, j, err := p.value(i)
		if err != nil {
			return nil, j, err
		}
		p.elems = append(p.elems, v)
		if i = skipJSONSpace(b, j); i < len(b) && b[i] == ',' {
			i = skipJSONSpace(b, i+1)
			continue
		}
		if i < len(b) && b[i] == ']' {
			i++
			break
		}
		return nil, i, p.errorf(i, "after array element")
	}
	a := make([]any, len(p.elems)-base)
	copy(a, p.elems[base:])
	clear(p.elems[base:])
	p.elems = p.elems[:base]
	p.depth--
	return a, i, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// number parses -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and keeps
// its text.
func (p *jsonParser) number(i int) (any, int, error) {
	b := p.b
	start := i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return nil, i, p.errorf(i, "in numeric literal")
	}
	if i < len(b) && b[i] == '.' {
		if i++; i >= len(b) || !isDigit(b[i]) {
			return nil, i, p.errorf(i, "after decimal point in numeric literal")
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return nil, i, p.errorf(i, "in exponent of numeric literal")
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	return json.Number(b[start:i]), i, nil
}

// plainStringByte marks the ASCII bytes that stand for themselves inside a
// JSON string: all but the quote, the backslash and control characters.
var plainStringByte = func() (t [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// string parses the string literal starting at the quote b[i].
func (p *jsonParser) string(i int) (string, int, error) {
	b := p.b
	i++
	start := i
	// Fast path: no escapes and valid UTF-8, so the bytes are the string.
	for i < len(b) {
		c := b[i]
		if c < utf8.RuneSelf {
			if !plainStringByte[c] {
				break
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	if i < len(b) && b[i] == '"' {
		return string(b[start:i]), i + 1, nil
	}
	return p.unescape(start, i)
}

// unescape finishes the string begun at b[start], whose first special byte
// is b[i], decoding escapes as encoding/json's unquote does.
func (p *jsonParser) unescape(start, i int) (string, int, error) {
	b := p.b
	out := append(p.str[:0], b[start:i]...)
	for {
		if i >= len(b) {
			return "", i, p.errorf(i, "in string literal")
		}
		switch c := b[i]; {
		case c == '"':
			p.str = out
			return string(out), i + 1, nil
		case c == '\\':
			if i+1 >= len(b) {
				return "", i + 1, p.errorf(i+1, "in string escape code")
			}
			switch e := b[i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(b, i+2)
				if !ok {
					return "", i, &jsonSyntaxError{off: i, msg: `invalid \u escape in string literal`}
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// A pair is consumed whole; anything else makes the
					// first half U+FFFD and leaves what follows alone.
					r2, ok := rune(-1), false
					if len(b)-i >= 6 && b[i] == '\\' && b[i+1] == 'u' {
						r2, ok = hex4(b, i+2)
					}
					if d := utf16.DecodeRune(r, r2); ok && d != utf8.RuneError {
						r = d
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				out = utf8.AppendRune(out, r)
				continue
			default:
				return "", i + 1, p.errorf(i+1, "in string escape code")
			}
			i += 2
		case c < ' ':
			return "", i, p.errorf(i, "in string literal")
		case c < utf8.RuneSelf:
			j := i + 1
			for j < len(b) && b[j] < utf8.RuneSelf && plainStringByte[b[j]] {
				j++
			}
			out = append(out, b[i:j]...)
			i = j
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError) // as encoding/json
			} else {
				out = append(out, b[i:i+size]...)
			}
			i += size
		}
	}
}

// hex4 decodes the four hex digits at b[i:i+4].
func hex4(b []byte, i int) (rune, bool) {
	if len(b)-i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
