package packet_test

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// unhex decodes a hex string written with spaces between groups.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// equate treats nil and empty slices alike.
var equate = cmpopts.EquateEmpty()

// props builds Properties with the Present bits of the given identifiers
// set, on top of the field values in p.
func props(p packet.Properties, ids ...packet.PropID) packet.Properties {
	for _, id := range ids {
		p.Set(id)
	}
	return p
}

var kv = []packet.UserProperty{{Key: "k", Value: "v"}}

// golden is one wire vector: wire is the whole packet as hex. decodeOnly
// vectors are valid but not what Append writes (Append writes the shortest
// form).
type golden struct {
	name       string
	version    byte
	wire       string
	pkt        packet.Packet
	decodeOnly bool
}

var goldens = []golden{
	// MQTT 3.1.1
	{name: "v4/connect/minimal", version: packet.Version311,
		wire: "10 0e 00044d515454 04 02 003c 0002 6331",
		pkt:  &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: 4, CleanStart: true, KeepAlive: 60, ClientID: "c1"}},
	{name: "v4/connect/will-username-password", version: packet.Version311,
		wire: "10 1f 00044d515454 04 ee 000a 0002 6964 0003 772f74 0003 627965 0001 75 0002 7077",
		pkt: &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: 4, CleanStart: true, KeepAlive: 10, ClientID: "id",
			Will:         &packet.Will{Topic: "w/t", Payload: []byte("bye"), QoS: 1, Retain: true},
			UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("pw")}},
	{name: "v4/connect/mqtt31", version: packet.Version311,
		wire: "10 0f 00064d5149736470 03 02 003c 0001 63",
		pkt:  &packet.Connect{ProtocolName: "MQIsdp", ProtocolVersion: 3, CleanStart: true, KeepAlive: 60, ClientID: "c"}},
	{name: "v4/connack/session-present", version: packet.Version311,
		wire: "20 02 01 00", pkt: &packet.Connack{SessionPresent: true}},
	{name: "v4/connack/not-authorized", version: packet.Version311,
		wire: "20 02 00 05", pkt: &packet.Connack{ReasonCode: packet.RetNotAuthorized}},
	{name: "v4/publish/qos0", version: packet.Version311,
		wire: "30 07 0003 612f62 6869", pkt: &packet.Publish{Topic: "a/b", Payload: []byte("hi")}},
	{name: "v4/publish/qos1-dup-retain", version: packet.Version311,
		wire: "3b 06 0001 61 0102 78",
		pkt:  &packet.Publish{Dup: true, QoS: 1, Retain: true, Topic: "a", PacketID: 0x0102, Payload: []byte("x")}},
	{name: "v4/publish/qos2-empty-payload", version: packet.Version311,
		wire: "34 05 0001 61 0007", pkt: &packet.Publish{QoS: 2, Topic: "a", PacketID: 7}},
	{name: "v4/puback", version: packet.Version311,
		wire: "40 02 0001", pkt: &packet.Ack{Kind: packet.PUBACK, PacketID: 1}},
	{name: "v4/pubrec", version: packet.Version311,
		wire: "50 02 0002", pkt: &packet.Ack{Kind: packet.PUBREC, PacketID: 2}},
	{name: "v4/pubrel", version: packet.Version311,
		wire: "62 02 0003", pkt: &packet.Ack{Kind: packet.PUBREL, PacketID: 3}},
	{name: "v4/pubcomp", version: packet.Version311,
		wire: "70 02 0004", pkt: &packet.Ack{Kind: packet.PUBCOMP, PacketID: 4}},
	{name: "v4/subscribe", version: packet.Version311,
		wire: "82 0c 000a 0003 612f2b 01 0001 23 00",
		pkt: &packet.Subscribe{PacketID: 10, Subscriptions: []packet.Subscription{
			{Filter: "a/+", QoS: 1}, {Filter: "#"}}}},
	{name: "v4/suback", version: packet.Version311,
		wire: "90 04 000a 01 80",
		pkt:  &packet.Suback{PacketID: 10, ReasonCodes: []packet.ReasonCode{packet.GrantedQoS1, packet.SubackFailure}}},
	{name: "v4/unsubscribe", version: packet.Version311,
		wire: "a2 0a 000b 0003 612f2b 0001 23",
		pkt:  &packet.Unsubscribe{PacketID: 11, Filters: []string{"a/+", "#"}}},
	{name: "v4/unsuback", version: packet.Version311,
		wire: "b0 02 000b", pkt: &packet.Unsuback{PacketID: 11}},
	{name: "v4/pingreq", version: packet.Version311, wire: "c0 00", pkt: &packet.Pingreq{}},
	{name: "v4/pingresp", version: packet.Version311, wire: "d0 00", pkt: &packet.Pingresp{}},
	{name: "v4/disconnect", version: packet.Version311, wire: "e0 00", pkt: &packet.Disconnect{}},

	// MQTT 5.0
	{name: "v5/connect/minimal", version: packet.Version5,
		wire: "10 0f 00044d515454 05 02 003c 00 0002 6331",
		pkt:  &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, CleanStart: true, KeepAlive: 60, ClientID: "c1"}},
	{name: "v5/connect/properties-will-password-only", version: packet.Version5,
		wire: "10 33 00044d515454 05 4e 003c" +
			" 0f 1100000e10 210014 2600016b000176" +
			" 0002 6964" +
			" 0c 0101 020000003c 180000001e 0001 77 0000" +
			" 0001 70",
		pkt: &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, CleanStart: true, KeepAlive: 60,
			Properties: props(packet.Properties{SessionExpiryInterval: 3600, ReceiveMaximum: 20, UserProperties: kv},
				packet.PropSessionExpiryInterval, packet.PropReceiveMaximum),
			ClientID: "id",
			Will: &packet.Will{Topic: "w", QoS: 1,
				Properties: props(packet.Properties{PayloadFormatIndicator: 1, MessageExpiryInterval: 60, WillDelayInterval: 30},
					packet.PropPayloadFormatIndicator, packet.PropMessageExpiryInterval, packet.PropWillDelayInterval)},
			PasswordFlag: true, Password: []byte("p")}},
	{name: "v5/connect/version-argument-ignored", version: packet.Version311,
		wire: "10 0f 00044d515454 05 02 003c 00 0002 6331",
		pkt:  &packet.Connect{ProtocolName: "MQTT", ProtocolVersion: 5, CleanStart: true, KeepAlive: 60, ClientID: "c1"}},
	{name: "v5/connack/properties", version: packet.Version5,
		wire: "20 10 00 00 0d 120003616263 22000a 2401 2500",
		pkt: &packet.Connack{Properties: props(packet.Properties{AssignedClientIdentifier: "abc", TopicAliasMaximum: 10, MaximumQoS: 1},
			packet.PropAssignedClientIdentifier, packet.PropTopicAliasMaximum, packet.PropMaximumQoS, packet.PropRetainAvailable)}},
	{name: "v5/connack/not-authorized", version: packet.Version5,
		wire: "20 03 00 87 00", pkt: &packet.Connack{ReasonCode: packet.NotAuthorized}},
	{name: "v5/publish/qos0-no-properties", version: packet.Version5,
		wire: "30 08 0003 612f62 00 6869", pkt: &packet.Publish{Topic: "a/b", Payload: []byte("hi")}},
	{name: "v5/publish/qos1-all-properties", version: packet.Version5,
		wire: "32 2e 000174 0005 26 0101 020000012c 03000474657874 08000172 090002abcd 230002 0b05 0b8001 2600016b000176 706c",
		pkt: &packet.Publish{QoS: 1, Topic: "t", PacketID: 5, Payload: []byte("pl"),
			Properties: props(packet.Properties{PayloadFormatIndicator: 1, MessageExpiryInterval: 300, ContentType: "text",
				ResponseTopic: "r", CorrelationData: []byte{0xab, 0xcd}, TopicAlias: 2,
				SubscriptionIdentifiers: []uint32{5, 128}, UserProperties: kv},
				packet.PropPayloadFormatIndicator, packet.PropMessageExpiryInterval, packet.PropContentType,
				packet.PropResponseTopic, packet.PropCorrelationData, packet.PropTopicAlias)}},
	{name: "v5/publish/topic-alias-only", version: packet.Version5,
		wire: "30 07 0000 03 230001 78",
		pkt:  &packet.Publish{Payload: []byte("x"), Properties: props(packet.Properties{TopicAlias: 1}, packet.PropTopicAlias)}},
	{name: "v5/puback/short", version: packet.Version5,
		wire: "40 02 0001", pkt: &packet.Ack{Kind: packet.PUBACK, PacketID: 1}},
	{name: "v5/puback/reason-only", version: packet.Version5,
		wire: "40 03 0001 10", pkt: &packet.Ack{Kind: packet.PUBACK, PacketID: 1, ReasonCode: packet.NoMatchingSubscribers}},
	{name: "v5/puback/explicit-success", version: packet.Version5, decodeOnly: true,
		wire: "40 04 0001 00 00", pkt: &packet.Ack{Kind: packet.PUBACK, PacketID: 1}},
	{name: "v5/pubrec/reason-string", version: packet.Version5,
		wire: "50 0a 0002 80 06 1f0003626164",
		pkt: &packet.Ack{Kind: packet.PUBREC, PacketID: 2, ReasonCode: packet.UnspecifiedError,
			Properties: props(packet.Properties{ReasonString: "bad"}, packet.PropReasonString)}},
	{name: "v5/pubrel/not-found", version: packet.Version5,
		wire: "62 03 0003 92", pkt: &packet.Ack{Kind: packet.PUBREL, PacketID: 3, ReasonCode: packet.PacketIdentifierNotFound}},
	{name: "v5/pubcomp/short", version: packet.Version5,
		wire: "70 02 0004", pkt: &packet.Ack{Kind: packet.PUBCOMP, PacketID: 4}},
	{name: "v5/subscribe/options-and-properties", version: packet.Version5,
		wire: "82 16 000a 09 0b07 2600016b000176 0003612f2b 2d 000123 10",
		pkt: &packet.Subscribe{PacketID: 10,
			Properties: packet.Properties{SubscriptionIdentifiers: []uint32{7}, UserProperties: kv},
			Subscriptions: []packet.Subscription{
				{Filter: "a/+", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
				{Filter: "#", RetainHandling: 1}}}},
	{name: "v5/suback", version: packet.Version5,
		wire: "90 06 000a 00 01 00 8f",
		pkt: &packet.Suback{PacketID: 10, ReasonCodes: []packet.ReasonCode{
			packet.GrantedQoS1, packet.Success, packet.TopicFilterInvalid}}},
	{name: "v5/unsubscribe", version: packet.Version5,
		wire: "a2 06 000b 00 000161", pkt: &packet.Unsubscribe{PacketID: 11, Filters: []string{"a"}}},
	{name: "v5/unsubscribe/user-property", version: packet.Version5,
		wire: "a2 0d 000b 07 2600016b000176 000161",
		pkt:  &packet.Unsubscribe{PacketID: 11, Filters: []string{"a"}, Properties: packet.Properties{UserProperties: kv}}},
	{name: "v5/unsuback", version: packet.Version5,
		wire: "b0 05 000b 00 00 11",
		pkt:  &packet.Unsuback{PacketID: 11, ReasonCodes: []packet.ReasonCode{packet.Success, packet.NoSubscriptionExisted}}},
	{name: "v5/pingreq", version: packet.Version5, wire: "c0 00", pkt: &packet.Pingreq{}},
	{name: "v5/pingresp", version: packet.Version5, wire: "d0 00", pkt: &packet.Pingresp{}},
	{name: "v5/disconnect/short", version: packet.Version5, wire: "e0 00", pkt: &packet.Disconnect{}},
	{name: "v5/disconnect/reason-only", version: packet.Version5,
		wire: "e0 01 04", pkt: &packet.Disconnect{ReasonCode: packet.DisconnectWithWill}},
	{name: "v5/disconnect/explicit-success", version: packet.Version5, decodeOnly: true,
		wire: "e0 02 00 00", pkt: &packet.Disconnect{}},
	{name: "v5/disconnect/properties", version: packet.Version5,
		wire: "e0 0c 8e 0a 1100000000 1f00026279",
		pkt: &packet.Disconnect{ReasonCode: packet.SessionTakenOver,
			Properties: props(packet.Properties{ReasonString: "by"}, packet.PropSessionExpiryInterval, packet.PropReasonString)}},
	{name: "v5/auth/short", version: packet.Version5, wire: "f0 00", pkt: &packet.Auth{}},
	{name: "v5/auth/reason-only", version: packet.Version5, decodeOnly: true,
		wire: "f0 01 00", pkt: &packet.Auth{}},
	{name: "v5/auth/reauthenticate", version: packet.Version5,
		wire: "f0 02 19 00", pkt: &packet.Auth{ReasonCode: packet.ReAuthenticate}},
	{name: "v5/auth/properties", version: packet.Version5,
		wire: "f0 0e 18 0c 15000453435241 1600020102",
		pkt: &packet.Auth{ReasonCode: packet.ContinueAuthentication,
			Properties: props(packet.Properties{AuthenticationMethod: "SCRA", AuthenticationData: []byte{1, 2}},
				packet.PropAuthenticationMethod, packet.PropAuthenticationData)}},
}

func TestDecodeGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range goldens {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wire := unhex(t, tc.wire)
			got, err := packet.Read(bytes.NewReader(wire), tc.version, 0)
			if err != nil {
				t.Fatalf("Read(%s) error: %v", tc.wire, err)
			}
			if diff := cmp.Diff(tc.pkt, got, equate); diff != "" {
				t.Errorf("Read(%s) mismatch (-want +got):\n%s", tc.wire, diff)
			}
		})
	}
}

func TestAppendGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range goldens {
		if tc.decodeOnly {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			want := unhex(t, tc.wire)
			prefix := []byte{0xAA}
			got, err := packet.Append(prefix, tc.pkt, tc.version)
			if err != nil {
				t.Fatalf("Append() error: %v", err)
			}
			if got[0] != 0xAA || !bytes.Equal(got[1:], want) {
				t.Errorf("Append() = % x, want aa % x", got, want)
			}
		})
	}
}

// TestAppendVersion311 checks that the v5-only fields are dropped in 3.1.1.
func TestAppendVersion311(t *testing.T) {
	t.Parallel()
	reason := props(packet.Properties{ReasonString: "x", UserProperties: kv}, packet.PropReasonString)
	tests := []struct {
		name string
		pkt  packet.Packet
		wire string
	}{
		{"publish-properties-dropped", &packet.Publish{Topic: "a", Payload: []byte("p"),
			Properties: props(packet.Properties{MessageExpiryInterval: 5}, packet.PropMessageExpiryInterval)},
			"30 04 000161 70"},
		{"puback-reason-dropped", &packet.Ack{Kind: packet.PUBACK, PacketID: 9, ReasonCode: packet.QuotaExceeded, Properties: reason},
			"40 02 0009"},
		{"subscribe-v5-options-dropped", &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
			{Filter: "a", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2}}},
			"82 06 0001 000161 02"},
		{"unsuback-codes-dropped", &packet.Unsuback{PacketID: 2, ReasonCodes: []packet.ReasonCode{packet.Success}},
			"b0 02 0002"},
		{"disconnect-reason-dropped", &packet.Disconnect{ReasonCode: packet.ServerShuttingDown, Properties: reason},
			"e0 00"},
		{"connack-properties-dropped", &packet.Connack{ReasonCode: packet.RetServerUnavailable, Properties: reason},
			"20 02 00 03"},
		{"publish-dup-dropped-on-qos0", &packet.Publish{Dup: true, Topic: "a"}, "30 03 000161"},
		{"connect-defaults-from-version", &packet.Connect{ClientID: "c", Username: "u", Password: []byte("p")},
			"10 13 00044d515454 04 c0 0000 000163 000175 000170"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := packet.Append(nil, tc.pkt, packet.Version311)
			if err != nil {
				t.Fatalf("Append() error: %v", err)
			}
			if want := unhex(t, tc.wire); !bytes.Equal(got, want) {
				t.Errorf("Append() = % x, want % x", got, want)
			}
		})
	}
}

