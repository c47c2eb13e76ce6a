package device

import (
	"errors"
	"fmt"
	"strconv"
)

var (
	// ErrClosed is returned by calls on a closed Client or Shadow.
	ErrClosed = errors.New("device: client closed")

	// ErrNotConnected is returned by Publish while the client is not
	// connected and its offline queue is disabled (Config.OfflineQueue -1).
	ErrNotConnected = errors.New("device: not connected")

	// ErrQueueFull matches a *QueueFullError with errors.Is.
	ErrQueueFull = errors.New("device: offline queue full")

	// ErrVersionConflict matches a *ShadowError with code 409: an update
	// named a version that is not the shadow's current one.
	ErrVersionConflict = errors.New("shadow: version conflict")

	// ErrShadowNotFound matches a *ShadowError with code 404: the shadow
	// does not exist (never created, or deleted).
	ErrShadowNotFound = errors.New("shadow: not found")
)

// QueueFullError is returned by Publish when the client is not connected
// and its offline queue already holds Config.OfflineQueue messages. The
// message was not queued.
type QueueFullError struct {
	Topic string // the topic of the message that was not queued
	Limit int    // Config.OfflineQueue
}

func (e *QueueFullError) Error() string {
	return fmt.Sprintf("device: publish %s: offline queue full (%d messages waiting for the connection)", e.Topic, e.Limit)
}

// Is makes errors.Is(err, ErrQueueFull) true.
func (e *QueueFullError) Is(target error) bool { return target == ErrQueueFull }

// ReasonError is an MQTT reason code of 0x80 or more in a server's
// acknowledgement: a PUBACK, SUBACK or UNSUBACK refusing the request (0x87
// not authorized when a policy does not allow it). MQTT 3.1.1 has only
// SUBACK's 0x80.
type ReasonError struct {
	Op     string // "publish", "subscribe" or "unsubscribe"
	Topic  string // topic or filter
	Code   byte
	Reason string // the server's reason string, if it sent one
}

func (e *ReasonError) Error() string {
	s := "device: " + e.Op + " " + e.Topic + ": refused, reason code 0x" + strconv.FormatUint(uint64(e.Code), 16)
	if n := reasonName(e.Code); n != "" {
		s += " " + n
	}
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// reasonName names the reason codes a device usually meets.
func reasonName(code byte) string {
	switch code {
	case 0x80:
		return "(unspecified error)"
	case 0x83:
		return "(implementation specific error)"
	case 0x87:
		return "(not authorized)"
	case 0x8F:
		return "(topic filter invalid)"
	case 0x90:
		return "(topic name invalid)"
	case 0x91:
		return "(packet identifier in use)"
	case 0x97:
		return "(quota exceeded)"
	case 0x99:
		return "(payload format invalid)"
	case 0x9E:
		return "(shared subscriptions not supported)"
	case 0xA1:
		return "(subscription identifiers not supported)"
	case 0xA2:
		return "(wildcard subscriptions not supported)"
	}
	return ""
}

// ShadowError is a Device Shadow service's rejection of a request, from a
// */rejected topic. errors.Is matches ErrVersionConflict for code 409 and
// ErrShadowNotFound for code 404.
type ShadowError struct {
	Op          string // "get", "update" or "delete"
	Thing       string
	ShadowName  string // "" for the classic shadow
	Code        int    // HTTP status: 400, 401, 403, 404, 409, 413, 429, 500...
	Message     string // the service's message, e.g. "Version conflict"
	ClientToken string
}

func (e *ShadowError) Error() string {
	return fmt.Sprintf("shadow: %s %s: %d %s", e.Op, shadowLabel(e.Thing, e.ShadowName), e.Code, e.Message)
}

// Is makes errors.Is match ErrVersionConflict (409) and ErrShadowNotFound
// (404).
func (e *ShadowError) Is(target error) bool {
	switch target {
	case ErrVersionConflict:
		return e.Code == 409
	case ErrShadowNotFound:
		return e.Code == 404
	}
	return false
}

// shadowLabel names a shadow in messages: thing, or thing/name.
func shadowLabel(thing, name string) string {
	if name == "" {
		return thing
	}
	return thing + "/" + name
}
