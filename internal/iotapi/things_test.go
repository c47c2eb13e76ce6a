package iotapi_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iot/types"
	"github.com/google/go-cmp/cmp"
)

func attrs(kv ...string) *types.AttributePayload {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &types.AttributePayload{Attributes: m}
}

func TestThingErrors(t *testing.T) {
	h := start(t, harnessOpts{})
	c := h.client
	ctx := context.Background()
	if _, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String("lamp"), AttributePayload: attrs("color", "red")}); err != nil {
		t.Fatalf("CreateThing: %v", err)
	}
	tests := []struct {
		name   string
		call   func() error
		target any
	}{
		{"create again with other attributes", func() error {
			_, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String("lamp"), AttributePayload: attrs("color", "blue")})
			return err
		}, new(*types.ResourceAlreadyExistsException)},
		{"create with a bad name", func() error {
			_, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String("bad name!")})
			return err
		}, new(*types.InvalidRequestException)},
		{"create in a billing group", func() error {
			_, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String("x"), BillingGroupName: aws.String("bg")})
			return err
		}, new(*types.ResourceNotFoundException)},
		{"create with too many attributes", func() error {
			_, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String("y"), AttributePayload: attrs("a", "1", "b", "2", "c", "3", "d", "4")})
			return err
		}, new(*types.InvalidRequestException)},
		{"describe a missing thing", func() error {
			_, err := c.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String("missing")})
			return err
		}, new(*types.ResourceNotFoundException)},
		{"update a missing thing", func() error {
			_, err := c.UpdateThing(ctx, &iot.UpdateThingInput{ThingName: aws.String("missing"), AttributePayload: attrs("a", "1")})
			return err
		}, new(*types.ResourceNotFoundException)},
		{"update at a stale version", func() error {
			_, err := c.UpdateThing(ctx, &iot.UpdateThingInput{ThingName: aws.String("lamp"), ExpectedVersion: aws.Int64(7)})
			return err
		}, new(*types.VersionConflictException)},
		{"update type and remove type", func() error {
			_, err := c.UpdateThing(ctx, &iot.UpdateThingInput{ThingName: aws.String("lamp"), ThingTypeName: aws.String("t"), RemoveThingType: true})
			return err
		}, new(*types.InvalidRequestException)},
		{"delete at a stale version", func() error {
			_, err := c.DeleteThing(ctx, &iot.DeleteThingInput{ThingName: aws.String("lamp"), ExpectedVersion: aws.Int64(9)})
			return err
		}, new(*types.VersionConflictException)},
		{"list with maxResults 0", func() error {
			_, err := c.ListThings(ctx, &iot.ListThingsInput{MaxResults: aws.Int32(0)})
			return err
		}, new(*types.InvalidRequestException)},
		{"list with maxResults 251", func() error {
			_, err := c.ListThings(ctx, &iot.ListThingsInput{MaxResults: aws.Int32(251)})
			return err
		}, new(*types.InvalidRequestException)},
		{"list with a forged token", func() error {
			_, err := c.ListThings(ctx, &iot.ListThingsInput{NextToken: aws.String("not base64!")})
			return err
		}, new(*types.InvalidRequestException)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, tt.name, tt.call(), tt.target)
		})
	}

	t.Run("already exists carries the existing thing", func(t *testing.T) {
		_, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String("lamp")})
		var ae *types.ResourceAlreadyExistsException
		wantError(t, "CreateThing", err, &ae)
		if got, want := aws.ToString(ae.ResourceArn), "arn:aws:iot:us-east-1:123456789012:thing/lamp"; got != want {
			t.Errorf("ResourceArn = %q, want %q", got, want)
		}
		if got, want := aws.ToString(ae.ResourceId), "00000000-0000-4000-8000-000000000001"; got != want {
			t.Errorf("ResourceId = %q, want the thing id %q", got, want)
		}
	})
}