func TestAppendErrors(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 65536)
	tests := []struct {
		name    string
		version byte
		pkt     packet.Packet
	}{
		{"publish-topic-too-long", packet.Version311, &packet.Publish{Topic: long}},
		{"publish-qos3", packet.Version311, &packet.Publish{Topic: "a", QoS: 3, PacketID: 1}},
		{"publish-qos1-packet-id-0", packet.Version311, &packet.Publish{Topic: "a", QoS: 1}},
		{"publish-user-property-too-long", packet.Version5, &packet.Publish{Topic: "a",
			Properties: packet.Properties{UserProperties: []packet.UserProperty{{Key: long}}}}},
		{"publish-content-type-too-long", packet.Version5, &packet.Publish{Topic: "a",
			Properties: props(packet.Properties{ContentType: long}, packet.PropContentType)}},
		{"publish-unknown-property-bit", packet.Version5, &packet.Publish{Topic: "a",
			Properties: packet.Properties{Present: 1 << 4}}},
		{"publish-subscription-identifier-too-big", packet.Version5, &packet.Publish{Topic: "a",
			Properties: packet.Properties{SubscriptionIdentifiers: []uint32{packet.MaxRemainingLength + 1}}}},
		{"connect-client-id-too-long", packet.Version311, &packet.Connect{ClientID: long}},
		{"connect-will-qos3", packet.Version311, &packet.Connect{Will: &packet.Will{Topic: "a", QoS: 3}}},
		{"connect-password-too-long", packet.Version311, &packet.Connect{Password: []byte(long)}},
		{"subscribe-qos3", packet.Version311, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a", QoS: 3}}}},
		{"subscribe-retain-handling-3", packet.Version5, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a", RetainHandling: 3}}}},
		{"unsubscribe-filter-too-long", packet.Version311, &packet.Unsubscribe{PacketID: 1, Filters: []string{long}}},
		{"ack-bad-kind", packet.Version311, &packet.Ack{Kind: packet.CONNECT, PacketID: 1}},
		{"auth-in-311", packet.Version311, &packet.Auth{}},
		{"nil-packet", packet.Version5, nil},
		{"nil-publish", packet.Version5, (*packet.Publish)(nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dst := []byte{1, 2}
			got, err := packet.Append(dst, tc.pkt, tc.version)
			if err == nil {
				t.Fatalf("Append() = % x, want an error", got)
			}
			if !bytes.Equal(got, dst) {
				t.Errorf("Append() with error returned % x, want dst unchanged", got)
			}
		})
	}
}
