package packet

import (
	"errors"
	"io"
)

// Reader is what Read needs; *bufio.Reader and *bytes.Reader satisfy it.
type Reader interface {
	io.Reader
	io.ByteReader
}

// ReadFixedHeader reads the fixed header (first byte and variable byte
// remaining length) from r.
//
// If maxSize > 0 and the whole packet (1 + size of the length + remaining)
// exceeds maxSize it returns an *Error with Code PacketTooLarge before any of
// the body is read. A length longer than 4 bytes is a MalformedPacket. I/O
// errors are returned as they are: io.EOF on a clean close before the first
// byte, io.ErrUnexpectedEOF if the stream ends inside the header.
func ReadFixedHeader(r io.ByteReader, maxSize uint32) (header byte, remaining int, err error) {
	header, err = r.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	n := 0
	for i := 0; ; i++ {
		if i == 4 {
			return 0, 0, errLengthTooLong(header)
		}
		b, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, 0, err
		}
		n |= int(b&0x7F) << (7 * i)
		if b&0x80 == 0 {
			if maxSize > 0 && uint64(1+i+1+n) > uint64(maxSize) {
				return 0, 0, errTooLarge(header, 1+i+1+n, maxSize)
			}
			return header, n, nil
		}
	}
}

// The error constructors of ReadFixedHeader are kept out of line: a
// connection waiting for its next packet is parked inside ReadFixedHeader, and
// the varargs of errorf would otherwise enlarge that frame for the
// connection's whole idle life.

//go:noinline
func errLengthTooLong(header byte) error {
	return errorf(MalformedPacket, "%s: remaining length is longer than 4 bytes", Type(header>>4))
}

//go:noinline
func errTooLarge(header byte, size int, maxSize uint32) error {
	return errorf(PacketTooLarge, "%s: packet of %d bytes exceeds the maximum packet size %d", Type(header>>4), size, maxSize)
}

