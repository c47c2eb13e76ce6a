package shadowsvc

import (
	"strings"

	"github.com/thingcore/thingcore/internal/shadow"
)

// requestFilters are the in-process subscriptions that bring device
// requests to the service: the classic shadow's P/{op} and a named shadow's
// P/name/{shadow}/{op}. Response topics have one more level and never match.
var requestFilters = []string{
	"$aws/things/+/shadow/+",
	"$aws/things/+/shadow/name/+/+",
}

// Limits on names (reference §1.1, botocore): thing names 1–128 characters,
// shadow names 1–64.
const (
	maxThingName  = 128
	maxShadowName = 64
)

// op is a shadow operation.
type op uint8

const (
	opGet op = iota + 1
	opUpdate
	opDelete
)

func (o op) String() string {
	switch o {
	case opGet:
		return "get"
	case opUpdate:
		return "update"
	case opDelete:
		return "delete"
	}
	return "unknown"
}

// shadowID names one shadow; name is "" for the classic shadow.
type shadowID struct {
	thing, name string
}

func (id shadowID) String() string {
	if id.name == "" {
		return id.thing
	}
	return id.thing + "~" + id.name
}

// notFoundName is the name AWS quotes in "No shadow exists with name: '…'":
// the thing name for a classic shadow; for a named shadow the reference's
// suggested default thing~shadow (§1.9, §5.2: UNCONFIRMED).
func (id shadowID) notFoundName() string { return id.String() }

// prefix is $aws/things/{thing}/shadow[/name/{shadow}].
func (id shadowID) prefix() string {
	if id.name == "" {
		return "$aws/things/" + id.thing + "/shadow"
	}
	return "$aws/things/" + id.thing + "/shadow/name/" + id.name
}

// validate checks the names against AWS's limits. Topic levels cannot hold
// wildcards or '/', so MQTT requests only fail on length; API callers may
// pass anything.
func (id shadowID) validate() *shadow.Error {
	if id.thing == "" || len(id.thing) > maxThingName || !validName(id.thing) || strings.Contains(id.thing, "$") {
		return &shadow.Error{Code: 400, Message: "Invalid thing name"}
	}
	if id.name != "" && (len(id.name) > maxShadowName || !validName(id.name)) {
		return &shadow.Error{Code: 400, Message: "Invalid shadow name"}
	}
	return nil
}

// validName reports whether s matches [$a-zA-Z0-9:_-]+ (botocore's
// ShadowName; thing names use the same set without '$').
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == ':' || c == '_' || c == '-' || c == '$':
		default:
			return false
		}
	}
	return s != ""
}

// parseRequestTopic splits a request topic into the shadow and the
// operation. ok is false for topics that are not shadow requests.
func parseRequestTopic(t string) (id shadowID, o op, ok bool) {
	rest, found := strings.CutPrefix(t, "$aws/things/")
	if !found {
		return id, 0, false
	}
	thing, rest, found := strings.Cut(rest, "/")
	if !found || thing == "" {
		return id, 0, false
	}
	rest, found = strings.CutPrefix(rest, "shadow/")
	if !found {
		return id, 0, false
	}
	id.thing = thing
	if named, isNamed := strings.CutPrefix(rest, "name/"); isNamed {
		name, opName, found := strings.Cut(named, "/")
		if !found || name == "" {
			return id, 0, false
		}
		id.name, rest = name, opName
	}
	switch rest {
	case "get":
		return id, opGet, true
	case "update":
		return id, opUpdate, true
	case "delete":
		return id, opDelete, true
	}
	return id, 0, false
}
