package topic

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// ingestPrefix starts an AWS IoT Basic Ingest topic, "$aws/rules/{ruleName}/".
const ingestPrefix = "$aws/rules/"

// Limits are AWS IoT Core's size limits on topics. A zero field takes its
// default; a negative field turns that check off.
type Limits struct {
	// MaxBytes is the longest topic name or filter, in bytes of UTF-8.
	// The Basic Ingest prefix "$aws/rules/{ruleName}/" of a name and the
	// "$share/{group}/" prefix of a filter are not counted. Default 256.
	MaxBytes int
	// MaxSlashes is the most '/' separators in a topic name or filter (so
	// MaxSlashes+1 levels), not counting those of the two prefixes above.
	// Default 7.
	MaxSlashes int
	// MaxShareName is the longest share name of a shared subscription, in
	// UTF-8 characters. Default 128.
	MaxShareName int
}

// DefaultLimits returns AWS IoT Core's limits: 256 bytes, 7 slashes and a
// share name of 128 characters.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 256, MaxSlashes: 7, MaxShareName: 128}
}

// withDefaults fills zero fields with their defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBytes == 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxSlashes == 0 {
		l.MaxSlashes = d.MaxSlashes
	}
	if l.MaxShareName == 0 {
		l.MaxShareName = d.MaxShareName
	}
	return l
}

// CheckName checks a topic name against the byte and slash limits, after
// removing a Basic Ingest prefix "$aws/rules/{ruleName}/". It does not check
// syntax (see ValidateName). A failure is an *Error with Limit set.
func (l Limits) CheckName(name string) error {
	if rest, ok := strings.CutPrefix(name, ingestPrefix); ok {
		if _, after, found := strings.Cut(rest, "/"); found {
			name = after
		}
	}
	return l.withDefaults().check("topic", name)
}

// CheckFilter checks a topic filter against the byte and slash limits, and
// the share name of a shared filter against MaxShareName. The
// "$share/{group}/" prefix is not counted toward the byte and slash limits.
// It does not check syntax (see ValidateFilter). A failure is an *Error with
// Limit set.
func (l Limits) CheckFilter(filter string) error {
	l = l.withDefaults()
	group, f, shared := ParseShared(filter)
	if shared && l.MaxShareName > 0 {
		if n := utf8.RuneCountInString(group); n > l.MaxShareName {
			return &Error{Limit: true, Reason: "share name has " + strconv.Itoa(n) +
				" characters; the limit is " + strconv.Itoa(l.MaxShareName)}
		}
	}
	return l.check("topic filter", f)
}

// check applies the byte and slash limits to s, calling it what in errors.
func (l Limits) check(what, s string) error {
	if l.MaxBytes > 0 && len(s) > l.MaxBytes {
		return &Error{Limit: true, Reason: what + " has " + strconv.Itoa(len(s)) +
			" bytes; the limit is " + strconv.Itoa(l.MaxBytes)}
	}
	if l.MaxSlashes > 0 {
		if n := strings.Count(s, "/"); n > l.MaxSlashes {
			return &Error{Limit: true, Reason: what + " has " + strconv.Itoa(n) +
				" slashes; the limit is " + strconv.Itoa(l.MaxSlashes)}
		}
	}
	return nil
}
