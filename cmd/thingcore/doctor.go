package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"

	"github.com/thingcore/thingcore/internal/doctor"
	"github.com/thingcore/thingcore/internal/hub"
)

func doctorCommand() *command {
	return &command{
		name: "doctor", args: "DIR", minArgs: 1, maxArgs: 1,
		summary: "check a device folder step by step, from its files to a shadow round trip",
		long: "Checks a device folder (as `thingcore thing create` writes it) the way the device would use it, and\n" +
			"prints ✓ or ✗ for each step with a one-line FIX for each ✗; steps that depend on a failed one are\n" +
			"skipped:\n\n" +
			"   1 files present and parse (PEM or DER; swapped certificate and key, a public key, an encrypted\n" +
			"     key or a CSR where they do not belong)\n" +
			"   2 private key matches the certificate      7 a policy allows connect, publish and receive\n" +
			"   3 certificate within its validity dates    8 endpoint reachable over TCP\n" +
			"   4 chains to the hub CA or a registered CA  9 TLS handshake; the server certificate names the host\n" +
			"   5 registered with the hub and ACTIVE      10 MQTT CONNECT accepted (with the hub's reason if not)\n" +
			"   6 attached to the thing in device.json    11 publish to the shadow update topic allowed\n" +
			"                                             12 shadow update round trip (update/accepted in 5 s)\n\n" +
			"Steps 5 to 7 ask the hub's API with the admin credentials in --data-dir; without them they say\n" +
			"why they cannot be checked, and the hub's own answer at CONNECT still shows. The endpoint is\n" +
			"device.json's unless --endpoint names the one the device really uses (e.g. the hub's LAN address).\n" +
			"Step 12 writes {\"doctor\": TIME} into the thing's reported state. Exit code 0 when every step\n" +
			"passes, 1 when one fails.",
		examples: []string{
			"thingcore doctor ./pico-1",
			"thingcore doctor ./pico-1 --endpoint 192.168.1.10:8883   # as the board on the LAN connects",
			"thingcore doctor ./pico-1 --output json",
		},
		setup: func(e *env, fs *flag.FlagSet) action {
			endpoint := fs.String("endpoint", "", "MQTT `HOST:PORT` the device connects to (default: device.json's endpoint and mqtt_port)")
			dataDir := fs.String("data-dir", e.envOr("THINGCORE_DATA_DIR", hub.DefaultConfig().DataDir),
				"the hub's data `DIR`, for its admin credentials (env THINGCORE_DATA_DIR)")
			api := fs.String("api-endpoint", e.envOr("THINGCORE_ENDPOINT", defaultEndpoint),
				"the hub's HTTPS API `URL` (env THINGCORE_ENDPOINT)")
			output := outputTable
			fs.Var(&output, "output", "output `FORMAT`: table or json")
			return func(ctx context.Context, args []string) error {
				cfg := doctor.Config{
					Dir: args[0], Endpoint: *endpoint, DefaultPolicyName: defaultPolicyName,
					APIEndpoint: *api, HubRootCAPath: hub.RootCAPath(*dataDir),
				}
				var deps doctor.Deps
				ad, err := (&adminFlags{dataDir: *dataDir, endpoint: *api}).connect()
				if err != nil {
					deps.HubUnavailable = oneLine(err.Error())
				} else {
					defer ad.close()
					deps.Hub = doctorHub{ad}
				}
				rep := doctor.Run(ctx, cfg, deps)
				if output == outputJSON {
					if err := writeJSON(e.stdout, rep); err != nil {
						return err
					}
				} else {
					writeDoctorText(e.stdout, rep)
				}
				if failed := rep.Failed(); len(failed) > 0 {
					ids := make([]string, len(failed))
					for i, f := range failed {
						ids[i] = f.ID
					}
					return fmt.Errorf("%d check(s) failed: %s", len(failed), strings.Join(ids, ", "))
				}
				return nil
			}
		},
	}
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Marks of the text output.
var doctorMarks = map[doctor.Status]string{
	doctor.StatusPass: "✓", doctor.StatusFail: "✗", doctor.StatusSkip: "-", doctor.StatusUnknown: "?",
}

// writeDoctorText prints the report for people: one line per step, the
// details and FIX of a failed step under it, and a verdict.
func writeDoctorText(w io.Writer, rep *doctor.Report) {
	fmt.Fprintf(w, "Device folder %s", rep.Dir)
	if rep.Thing != "" {
		fmt.Fprintf(w, ": thing %s, client id %s, endpoint %s", rep.Thing, rep.ClientID, rep.Endpoint)
	}
	fmt.Fprint(w, "\n\n")
	for i, s := range rep.Steps {
		fmt.Fprintf(w, "%3d %s %s: %s\n", i+1, doctorMarks[s.Status], s.Title, s.Summary)
		if s.Status != doctor.StatusFail {
			continue
		}
		for _, d := range s.Details {
			fmt.Fprintf(w, "        %s\n", d)
		}
		fmt.Fprintf(w, "      FIX: %s\n", s.Fix)
	}
	fmt.Fprintln(w)
	failed := rep.Failed()
	switch {
	case len(failed) == 0:
		unknown := 0
		for _, s := range rep.Steps {
			if s.Status == doctor.StatusUnknown {
				unknown++
			}
		}
		if unknown > 0 {
			fmt.Fprintf(w, "No check failed; %d could not be checked (?).\n", unknown)
		} else {
			fmt.Fprintf(w, "All %d checks passed.\n", len(rep.Steps))
		}
	default:
		f := failed[0]
		fmt.Fprintf(w, "%d check(s) failed. First: %s (%s).\n", len(failed), f.Title, f.Cause)
	}
}

// doctorHub answers the doctor's questions with the hub's API.
type doctorHub struct{ ad *admin }

var _ doctor.Hub = doctorHub{}

// hubErr maps a not-found API error to doctor.ErrNotFound.
func (h doctorHub) err(op string, err error) error {
	if apiCode(err) == "ResourceNotFoundException" {
		return fmt.Errorf("%s: %w", op, doctor.ErrNotFound)
	}
	return h.ad.fail(op, err)
}

func (h doctorHub) Certificate(ctx context.Context, id string) (doctor.Certificate, error) {
	out, err := h.ad.iot.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(id)})
	if err != nil {
		return doctor.Certificate{}, h.err("DescribeCertificate", err)
	}
	d := out.CertificateDescription
	if d == nil {
		return doctor.Certificate{}, errors.New("DescribeCertificate: empty answer")
	}
	return doctor.Certificate{ID: aws.ToString(d.CertificateId), ARN: aws.ToString(d.CertificateArn),
		Status: string(d.Status), CACertificateID: aws.ToString(d.CaCertificateId)}, nil
}

