package packet

import (
	"errors"
	"slices"
)

// Append encodes p for the given protocol version and appends it to dst.
//
// version Version5 selects MQTT 5; anything else MQTT 3.1.1, for which the
// v5-only fields (properties, reason codes of acks and DISCONNECT) are not
// written. CONNECT uses its own ProtocolVersion (or version if that is 0)
// and ProtocolName (or the name that goes with the level if empty).
//
// Properties: exactly the single-valued properties whose Present bit is set
// are written, plus every Subscription Identifier and User Property in the
// slices; Present bits for those two are ignored. Append does not check that
// a property is allowed in the packet type.
//
// Acks, DISCONNECT and AUTH with ReasonCode 0 and no properties take the
// shortest v5 form. DUP is never written on a QoS 0 PUBLISH (MQTT-3.3.1-2).
// The username and password are written if their flag is set or they are
// non-empty.
//
// Append computes the size first and grows dst at most once; with enough
// capacity in dst it does not allocate. It fails only for a packet that
// cannot be encoded: a string or binary field over 65535 bytes, a remaining
// length over MaxRemainingLength, a QoS or retain handling over 2, a QoS > 0
// PUBLISH with packet identifier 0, an unknown property bit, AUTH in 3.1.1,
// or a nil packet. On error dst is returned unchanged.
func Append(dst []byte, p Packet, version byte) ([]byte, error) {
	v5 := version == Version5
	switch p := p.(type) {
	case *Publish:
		if p != nil {
			return appendPublish(dst, p, v5)
		}
	case *Ack:
		if p != nil {
			return appendAck(dst, p, v5)
		}
	case *Connect:
		if p != nil {
			return appendConnect(dst, p, version)
		}
	case *Connack:
		if p != nil {
			return appendConnack(dst, p, v5)
		}
	case *Subscribe:
		if p != nil {
			return appendSubscribe(dst, p, v5)
		}
	case *Suback:
		if p != nil {
			return appendCodes(dst, SUBACK, p.PacketID, &p.Properties, p.ReasonCodes, v5, true)
		}
	case *Unsubscribe:
		if p != nil {
			return appendUnsubscribe(dst, p, v5)
		}
	case *Unsuback:
		if p != nil {
			return appendCodes(dst, UNSUBACK, p.PacketID, &p.Properties, p.ReasonCodes, v5, false)
		}
	case *Pingreq:
		if p != nil {
			return append(dst, byte(PINGREQ)<<4, 0), nil
		}
	case *Pingresp:
		if p != nil {
			return append(dst, byte(PINGRESP)<<4, 0), nil
		}
	case *Disconnect:
		if p != nil {
			return appendReasonProps(dst, DISCONNECT, p.ReasonCode, &p.Properties, v5)
		}
	case *Auth:
		if p != nil {
			if !v5 {
				return dst, encodeError(AUTH, "AUTH does not exist in MQTT 3.1.1")
			}
			return appendReasonProps(dst, AUTH, p.ReasonCode, &p.Properties, v5)
		}
	}
	return dst, errors.New("mqtt packet: encode: nil or unknown packet")
}

// header writes the fixed header for a body of n bytes, growing dst once.
func header(dst []byte, pt Type, first byte, n int) ([]byte, error) {
	if n > MaxRemainingLength {
		return dst, encodeError(pt, "remaining length %d exceeds %d", n, MaxRemainingLength)
	}
	dst = slices.Grow(dst, 1+varintLen(n)+n)
	dst = append(dst, first)
	return appendVarint(dst, n), nil
}

// propsSize is the size of the properties block with its length prefix, or
// 0 outside v5. It also returns the bare properties length for appendProps.
func propsSize(pt Type, p *Properties, v5 bool) (total, n int, err error) {
	if !v5 {
		return 0, 0, nil
	}
	n, err = propsLen(pt, p)
	if err != nil {
		return 0, 0, err
	}
	return varintLen(n) + n, n, nil
}

func appendPublish(dst []byte, p *Publish, v5 bool) ([]byte, error) {
	if p.QoS > 2 {
		return dst, encodeError(PUBLISH, "QoS %d is not valid", p.QoS)
	}
	if p.QoS > 0 && p.PacketID == 0 {
		return dst, encodeError(PUBLISH, "QoS %d needs a non-zero packet identifier", p.QoS)
	}
	if err := checkLen(PUBLISH, "topic name", len(p.Topic)); err != nil {
		return dst, err
	}
	pSize, pLen, err := propsSize(PUBLISH, &p.Properties, v5)
	if err != nil {
		return dst, err
	}
	n := 2 + len(p.Topic) + pSize + len(p.Payload)
	if p.QoS > 0 {
		n += 2
	}
	first := byte(PUBLISH)<<4 | p.QoS<<1
	if p.Dup && p.QoS > 0 {
		first |= 0x08
	}
	if p.Retain {
		first |= 0x01
	}
	if dst, err = header(dst, PUBLISH, first, n); err != nil {
		return dst, err
	}
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendUint16(dst, p.PacketID)
	}
	if v5 {
		dst = appendProps(dst, &p.Properties, pLen)
	}
	return append(dst, p.Payload...), nil
}

