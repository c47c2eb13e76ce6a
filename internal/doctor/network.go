package doctor

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/thingcore/thingcore/internal/devicebundle"
	"github.com/thingcore/thingcore/internal/mqtt/packet"
)

// alpnAWS is the ALPN protocol AWS IoT devices send to reach MQTT on 443.
const alpnAWS = "x-amzn-mqtt-ca"

// maxPacket bounds the packets the doctor reads.
const maxPacket = 1 << 20

// deadline returns when a network step must end: d from now, or ctx's
// deadline if that is sooner.
func (r *run) deadline(ctx context.Context, d time.Duration) time.Time {
	t := r.deps.Now().Add(d)
	if cd, ok := ctx.Deadline(); ok && cd.Before(t) {
		return cd
	}
	return t
}

// checkTCP: step 8.
func (r *run) checkTCP(ctx context.Context) Result {
	if r.endpoint == "" {
		return Result{Status: StatusSkip, Summary: "skipped: no endpoint (device.json did not parse); pass --endpoint HOST:PORT"}
	}
	ctx, cancel := context.WithDeadline(ctx, r.deadline(ctx, r.cfg.StepTimeout))
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", r.endpoint)
	if err != nil {
		return r.dialFailure(err)
	}
	r.conn = conn
	return pass(fmt.Sprintf("connected to %s (%s)", r.endpoint, conn.RemoteAddr()))
}

// dialFailure explains a failed TCP connection.
func (r *run) dialFailure(err error) Result {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return fail(CauseDNS, fmt.Sprintf("cannot resolve %s: %s", r.host, dnsErr.Err),
			"use the hub's IP address (thingcore thing create --mqtt-host IP, or --endpoint IP:PORT), or add "+r.host+" to your DNS")
	case errors.Is(err, syscall.ECONNREFUSED):
		return fail(CauseConnRefused, fmt.Sprintf("connection refused by %s: nothing listens there", r.endpoint),
			"start the hub (`thingcore serve`), or fix the port: the hub serves MQTT over TLS on 8883 unless --mqtt-addr says otherwise")
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return fail(CauseTimeout, fmt.Sprintf("no answer from %s within %s", r.endpoint, r.cfg.StepTimeout),
			"check the address, that the hub runs there, and that no firewall drops port "+r.port)
	}
	return fail(CauseNetwork, fmt.Sprintf("cannot connect to %s: %v", r.endpoint, err),
		"check the address and the network between the device and the hub")
}

// alpn returns the ALPN protocols a device sends to port: AWS's MQTT
// protocol on 443, none on 8883 (MicroPython's ssl and most devices send
// none).
func (r *run) alpn() []string {
	if r.port == "443" {
		return []string{alpnAWS}
	}
	return nil
}

// checkTLS: step 9. It handshakes as the device would (SNI = the host it
// uses, its ALPN, its certificate), then verifies the server's chain
// against root-CA.pem and its names against the host.
func (r *run) checkTLS(ctx context.Context) Result {
	cfg := &tls.Config{
		ServerName:         r.host,
		NextProtos:         r.alpn(),
		InsecureSkipVerify: true, // verified below, to tell an unknown CA from a wrong name
		MinVersion:         tls.VersionTLS12,
	}
	if r.keyPair != nil {
		cfg.Certificates = []tls.Certificate{*r.keyPair}
	}
	tc := tls.Client(r.conn, cfg)
	r.conn = tc
	hctx, cancel := context.WithDeadline(ctx, r.deadline(ctx, r.cfg.StepTimeout))
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return fail(CauseTLSHandshake, fmt.Sprintf("TLS handshake with %s failed: %v", r.endpoint, err),
			"check that "+r.endpoint+" is the hub's MQTT over TLS port (8883 by default), not its HTTPS API or plain MQTT port")
	}
	st := tc.ConnectionState()
	if len(st.PeerCertificates) == 0 {
		return fail(CauseTLSHandshake, "the server sent no certificate", "check that "+r.endpoint+" is the hub")
	}
	leaf := st.PeerCertificates[0]
	names := serverNames(leaf)
	inter := x509.NewCertPool()
	for _, c := range st.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	var notes []string
	if r.roots == nil {
		notes = append(notes, "the server's chain was not verified: "+rootCAName(r.dev)+" did not parse")
	} else if _, err := leaf.Verify(x509.VerifyOptions{Roots: r.roots, Intermediates: inter, CurrentTime: r.deps.Now()}); err != nil {
		return fail(CauseServerUntrusted,
			fmt.Sprintf("the server's certificate (issued by %q) does not verify against %s: %v", leaf.Issuer.String(), rootCAName(r.dev), err),
			r.copyRootFix(rootCAName(r.dev))+"; or point the device at the right hub")
	}
	proto := st.NegotiatedProtocol
	if proto == "" {
		proto = "none"
	}
	summary := fmt.Sprintf("%s, %s, ALPN %s; server certificate for %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), proto, strings.Join(names, ", "))
	if err := leaf.VerifyHostname(r.host); err != nil {
		return fail(CauseServerName,
			fmt.Sprintf("the hub's certificate names %s, not %s, the host the device uses", strings.Join(names, ", "), r.host),
			"restart the hub with that name: thingcore serve --server-name "+r.host+serverNameFlags(names, r.host),
			append([]string{summary}, notes...)...)
	}
	return pass(summary, notes...)
}

