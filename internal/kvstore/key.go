package kvstore

import (
	"errors"
	"strings"
)

// NATS KV keys are '.'-separated tokens of letters, digits and "-_=/". Thing
// names may hold ':' and topics anything, so each token is encoded: letters,
// digits, '-' and '_' stay as they are, every other byte becomes "=XX"
// (uppercase hex), and the empty string becomes a lone "=".

// Key joins encoded tokens into a key: Key("things", "my:thing") is
// "things.my=3Athing".
func Key(tokens ...string) string {
	var sb strings.Builder
	for i, t := range tokens {
		if i > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(EncodeToken(t))
	}
	return sb.String()
}

// EncodeToken encodes one key token.
func EncodeToken(s string) string {
	if s == "" {
		return "="
	}
	plain := true
	for i := 0; i < len(s); i++ {
		if !tokenSafe(s[i]) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	const hexDigits = "0123456789ABCDEF"
	var sb strings.Builder
	sb.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if tokenSafe(c) {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('=')
		sb.WriteByte(hexDigits[c>>4])
		sb.WriteByte(hexDigits[c&15])
	}
	return sb.String()
}

// errBadToken is returned for a token that EncodeToken cannot have produced.
var errBadToken = errors.New("kvstore: malformed key token")

// DecodeToken reverses EncodeToken.
func DecodeToken(t string) (string, error) {
	if t == "=" {
		return "", nil
	}
	if !strings.Contains(t, "=") {
		return t, nil
	}
	out := make([]byte, 0, len(t))
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c != '=' {
			if !tokenSafe(c) {
				return "", errBadToken
			}
			out = append(out, c)
			continue
		}
		if i+2 >= len(t) {
			return "", errBadToken
		}
		hi, ok1 := unhex(t[i+1])
		lo, ok2 := unhex(t[i+2])
		if !ok1 || !ok2 {
			return "", errBadToken
		}
		out = append(out, hi<<4|lo)
		i += 2
	}
	return string(out), nil
}

func tokenSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