func (h doctorHub) CACertificates(ctx context.Context) ([]doctor.CACertificate, error) {
	var out []doctor.CACertificate
	p := iot.NewListCACertificatesPaginator(h.ad.iot, &iot.ListCACertificatesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, h.err("ListCACertificates", err)
		}
		for _, c := range page.Certificates {
			d, err := h.ad.iot.DescribeCACertificate(ctx, &iot.DescribeCACertificateInput{CertificateId: c.CertificateId})
			if err != nil {
				return nil, h.err("DescribeCACertificate", err)
			}
			if d.CertificateDescription == nil {
				continue
			}
			out = append(out, doctor.CACertificate{ID: aws.ToString(c.CertificateId),
				Status: string(d.CertificateDescription.Status), PEM: []byte(aws.ToString(d.CertificateDescription.CertificatePem))})
		}
	}
	return out, nil
}

func (h doctorHub) PrincipalThings(ctx context.Context, certARN string) ([]string, error) {
	var out []string
	p := iot.NewListPrincipalThingsPaginator(h.ad.iot, &iot.ListPrincipalThingsInput{Principal: aws.String(certARN)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, h.err("ListPrincipalThings", err)
		}
		out = append(out, page.Things...)
	}
	return out, nil
}

func (h doctorHub) Policies(ctx context.Context, certARN string) ([]doctor.Policy, error) {
	var out []doctor.Policy
	p := iot.NewListAttachedPoliciesPaginator(h.ad.iot, &iot.ListAttachedPoliciesInput{Target: aws.String(certARN)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, h.err("ListAttachedPolicies", err)
		}
		for _, pol := range page.Policies {
			g, err := h.ad.iot.GetPolicy(ctx, &iot.GetPolicyInput{PolicyName: pol.PolicyName})
			if err != nil {
				return nil, h.err("GetPolicy", err)
			}
			out = append(out, doctor.Policy{Name: aws.ToString(pol.PolicyName), Document: []byte(aws.ToString(g.PolicyDocument))})
		}
	}
	return out, nil
}

func (h doctorHub) Thing(ctx context.Context, name string) (doctor.Thing, error) {
	out, err := h.ad.iot.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String(name)})
	if err != nil {
		return doctor.Thing{}, h.err("DescribeThing", err)
	}
	return doctor.Thing{TypeName: aws.ToString(out.ThingTypeName), Attributes: out.Attributes}, nil
}