func appendAck(dst []byte, p *Ack, v5 bool) ([]byte, error) {
	var first byte
	switch p.Kind {
	case PUBACK, PUBREC, PUBCOMP:
		first = byte(p.Kind) << 4
	case PUBREL:
		first = byte(PUBREL)<<4 | 0x02
	default:
		return dst, encodeError(p.Kind, "Ack.Kind must be PUBACK, PUBREC, PUBREL or PUBCOMP")
	}
	if !v5 || (p.ReasonCode == Success && isEmpty(&p.Properties)) {
		return append(dst, first, 2, byte(p.PacketID>>8), byte(p.PacketID)), nil
	}
	if isEmpty(&p.Properties) {
		return append(dst, first, 3, byte(p.PacketID>>8), byte(p.PacketID), byte(p.ReasonCode)), nil
	}
	pSize, pLen, err := propsSize(p.Kind, &p.Properties, true)
	if err != nil {
		return dst, err
	}
	if dst, err = header(dst, p.Kind, first, 3+pSize); err != nil {
		return dst, err
	}
	dst = append(dst, byte(p.PacketID>>8), byte(p.PacketID), byte(p.ReasonCode))
	return appendProps(dst, &p.Properties, pLen), nil
}

// isEmpty reports whether no property would be written.
func isEmpty(p *Properties) bool {
	return p.Present&^propsMulti == 0 && len(p.UserProperties) == 0 && len(p.SubscriptionIdentifiers) == 0
}

// appendReasonProps encodes DISCONNECT and AUTH: empty in 3.1.1 and for a
// v5 success without properties, the reason code alone for a v5 DISCONNECT
// without properties, otherwise reason code and properties.
func appendReasonProps(dst []byte, pt Type, rc ReasonCode, props *Properties, v5 bool) ([]byte, error) {
	first := byte(pt) << 4
	if !v5 || (rc == Success && isEmpty(props)) {
		return append(dst, first, 0), nil
	}
	if pt == DISCONNECT && isEmpty(props) {
		return append(dst, first, 1, byte(rc)), nil
	}
	pSize, pLen, err := propsSize(pt, props, true)
	if err != nil {
		return dst, err
	}
	if dst, err = header(dst, pt, first, 1+pSize); err != nil {
		return dst, err
	}
	dst = append(dst, byte(rc))
	return appendProps(dst, props, pLen), nil
}

func appendConnect(dst []byte, p *Connect, version byte) ([]byte, error) {
	level := p.ProtocolVersion
	if level == 0 {
		level = version
	}
	name := p.ProtocolName
	if name == "" {
		name = "MQTT"
		if level == Version31 {
			name = "MQIsdp"
		}
	}
	v5 := level == Version5
	usernameFlag := p.UsernameFlag || p.Username != ""
	passwordFlag := p.PasswordFlag || len(p.Password) > 0
	if err := checkLen(CONNECT, "protocol name", len(name)); err != nil {
		return dst, err
	}
	if err := checkLen(CONNECT, "client identifier", len(p.ClientID)); err != nil {
		return dst, err
	}
	if err := checkLen(CONNECT, "user name", len(p.Username)); err != nil {
		return dst, err
	}
	if err := checkLen(CONNECT, "password", len(p.Password)); err != nil {
		return dst, err
	}
	pSize, pLen, err := propsSize(CONNECT, &p.Properties, v5)
	if err != nil {
		return dst, err
	}
	n := 2 + len(name) + 1 + 1 + 2 + pSize + 2 + len(p.ClientID)
	var flags byte
	if p.CleanStart {
		flags |= 0x02
	}
	var wSize, wLen int
	if w := p.Will; w != nil {
		if w.QoS > 2 {
			return dst, encodeError(CONNECT, "will QoS %d is not valid", w.QoS)
		}
		if err := checkLen(CONNECT, "will topic", len(w.Topic)); err != nil {
			return dst, err
		}
		if err := checkLen(CONNECT, "will payload", len(w.Payload)); err != nil {
			return dst, err
		}
		if wSize, wLen, err = propsSize(CONNECT, &w.Properties, v5); err != nil {
			return dst, err
		}
		n += wSize + 2 + len(w.Topic) + 2 + len(w.Payload)
		flags |= 0x04 | w.QoS<<3
		if w.Retain {
			flags |= 0x20
		}
	}
	if usernameFlag {
		flags |= 0x80
		n += 2 + len(p.Username)
	}
	if passwordFlag {
		flags |= 0x40
		n += 2 + len(p.Password)
	}
	if dst, err = header(dst, CONNECT, byte(CONNECT)<<4, n); err != nil {
		return dst, err
	}
	dst = appendString(dst, name)
	dst = append(dst, level, flags)
	dst = appendUint16(dst, p.KeepAlive)
	if v5 {
		dst = appendProps(dst, &p.Properties, pLen)
	}
	dst = appendString(dst, p.ClientID)
	if w := p.Will; w != nil {
		if v5 {
			dst = appendProps(dst, &w.Properties, wLen)
		}
		dst = appendString(dst, w.Topic)
		dst = appendBinary(dst, w.Payload)
	}
	if usernameFlag {
		dst = appendString(dst, p.Username)
	}
	if passwordFlag {
		dst = appendBinary(dst, p.Password)
	}
	return dst, nil
}

