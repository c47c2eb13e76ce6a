package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParsePattern(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		pattern string
		wantErr string
	}{
		{"root", "/", ""},
		{"literal", "/keys-and-certificate", ""},
		{"label", "/things/{thingName}", ""},
		{"labels and literals", "/things/{thingName}/principals/{principal}", ""},
		{"greedy last", "/topics/{topic+}", ""},
		{"no leading slash", "things/{thingName}", "must start with /"},
		{"greedy not last", "/topics/{topic+}/x", "must be the last segment"},
		{"repeated label", "/a/{x}/b/{x}", "repeated"},
		{"bad label name", "/a/{x-y}", "bad label name"},
		{"empty label", "/a/{}", "bad literal segment"},
		{"half brace", "/a/{x", "bad literal segment"},
		{"query literal", "/a?b", "bad literal segment"},
		{"percent literal", "/a%20b", "bad literal segment"},
		{"empty segment", "/a//b", "empty segment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parsePattern(tc.pattern)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("parsePattern(%q) = %v, want no error", tc.pattern, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("parsePattern(%q) = %v, want an error containing %q", tc.pattern, err, tc.wantErr)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		pattern    string
		path       string // escaped, as on the wire
		wantOK     bool
		wantParams []pathParam
		wantErr    bool
	}{
		{"root", "/", "/", true, nil, false},
		{"literal", "/keys-and-certificate", "/keys-and-certificate", true, nil, false},
		{"literal mismatch", "/keys-and-certificate", "/keys-and-certificates", false, nil, false},
		{"label", "/things/{thingName}", "/things/lamp", true, []pathParam{{"thingName", "lamp"}}, false},
		{"label unescaped once", "/things/{thingName}", "/things/a%3Ab%2525", true, []pathParam{{"thingName", "a:b%25"}}, false},
		{"escaped slash stays in its label", "/things/{thingName}", "/things/a%2Fb", true, []pathParam{{"thingName", "a/b"}}, false},
		{"escaped slash in a cert ARN", "/attached-policies/{target}",
			"/attached-policies/arn%3Aaws%3Aiot%3Aus-east-1%3A123456789012%3Acert%2Fabc", true,
			[]pathParam{{"target", "arn:aws:iot:us-east-1:123456789012:cert/abc"}}, false},
		{"label does not cross a slash", "/things/{thingName}", "/things/a/b", false, nil, false},
		{"empty label", "/things/{thingName}", "/things/", false, nil, false},
		{"too short", "/things/{thingName}/shadow", "/things/a", false, nil, false},
		{"greedy", "/topics/{topic+}", "/topics/a/b/c", true, []pathParam{{"topic", "a/b/c"}}, false},
		{"greedy single", "/topics/{topic+}", "/topics/a", true, []pathParam{{"topic", "a"}}, false},
		{"greedy escaped", "/topics/{topic+}", "/topics/%24aws/things/t%2Fx/shadow", true,
			[]pathParam{{"topic", "$aws/things/t/x/shadow"}}, false},
		{"greedy keeps empty levels", "/topics/{topic+}", "/topics/a//b/", true, []pathParam{{"topic", "a//b/"}}, false},
		{"greedy empty", "/topics/{topic+}", "/topics/", false, nil, false},
		{"greedy missing", "/topics/{topic+}", "/topics", false, nil, false},
		{"bad escape", "/things/{thingName}", "/things/%zz", true, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := parsePattern(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			params, ok, err := p.match(splitPath(tc.path))
			if ok != tc.wantOK || (err != nil) != tc.wantErr {
				t.Fatalf("match(%q, %q) = ok %v, err %v; want ok %v, err %v", tc.pattern, tc.path, ok, err, tc.wantOK, tc.wantErr)
			}
			if diff := cmp.Diff(tc.wantParams, params, cmp.AllowUnexported(pathParam{})); diff != "" {
				t.Errorf("match(%q, %q) params (-want +got):\n%s", tc.pattern, tc.path, diff)
			}
		})
	}
}

func TestLookupPrecedence(t *testing.T) {
	t.Parallel()
	api, err := New(Config{}, AuthenticatorFunc(func(*http.Request) (Identity, error) { return Identity{}, nil }), nil)
	if err != nil {
		t.Fatal(err)
	}
	nop := func(http.ResponseWriter, *http.Request) error { return nil }
	api.Handle("PUT", "/thing-groups/addThingToThingGroup", "AddThingToThingGroup", nop)
	api.Handle("PATCH", "/thing-groups/{thingGroupName}", "UpdateThingGroup", nop)
	api.Handle("GET", "/thing-groups/{thingGroupName}", "DescribeThingGroup", nop)
	api.Handle("GET", "/things/{thingName}/shadow", "GetThingShadow", nop)
	api.Handle("GET", "/things/{thingName}/{rest+}", "Catchall", nop)
	api.Handle("GET", "/things/{thingName}", "DescribeThing", nop)
	for _, tc := range []struct {
		name, method, path string
		wantOp             string
		wantAllowed        []string
	}{
		{"literal beats label", "PUT", "/thing-groups/addThingToThingGroup", "AddThingToThingGroup", nil},
		{"label when the literal's method differs", "PATCH", "/thing-groups/addThingToThingGroup", "UpdateThingGroup", nil},
		{"label", "GET", "/thing-groups/g1", "DescribeThingGroup", nil},
		{"literal beats greedy", "GET", "/things/t/shadow", "GetThingShadow", nil},
		{"greedy", "GET", "/things/t/jobs/1", "Catchall", nil},
		{"shorter pattern", "GET", "/things/t", "DescribeThing", nil},
		{"method not allowed", "DELETE", "/thing-groups/g1", "", []string{"PATCH", "GET"}},
		{"no route", "GET", "/nothing", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rt, _, allowed, _ := api.lookup(tc.method, tc.path)
			op := ""
			if rt != nil {
				op = rt.op
			}
			if op != tc.wantOp {
				t.Errorf("lookup(%s %s) = %q, want %q", tc.method, tc.path, op, tc.wantOp)
			}
			if diff := cmp.Diff(tc.wantAllowed, allowed); diff != "" {
				t.Errorf("lookup(%s %s) allowed (-want +got):\n%s", tc.method, tc.path, diff)
			}
		})
	}
}

func TestHandlePanicsOnConflict(t *testing.T) {
	t.Parallel()
	nop := func(http.ResponseWriter, *http.Request) error { return nil }
	for _, tc := range []struct {
		name     string
		register func(api *API)
	}{
		{"same shape", func(api *API) {
			api.Handle("GET", "/things/{a}", "A", nop)
			api.Handle("GET", "/things/{b}", "B", nop)
		}},
		{"bad pattern", func(api *API) { api.Handle("GET", "things", "A", nop) }},
		{"no handler", func(api *API) { api.Handle("GET", "/things", "A", nil) }},
		{"no op name", func(api *API) { api.Handle("GET", "/things", "", nop) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api, err := New(Config{}, AuthenticatorFunc(func(*http.Request) (Identity, error) { return Identity{}, nil }), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if recover() == nil {
					t.Errorf("Handle did not panic")
				}
			}()
			tc.register(api)
		})
	}
}
