package topic

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// FuzzValidateFilter checks that validation never panics, that Match agrees
// with a simple reference matcher on valid input, and that a filter without
// wildcards matches exactly the equal name.
func FuzzValidateFilter(f *testing.F) {
	f.Add("sport/tennis/+/#", "sport/tennis/player1/ranking")
	f.Add("$share/g/a/+", "a/b")
	f.Add("#", "$SYS/x")
	f.Add("a/#", "a")
	f.Fuzz(func(t *testing.T, filter, name string) {
		ferr := ValidateFilter(filter)
		nerr := ValidateName(name)
		_ = DefaultLimits().CheckFilter(filter)
		_ = DefaultLimits().CheckName(name)
		if nerr == nil && !strings.HasPrefix(name, sharePrefix) {
			if err := ValidateFilter(name); err != nil {
				t.Errorf("ValidateName(%q) = nil but ValidateFilter(%q) = %v", name, name, err)
			}
		}
		if ferr != nil {
			return
		}
		_, plain, _ := ParseShared(filter)
		got := Match(plain, name) // must not panic, even for an invalid name
		if nerr != nil {
			return
		}
		if want := matchReference(plain, name); got != want {
			t.Errorf("Match(%q, %q) = %v, reference says %v", plain, name, got, want)
		}
		if !strings.ContainsAny(plain, "+#") {
			if want := plain == name; got != want {
				t.Errorf("Match(%q, %q) = %v, want %v for a filter without wildcards", plain, name, got, want)
			}
			if !Match(plain, plain) {
				t.Errorf("Match(%q, %q) = false, want true", plain, plain)
			}
		}
	})
}

// FuzzTreeMatch subscribes filters taken from the input (one per line) and
// filters derived from the name, then checks that Tree.Match delivers exactly
// the subscriptions that Match says match, and that removing everything
// leaves an empty, pruned tree.
func FuzzTreeMatch(f *testing.F) {
	f.Add("a/+\n#\n$share/g/a/#\n+/+", "a/b", []byte{0, 1, 2, 3})
	f.Add("$SYS/#\n+/x", "$SYS/x", []byte{2, 2})
	f.Fuzz(func(t *testing.T, lines, name string, shape []byte) {
		filters := strings.Split(lines, "\n")
		if len(filters) > 8 {
			filters = filters[:8]
		}
		filters = append(filters, deriveFilters(name, shape)...)
		tr := NewTree[int, string]()
		subscribed := make(map[string]bool)
		for i, fl := range filters {
			if ValidateFilter(fl) != nil {
				continue
			}
			// Keys: i, and also 100 for every filter, so a key has several
			// filters and a filter has several keys.
			for _, k := range []int{i, 100} {
				id := fmt.Sprintf("%s\x00%d", fl, k)
				replaced := tr.Subscribe(fl, k, fl)
				if replaced != subscribed[id] {
					t.Fatalf("Subscribe(%q, %d) = %v, want %v", fl, k, replaced, subscribed[id])
				}
				subscribed[id] = true
			}
		}
		if got := tr.Len(); got != len(subscribed) {
			t.Fatalf("Len() = %d, want %d", got, len(subscribed))
		}
		if ValidateName(name) != nil {
			tr.Match(name, func(int, string) {}, func(string, []Member[int, string]) {}) // must not panic
		} else {
			got := matchTree(tr, name)
			want := expectMatch(subscribed, name)
			if !slices.Equal(got.subs, want.subs) || !slices.Equal(got.groups, want.groups) {
				t.Fatalf("Tree.Match(%q) = %+v, want %+v (filters %q)", name, got, want, filters)
			}
		}
		for id := range subscribed {
			fl, k := splitID(id)
			if !tr.Unsubscribe(fl, k) {
				t.Fatalf("Unsubscribe(%q, %d) = false, want true", fl, k)
			}
		}
		if tr.Len() != 0 || !tr.root.empty() {
			t.Fatalf("after unsubscribing all, Len() = %d and root empty %v", tr.Len(), tr.root.empty())
		}
	})
}

// deriveFilters builds filters from the name's levels, one per byte of
// shape: the low two bits of each following byte pick, level by level,
// literal, '+', '#' (ending the filter) or a non-matching literal; bit 2
// makes the filter shared.
func deriveFilters(name string, shape []byte) []string {
	levels := strings.Split(name, "/")
	var out []string
	for i := 0; i < len(shape) && len(out) < 8; i++ {
		var b strings.Builder
		if shape[i]&4 != 0 {
			b.WriteString("$share/g" + fmt.Sprint(shape[i]>>6) + "/")
		}
		for j, l := range levels {
			if j > 0 {
				b.WriteByte('/')
			}
			op := shape[(i+j)%len(shape)] & 3
			if j == 0 {
				op = shape[i] & 3
			}
			if op == 0 {
				b.WriteString(l)
			} else if op == 1 {
				b.WriteByte('+')
			} else if op == 2 {
				b.WriteByte('#')
				break
			} else {
				b.WriteString(l + "x")
			}
		}
		out = append(out, b.String())
	}
	return out
}

// expectMatch computes what Tree.Match should deliver, from Match.
func expectMatch(subscribed map[string]bool, name string) matched {
	var m matched
	groups := make(map[string][]string) // group + filter -> members
	for id := range subscribed {
		fl, k := splitID(id)
		group, plain, shared := ParseShared(fl)
		if !Match(plain, name) {
			continue
		}
		member := fmt.Sprintf("%d=%s", k, fl)
		if shared {
			groups[group+"\x00"+plain] = append(groups[group+"\x00"+plain], member)
		} else {
			m.subs = append(m.subs, member)
		}
	}
	for g, ms := range groups {
		slices.Sort(ms)
		group, _, _ := strings.Cut(g, "\x00")
		m.groups = append(m.groups, group+":"+strings.Join(ms, ","))
	}
	slices.Sort(m.subs)
	slices.Sort(m.groups)
	return m
}

func splitID(id string) (string, int) {
	i := strings.LastIndexByte(id, 0)
	var k int
	fmt.Sscan(id[i+1:], &k)
	return id[:i], k
}
