package packet_test

import (
	"errors"
	"testing"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

const (
	v4 = packet.Version311
	v5 = packet.Version5
)

// connect311 and connect5 are CONNECT bodies up to and including the
// protocol level.
const (
	connect311 = "00044d515454 04 "
	connect5   = "00044d515454 05 "
)

func TestDecodeMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		version byte
		header  byte
		body    string
		want    packet.ReasonCode
	}{
		// Fixed header.
		{"reserved-type-0", v4, 0x00, "", packet.MalformedPacket},
		{"auth-in-311", v4, 0xF0, "", packet.MalformedPacket},
		{"publish-qos3", v4, 0x36, "000161", packet.MalformedPacket},
		{"publish-dup-on-qos0", v5, 0x38, "000161 00", packet.MalformedPacket},
		{"subscribe-flags-0", v4, 0x80, "000a 000161 00", packet.MalformedPacket},
		{"unsubscribe-flags-0", v4, 0xA0, "000a 000161", packet.MalformedPacket},
		{"pubrel-flags-0", v4, 0x60, "0001", packet.MalformedPacket},
		{"puback-flags-2", v4, 0x42, "0001", packet.MalformedPacket},
		{"pingreq-flags-1", v4, 0xC1, "", packet.MalformedPacket},
		{"connect-flags-1", v4, 0x11, connect311 + "02 003c 000163", packet.MalformedPacket},

		// CONNECT.
		{"connect-reserved-flag", v4, 0x10, connect311 + "03 003c 000163", packet.MalformedPacket},
		{"connect-will-qos-without-will", v4, 0x10, connect311 + "0a 003c 000163", packet.MalformedPacket},
		{"connect-will-retain-without-will", v4, 0x10, connect311 + "22 003c 000163", packet.MalformedPacket},
		{"connect-will-qos3", v4, 0x10, connect311 + "1e 003c 000163 000161 0000", packet.MalformedPacket},
		{"connect-password-without-username-311", v4, 0x10, connect311 + "42 003c 000163 000170", packet.MalformedPacket},
		{"connect-level-6", v4, 0x10, "00044d515454 06 02 003c 000163", packet.UnsupportedProtocolVersion},
		{"connect-mqtt-level-3", v4, 0x10, "00044d515454 03 02 003c 000163", packet.UnsupportedProtocolVersion},
		{"connect-mqisdp-level-4", v4, 0x10, "00064d5149736470 04 02 003c 000163", packet.UnsupportedProtocolVersion},
		{"connect-bad-name", v4, 0x10, "00044d515458 04 02 003c 000163", packet.UnsupportedProtocolVersion},
		{"connect-truncated-keep-alive", v4, 0x10, connect311 + "02 00", packet.MalformedPacket},
		{"connect-truncated-client-id", v4, 0x10, connect311 + "02 003c 0005 6363", packet.MalformedPacket},
		{"connect-missing-will", v4, 0x10, connect311 + "06 003c 000163", packet.MalformedPacket},
		{"connect-missing-username", v4, 0x10, connect311 + "82 003c 000163", packet.MalformedPacket},
		{"connect-trailing-bytes", v4, 0x10, connect311 + "02 003c 000163 00", packet.MalformedPacket},
		{"connect-client-id-invalid-utf8", v4, 0x10, connect311 + "02 003c 0002 c328", packet.MalformedPacket},
		{"connect-client-id-nul", v4, 0x10, connect311 + "02 003c 0002 6100", packet.MalformedPacket},
		{"connect-client-id-surrogate", v4, 0x10, connect311 + "02 003c 0003 eda080", packet.MalformedPacket},
		{"connect-client-id-nul-after-utf8", v4, 0x10, connect311 + "02 003c 0003 c3a900", packet.MalformedPacket},
		{"connect-protocol-name-invalid-utf8", v4, 0x10, "0001ff 04 02 003c 000163", packet.MalformedPacket},
		{"connect-username-invalid-utf8", v4, 0x10, connect311 + "82 003c 000163 0001ff", packet.MalformedPacket},
		{"connect-will-topic-invalid-utf8", v4, 0x10, connect311 + "06 003c 000163 0001ff 0000", packet.MalformedPacket},
		{"connect5-receive-maximum-0", v4, 0x10, connect5 + "02 003c 03 210000 000163", packet.ProtocolError},
		{"connect5-maximum-packet-size-0", v4, 0x10, connect5 + "02 003c 05 2700000000 000163", packet.ProtocolError},
		{"connect5-request-problem-information-2", v4, 0x10, connect5 + "02 003c 02 1702 000163", packet.ProtocolError},
		{"connect5-request-response-information-2", v4, 0x10, connect5 + "02 003c 02 1902 000163", packet.ProtocolError},
		{"connect5-session-expiry-twice", v4, 0x10, connect5 + "02 003c 0a 1100000001 1100000002 000163", packet.ProtocolError},
		{"connect5-topic-alias-not-allowed", v4, 0x10, connect5 + "02 003c 03 230001 000163", packet.MalformedPacket},
		{"connect5-will-delay-not-allowed", v4, 0x10, connect5 + "02 003c 05 1800000001 000163", packet.MalformedPacket},
		{"connect5-will-session-expiry-not-allowed", v4, 0x10, connect5 + "06 003c 00 000163 05 1100000001 000161 0000", packet.MalformedPacket},
		{"connect5-will-payload-format-2", v4, 0x10, connect5 + "06 003c 00 000163 02 0102 000161 0000", packet.ProtocolError},
		{"connect5-auth-data-without-method", v4, 0x10, connect5 + "02 003c 04 16000101 000163", packet.ProtocolError},
		{"connect5-properties-overrun", v4, 0x10, connect5 + "02 003c 09 210001", packet.MalformedPacket},
		{"connect5-missing-properties", v4, 0x10, connect5 + "02 003c", packet.MalformedPacket},

		// CONNACK.
		{"connack-reserved-flags", v4, 0x20, "02 00", packet.MalformedPacket},
		{"connack-truncated", v4, 0x20, "00", packet.MalformedPacket},
		{"connack-trailing-311", v4, 0x20, "00 00 00", packet.MalformedPacket},
		{"connack5-missing-properties", v5, 0x20, "00 00", packet.MalformedPacket},
		{"connack5-maximum-qos-2", v5, 0x20, "00 00 02 2402", packet.ProtocolError},
		{"connack5-retain-available-2", v5, 0x20, "00 00 02 2502", packet.ProtocolError},
		{"connack5-wildcard-available-2", v5, 0x20, "00 00 02 2802", packet.ProtocolError},
		{"connack5-subscription-id-available-2", v5, 0x20, "00 00 02 2902", packet.ProtocolError},
		{"connack5-shared-available-2", v5, 0x20, "00 00 02 2a02", packet.ProtocolError},
		{"connack5-request-problem-not-allowed", v5, 0x20, "00 00 02 1701", packet.MalformedPacket},

		// PUBLISH.
		{"publish-qos1-packet-id-0", v4, 0x32, "000161 0000", packet.MalformedPacket},
		{"publish-qos1-truncated-packet-id", v4, 0x32, "000161 00", packet.MalformedPacket},
		{"publish-empty-topic-311", v4, 0x30, "0000 70", packet.ProtocolError},
		{"publish-truncated-topic", v4, 0x30, "0005 6161", packet.MalformedPacket},
		{"publish-topic-invalid-utf8", v4, 0x30, "0002 c0af", packet.MalformedPacket},
		{"publish5-empty-topic-without-alias", v5, 0x30, "0000 00", packet.ProtocolError},
		{"publish5-missing-properties", v5, 0x30, "000161", packet.MalformedPacket},
		{"publish5-unknown-property", v5, 0x30, "000161 02 0500", packet.MalformedPacket},
		{"publish5-property-id-too-big", v5, 0x30, "000161 03 ff0100", packet.MalformedPacket},
		{"publish5-property-not-allowed", v5, 0x30, "000161 05 1100000000", packet.MalformedPacket},
		{"publish5-topic-alias-twice", v5, 0x30, "000161 06 230001 230002", packet.ProtocolError},
		{"publish5-content-type-twice", v5, 0x30, "000161 08 03000161 03000162", packet.ProtocolError},
		{"publish5-payload-format-2", v5, 0x30, "000161 02 0102", packet.ProtocolError},
		{"publish5-topic-alias-0", v5, 0x30, "000161 03 230000", packet.TopicAliasInvalid},
		{"publish5-subscription-id-0", v5, 0x30, "000161 02 0b00", packet.ProtocolError},
		{"publish5-subscription-id-5-bytes", v5, 0x30, "000161 06 0bffffffff01", packet.MalformedPacket},
		{"publish5-properties-overrun", v5, 0x30, "000161 05 01", packet.MalformedPacket},
		{"publish5-property-value-truncated", v5, 0x30, "000161 02 0200", packet.MalformedPacket},
		{"publish5-string-property-overrun", v5, 0x30, "000161 04 03000561 6262626262", packet.MalformedPacket},
		{"publish5-user-property-invalid-utf8", v5, 0x30, "000161 07 260001ff000176", packet.MalformedPacket},
		{"publish5-user-property-missing-value", v5, 0x30, "000161 04 2600016b", packet.MalformedPacket},
		{"publish5-response-topic-nul", v5, 0x30, "000161 04 08000100", packet.MalformedPacket},

		// Acks.
		{"puback-truncated", v4, 0x40, "00", packet.MalformedPacket},
		{"puback-empty", v5, 0x40, "", packet.MalformedPacket},
		{"puback-packet-id-0", v4, 0x40, "0000", packet.MalformedPacket},
		{"puback-trailing-311", v4, 0x40, "0001 00", packet.MalformedPacket},
		{"pubcomp5-trailing", v5, 0x70, "0001 00 00 00", packet.MalformedPacket},
		{"pubrec5-property-not-allowed", v5, 0x50, "0001 00 03 230001", packet.MalformedPacket},
		{"pubrel5-reason-string-twice", v5, 0x62, "0001 00 08 1f000161 1f000162", packet.ProtocolError},

		// SUBSCRIBE.
		{"subscribe-no-filters", v4, 0x82, "000a", packet.ProtocolError},
		{"subscribe-packet-id-0", v4, 0x82, "0000 000161 00", packet.MalformedPacket},
		{"subscribe-missing-options", v4, 0x82, "000a 000161", packet.MalformedPacket},
		{"subscribe-reserved-bits-311", v4, 0x82, "000a 000161 04", packet.MalformedPacket},
		{"subscribe-qos3-311", v4, 0x82, "000a 000161 03", packet.MalformedPacket},
		{"subscribe-filter-invalid-utf8", v4, 0x82, "000a 0001ff 00", packet.MalformedPacket},
		{"subscribe5-no-filters", v5, 0x82, "000a 00", packet.ProtocolError},
		{"subscribe5-reserved-bits", v5, 0x82, "000a 00 000161 40", packet.MalformedPacket},
		{"subscribe5-retain-handling-3", v5, 0x82, "000a 00 000161 30", packet.ProtocolError},
		{"subscribe5-qos3", v5, 0x82, "000a 00 000161 03", packet.ProtocolError},
		{"subscribe5-subscription-id-0", v5, 0x82, "000a 02 0b00 000161 00", packet.ProtocolError},
		{"subscribe5-subscription-id-twice", v5, 0x82, "000a 04 0b01 0b02 000161 00", packet.ProtocolError},
		{"subscribe5-topic-alias-not-allowed", v5, 0x82, "000a 03 230001 000161 00", packet.MalformedPacket},

		// SUBACK, UNSUBSCRIBE, UNSUBACK.
		{"suback-return-code-3-311", v4, 0x90, "000a 03", packet.MalformedPacket},
		{"suback-no-codes", v4, 0x90, "000a", packet.ProtocolError},
		{"suback5-no-codes", v5, 0x90, "000a 00", packet.ProtocolError},
		{"unsubscribe-no-filters", v4, 0xA2, "000b", packet.ProtocolError},
		{"unsubscribe5-no-filters", v5, 0xA2, "000b 00", packet.ProtocolError},
		{"unsubscribe-truncated-filter", v4, 0xA2, "000b 0003 61", packet.MalformedPacket},
		{"unsubscribe5-subscription-id-not-allowed", v5, 0xA2, "000b 02 0b01 000161", packet.MalformedPacket},
		{"unsuback-trailing-311", v4, 0xB0, "000b 00", packet.MalformedPacket},
		{"unsuback5-no-codes", v5, 0xB0, "000b 00", packet.ProtocolError},

		// PINGREQ, PINGRESP, DISCONNECT, AUTH.
		{"pingreq-body", v4, 0xC0, "00", packet.MalformedPacket},
		{"pingresp-body", v5, 0xD0, "00", packet.MalformedPacket},
		{"disconnect-body-311", v4, 0xE0, "00", packet.MalformedPacket},
		{"disconnect5-properties-overrun", v5, 0xE0, "00 05 11", packet.MalformedPacket},
		{"disconnect5-trailing", v5, 0xE0, "00 00 00", packet.MalformedPacket},
		{"disconnect5-topic-alias-not-allowed", v5, 0xE0, "00 03 230001", packet.MalformedPacket},
		{"auth5-flags-1", v5, 0xF1, "", packet.MalformedPacket},
		{"auth5-session-expiry-not-allowed", v5, 0xF0, "18 05 1100000001", packet.MalformedPacket},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := unhex(t, tc.body)
			p, err := packet.Decode(tc.header, body, tc.version)
			var perr *packet.Error
			if !errors.As(err, &perr) {
				t.Fatalf("Decode(%02x, %s) = %#v, %v; want *Error with code 0x%02X", tc.header, tc.body, p, err, byte(tc.want))
			}
			if p != nil {
				t.Errorf("Decode() returned packet %#v with an error", p)
			}
			if perr.Code != tc.want {
				t.Errorf("Decode(%02x, %s) code = 0x%02X (%s), want 0x%02X", tc.header, tc.body, byte(perr.Code), perr.Reason, byte(tc.want))
			}
		})
	}
}
