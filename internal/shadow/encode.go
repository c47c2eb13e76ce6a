package shadow

import (
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The JSON writer below renders state values (map[string]any, []any,
// string, json.Number, bool, nil) compactly, with object keys sorted and no
// HTML escaping, and numbers exactly as the client wrote them: IoT Core
// stores the document as JSON, and a json.Number keeps 1.0 as 1.0.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string literal. Only '"', '\\' and
// control characters are escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			if c < utf8.RuneSelf {
				i++
				continue
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendValue appends a decoded state value.
func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil, jsonNull:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, v)
	case json.Number:
		return append(b, v...)
	case string:
		return appendString(b, v)
	case []any:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, e)
		}
		return append(b, ']')
	case map[string]any:
		return appendObject(b, v, appendValue)
	}
	panic("shadow: unexpected value type") // unreachable: values come from decode
}

// appendMeta appends a metadata tree: an int64 leaf becomes
// {"timestamp":T}, an array of leaves one such object per element.
func appendMeta(b []byte, m any) []byte {
	switch m := m.(type) {
	case stamped:
		return appendStamped(b, m.v, m.ts)
	case int64:
		b = append(b, `{"timestamp":`...)
		b = strconv.AppendInt(b, m, 10)
		return append(b, '}')
	case []any:
		b = append(b, '[')
		for i, e := range m {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendMeta(b, e)
		}
		return append(b, ']')
	case map[string]any:
		return appendObject(b, m, appendMeta)
	}
	panic("shadow: unexpected metadata type")
}

// appendObject appends m with its keys sorted, each value written by elem.
func appendObject(b []byte, m map[string]any, elem func([]byte, any) []byte) []byte {
	b = append(b, '{')
	var buf [16]string
	for i, k := range sortedKeys(m, buf[:]) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = elem(b, m[k])
	}
	return append(b, '}')
}

// appendStamped appends the metadata of state value v with every leaf
// stamped ts: what appendMeta writes for the tree mergeObject would build,
// one {"timestamp":ts} per leaf and per array element.
func appendStamped(b []byte, v any, ts int64) []byte {
	switch v := v.(type) {
	case map[string]any:
		return appendObject(b, v, func(b []byte, c any) []byte { return appendStamped(b, c, ts) })
	case []any:
		b = append(b, '[')
		for i := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendMeta(b, ts)
		}
		return append(b, ']')
	}
	return appendMeta(b, ts)
}

// sortedKeys returns m's keys in order, in buf when they fit (a caller's
// array on its stack saves an allocation per object).
func sortedKeys(m map[string]any, buf []string) []string {
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// section is one optional key of an object being written in order.
type section struct {
	key string
	val any // written with appendValue or appendMeta
}

// appendSections writes {"k1":v1,...} skipping sections whose value is nil.
func appendSections(b []byte, meta bool, secs ...section) []byte {
	b = append(b, '{')
	first := true
	for _, s := range secs {
		if s.val == nil {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, s.key)
		b = append(b, ':')
		if meta {
			b = appendMeta(b, s.val)
		} else {
			b = appendValue(b, s.val)
		}
	}
	return append(b, '}')
}
