package packet

import "math/bits"

// propKind is the wire data type of a property value.
type propKind byte

const (
	kindNone propKind = iota // not a property identifier
	kindByte
	kindUint16
	kindUint32
	kindVarint
	kindString
	kindBinary
	kindPair
)

// propInfo describes every v5 property identifier (MQTT 5.0 §2.2.2.2).
var propInfo = [...]struct {
	name string
	kind propKind
}{
	PropPayloadFormatIndicator:          {"Payload Format Indicator", kindByte},
	PropMessageExpiryInterval:           {"Message Expiry Interval", kindUint32},
	PropContentType:                     {"Content Type", kindString},
	PropResponseTopic:                   {"Response Topic", kindString},
	PropCorrelationData:                 {"Correlation Data", kindBinary},
	PropSubscriptionIdentifier:          {"Subscription Identifier", kindVarint},
	PropSessionExpiryInterval:           {"Session Expiry Interval", kindUint32},
	PropAssignedClientIdentifier:        {"Assigned Client Identifier", kindString},
	PropServerKeepAlive:                 {"Server Keep Alive", kindUint16},
	PropAuthenticationMethod:            {"Authentication Method", kindString},
	PropAuthenticationData:              {"Authentication Data", kindBinary},
	PropRequestProblemInformation:       {"Request Problem Information", kindByte},
	PropWillDelayInterval:               {"Will Delay Interval", kindUint32},
	PropRequestResponseInformation:      {"Request Response Information", kindByte},
	PropResponseInformation:             {"Response Information", kindString},
	PropServerReference:                 {"Server Reference", kindString},
	PropReasonString:                    {"Reason String", kindString},
	PropReceiveMaximum:                  {"Receive Maximum", kindUint16},
	PropTopicAliasMaximum:               {"Topic Alias Maximum", kindUint16},
	PropTopicAlias:                      {"Topic Alias", kindUint16},
	PropMaximumQoS:                      {"Maximum QoS", kindByte},
	PropRetainAvailable:                 {"Retain Available", kindByte},
	PropUserProperty:                    {"User Property", kindPair},
	PropMaximumPacketSize:               {"Maximum Packet Size", kindUint32},
	PropWildcardSubscriptionAvailable:   {"Wildcard Subscription Available", kindByte},
	PropSubscriptionIdentifierAvailable: {"Subscription Identifier Available", kindByte},
	PropSharedSubscriptionAvailable:     {"Shared Subscription Available", kindByte},
}

// The properties allowed in each packet type, per MQTT 5.0 §2.2.2.2 (Table
// 2-4). Will properties in CONNECT are their own set.
const (
	propsConnect PropSet = 1<<PropSessionExpiryInterval | 1<<PropAuthenticationMethod |
		1<<PropAuthenticationData | 1<<PropRequestProblemInformation |
		1<<PropRequestResponseInformation | 1<<PropReceiveMaximum | 1<<PropTopicAliasMaximum |
		1<<PropUserProperty | 1<<PropMaximumPacketSize
	propsWill PropSet = 1<<PropPayloadFormatIndicator | 1<<PropMessageExpiryInterval |
		1<<PropContentType | 1<<PropResponseTopic | 1<<PropCorrelationData |
		1<<PropWillDelayInterval | 1<<PropUserProperty
	propsConnack PropSet = 1<<PropSessionExpiryInterval | 1<<PropAssignedClientIdentifier |
		1<<PropServerKeepAlive | 1<<PropAuthenticationMethod | 1<<PropAuthenticationData |
		1<<PropResponseInformation | 1<<PropServerReference | 1<<PropReasonString |
		1<<PropReceiveMaximum | 1<<PropTopicAliasMaximum | 1<<PropMaximumQoS |
		1<<PropRetainAvailable | 1<<PropUserProperty | 1<<PropMaximumPacketSize |
		1<<PropWildcardSubscriptionAvailable | 1<<PropSubscriptionIdentifierAvailable |
		1<<PropSharedSubscriptionAvailable
	propsPublish PropSet = 1<<PropPayloadFormatIndicator | 1<<PropMessageExpiryInterval |
		1<<PropContentType | 1<<PropResponseTopic | 1<<PropCorrelationData |
		1<<PropSubscriptionIdentifier | 1<<PropTopicAlias | 1<<PropUserProperty
	propsAck         PropSet = 1<<PropReasonString | 1<<PropUserProperty // PUBACK..PUBCOMP, SUBACK, UNSUBACK
	propsSubscribe   PropSet = 1<<PropSubscriptionIdentifier | 1<<PropUserProperty
	propsUnsubscribe PropSet = 1 << PropUserProperty
	propsDisconnect  PropSet = 1<<PropSessionExpiryInterval | 1<<PropServerReference |
		1<<PropReasonString | 1<<PropUserProperty
	propsAuth PropSet = 1<<PropAuthenticationMethod | 1<<PropAuthenticationData |
		1<<PropReasonString | 1<<PropUserProperty

	// propsMulti are carried in slices, not in Present.
	propsMulti PropSet = 1<<PropSubscriptionIdentifier | 1<<PropUserProperty
	// propsKnown is every defined identifier.
	propsKnown PropSet = propsConnect | propsWill | propsConnack | propsPublish | propsDisconnect | propsAuth
)