func appendConnack(dst []byte, p *Connack, v5 bool) ([]byte, error) {
	pSize, pLen, err := propsSize(CONNACK, &p.Properties, v5)
	if err != nil {
		return dst, err
	}
	if dst, err = header(dst, CONNACK, byte(CONNACK)<<4, 2+pSize); err != nil {
		return dst, err
	}
	var flags byte
	if p.SessionPresent {
		flags = 1
	}
	dst = append(dst, flags, byte(p.ReasonCode))
	if v5 {
		dst = appendProps(dst, &p.Properties, pLen)
	}
	return dst, nil
}

func appendSubscribe(dst []byte, p *Subscribe, v5 bool) ([]byte, error) {
	pSize, pLen, err := propsSize(SUBSCRIBE, &p.Properties, v5)
	if err != nil {
		return dst, err
	}
	n := 2 + pSize
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		if s.QoS > 2 {
			return dst, encodeError(SUBSCRIBE, "QoS %d is not valid", s.QoS)
		}
		if s.RetainHandling > 2 {
			return dst, encodeError(SUBSCRIBE, "retain handling %d is not valid", s.RetainHandling)
		}
		if err := checkLen(SUBSCRIBE, "topic filter", len(s.Filter)); err != nil {
			return dst, err
		}
		n += 2 + len(s.Filter) + 1
	}
	if dst, err = header(dst, SUBSCRIBE, byte(SUBSCRIBE)<<4|0x02, n); err != nil {
		return dst, err
	}
	dst = appendUint16(dst, p.PacketID)
	if v5 {
		dst = appendProps(dst, &p.Properties, pLen)
	}
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		dst = appendString(dst, s.Filter)
		opts := s.QoS
		if v5 {
			if s.NoLocal {
				opts |= 0x04
			}
			if s.RetainAsPublished {
				opts |= 0x08
			}
			opts |= s.RetainHandling << 4
		}
		dst = append(dst, opts)
	}
	return dst, nil
}

func appendUnsubscribe(dst []byte, p *Unsubscribe, v5 bool) ([]byte, error) {
	pSize, pLen, err := propsSize(UNSUBSCRIBE, &p.Properties, v5)
	if err != nil {
		return dst, err
	}
	n := 2 + pSize
	for _, f := range p.Filters {
		if err := checkLen(UNSUBSCRIBE, "topic filter", len(f)); err != nil {
			return dst, err
		}
		n += 2 + len(f)
	}
	if dst, err = header(dst, UNSUBSCRIBE, byte(UNSUBSCRIBE)<<4|0x02, n); err != nil {
		return dst, err
	}
	dst = appendUint16(dst, p.PacketID)
	if v5 {
		dst = appendProps(dst, &p.Properties, pLen)
	}
	for _, f := range p.Filters {
		dst = appendString(dst, f)
	}
	return dst, nil
}

// appendCodes encodes SUBACK and UNSUBACK: packet identifier, v5
// properties and reason codes. 3.1.1 UNSUBACK (withCodes3 false) carries
// the packet identifier only.
func appendCodes(dst []byte, pt Type, id uint16, props *Properties, codes []ReasonCode, v5, withCodes3 bool) ([]byte, error) {
	pSize, pLen, err := propsSize(pt, props, v5)
	if err != nil {
		return dst, err
	}
	writeCodes := v5 || withCodes3
	n := 2 + pSize
	if writeCodes {
		n += len(codes)
	}
	if dst, err = header(dst, pt, byte(pt)<<4, n); err != nil {
		return dst, err
	}
	dst = appendUint16(dst, id)
	if v5 {
		dst = appendProps(dst, props, pLen)
	}
	if writeCodes {
		for _, c := range codes {
			dst = append(dst, byte(c))
		}
	}
	return dst, nil
}
