package topic

import (
	"strings"
	"testing"
)

func TestLimitsCheckName(t *testing.T) {
	t.Parallel()
	slashes := func(n int) string { return strings.Repeat("a/", n) + "a" }
	tests := []struct {
		name    string
		limits  Limits
		topic   string
		wantErr string
	}{
		{name: "7 slashes", limits: DefaultLimits(), topic: slashes(7)},
		{name: "8 slashes", limits: DefaultLimits(), topic: slashes(8), wantErr: "topic has 8 slashes; the limit is 7"},
		{name: "9 slashes", limits: DefaultLimits(), topic: slashes(9), wantErr: "topic has 9 slashes; the limit is 7"},
		{name: "256 bytes", limits: DefaultLimits(), topic: strings.Repeat("x", 256)},
		{name: "257 bytes", limits: DefaultLimits(), topic: strings.Repeat("x", 257), wantErr: "topic has 257 bytes; the limit is 256"},
		{name: "bytes not characters", limits: DefaultLimits(), topic: strings.Repeat("é", 129), wantErr: "topic has 258 bytes; the limit is 256"},
		{name: "ingest prefix slashes not counted", limits: DefaultLimits(), topic: "$aws/rules/myRule/" + slashes(7)},
		{name: "ingest prefix 8 slashes after", limits: DefaultLimits(), topic: "$aws/rules/myRule/" + slashes(8), wantErr: "topic has 8 slashes; the limit is 7"},
		{name: "ingest prefix bytes not counted", limits: DefaultLimits(), topic: "$aws/rules/myRule/" + strings.Repeat("x", 256)},
		{name: "ingest prefix 257 bytes after", limits: DefaultLimits(), topic: "$aws/rules/myRule/" + strings.Repeat("x", 257), wantErr: "topic has 257 bytes; the limit is 256"},
		{name: "ingest rule only counted", limits: DefaultLimits(), topic: "$aws/rules/" + strings.Repeat("x", 250), wantErr: "topic has 261 bytes; the limit is 256"},
		{name: "aws things prefix counted", limits: DefaultLimits(), topic: "$aws/things/t/shadow/name/s/update/accepted/x", wantErr: "topic has 8 slashes; the limit is 7"},
		{name: "share prefix counted in a name", limits: DefaultLimits(), topic: "$share/g/" + slashes(6), wantErr: "topic has 8 slashes; the limit is 7"},
		{name: "zero limits are the defaults", limits: Limits{}, topic: slashes(8), wantErr: "topic has 8 slashes; the limit is 7"},
		{name: "custom slashes", limits: Limits{MaxSlashes: 2}, topic: slashes(3), wantErr: "topic has 3 slashes; the limit is 2"},
		{name: "custom bytes", limits: Limits{MaxBytes: 3}, topic: "abcd", wantErr: "topic has 4 bytes; the limit is 3"},
		{name: "negative disables", limits: Limits{MaxBytes: -1, MaxSlashes: -1}, topic: strings.Repeat("a/", 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkErr(t, "CheckName", tt.limits.CheckName(tt.topic), tt.wantErr, true)
		})
	}
}

func TestLimitsCheckFilter(t *testing.T) {
	t.Parallel()
	slashes := func(n int) string { return strings.Repeat("a/", n) + "#" }
	tests := []struct {
		name    string
		limits  Limits
		filter  string
		wantErr string
	}{
		{name: "7 slashes", limits: DefaultLimits(), filter: slashes(7)},
		{name: "8 slashes", limits: DefaultLimits(), filter: slashes(8), wantErr: "topic filter has 8 slashes; the limit is 7"},
		{name: "256 bytes", limits: DefaultLimits(), filter: strings.Repeat("+", 1) + "/" + strings.Repeat("x", 254)},
		{name: "257 bytes", limits: DefaultLimits(), filter: strings.Repeat("x", 257), wantErr: "topic filter has 257 bytes; the limit is 256"},
		{name: "share prefix slashes not counted", limits: DefaultLimits(), filter: "$share/g/" + slashes(7)},
		{name: "share 8 slashes after prefix", limits: DefaultLimits(), filter: "$share/g/" + slashes(8), wantErr: "topic filter has 8 slashes; the limit is 7"},
		{name: "share prefix bytes not counted", limits: DefaultLimits(), filter: "$share/" + strings.Repeat("g", 128) + "/" + strings.Repeat("x", 256)},
		{name: "share 257 bytes after prefix", limits: DefaultLimits(), filter: "$share/g/" + strings.Repeat("x", 257), wantErr: "topic filter has 257 bytes; the limit is 256"},
		{name: "share name 128", limits: DefaultLimits(), filter: "$share/" + strings.Repeat("g", 128) + "/a"},
		{name: "share name 129", limits: DefaultLimits(), filter: "$share/" + strings.Repeat("g", 129) + "/a", wantErr: "share name has 129 characters; the limit is 128"},
		{name: "share name 128 characters of 2 bytes", limits: DefaultLimits(), filter: "$share/" + strings.Repeat("é", 128) + "/a"},
		{name: "share name 129 characters of 2 bytes", limits: DefaultLimits(), filter: "$share/" + strings.Repeat("é", 129) + "/a", wantErr: "share name has 129 characters; the limit is 128"},
		{name: "ingest prefix counted in a filter", limits: DefaultLimits(), filter: "$aws/rules/r/" + slashes(5), wantErr: "topic filter has 8 slashes; the limit is 7"},
		{name: "zero limits are the defaults", limits: Limits{}, filter: "$share/" + strings.Repeat("g", 129) + "/a", wantErr: "share name has 129 characters; the limit is 128"},
		{name: "custom share name", limits: Limits{MaxShareName: 2}, filter: "$share/abc/a", wantErr: "share name has 3 characters; the limit is 2"},
		{name: "negative disables share name", limits: Limits{MaxShareName: -1}, filter: "$share/" + strings.Repeat("g", 1000) + "/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkErr(t, "CheckFilter", tt.limits.CheckFilter(tt.filter), tt.wantErr, true)
		})
	}
}
