package topic

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		topic   string
		wantErr string // "" for valid
	}{
		{name: "simple", topic: "a/b/c"},
		{name: "single level", topic: "a"},
		{name: "leading slash", topic: "/a"},
		{name: "trailing slash", topic: "a/"},
		{name: "empty level", topic: "a//b"},
		{name: "only slash", topic: "/"},
		{name: "dollar", topic: "$aws/things/t1/shadow/update"},
		{name: "space", topic: " "},
		{name: "unicode", topic: "häuser/温度"},
		{name: "max length", topic: strings.Repeat("a", 65535)},
		{name: "empty", topic: "", wantErr: "topic name is empty"},
		{name: "too long", topic: strings.Repeat("a", 65536), wantErr: "topic name is 65536 bytes; the maximum is 65535"},
		{name: "plus", topic: "a/+/b", wantErr: "topic name contains the wildcard '+'"},
		{name: "plus inside level", topic: "a+b", wantErr: "topic name contains the wildcard '+'"},
		{name: "hash", topic: "a/#", wantErr: "topic name contains the wildcard '#'"},
		{name: "nul", topic: "a\x00b", wantErr: "topic name contains U+0000"},
		{name: "bad utf8", topic: "a/\xff", wantErr: "topic name is not valid UTF-8"},
		{name: "surrogate", topic: "a\xed\xa0\x80", wantErr: "topic name is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkErr(t, "ValidateName", ValidateName(tt.topic), tt.wantErr, false)
		})
	}
}

func TestValidateFilter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		filter  string
		wantErr string // "" for valid
	}{
		{name: "literal", filter: "sport/tennis/player1"},
		{name: "hash alone", filter: "#"},
		{name: "plus alone", filter: "+"},
		{name: "trailing hash", filter: "sport/tennis/player1/#"},
		{name: "plus levels", filter: "+/+"},
		{name: "leading empty then plus", filter: "/+"},
		{name: "plus then hash", filter: "sport/+/#"},
		{name: "plus middle", filter: "sport/+/player1"},
		{name: "empty levels", filter: "a//b/"},
		{name: "dollar hash", filter: "$SYS/#"},
		{name: "shared", filter: "$share/g/a/+"},
		{name: "shared hash", filter: "$share/g/#"},
		{name: "shared unicode group", filter: "$share/grüppe/a"},
		{name: "share without slash is plain", filter: "$share"},
		{name: "share-like prefix", filter: "$sharex/a"},
		{name: "empty", filter: "", wantErr: "topic filter is empty"},
		{name: "too long", filter: strings.Repeat("a", 65536), wantErr: "topic filter is 65536 bytes; the maximum is 65535"},
		{name: "hash not last", filter: "sport/#/ranking", wantErr: "topic filter has '#' that is not the whole last level"},
		{name: "hash in level", filter: "sport/tennis#", wantErr: "topic filter has '#' that is not the whole last level"},
		{name: "hash prefix of level", filter: "sport/#x", wantErr: "topic filter has '#' that is not the whole last level"},
		{name: "plus in level", filter: "sport+", wantErr: "topic filter has '+' that is not a whole level"},
		{name: "plus prefix of level", filter: "a/+b", wantErr: "topic filter has '+' that is not a whole level"},
		{name: "double plus", filter: "++", wantErr: "topic filter has '+' that is not a whole level"},
		{name: "nul", filter: "a/\x00", wantErr: "topic filter contains U+0000"},
		{name: "bad utf8", filter: "\xc3", wantErr: "topic filter is not valid UTF-8"},
		{name: "shared empty group", filter: "$share//a", wantErr: "shared subscription has an empty share name"},
		{name: "shared no filter", filter: "$share/g", wantErr: "shared subscription has no topic filter"},
		{name: "shared empty filter", filter: "$share/g/", wantErr: "shared subscription has no topic filter"},
		{name: "shared only prefix", filter: "$share/", wantErr: "shared subscription has an empty share name"},
		{name: "shared group plus", filter: "$share/g+/a", wantErr: "share name contains a wildcard ('+' or '#')"},
		{name: "shared group hash", filter: "$share/#/a", wantErr: "share name contains a wildcard ('+' or '#')"},
		{name: "shared group nul", filter: "$share/g\x00/a", wantErr: "topic filter contains U+0000"},
		{name: "shared bad filter", filter: "$share/g/a#", wantErr: "topic filter has '#' that is not the whole last level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkErr(t, "ValidateFilter", ValidateFilter(tt.filter), tt.wantErr, false)
		})
	}
}

func TestParseShared(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		in         string
		wantGroup  string
		wantFilter string
		wantOK     bool
	}{
		{name: "shared", in: "$share/g/a/b", wantGroup: "g", wantFilter: "a/b", wantOK: true},
		{name: "shared hash", in: "$share/g/#", wantGroup: "g", wantFilter: "#", wantOK: true},
		{name: "nested share", in: "$share/g/$share/h/x", wantGroup: "g", wantFilter: "$share/h/x", wantOK: true},
		{name: "no filter", in: "$share/g", wantGroup: "g", wantFilter: "", wantOK: true},
		{name: "plain", in: "a/b", wantFilter: "a/b"},
		{name: "share word only", in: "$share", wantFilter: "$share"},
		{name: "not a prefix", in: "x/$share/g/a", wantFilter: "x/$share/g/a"},
		{name: "case matters", in: "$SHARE/g/a", wantFilter: "$SHARE/g/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, f, ok := ParseShared(tt.in)
			if g != tt.wantGroup || f != tt.wantFilter || ok != tt.wantOK {
				t.Errorf("ParseShared(%q) = %q, %q, %v, want %q, %q, %v", tt.in, g, f, ok, tt.wantGroup, tt.wantFilter, tt.wantOK)
			}
		})
	}
}