func propName(id uint32) string {
	if id < uint32(len(propInfo)) && propInfo[id].kind != kindNone {
		return propInfo[id].name
	}
	return "unknown"
}

// decodeProps reads a property length and the properties after it into p.
// what names the block in errors ("properties" or "will properties").
// Present gets a bit for every single-valued property read; User Property
// and Subscription Identifier go to their slices only.
func decodeProps(c *cursor, allowed PropSet, what string, p *Properties) error {
	n, err := c.readVarint("property length")
	if err != nil {
		return err
	}
	if int(n) > len(c.b) {
		return errorf(MalformedPacket, "%s: %s length %d overruns the packet (%d bytes left)", c.pt, what, n, len(c.b))
	}
	pc := cursor{b: c.b[:n], pt: c.pt}
	c.b = c.b[n:]
	var seen PropSet
	for len(pc.b) > 0 {
		idv, err := pc.readVarint("property identifier")
		if err != nil {
			return err
		}
		if idv >= 64 || propsKnown&(1<<idv) == 0 {
			return errorf(MalformedPacket, "%s: unknown property identifier 0x%02X in %s", c.pt, idv, what)
		}
		id := PropID(idv)
		bit := PropSet(1) << id
		if allowed&bit == 0 {
			return errorf(MalformedPacket, "%s: property 0x%02X (%s) is not allowed in %s", c.pt, idv, propName(idv), what)
		}
		multi := id == PropUserProperty || (id == PropSubscriptionIdentifier && c.pt == PUBLISH)
		if seen&bit != 0 && !multi {
			return errorf(ProtocolError, "%s: property 0x%02X (%s) included more than once", c.pt, idv, propName(idv))
		}
		seen |= bit
		if err := decodeProp(&pc, id, p); err != nil {
			return err
		}
	}
	p.Present = seen &^ propsMulti
	return nil
}

// decodeProp reads the value of property id and checks its range.
func decodeProp(c *cursor, id PropID, p *Properties) error {
	name := propInfo[id].name
	switch id {
	case PropUserProperty:
		k, err := c.readString("user property key")
		if err != nil {
			return err
		}
		v, err := c.readString("user property value")
		if err != nil {
			return err
		}
		p.UserProperties = append(p.UserProperties, UserProperty{Key: k, Value: v})
		return nil
	case PropSubscriptionIdentifier:
		v, err := c.readVarint(name)
		if err != nil {
			return err
		}
		if v == 0 {
			return errorf(ProtocolError, "%s: Subscription Identifier must not be 0", c.pt)
		}
		p.SubscriptionIdentifiers = append(p.SubscriptionIdentifiers, v)
		return nil
	}
	switch propInfo[id].kind {
	case kindByte:
		v, err := c.readByte(name)
		if err != nil {
			return err
		}
		if v > 1 {
			return errorf(ProtocolError, "%s: %s must be 0 or 1, got %d", c.pt, name, v)
		}
		*byteProp(p, id) = v
	case kindUint16:
		v, err := c.readUint16(name)
		if err != nil {
			return err
		}
		if v == 0 {
			switch id {
			case PropReceiveMaximum:
				return errorf(ProtocolError, "%s: Receive Maximum must not be 0", c.pt)
			case PropTopicAlias:
				return errorf(TopicAliasInvalid, "%s: Topic Alias must not be 0", c.pt)
			}
		}
		*uint16Prop(p, id) = v
	case kindUint32:
		v, err := c.readUint32(name)
		if err != nil {
			return err
		}
		if v == 0 && id == PropMaximumPacketSize {
			return errorf(ProtocolError, "%s: Maximum Packet Size must not be 0", c.pt)
		}
		*uint32Prop(p, id) = v
	case kindString:
		v, err := c.readString(name)
		if err != nil {
			return err
		}
		*stringProp(p, id) = v
	case kindBinary:
		v, err := c.readBinary(name)
		if err != nil {
			return err
		}
		*binaryProp(p, id) = v
	}
	return nil
}

// The field of p holding each single-valued property, by kind. They return
// nil for an identifier of another kind; callers switch on the kind first.

func byteProp(p *Properties, id PropID) *byte {
	switch id {
	case PropPayloadFormatIndicator:
		return &p.PayloadFormatIndicator
	case PropRequestProblemInformation:
		return &p.RequestProblemInformation
	case PropRequestResponseInformation:
		return &p.RequestResponseInformation
	case PropMaximumQoS:
		return &p.MaximumQoS
	case PropRetainAvailable:
		return &p.RetainAvailable
	case PropWildcardSubscriptionAvailable:
		return &p.WildcardSubscriptionAvailable
	case PropSubscriptionIdentifierAvailable:
		return &p.SubscriptionIdentifierAvailable
	case PropSharedSubscriptionAvailable:
		return &p.SharedSubscriptionAvailable
	}
	return nil
}