// serverNames lists a certificate's DNS names and IP addresses.
func serverNames(c *x509.Certificate) []string {
	names := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	return names
}

// serverNameFlags repeats --server-name for the names the hub has, so the
// fix keeps them.
func serverNameFlags(names []string, except string) string {
	var b strings.Builder
	for _, n := range names {
		if n != except {
			b.WriteString(" --server-name " + n)
		}
	}
	return b.String()
}

// write encodes and sends one packet.
func (r *run) write(p packet.Packet, deadline time.Time) error {
	b, err := packet.Append(nil, p, packet.Version5)
	if err != nil {
		return fmt.Errorf("encode %s: %w", p.Type(), err)
	}
	r.conn.SetWriteDeadline(deadline)
	_, err = r.conn.Write(b)
	return err
}

// read reads one packet before deadline.
func (r *run) read(deadline time.Time) (packet.Packet, error) {
	r.conn.SetReadDeadline(deadline)
	return packet.Read(r.br, packet.Version5, maxPacket)
}

// checkConnect: step 10. MQTT 5, so that a refusal carries the hub's
// reason string.
func (r *run) checkConnect(ctx context.Context) Result {
	dl := r.deadline(ctx, r.cfg.StepTimeout)
	r.br = bufio.NewReader(r.conn)
	c := &packet.Connect{ProtocolVersion: packet.Version5, CleanStart: true, KeepAlive: 60, ClientID: r.dev.ClientID}
	if err := r.write(c, dl); err != nil {
		return fail(CauseMQTT, "send CONNECT: "+err.Error(), "check the network; the hub's log says more")
	}
	p, err := r.read(dl)
	if err != nil {
		return r.readFailure("CONNACK", err)
	}
	ack, ok := p.(*packet.Connack)
	if !ok {
		return fail(CauseMQTT, fmt.Sprintf("the hub answered CONNECT with %s, not CONNACK", p.Type()), "check that "+r.endpoint+" is the hub's MQTT port")
	}
	if ack.ReasonCode != packet.Success {
		reason := reasonText(ack.Properties)
		fix := "fix what the hub names above (its log has the same line)"
		if cmd := quotedCommand(reason); cmd != "" {
			fix = "as the hub says: " + cmd
		}
		return fail(CauseConnectRefused,
			fmt.Sprintf("CONNACK %s for client id %s: %s", codeString(ack.ReasonCode), r.dev.ClientID, reason), fix)
	}
	return pass(fmt.Sprintf("CONNACK %s as client id %s (MQTT 5)", codeString(ack.ReasonCode), r.dev.ClientID))
}

