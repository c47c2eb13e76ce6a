package shadow

import (
	"fmt"
	"strconv"
)

// Error is a shadow API error as AWS IoT Core reports it on */rejected
// topics and in HTTP error bodies. Code is the HTTP status; Message is the
// exact AWS wire text, which is why messages here are capitalised, unlike
// thingcore's internal errors.
type Error struct {
	Code    int
	Message string
	// ClientToken is the request's clientToken when it could be read, so the
	// rejection can echo it (reference §1.9). Empty when absent.
	ClientToken string
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("shadow: %d %s", e.Code, e.Message) }

// JSON returns the */rejected document:
// {"code":409,"message":"Version conflict","clientToken":"..."}.
// The optional "timestamp" is left out: real 404 and 409 responses from IoT
// Core carry none (reference §1.9).
func (e *Error) JSON() []byte {
	b := []byte(`{"code":`)
	b = strconv.AppendInt(b, int64(e.Code), 10)
	b = append(b, `,"message":`...)
	b = appendString(b, e.Message)
	if e.ClientToken != "" {
		b = append(b, `,"clientToken":`...)
		b = appendString(b, e.ClientToken)
	}
	return append(b, '}')
}

// withToken returns a copy of e carrying clientToken.
func (e *Error) withToken(clientToken string) *Error {
	c := *e
	c.ClientToken = clientToken
	return &c
}

// The AWS error catalogue (reference §1.9). Messages are exact wire strings.
const (
	MsgInvalidJSON        = "Invalid JSON"
	MsgMissingPayload     = "Missing update payload"
	MsgMissingState       = "Missing required node: state"
	MsgStateNotObject     = "State node must be an object"
	MsgDesiredNotObject   = "Desired node must be an object"
	MsgReportedNotObject  = "Reported node must be an object"
	MsgInvalidVersion     = "Invalid version"
	MsgInvalidClientToken = "Invalid clientToken"
	// MsgTooDeep keeps AWS's documented text even when Limits.MaxDepth is
	// not 6 (reference §5.1: UNCONFIRMED, keep the message text).
	MsgTooDeep         = "JSON contains too many levels of nesting; maximum is 6"
	MsgInvalidNode     = "State contains an invalid node: '%s'"
	MsgVersionConflict = "Version conflict"
	MsgTooLarge        = "The payload exceeds the maximum size allowed"
	MsgUnsupportedEnc  = "Unsupported documented encoding; supported encoding is UTF-8"
	MsgNotFound        = "No shadow exists with name: '%s'"
	MsgUnauthorized    = "Unauthorized"
	MsgForbidden       = "Forbidden"
	MsgInternalFailure = "Internal service failure"
)

func badRequest(msg string) *Error { return &Error{Code: 400, Message: msg} }

// NotFound returns the 404 for a missing shadow. name is the thing name for
// a classic shadow; for a named shadow the reference's suggested default
// (§1.9, §5.2, UNCONFIRMED) is "thingName~shadowName".
func NotFound(name string) *Error {
	return &Error{Code: 404, Message: fmt.Sprintf(MsgNotFound, name)}
}
