package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
)

func thingCommand() *command {
	return &command{
		name:    "thing",
		summary: "create, list, describe and delete things (devices)",
		long: "A thing is a device's entry in the registry. A device connects with a certificate attached\n" +
			"to its thing, using the thing name as its MQTT client id; the default policy then lets it\n" +
			"publish and subscribe to its own topics and shadow ($aws/things/NAME/shadow/...).",
		examples: []string{
			"thingcore thing create my-device",
			"thingcore thing list",
			"thingcore thing describe my-device --output json",
			"thingcore thing delete my-device --force",
		},
		subs: []*command{thingCreateCommand(), thingListCommand(), thingDescribeCommand(), thingDeleteCommand(),
			thingAttachCommand(), thingDetachCommand()},
	}
}

// thingView is a thing as `aws iot describe-thing` prints it, with the
// certificates attached to it.
type thingView struct {
	ThingName       string            `json:"thingName"`
	ThingID         string            `json:"thingId,omitempty"`
	ThingArn        string            `json:"thingArn"`
	ThingTypeName   string            `json:"thingTypeName,omitempty"`
	DefaultClientID string            `json:"defaultClientId,omitempty"`
	Attributes      map[string]string `json:"attributes"`
	Version         int64             `json:"version"`
	Principals      []string          `json:"principals,omitempty"`
}

func thingListCommand() *command {
	return &command{
		name: "list", summary: "list things", maxArgs: 0,
		examples: []string{"thingcore thing list", "thingcore thing list --output json"},
		setup: func(e *env, fs *flag.FlagSet) action {
			return e.adminAction(fs, func(ctx context.Context, ad *admin, _ []string) error {
				var things []thingView
				p := iot.NewListThingsPaginator(ad.iot, &iot.ListThingsInput{})
				for p.HasMorePages() {
					out, err := p.NextPage(ctx)
					if err != nil {
						return ad.fail("ListThings", err)
					}
					for _, t := range out.Things {
						things = append(things, thingView{
							ThingName: aws.ToString(t.ThingName), ThingArn: aws.ToString(t.ThingArn),
							ThingTypeName: aws.ToString(t.ThingTypeName), Attributes: nonNil(t.Attributes), Version: t.Version,
						})
					}
				}
				if ad.output == outputJSON {
					return writeJSON(e.stdout, struct {
						Things []thingView `json:"things"`
					}{Things: nonNilSlice(things)})
				}
				if len(things) == 0 {
					fmt.Fprintln(e.stdout, "No things yet. Create one with: thingcore thing create my-device")
					return nil
				}
				rows := make([]string, 0, len(things))
				for _, t := range things {
					rows = append(rows, fmt.Sprintf("%s\t%d\t%s", t.ThingName, t.Version, formatAttributes(t.Attributes)))
				}
				return table(e.stdout, "NAME\tVERSION\tATTRIBUTES", rows)
			})
		},
	}
}

func thingDescribeCommand() *command {
	return &command{
		name: "describe", args: "NAME", summary: "show a thing and its certificates", minArgs: 1, maxArgs: 1,
		examples: []string{"thingcore thing describe my-device", "thingcore thing describe my-device --output json"},
		setup: func(e *env, fs *flag.FlagSet) action {
			return e.adminAction(fs, func(ctx context.Context, ad *admin, args []string) error {
				out, err := ad.iot.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String(args[0])})
				if err != nil {
					return ad.fail("DescribeThing", err)
				}
				principals, err := ad.thingPrincipals(ctx, args[0])
				if err != nil {
					return err
				}
				v := thingView{
					ThingName: aws.ToString(out.ThingName), ThingID: aws.ToString(out.ThingId), ThingArn: aws.ToString(out.ThingArn),
					ThingTypeName: aws.ToString(out.ThingTypeName), DefaultClientID: aws.ToString(out.DefaultClientId),
					Attributes: nonNil(out.Attributes), Version: out.Version, Principals: principals,
				}
				if ad.output == outputJSON {
					return writeJSON(e.stdout, v)
				}
				certs := make([]string, 0, len(principals))
				for _, p := range principals {
					certs = append(certs, certIDFromARN(p))
				}
				return fields(e.stdout, [][2]string{
					{"Name", v.ThingName}, {"ID", v.ThingID}, {"ARN", v.ThingArn}, {"Type", v.ThingTypeName},
					{"Version", strconv.FormatInt(v.Version, 10)}, {"Attributes", formatAttributes(v.Attributes)},
					{"Certificates", strings.Join(certs, ", ")},
					{"Shadow update topic", shadowTopic(v.ThingName, "update")},
				})
			})
		},
	}
}