// readFailure explains a failed read of the packet want.
func (r *run) readFailure(want string, err error) Result {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return fail(CauseMQTT, "the hub closed the connection before "+want, "read the hub's log for the reason")
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fail(CauseTimeout, fmt.Sprintf("no %s within %s", want, r.cfg.StepTimeout), "read the hub's log; is it overloaded?")
	}
	return fail(CauseMQTT, "read "+want+": "+err.Error(), "read the hub's log for the reason")
}

// Packet ids of the doctor's SUBSCRIBE and PUBLISH.
const (
	subscribeID = 1
	publishID   = 2
)

// checkPublish: step 11. It subscribes to update/accepted and
// update/rejected (for step 12), then publishes a reported state at QoS 1
// and reads the PUBACK.
func (r *run) checkPublish(ctx context.Context) Result {
	dl := r.deadline(ctx, r.cfg.StepTimeout)
	thing := r.dev.ThingName
	sub := &packet.Subscribe{PacketID: subscribeID, Subscriptions: []packet.Subscription{
		{Filter: devicebundle.ShadowTopic(thing, "update/accepted")},
		{Filter: devicebundle.ShadowTopic(thing, "update/rejected")},
	}}
	if err := r.write(sub, dl); err != nil {
		return fail(CauseMQTT, "send SUBSCRIBE: "+err.Error(), "read the hub's log for the reason")
	}
	var nonce [6]byte
	rand.Read(nonce[:])
	r.token = "doctor-" + hex.EncodeToString(nonce[:])
	doc, _ := json.Marshal(map[string]any{
		"state":       map[string]any{"reported": map[string]any{"doctor": stamp(r.deps.Now())}},
		"clientToken": r.token,
	})
	topic := devicebundle.ShadowTopic(thing, "update")
	if err := r.write(&packet.Publish{QoS: 1, PacketID: publishID, Topic: topic, Payload: doc}, dl); err != nil {
		return fail(CauseMQTT, "send PUBLISH: "+err.Error(), "read the hub's log for the reason")
	}
	for {
		p, err := r.read(dl)
		if err != nil {
			res := r.readFailure("PUBACK", err)
			if res.Cause == CauseMQTT {
				res.Cause = CausePublishDenied
				res.Summary += " (AWS IoT Core and the hub close the connection of an MQTT 3.1.1 client whose publish is denied)"
			}
			return res
		}
		switch p := p.(type) {
		case *packet.Suback:
			r.subAck = p
		case *packet.Publish:
			r.early = append(r.early, p)
		case *packet.Disconnect:
			return fail(CausePublishDenied, fmt.Sprintf("the hub disconnected: %s: %s", codeString(p.ReasonCode), reasonText(p.Properties)),
				"allow iot:Publish on "+topic+" in the certificate's policy")
		case *packet.Ack:
			if p.Kind != packet.PUBACK || p.PacketID != publishID {
				continue
			}
			if p.ReasonCode >= 0x80 {
				return fail(CausePublishDenied, fmt.Sprintf("PUBACK %s for %s: %s", codeString(p.ReasonCode), topic, reasonText(p.Properties)),
					"allow iot:Publish on "+topic+" in the certificate's policy")
			}
			return pass(fmt.Sprintf("PUBACK %s for %s", codeString(p.ReasonCode), topic))
		}
	}
}

// shadowAnswer is the part of update/accepted and update/rejected read.
type shadowAnswer struct {
	ClientToken string `json:"clientToken"`
	Version     int64  `json:"version"`
	Code        int    `json:"code"`
	Message     string `json:"message"`
}

