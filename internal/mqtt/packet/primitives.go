package packet

import (
	"bytes"
	"fmt"
	"unicode/utf8"
	"unsafe"
)

// errorf builds the *Error returned by the decoder. It runs only on the error
// path, so its allocations never touch a well-formed packet.
func errorf(code ReasonCode, format string, args ...any) *Error {
	return &Error{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// cursor walks a packet body. Every read consumes from the front of b; a
// short read is a MalformedPacket naming the packet type and the field.
type cursor struct {
	b  []byte
	pt Type
}

func (c *cursor) truncated(what string) error {
	return errorf(MalformedPacket, "%s: truncated %s", c.pt, what)
}

func (c *cursor) readByte(what string) (byte, error) {
	if len(c.b) < 1 {
		return 0, c.truncated(what)
	}
	v := c.b[0]
	c.b = c.b[1:]
	return v, nil
}

func (c *cursor) readUint16(what string) (uint16, error) {
	if len(c.b) < 2 {
		return 0, c.truncated(what)
	}
	v := uint16(c.b[0])<<8 | uint16(c.b[1])
	c.b = c.b[2:]
	return v, nil
}

func (c *cursor) readUint32(what string) (uint32, error) {
	if len(c.b) < 4 {
		return 0, c.truncated(what)
	}
	v := uint32(c.b[0])<<24 | uint32(c.b[1])<<16 | uint32(c.b[2])<<8 | uint32(c.b[3])
	c.b = c.b[4:]
	return v, nil
}

// readPacketID reads a packet identifier, which must not be zero wherever
// the protocol carries one.
func (c *cursor) readPacketID() (uint16, error) {
	id, err := c.readUint16("packet identifier")
	if err != nil {
		return 0, err
	}
	if id == 0 {
		return 0, errorf(MalformedPacket, "%s: packet identifier must be non-zero", c.pt)
	}
	return id, nil
}

// readVarint reads a variable byte integer (at most 4 bytes).
func (c *cursor) readVarint(what string) (uint32, error) {
	var v uint32
	for i := 0; i < 4; i++ {
		if i >= len(c.b) {
			return 0, c.truncated(what)
		}
		b := c.b[i]
		v |= uint32(b&0x7F) << (7 * i)
		if b&0x80 == 0 {
			c.b = c.b[i+1:]
			return v, nil
		}
	}
	return 0, errorf(MalformedPacket, "%s: %s is a variable byte integer longer than 4 bytes", c.pt, what)
}

// readBinary reads two-byte-length-prefixed binary data. The result aliases
// the body; an empty value is returned as nil.
func (c *cursor) readBinary(what string) ([]byte, error) {
	if len(c.b) < 2 {
		return nil, c.truncated(what)
	}
	n := int(c.b[0])<<8 | int(c.b[1])
	c.b = c.b[2:]
	if n > len(c.b) {
		return nil, c.truncated(what)
	}
	if n == 0 {
		return nil, nil
	}
	v := c.b[:n:n]
	c.b = c.b[n:]
	return v, nil
}

// readString reads a UTF-8 encoded string and validates it: well-formed
// UTF-8 (no surrogates) and no U+0000. The result aliases the body through
// unsafe.String, so it is only valid while the body is not modified.
func (c *cursor) readString(what string) (string, error) {
	b, err := c.readBinary(what)
	if err != nil {
		return "", err
	}
	if !validUTF8(b) {
		return "", errorf(MalformedPacket, "%s: %s is not valid UTF-8 or contains U+0000", c.pt, what)
	}
	return aliasString(b), nil
}

// aliasString returns b as a string without copying.
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// rest returns what is left of the body, nil if nothing, and consumes it.
func (c *cursor) rest() []byte {
	if len(c.b) == 0 {
		return nil
	}
	v := c.b
	c.b = nil
	return v
}

// end reports trailing bytes after a fully parsed packet.
func (c *cursor) end() error {
	if len(c.b) != 0 {
		return errorf(MalformedPacket, "%s: %d unexpected bytes after the end of the packet", c.pt, len(c.b))
	}
	return nil
}

// validUTF8 reports whether b is an MQTT UTF-8 encoded string: well-formed
// UTF-8 without U+0000 (MQTT-1.5.4-1, MQTT-1.5.4-2). ASCII takes the fast path.
func validUTF8(b []byte) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == 0 {
			return false
		}
		if c >= utf8.RuneSelf {
			rest := b[i:]
			return utf8.Valid(rest) && bytes.IndexByte(rest, 0) < 0
		}
	}
	return true
}

// varintLen is the encoded size of a variable byte integer.
func varintLen(v int) int {
	switch {
	case v < 1<<7:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<21:
		return 3
	default:
		return 4
	}
}

func appendVarint(dst []byte, v int) []byte {
	for {
		b := byte(v & 0x7F)
		v >>= 7
		if v == 0 {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}

func appendUint16(dst []byte, v uint16) []byte {
	return append(dst, byte(v>>8), byte(v))
}

func appendUint32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func appendString(dst []byte, s string) []byte {
	dst = appendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

func appendBinary(dst []byte, b []byte) []byte {
	dst = appendUint16(dst, uint16(len(b)))
	return append(dst, b...)
}

// encodeError is returned by Append for a packet that cannot be put on the
// wire.
func encodeError(pt Type, format string, args ...any) error {
	return fmt.Errorf("mqtt packet: encode %s: %s", pt, fmt.Sprintf(format, args...))
}

// checkLen verifies that a string or binary field fits its two-byte length
// prefix.
func checkLen(pt Type, what string, n int) error {
	if n > 0xFFFF {
		return encodeError(pt, "%s is %d bytes, more than 65535", what, n)
	}
	return nil
}