func TestThingLifecycle(t *testing.T) {
	h := start(t, harnessOpts{})
	c := h.client
	ctx := context.Background()
	describe := func(t *testing.T) *iot.DescribeThingOutput {
		t.Helper()
		d, err := c.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: aws.String("lamp")})
		if err != nil {
			t.Fatalf("DescribeThing: %v", err)
		}
		return d
	}
	first, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String("lamp"), AttributePayload: attrs("color", "red", "room", "hall")})
	if err != nil {
		t.Fatalf("CreateThing: %v", err)
	}
	t.Run("create is idempotent", func(t *testing.T) {
		again, err := c.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String("lamp"), AttributePayload: attrs("room", "hall", "color", "red")})
		if err != nil {
			t.Fatalf("CreateThing again: %v", err)
		}
		if aws.ToString(again.ThingId) != aws.ToString(first.ThingId) {
			t.Errorf("thingId = %s, want the first one %s", aws.ToString(again.ThingId), aws.ToString(first.ThingId))
		}
	})
	t.Run("describe", func(t *testing.T) {
		d := describe(t)
		if aws.ToString(d.DefaultClientId) != "lamp" || d.Version != 1 || aws.ToString(d.ThingId) != aws.ToString(first.ThingId) {
			t.Errorf("DescribeThing = client %q version %d id %q; want lamp, 1, %q",
				aws.ToString(d.DefaultClientId), d.Version, aws.ToString(d.ThingId), aws.ToString(first.ThingId))
		}
	})
	steps := []struct {
		name      string
		in        iot.UpdateThingInput
		wantAttrs map[string]string
		wantType  string
		wantVer   int64
	}{
		{"merge adds and removes", iot.UpdateThingInput{AttributePayload: &types.AttributePayload{
			Attributes: map[string]string{"room": "", "watts": "9"}, Merge: true}, ExpectedVersion: aws.Int64(1)},
			map[string]string{"color": "red", "watts": "9"}, "", 2},
		{"replace", iot.UpdateThingInput{AttributePayload: attrs("color", "blue")},
			map[string]string{"color": "blue"}, "", 3},
		{"set a type", iot.UpdateThingInput{ThingTypeName: aws.String("bulb")},
			map[string]string{"color": "blue"}, "bulb", 4},
		{"remove the type", iot.UpdateThingInput{RemoveThingType: true},
			map[string]string{"color": "blue"}, "", 5},
		{"empty attributes remove all", iot.UpdateThingInput{AttributePayload: &types.AttributePayload{Attributes: map[string]string{}}},
			map[string]string{}, "", 6},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			in := s.in
			in.ThingName = aws.String("lamp")
			if _, err := c.UpdateThing(ctx, &in); err != nil {
				t.Fatalf("UpdateThing: %v", err)
			}
			d := describe(t)
			if diff := cmp.Diff(s.wantAttrs, d.Attributes); diff != "" {
				t.Errorf("attributes (-want +got):\n%s", diff)
			}
			if aws.ToString(d.ThingTypeName) != s.wantType || d.Version != s.wantVer {
				t.Errorf("type %q version %d, want %q %d", aws.ToString(d.ThingTypeName), d.Version, s.wantType, s.wantVer)
			}
		})
	}
	t.Run("delete at the version, then again", func(t *testing.T) {
		if _, err := c.DeleteThing(ctx, &iot.DeleteThingInput{ThingName: aws.String("lamp"), ExpectedVersion: aws.Int64(6)}); err != nil {
			t.Fatalf("DeleteThing: %v", err)
		}
		// AWS: deleting a thing that does not exist succeeds.
		if _, err := c.DeleteThing(ctx, &iot.DeleteThingInput{ThingName: aws.String("lamp")}); err != nil {
			t.Fatalf("DeleteThing again: %v", err)
		}
	})
}

func TestListThings(t *testing.T) {
	h := start(t, harnessOpts{})
	c := h.client
	ctx := context.Background()
	things := []struct {
		name, typ string
		attrs     map[string]string
	}{
		{"a-lamp", "bulb", map[string]string{"room": "hall", "color": "red"}},
		{"b-lamp", "bulb", map[string]string{"room": "hallway"}},
		{"c-fan", "", map[string]string{"room": "kitchen"}},
		{"d-sensor", "", nil},
		{"e-sensor", "probe", map[string]string{"color": "red"}},
	}
	for _, th := range things {
		in := &iot.CreateThingInput{ThingName: aws.String(th.name), AttributePayload: &types.AttributePayload{Attributes: th.attrs}}
		if th.typ != "" {
			in.ThingTypeName = aws.String(th.typ)
		}
		if _, err := c.CreateThing(ctx, in); err != nil {
			t.Fatalf("CreateThing(%s): %v", th.name, err)
		}
	}
	tests := []struct {
		name      string
		in        iot.ListThingsInput
		want      []string
		wantPages int
	}{
		{"all in pages of two", iot.ListThingsInput{MaxResults: aws.Int32(2)},
			[]string{"a-lamp", "b-lamp", "c-fan", "d-sensor", "e-sensor"}, 3},
		{"all in one page", iot.ListThingsInput{}, []string{"a-lamp", "b-lamp", "c-fan", "d-sensor", "e-sensor"}, 1},
		{"has attribute", iot.ListThingsInput{AttributeName: aws.String("color")}, []string{"a-lamp", "e-sensor"}, 1},
		{"attribute value", iot.ListThingsInput{AttributeName: aws.String("room"), AttributeValue: aws.String("hall")}, []string{"a-lamp"}, 1},
		{"attribute prefix in pages of one", iot.ListThingsInput{AttributeName: aws.String("room"), AttributeValue: aws.String("hall"),
			UsePrefixAttributeValue: true, MaxResults: aws.Int32(1)}, []string{"a-lamp", "b-lamp"}, 2},
		{"thing type", iot.ListThingsInput{ThingTypeName: aws.String("bulb")}, []string{"a-lamp", "b-lamp"}, 1},
		{"nothing matches", iot.ListThingsInput{ThingTypeName: aws.String("none")}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			p := iot.NewListThingsPaginator(c, &in)
			var got []string
			pages := 0
			for p.HasMorePages() {
				out, err := p.NextPage(ctx)
				if err != nil {
					t.Fatalf("ListThings page %d: %v", pages+1, err)
				}
				pages++
				for _, th := range out.Things {
					got = append(got, aws.ToString(th.ThingName))
					if aws.ToString(th.ThingArn) != "arn:aws:iot:us-east-1:123456789012:thing/"+aws.ToString(th.ThingName) || th.Version != 1 {
						t.Errorf("thing %s: arn %q version %d", aws.ToString(th.ThingName), aws.ToString(th.ThingArn), th.Version)
					}
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("things (-want +got):\n%s", diff)
			}
			if pages != tt.wantPages {
				t.Errorf("pages = %d, want %d", pages, tt.wantPages)
			}
		})
	}
}