// matchCases are the matching semantics, shared by the Match and Tree tests.
var matchCases = []struct {
	name   string
	filter string
	topic  string
	want   bool
}{
	// MQTT 3.1.1 section 4.7.1.2 and 4.7.1.3 examples.
	{"spec hash matches player1", "sport/tennis/player1/#", "sport/tennis/player1", true},
	{"spec hash matches ranking", "sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
	{"spec hash matches deep", "sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
	{"spec hash not sibling", "sport/tennis/player1/#", "sport/tennis/player2", false},
	{"spec sport hash matches sport", "sport/#", "sport", true},
	{"spec plus matches player1", "sport/tennis/+", "sport/tennis/player1", true},
	{"spec plus not two levels", "sport/tennis/+", "sport/tennis/player1/ranking", false},
	{"spec sport plus not sport", "sport/+", "sport", false},
	{"spec sport plus matches sport slash", "sport/+", "sport/", true},
	{"spec plus plus matches slash finance", "+/+", "/finance", true},
	{"spec slash plus matches slash finance", "/+", "/finance", true},
	{"spec plus not slash finance", "+", "/finance", false},
	{"spec hash matches all", "#", "sport/tennis", true},
	{"hash matches single", "#", "a", true},
	{"hash matches slash", "#", "/", true},
	{"plus matches single", "+", "a", true},
	{"plus matches empty level", "+", "", true},
	{"plus plus not one level", "+/+", "a", false},
	{"plus plus two levels", "+/+", "a/b", true},
	{"plus plus not three", "+/+", "a/b/c", false},
	{"plus hash matches one level", "+/#", "a", true},
	{"plus middle", "a/+/c", "a/b/c", true},
	{"plus middle wrong tail", "a/+/c", "a/b/d", false},
	// Literal matching.
	{"literal equal", "a/b", "a/b", true},
	{"literal prefix", "a/b", "a/bc", false},
	{"literal shorter name", "a/b", "a", false},
	{"literal longer name", "a", "a/b", false},
	{"case sensitive", "A/b", "a/b", false},
	// Empty levels.
	{"empty middle level", "a//b", "a//b", true},
	{"empty middle not collapsed", "a//b", "a/b", false},
	{"plus matches empty middle", "a/+/b", "a//b", true},
	{"leading slash literal", "/a", "/a", true},
	{"leading slash differs", "/a", "a", false},
	{"trailing slash literal", "a/", "a/", true},
	{"trailing slash differs", "a/", "a", false},
	{"hash after trailing slash", "a//#", "a/", true},
	{"a hash matches a slash", "a/#", "a/", true},
	{"a hash matches a", "a/#", "a", true},
	{"a hash not ab", "a/#", "ab", false},
	{"a plus hash not a", "a/+/#", "a", false},
	{"a plus hash matches a slash", "a/+/#", "a/", true},
	// The '$' rule.
	{"hash not dollar", "#", "$SYS/x", false},
	{"plus not dollar", "+/x", "$SYS/x", false},
	{"plus alone not dollar", "+", "$SYS", false},
	{"dollar sys hash", "$SYS/#", "$SYS/x", true},
	{"dollar sys hash parent", "$SYS/#", "$SYS", true},
	{"dollar sys plus", "$SYS/+", "$SYS/x", true},
	{"hash not aws", "#", "$aws/things/t1/shadow/update", false},
	{"plus not aws", "+/things/t1/shadow/update", "$aws/things/t1/shadow/update", false},
	{"aws hash", "$aws/things/t1/#", "$aws/things/t1/shadow/update", true},
	{"aws plus thing", "$aws/things/+/shadow/update", "$aws/things/t1/shadow/update", true},
	{"dollar later level is plain", "a/+", "a/$x", true},
	{"hash matches dollar later", "a/#", "a/$x", true},
}

func TestMatch(t *testing.T) {
	t.Parallel()
	for _, tt := range matchCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := ValidateFilter(tt.filter); err != nil {
				t.Fatalf("ValidateFilter(%q) = %v; the case needs a valid filter", tt.filter, err)
			}
			if got := Match(tt.filter, tt.topic); got != tt.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
			}
			if got := matchReference(tt.filter, tt.topic); got != tt.want {
				t.Errorf("matchReference(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
			}
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		Match("sport/tennis/+/#", "sport/tennis/player1/score/wimbledon")
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times per call, want 0", allocs)
	}
}

// checkErr checks that err is nil when want is "", and otherwise an *Error
// with that reason and that limit flag.
func checkErr(t *testing.T, call string, err error, want string, limit bool) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Errorf("%s = %v, want nil", call, err)
		}
		return
	}
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("%s = %v (%T), want *Error %q", call, err, err, want)
	}
	if te.Reason != want || te.Limit != limit || te.Error() != want {
		t.Errorf("%s = %+v, want Reason %q, Limit %v", call, *te, want, limit)
	}
}

// matchReference is a deliberately simple matcher used to check Match.
func matchReference(filter, name string) bool {
	if strings.HasPrefix(name, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	fs, ns := strings.Split(filter, "/"), strings.Split(name, "/")
	for i, f := range fs {
		if f == "#" {
			return true
		}
		if i >= len(ns) || (f != "+" && f != ns[i]) {
			return false
		}
	}
	return len(fs) == len(ns)
}