func thingDeleteCommand() *command {
	return &command{
		name: "delete", args: "NAME", summary: "delete a thing (--force detaches its certificates first)", minArgs: 1, maxArgs: 1,
		long: "Deletes a thing. As with AWS IoT, a thing with certificates attached is not deleted: --force\n" +
			"detaches them first. The certificates themselves are kept (and stay ACTIVE): delete them\n" +
			"with `thingcore cert delete ID --force`.",
		examples: []string{"thingcore thing delete my-device", "thingcore thing delete my-device --force"},
		setup: func(e *env, fs *flag.FlagSet) action {
			force := fs.Bool("force", false, "detach the thing's certificates first")
			return e.adminAction(fs, func(ctx context.Context, ad *admin, args []string) error {
				name := args[0]
				principals, err := ad.thingPrincipals(ctx, name)
				if err != nil {
					return err
				}
				if len(principals) > 0 && !*force {
					return fmt.Errorf("thing %s has %d certificate(s) attached (%s); "+
						"`thingcore thing delete %s --force` detaches them first", name, len(principals),
						strings.Join(mapSlice(principals, certIDFromARN), ", "), name)
				}
				for _, p := range principals {
					if _, err := ad.iot.DetachThingPrincipal(ctx, &iot.DetachThingPrincipalInput{
						ThingName: aws.String(name), Principal: aws.String(p)}); err != nil {
						return ad.fail("DetachThingPrincipal", err)
					}
					fmt.Fprintf(e.stdout, "Detached certificate %s from %s.\n", certIDFromARN(p), name)
				}
				if _, err := ad.iot.DeleteThing(ctx, &iot.DeleteThingInput{ThingName: aws.String(name)}); err != nil {
					return ad.fail("DeleteThing", err)
				}
				fmt.Fprintf(e.stdout, "Deleted thing %s.\n", name)
				for _, p := range principals {
					fmt.Fprintf(e.stdout, "Certificate %s is kept; to delete it: thingcore cert delete %s --force\n",
						certIDFromARN(p), certIDFromARN(p))
				}
				return nil
			})
		},
	}
}

func thingAttachCommand() *command {
	return &command{
		name: "attach", args: "NAME CERT_ID", summary: "attach a certificate to a thing", minArgs: 2, maxArgs: 2,
		long: "Attaches a certificate (its ID or ARN) to a thing, so that a device presenting it may\n" +
			"connect with the thing name as client id. Use it after `thingcore cert register`.",
		examples: []string{"thingcore thing attach my-device 6f2c...e1"},
		setup: func(e *env, fs *flag.FlagSet) action {
			return e.adminAction(fs, func(ctx context.Context, ad *admin, args []string) error {
				arn, err := ad.certARN(ctx, args[1])
				if err != nil {
					return err
				}
				if _, err := ad.iot.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{
					ThingName: aws.String(args[0]), Principal: aws.String(arn)}); err != nil {
					return ad.fail("AttachThingPrincipal", err)
				}
				fmt.Fprintf(e.stdout, "Attached certificate %s to %s.\n", certIDFromARN(arn), args[0])
				return nil
			})
		},
	}
}

func thingDetachCommand() *command {
	return &command{
		name: "detach", args: "NAME CERT_ID", summary: "detach a certificate from a thing", minArgs: 2, maxArgs: 2,
		examples: []string{"thingcore thing detach my-device 6f2c...e1"},
		setup: func(e *env, fs *flag.FlagSet) action {
			return e.adminAction(fs, func(ctx context.Context, ad *admin, args []string) error {
				arn, err := ad.certARN(ctx, args[1])
				if err != nil {
					return err
				}
				if _, err := ad.iot.DetachThingPrincipal(ctx, &iot.DetachThingPrincipalInput{
					ThingName: aws.String(args[0]), Principal: aws.String(arn)}); err != nil {
					return ad.fail("DetachThingPrincipal", err)
				}
				fmt.Fprintf(e.stdout, "Detached certificate %s from %s.\n", certIDFromARN(arn), args[0])
				return nil
			})
		},
	}
}

// thingPrincipals lists the principals (certificate ARNs) attached to a
// thing, every page.
func (ad *admin) thingPrincipals(ctx context.Context, name string) ([]string, error) {
	var all []string
	p := iot.NewListThingPrincipalsPaginator(ad.iot, &iot.ListThingPrincipalsInput{ThingName: aws.String(name)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, ad.fail("ListThingPrincipals", err)
		}
		all = append(all, out.Principals...)
	}
	return all, nil
}

// certARN returns the ARN of a certificate given its ID or ARN.
func (ad *admin) certARN(ctx context.Context, idOrARN string) (string, error) {
	if strings.HasPrefix(idOrARN, "arn:") {
		return idOrARN, nil
	}
	out, err := ad.iot.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(idOrARN)})
	if err != nil {
		return "", ad.fail("DescribeCertificate", err)
	}
	return aws.ToString(out.CertificateDescription.CertificateArn), nil
}

// certIDFromARN returns the certificate ID at the end of a certificate ARN
// (arn:aws:iot:REGION:ACCOUNT:cert/ID), or the ARN when it is not one.
func certIDFromARN(arn string) string {
	if i := strings.LastIndex(arn, ":cert/"); i >= 0 {
		return arn[i+len(":cert/"):]
	}
	return arn
}

// shadowTopic returns a classic shadow topic of a thing: op is "update",
// "update/accepted", "get", ...
func shadowTopic(thing, op string) string { return "$aws/things/" + thing + "/shadow/" + op }

func formatAttributes(attrs map[string]string) string {
	parts := make([]string, 0, len(attrs))
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		parts = append(parts, k+"="+attrs[k])
	}
	return strings.Join(parts, ",")
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func mapSlice[T, U any](s []T, f func(T) U) []U {
	out := make([]U, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}