// Read reads one packet from r: ReadFixedHeader, a check of the fixed header
// flags, one allocation for the body, io.ReadFull and Decode. version and
// maxSize are as for Decode and ReadFixedHeader. A stream that ends inside
// the packet gives io.ErrUnexpectedEOF.
func Read(r Reader, version byte, maxSize uint32) (Packet, error) {
	header, n, err := ReadFixedHeader(r, maxSize)
	if err != nil {
		return nil, err
	}
	if err := checkHeader(header, version == Version5); err != nil {
		return nil, err
	}
	var body []byte
	if n > 0 {
		body = make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return Decode(header, body, version)
}

// checkHeader validates the packet type and the flags of the first byte
// (MQTT 5.0 §2.1.3, 3.1.1 §2.2.2).
func checkHeader(header byte, v5 bool) error {
	pt := Type(header >> 4)
	flags := header & 0x0F
	switch pt {
	case 0:
		return errorf(MalformedPacket, "packet type 0 is reserved")
	case AUTH:
		if !v5 {
			return errorf(MalformedPacket, "AUTH: packet type 15 is reserved in MQTT 3.1.1")
		}
	case PUBLISH:
		qos := (flags >> 1) & 3
		if qos == 3 {
			return errorf(MalformedPacket, "PUBLISH: QoS 3 is not valid")
		}
		if qos == 0 && flags&0x08 != 0 {
			return errorf(MalformedPacket, "PUBLISH: DUP must be 0 for QoS 0")
		}
		return nil
	case SUBSCRIBE, UNSUBSCRIBE, PUBREL:
		if flags != 0x02 {
			return errorf(MalformedPacket, "%s: fixed header flags must be 0x2, got 0x%X", pt, flags)
		}
		return nil
	}
	if flags != 0 {
		return errorf(MalformedPacket, "%s: fixed header flags must be 0, got 0x%X", pt, flags)
	}
	return nil
}

// Decode parses one packet given its first byte and body (the remaining
// length bytes).
//
// version is the connection's negotiated protocol version: Version5 selects
// MQTT 5 rules, anything else (Version311, Version31, or 0 before CONNECT)
// MQTT 3.1.1 rules. It is ignored for CONNECT, which carries its own.
//
// Zero copy: strings and byte slices in the result (topics, payloads, client
// ID, user properties...) alias body, strings through unsafe.String. The
// caller must not modify or reuse body while the packet is in use; copy
// what must outlive it.
//
// A malformed or protocol-violating packet gives an *Error. Decode never
// panics.
func Decode(header byte, body []byte, version byte) (Packet, error) {
	v5 := version == Version5
	if err := checkHeader(header, v5); err != nil {
		return nil, err
	}
	pt := Type(header >> 4)
	c := cursor{b: body, pt: pt}
	switch pt {
	case PUBLISH:
		p := new(Publish)
		if err := decodePublish(header, &c, v5, p); err != nil {
			return nil, err
		}
		return p, nil
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		return result(decodeAck(&c, v5))
	case CONNECT:
		return result(decodeConnect(&c))
	case CONNACK:
		return result(decodeConnack(&c, v5))
	case SUBSCRIBE:
		return result(decodeSubscribe(&c, v5))
	case SUBACK:
		return result(decodeSuback(&c, v5))
	case UNSUBSCRIBE:
		return result(decodeUnsubscribe(&c, v5))
	case UNSUBACK:
		return result(decodeUnsuback(&c, v5))
	case PINGREQ:
		if err := c.end(); err != nil {
			return nil, err
		}
		return &Pingreq{}, nil
	case PINGRESP:
		if err := c.end(); err != nil {
			return nil, err
		}
		return &Pingresp{}, nil
	case DISCONNECT:
		d := new(Disconnect)
		if err := decodeReasonProps(&c, v5, propsDisconnect, &d.ReasonCode, &d.Properties); err != nil {
			return nil, err
		}
		return d, nil
	default: // AUTH; checkHeader rejected it outside v5
		a := new(Auth)
		if err := decodeReasonProps(&c, v5, propsAuth, &a.ReasonCode, &a.Properties); err != nil {
			return nil, err
		}
		return a, nil
	}
}

// result turns a typed decoder result into Decode's, so that a failed
// decode returns a nil Packet rather than an interface holding a nil pointer.
func result[T Packet](p T, err error) (Packet, error) {
	if err != nil {
		return nil, err
	}
	return p, nil
}

// DecodePublish is Decode for a PUBLISH into a caller-provided struct, for
// the hot path: it allocates nothing unless the packet carries User
// Properties or Subscription Identifiers (their slices). *p is overwritten
// entirely; its old slices are not reused. Aliasing is as for Decode. On
// error the content of *p is unspecified.
func DecodePublish(header byte, body []byte, version byte, p *Publish) error {
	v5 := version == Version5
	if Type(header>>4) != PUBLISH {
		return errorf(MalformedPacket, "DecodePublish: packet type is %s", Type(header>>4))
	}
	if err := checkHeader(header, v5); err != nil {
		return err
	}
	c := cursor{b: body, pt: PUBLISH}
	return decodePublish(header, &c, v5, p)
}

func decodePublish(header byte, c *cursor, v5 bool, p *Publish) error {
	*p = Publish{
		Dup:    header&0x08 != 0,
		QoS:    (header >> 1) & 3,
		Retain: header&0x01 != 0,
	}
	var err error
	if p.Topic, err = c.readString("topic name"); err != nil {
		return err
	}
	if p.QoS > 0 {
		if p.PacketID, err = c.readPacketID(); err != nil {
			return err
		}
	}
	if v5 {
		if err := decodeProps(c, propsPublish, "properties", &p.Properties); err != nil {
			return err
		}
	}
	if p.Topic == "" && !p.Properties.Has(PropTopicAlias) {
		return errorf(ProtocolError, "PUBLISH: topic name is empty and there is no Topic Alias")
	}
	p.Payload = c.rest()
	return nil
}

func decodeAck(c *cursor, v5 bool) (*Ack, error) {
	a := &Ack{Kind: c.pt}
	var err error
	if a.PacketID, err = c.readPacketID(); err != nil {
		return nil, err
	}
	if !v5 {
		if err := c.end(); err != nil {
			return nil, err
		}
		return a, nil
	}
	if err := decodeReasonProps(c, true, propsAck, &a.ReasonCode, &a.Properties); err != nil {
		return nil, err
	}
	return a, nil
}

// decodeReasonProps reads the optional reason code and properties that end
// PUBACK..PUBCOMP, DISCONNECT and AUTH in v5: with nothing left the reason
// code is 0x00, with one byte left there are no properties. In 3.1.1 the
// body must be empty.
func decodeReasonProps(c *cursor, v5 bool, allowed PropSet, rc *ReasonCode, props *Properties) error {
	if !v5 || len(c.b) == 0 {
		return c.end()
	}
	b, _ := c.readByte("reason code")
	*rc = ReasonCode(b)
	if len(c.b) == 0 {
		return nil
	}
	if err := decodeProps(c, allowed, "properties", props); err != nil {
		return err
	}
	return c.end()
}

// validProtocol is the set of accepted protocol name and level pairs.
func validProtocol(name string, level byte) bool {
	switch level {
	case Version31:
		return name == "MQIsdp"
	case Version311, Version5:
		return name == "MQTT"
	}
	return false
}

func decodeConnect(c *cursor) (*Connect, error) {
	p := &Connect{}
	var err error
	if p.ProtocolName, err = c.readString("protocol name"); err != nil {
		return nil, err
	}
	if p.ProtocolVersion, err = c.readByte("protocol level"); err != nil {
		return nil, err
	}
	if !validProtocol(p.ProtocolName, p.ProtocolVersion) {
		return nil, errorf(UnsupportedProtocolVersion, "CONNECT: protocol %q level %d is not supported",
			p.ProtocolName, p.ProtocolVersion)
	}
	v5 := p.ProtocolVersion == Version5
	flags, err := c.readByte("connect flags")
	if err != nil {
		return nil, err
	}
	if flags&0x01 != 0 {
		return nil, errorf(MalformedPacket, "CONNECT: reserved connect flag must be 0")
	}
	p.CleanStart = flags&0x02 != 0
	willFlag := flags&0x04 != 0
	willQoS := (flags >> 3) & 3
	willRetain := flags&0x20 != 0
	p.PasswordFlag = flags&0x40 != 0
	p.UsernameFlag = flags&0x80 != 0
	if willQoS == 3 {
		return nil, errorf(MalformedPacket, "CONNECT: will QoS 3 is not valid")
	}
	if !willFlag && (willQoS != 0 || willRetain) {
		return nil, errorf(MalformedPacket, "CONNECT: will QoS and will retain must be 0 when the will flag is 0")
	}
	if !v5 && p.PasswordFlag && !p.UsernameFlag {
		return nil, errorf(MalformedPacket, "CONNECT: password flag set without user name flag")
	}
	if p.KeepAlive, err = c.readUint16("keep alive"); err != nil {
		return nil, err
	}
	if v5 {
		if err := decodeProps(c, propsConnect, "properties", &p.Properties); err != nil {
			return nil, err
		}
		if p.Properties.Has(PropAuthenticationData) && !p.Properties.Has(PropAuthenticationMethod) {
			return nil, errorf(ProtocolError, "CONNECT: Authentication Data without Authentication Method")
		}
	}
	if p.ClientID, err = c.readString("client identifier"); err != nil {
		return nil, err
	}
	if willFlag {
		w := &Will{QoS: willQoS, Retain: willRetain}
		if v5 {
			if err := decodeProps(c, propsWill, "will properties", &w.Properties); err != nil {
				return nil, err
			}
		}
		if w.Topic, err = c.readString("will topic"); err != nil {
			return nil, err
		}
		if w.Payload, err = c.readBinary("will payload"); err != nil {
			return nil, err
		}
		p.Will = w
	}
	if p.UsernameFlag {
		if p.Username, err = c.readString("user name"); err != nil {
			return nil, err
		}
	}
	if p.PasswordFlag {
		if p.Password, err = c.readBinary("password"); err != nil {
			return nil, err
		}
	}
	if err := c.end(); err != nil {
		return nil, err
	}
	return p, nil
}

func decodeConnack(c *cursor, v5 bool) (*Connack, error) {
	p := &Connack{}
	flags, err := c.readByte("acknowledge flags")
	if err != nil {
		return nil, err
	}
	if flags&0xFE != 0 {
		return nil, errorf(MalformedPacket, "CONNACK: reserved acknowledge flags must be 0")
	}
	p.SessionPresent = flags&0x01 != 0
	rc, err := c.readByte("reason code")
	if err != nil {
		return nil, err
	}
	p.ReasonCode = ReasonCode(rc)
	if v5 {
		if err := decodeProps(c, propsConnack, "properties", &p.Properties); err != nil {
			return nil, err
		}
	}
	if err := c.end(); err != nil {
		return nil, err
	}
	return p, nil
}

func decodeSubscribe(c *cursor, v5 bool) (*Subscribe, error) {
	p := &Subscribe{}
	var err error
	if p.PacketID, err = c.readPacketID(); err != nil {
		return nil, err
	}
	if v5 {
		if err := decodeProps(c, propsSubscribe, "properties", &p.Properties); err != nil {
			return nil, err
		}
	}
	for len(c.b) > 0 {
		var s Subscription
		if s.Filter, err = c.readString("topic filter"); err != nil {
			return nil, err
		}
		opts, err := c.readByte("subscription options")
		if err != nil {
			return nil, err
		}
		s.QoS = opts & 3
		if !v5 {
			if opts&0xFC != 0 {
				return nil, errorf(MalformedPacket, "SUBSCRIBE: reserved bits of the requested QoS byte must be 0")
			}
			if s.QoS == 3 {
				return nil, errorf(MalformedPacket, "SUBSCRIBE: requested QoS 3 is not valid")
			}
		} else {
			if opts&0xC0 != 0 {
				return nil, errorf(MalformedPacket, "SUBSCRIBE: reserved bits of the subscription options must be 0")
			}
			s.NoLocal = opts&0x04 != 0
			s.RetainAsPublished = opts&0x08 != 0
			s.RetainHandling = (opts >> 4) & 3
			if s.QoS == 3 {
				return nil, errorf(ProtocolError, "SUBSCRIBE: maximum QoS 3 is not valid")
			}
			if s.RetainHandling == 3 {
				return nil, errorf(ProtocolError, "SUBSCRIBE: retain handling 3 is not valid")
			}
		}
		p.Subscriptions = append(p.Subscriptions, s)
	}
	if len(p.Subscriptions) == 0 {
		return nil, errorf(ProtocolError, "SUBSCRIBE: payload must contain at least one topic filter")
	}
	return p, nil
}

func decodeSuback(c *cursor, v5 bool) (*Suback, error) {
	p := &Suback{}
	var err error
	if p.PacketID, err = c.readPacketID(); err != nil {
		return nil, err
	}
	if v5 {
		if err := decodeProps(c, propsAck, "properties", &p.Properties); err != nil {
			return nil, err
		}
	}
	if len(c.b) == 0 {
		return nil, errorf(ProtocolError, "SUBACK: payload must contain at least one reason code")
	}
	p.ReasonCodes = make([]ReasonCode, len(c.b))
	for i, b := range c.b {
		if !v5 && b > 2 && b != byte(SubackFailure) {
			return nil, errorf(MalformedPacket, "SUBACK: return code 0x%02X is not valid in MQTT 3.1.1", b)
		}
		p.ReasonCodes[i] = ReasonCode(b)
	}
	c.b = nil
	return p, nil
}

func decodeUnsubscribe(c *cursor, v5 bool) (*Unsubscribe, error) {
	p := &Unsubscribe{}
	var err error
	if p.PacketID, err = c.readPacketID(); err != nil {
		return nil, err
	}
	if v5 {
		if err := decodeProps(c, propsUnsubscribe, "properties", &p.Properties); err != nil {
			return nil, err
		}
	}
	for len(c.b) > 0 {
		f, err := c.readString("topic filter")
		if err != nil {
			return nil, err
		}
		p.Filters = append(p.Filters, f)
	}
	if len(p.Filters) == 0 {
		return nil, errorf(ProtocolError, "UNSUBSCRIBE: payload must contain at least one topic filter")
	}
	return p, nil
}

func decodeUnsuback(c *cursor, v5 bool) (*Unsuback, error) {
	p := &Unsuback{}
	var err error
	if p.PacketID, err = c.readPacketID(); err != nil {
		return nil, err
	}
	if !v5 {
		if err := c.end(); err != nil {
			return nil, err
		}
		return p, nil
	}
	if err := decodeProps(c, propsAck, "properties", &p.Properties); err != nil {
		return nil, err
	}
	if len(c.b) == 0 {
		return nil, errorf(ProtocolError, "UNSUBACK: payload must contain at least one reason code")
	}
	p.ReasonCodes = make([]ReasonCode, len(c.b))
	for i, b := range c.b {
		p.ReasonCodes[i] = ReasonCode(b)
	}
	c.b = nil
	return p, nil
}