func uint16Prop(p *Properties, id PropID) *uint16 {
	switch id {
	case PropServerKeepAlive:
		return &p.ServerKeepAlive
	case PropReceiveMaximum:
		return &p.ReceiveMaximum
	case PropTopicAliasMaximum:
		return &p.TopicAliasMaximum
	case PropTopicAlias:
		return &p.TopicAlias
	}
	return nil
}

func uint32Prop(p *Properties, id PropID) *uint32 {
	switch id {
	case PropMessageExpiryInterval:
		return &p.MessageExpiryInterval
	case PropSessionExpiryInterval:
		return &p.SessionExpiryInterval
	case PropWillDelayInterval:
		return &p.WillDelayInterval
	case PropMaximumPacketSize:
		return &p.MaximumPacketSize
	}
	return nil
}

func stringProp(p *Properties, id PropID) *string {
	switch id {
	case PropContentType:
		return &p.ContentType
	case PropResponseTopic:
		return &p.ResponseTopic
	case PropAssignedClientIdentifier:
		return &p.AssignedClientIdentifier
	case PropAuthenticationMethod:
		return &p.AuthenticationMethod
	case PropResponseInformation:
		return &p.ResponseInformation
	case PropServerReference:
		return &p.ServerReference
	case PropReasonString:
		return &p.ReasonString
	}
	return nil
}

func binaryProp(p *Properties, id PropID) *[]byte {
	switch id {
	case PropCorrelationData:
		return &p.CorrelationData
	case PropAuthenticationData:
		return &p.AuthenticationData
	}
	return nil
}

// propsLen is the encoded size of p's properties, without the property
// length prefix. It fails for an unknown identifier in Present or a value
// that does not fit the wire.
func propsLen(pt Type, p *Properties) (int, error) {
	n := 0
	single := p.Present &^ propsMulti
	if single&^propsKnown != 0 {
		id := bits.TrailingZeros64(uint64(single &^ propsKnown))
		return 0, encodeError(pt, "Present has unknown property identifier 0x%02X", id)
	}
	for s := single; s != 0; s &= s - 1 {
		id := PropID(bits.TrailingZeros64(uint64(s)))
		n++ // identifier; all defined identifiers are below 128
		switch propInfo[id].kind {
		case kindByte:
			n++
		case kindUint16:
			n += 2
		case kindUint32:
			n += 4
		case kindString:
			v := *stringProp(p, id)
			if err := checkLen(pt, propInfo[id].name, len(v)); err != nil {
				return 0, err
			}
			n += 2 + len(v)
		case kindBinary:
			v := *binaryProp(p, id)
			if err := checkLen(pt, propInfo[id].name, len(v)); err != nil {
				return 0, err
			}
			n += 2 + len(v)
		}
	}
	for _, v := range p.SubscriptionIdentifiers {
		if v > MaxRemainingLength {
			return 0, encodeError(pt, "Subscription Identifier %d exceeds %d", v, MaxRemainingLength)
		}
		n += 1 + varintLen(int(v))
	}
	for i := range p.UserProperties {
		u := &p.UserProperties[i]
		if err := checkLen(pt, "user property key", len(u.Key)); err != nil {
			return 0, err
		}
		if err := checkLen(pt, "user property value", len(u.Value)); err != nil {
			return 0, err
		}
		n += 5 + len(u.Key) + len(u.Value)
	}
	return n, nil
}

// appendProps writes the property length n (from propsLen) and the
// properties: single-valued ones in identifier order, then Subscription
// Identifiers, then User Properties in their order.
func appendProps(dst []byte, p *Properties, n int) []byte {
	dst = appendVarint(dst, n)
	for s := p.Present &^ propsMulti; s != 0; s &= s - 1 {
		id := PropID(bits.TrailingZeros64(uint64(s)))
		dst = append(dst, byte(id))
		switch propInfo[id].kind {
		case kindByte:
			dst = append(dst, *byteProp(p, id))
		case kindUint16:
			dst = appendUint16(dst, *uint16Prop(p, id))
		case kindUint32:
			dst = appendUint32(dst, *uint32Prop(p, id))
		case kindString:
			dst = appendString(dst, *stringProp(p, id))
		case kindBinary:
			dst = appendBinary(dst, *binaryProp(p, id))
		}
	}
	for _, v := range p.SubscriptionIdentifiers {
		dst = append(dst, byte(PropSubscriptionIdentifier))
		dst = appendVarint(dst, int(v))
	}
	for i := range p.UserProperties {
		dst = append(dst, byte(PropUserProperty))
		dst = appendString(dst, p.UserProperties[i].Key)
		dst = appendString(dst, p.UserProperties[i].Value)
	}
	return dst
}
