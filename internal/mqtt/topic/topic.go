// Package topic owns MQTT topic names and topic filters: their syntax
// (ValidateName, ValidateFilter), shared subscriptions ("$share/{group}/..."),
// wildcard matching (Match), AWS IoT Core's size limits (Limits) and the
// broker's subscription index (Tree).
//
// It is a pure leaf: it imports only the standard library, knows nothing of
// sessions, packets or brokers, and may be imported by any package.
package topic

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxStringBytes is the longest string the MQTT wire format can carry.
const maxStringBytes = 65535

// sharePrefix starts every shared subscription filter.
const sharePrefix = "$share/"

// Error reports a topic name or filter that is malformed or too large.
type Error struct {
	// Reason says in words what is wrong, e.g. "topic has 9 slashes; the
	// limit is 7". It is safe to show to the client.
	Reason string
	// Limit is true when a size limit was broken (bytes, slashes, share name
	// length) and false for a syntax error.
	Limit bool
}

// Error returns the reason.
func (e *Error) Error() string { return e.Reason }

func syntaxError(reason string) error { return &Error{Reason: reason} }

// ValidateName checks a PUBLISH topic name per MQTT: non-empty, valid UTF-8,
// no U+0000, no wildcard ('+' or '#'), at most 65535 bytes. A failure is an
// *Error.
func ValidateName(name string) error {
	if name == "" {
		return syntaxError("topic name is empty")
	}
	if len(name) > maxStringBytes {
		return syntaxError("topic name is " + strconv.Itoa(len(name)) + " bytes; the maximum is 65535")
	}
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case 0:
			return syntaxError("topic name contains U+0000")
		case '+':
			return syntaxError("topic name contains the wildcard '+'")
		case '#':
			return syntaxError("topic name contains the wildcard '#'")
		}
	}
	if !utf8.ValidString(name) {
		return syntaxError("topic name is not valid UTF-8")
	}
	return nil
}

// ValidateFilter checks a SUBSCRIBE or UNSUBSCRIBE topic filter: non-empty,
// valid UTF-8, no U+0000, at most 65535 bytes, '#' only as the whole last
// level and '+' only as a whole level. A shared filter
// "$share/{group}/{filter}" is accepted when group is non-empty and has no
// '/', '+' or '#', and filter is a valid non-shared filter. A failure is an
// *Error.
func ValidateFilter(filter string) error {
	if filter == "" {
		return syntaxError("topic filter is empty")
	}
	if len(filter) > maxStringBytes {
		return syntaxError("topic filter is " + strconv.Itoa(len(filter)) + " bytes; the maximum is 65535")
	}
	if !utf8.ValidString(filter) {
		return syntaxError("topic filter is not valid UTF-8")
	}
	group, f, shared := ParseShared(filter)
	if shared {
		if group == "" {
			return syntaxError("shared subscription has an empty share name")
		}
		if strings.ContainsAny(group, "+#") {
			return syntaxError("share name contains a wildcard ('+' or '#')")
		}
		if strings.IndexByte(group, 0) >= 0 {
			return syntaxError("topic filter contains U+0000")
		}
		if f == "" {
			return syntaxError("shared subscription has no topic filter")
		}
	}
	start := 0 // index of the first byte of the current level
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case 0:
			return syntaxError("topic filter contains U+0000")
		case '/':
			start = i + 1
		case '+':
			if i != start || (i+1 < len(f) && f[i+1] != '/') {
				return syntaxError("topic filter has '+' that is not a whole level")
			}
		case '#':
			if i != start || i != len(f)-1 {
				return syntaxError("topic filter has '#' that is not the whole last level")
			}
		}
	}
	return nil
}

// ParseShared splits a shared subscription filter "$share/{group}/{filter}".
// For a filter that does not start with "$share/" it returns ok=false,
// group=="" and filter==s. A malformed shared filter still gives ok=true
// ("$share/g" yields group "g" and an empty filter); ValidateFilter rejects it.
func ParseShared(s string) (group, filter string, ok bool) {
	rest, ok := strings.CutPrefix(s, sharePrefix)
	if !ok {
		return "", s, false
	}
	group, filter, _ = strings.Cut(rest, "/")
	return group, filter, true
}

// Match reports whether a valid non-shared topic filter matches a valid topic
// name. '+' matches exactly one level, '#' matches the rest of the name
// including its parent level ("a/#" matches "a"), levels may be empty, and a
// filter starting with a wildcard never matches a name starting with '$'.
// It does not allocate.
func Match(filter, name string) bool {
	if name != "" && name[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		if f == "#" {
			return true
		}
		n, nrest, nmore := strings.Cut(name, "/")
		if f != "+" && f != n {
			return false
		}
		switch {
		case !fmore:
			return !nmore
		case !nmore:
			// The name has ended; only a trailing "#" matches the parent.
			return frest == "#"
		}
		filter, name = frest, nrest
	}
}