// checkShadow: step 12. It waits for the shadow service's answer to the
// update step 11 published, then removes the key that update added.
func (r *run) checkShadow(ctx context.Context) Result {
	thing := r.dev.ThingName
	accepted := devicebundle.ShadowTopic(thing, "update/accepted")
	rejected := devicebundle.ShadowTopic(thing, "update/rejected")
	dl := r.deadline(ctx, r.cfg.ShadowTimeout)
	for {
		if r.subAck != nil && len(r.subAck.ReasonCodes) > 0 && r.subAck.ReasonCodes[0] >= 0x80 {
			return fail(CauseSubscribeDenied, fmt.Sprintf("SUBACK %s for %s: %s", codeString(r.subAck.ReasonCodes[0]), accepted, reasonText(r.subAck.Properties)),
				"allow iot:Subscribe on topicfilter/"+accepted+" and iot:Receive on topic/"+accepted+" in the certificate's policy")
		}
		for len(r.early) > 0 {
			p := r.early[0]
			r.early = r.early[1:]
			var a shadowAnswer
			if json.Unmarshal(p.Payload, &a) != nil || a.ClientToken != r.token {
				continue
			}
			switch p.Topic {
			case accepted:
				// Leave the device's reported state as it was: take the
				// doctor's key out again (QoS 0; a leftover key is harmless).
				_ = r.write(&packet.Publish{Topic: devicebundle.ShadowTopic(thing, "update"),
					Payload: []byte(`{"state":{"reported":{"doctor":null}}}`)}, dl)
				return pass(fmt.Sprintf("update/accepted (shadow version %d)", a.Version))
			case rejected:
				return fail(CauseShadowRejected, fmt.Sprintf("update/rejected: %d %s", a.Code, a.Message),
					"the hub's shadow service refused a valid update; read its log")
			}
		}
		p, err := r.read(dl)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fail(CauseShadowNoAnswer, fmt.Sprintf("no answer on update/accepted or update/rejected within %s", r.cfg.ShadowTimeout),
				"check that the hub's shadow service runs (its log), and that the policy allows iot:Receive on "+accepted)
		}
		if err != nil {
			return r.readFailure("the shadow's answer", err)
		}
		switch p := p.(type) {
		case *packet.Suback:
			r.subAck = p
		case *packet.Publish:
			r.early = append(r.early, p)
		}
	}
}

// quotedCommand returns the first `thingcore ...` or `aws ...` command a
// hub's reason string quotes in backticks, or "".
func quotedCommand(reason string) string {
	for rest := reason; ; {
		_, after, ok := strings.Cut(rest, "`")
		if !ok {
			return ""
		}
		cmd, tail, ok := strings.Cut(after, "`")
		if !ok {
			return ""
		}
		if strings.HasPrefix(cmd, "thingcore ") || strings.HasPrefix(cmd, "aws ") {
			return cmd
		}
		rest = tail
	}
}

// reasonText is a packet's v5 reason string, or a note that there is none.
func reasonText(p packet.Properties) string {
	if p.Has(packet.PropReasonString) && p.ReasonString != "" {
		return p.ReasonString
	}
	return "(no reason string)"
}

// codeNames are the reason codes the doctor may see.
var codeNames = map[packet.ReasonCode]string{
	packet.Success:                     "Success",
	packet.NoMatchingSubscribers:       "No matching subscribers",
	packet.UnspecifiedError:            "Unspecified error",
	packet.MalformedPacket:             "Malformed packet",
	packet.ProtocolError:               "Protocol error",
	packet.ImplementationSpecificError: "Implementation specific error",
	packet.UnsupportedProtocolVersion:  "Unsupported protocol version",
	packet.ClientIdentifierNotValid:    "Client identifier not valid",
	packet.BadUserNameOrPassword:       "Bad user name or password",
	packet.NotAuthorized:               "Not authorized",
	packet.ServerUnavailable:           "Server unavailable",
	packet.ServerBusy:                  "Server busy",
	packet.Banned:                      "Banned",
	packet.ServerShuttingDown:          "Server shutting down",
	packet.SessionTakenOver:            "Session taken over",
	packet.TopicFilterInvalid:          "Topic filter invalid",
	packet.TopicNameInvalid:            "Topic name invalid",
	packet.PacketTooLarge:              "Packet too large",
	packet.QuotaExceeded:               "Quota exceeded",
	packet.PayloadFormatInvalid:        "Payload format invalid",
	packet.RetainNotSupported:          "Retain not supported",
	packet.QoSNotSupported:             "QoS not supported",
	packet.ConnectionRateExceeded:      "Connection rate exceeded",
}

// codeString is "0x87 Not authorized".
func codeString(c packet.ReasonCode) string {
	s := fmt.Sprintf("0x%02X", byte(c))
	if n, ok := codeNames[c]; ok {
		s += " " + n
	}
	return s
}
