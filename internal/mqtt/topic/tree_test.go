package topic

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// matched is what one Tree.Match call delivered, in a comparable form.
type matched struct {
	subs   []string // "key=value" for each visit, sorted
	groups []string // "group:key=value,key=value" for each visitShared, sorted
}

func matchTree[K comparable, V any](tr *Tree[K, V], name string) matched {
	var m matched
	tr.Match(name,
		func(k K, v V) { m.subs = append(m.subs, fmt.Sprintf("%v=%v", k, v)) },
		func(group string, members []Member[K, V]) {
			var ms []string
			for _, mb := range members {
				ms = append(ms, fmt.Sprintf("%v=%v", mb.Key, mb.Value))
			}
			slices.Sort(ms)
			m.groups = append(m.groups, group+":"+strings.Join(ms, ","))
		})
	slices.Sort(m.subs)
	slices.Sort(m.groups)
	return m
}

func TestTreeMatchesLikeMatch(t *testing.T) {
	t.Parallel()
	for _, tt := range matchCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := NewTree[string, int]()
			tr.Subscribe(tt.filter, "c1", 1)
			tr.Subscribe("$share/g/"+tt.filter, "c2", 2)
			got := matchTree(tr, tt.topic)
			var want matched
			if tt.want {
				want = matched{subs: []string{"c1=1"}, groups: []string{"g:c2=2"}}
			}
			if !slices.Equal(got.subs, want.subs) || !slices.Equal(got.groups, want.groups) {
				t.Errorf("Match(%q) with filter %q = %+v, want %+v", tt.topic, tt.filter, got, want)
			}
		})
	}
}

func TestTreeMatch(t *testing.T) {
	t.Parallel()
	subs := []struct {
		filter string
		key    string
		value  int
	}{
		{"sport/tennis/player1/#", "a", 1},
		{"sport/+", "b", 2},
		{"+/+", "c", 3},
		{"/+", "d", 4},
		{"#", "e", 5},
		{"sport/tennis/player1", "f", 6},
		{"$SYS/#", "g", 7},
		{"+/x", "h", 8},
		{"$aws/things/+/shadow/update", "i", 9},
		{"a/#", "j", 10},
		{"a//b", "k", 11},
		{"a/", "l", 12},
		{"$share/g1/sport/+", "m", 13},
		{"$share/g1/sport/+", "n", 14},
		{"$share/g2/sport/+", "o", 15},
		{"$share/g1/sport/#", "p", 16},
		{"$share/g1/other", "q", 17},
	}
	tr := NewTree[string, int]()
	for _, s := range subs {
		if tr.Subscribe(s.filter, s.key, s.value) {
			t.Fatalf("Subscribe(%q, %q) = true on first subscribe", s.filter, s.key)
		}
	}
	if got := tr.Len(); got != len(subs) {
		t.Fatalf("Len() = %d, want %d", got, len(subs))
	}
	tests := []struct {
		name       string
		topic      string
		wantSubs   []string
		wantGroups []string
	}{
		{name: "player1", topic: "sport/tennis/player1", wantSubs: []string{"a=1", "e=5", "f=6"}, wantGroups: []string{"g1:p=16"}},
		{name: "player1 ranking", topic: "sport/tennis/player1/ranking", wantSubs: []string{"a=1", "e=5"}, wantGroups: []string{"g1:p=16"}},
		{name: "sport tennis", topic: "sport/tennis", wantSubs: []string{"b=2", "c=3", "e=5"},
			wantGroups: []string{"g1:m=13,n=14", "g1:p=16", "g2:o=15"}},
		{name: "sport", topic: "sport", wantSubs: []string{"e=5"}, wantGroups: []string{"g1:p=16"}},
		{name: "slash finance", topic: "/finance", wantSubs: []string{"c=3", "d=4", "e=5"}},
		{name: "sys", topic: "$SYS/x", wantSubs: []string{"g=7"}},
		{name: "sys parent", topic: "$SYS", wantSubs: []string{"g=7"}},
		{name: "shadow", topic: "$aws/things/t1/shadow/update", wantSubs: []string{"i=9"}},
		{name: "a", topic: "a", wantSubs: []string{"e=5", "j=10"}},
		{name: "a slash", topic: "a/", wantSubs: []string{"c=3", "e=5", "j=10", "l=12"}},
		{name: "a empty b", topic: "a//b", wantSubs: []string{"e=5", "j=10", "k=11"}},
		{name: "y x", topic: "y/x", wantSubs: []string{"c=3", "e=5", "h=8"}},
		{name: "shared only", topic: "other", wantSubs: []string{"e=5"}, wantGroups: []string{"g1:q=17"}},
		{name: "dollar only other", topic: "$other", wantSubs: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := matchTree(tr, tt.topic)
			if !slices.Equal(got.subs, tt.wantSubs) {
				t.Errorf("Match(%q) visited %q, want %q", tt.topic, got.subs, tt.wantSubs)
			}
			if !slices.Equal(got.groups, tt.wantGroups) {
				t.Errorf("Match(%q) groups %q, want %q", tt.topic, got.groups, tt.wantGroups)
			}
		})
	}
}

func TestTreeMatchNilCallbacks(t *testing.T) {
	t.Parallel()
	tr := NewTree[int, int]()
	tr.Subscribe("a", 1, 1)
	tr.Subscribe("$share/g/a", 2, 2)
	tr.Match("a", nil, nil) // must not panic
	n := 0
	tr.Match("a", func(int, int) { n++ }, nil)
	tr.Match("a", nil, func(string, []Member[int, int]) { n++ })
	if n != 2 {
		t.Errorf("callbacks ran %d times, want 2", n)
	}
}

func TestTreeSubscribeReplaces(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		filter string
	}{
		{name: "plain", filter: "a/+/c"},
		{name: "shared", filter: "$share/g/a/+/c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := NewTree[string, int]()
			if got := tr.Subscribe(tt.filter, "k", 1); got {
				t.Errorf("first Subscribe(%q) = true, want false", tt.filter)
			}
			if got := tr.Subscribe(tt.filter, "k", 2); !got {
				t.Errorf("second Subscribe(%q) = false, want true", tt.filter)
			}
			if got := tr.Subscribe(tt.filter, "other", 3); got {
				t.Errorf("Subscribe(%q) by another key = true, want false", tt.filter)
			}
			if got := tr.Len(); got != 2 {
				t.Errorf("Len() = %d, want 2", got)
			}
			got := matchTree(tr, "a/b/c")
			all := append(got.subs, got.groups...)
			want := "k=2"
			if !strings.Contains(strings.Join(all, " "), want) || strings.Contains(strings.Join(all, " "), "k=1") {
				t.Errorf("Match after replace = %q, want k with value 2 only", all)
			}
		})
	}
}

func TestTreeDistinctFiltersSameKey(t *testing.T) {
	t.Parallel()
	// One subscriber on overlapping filters is visited once per filter; the
	// broker decides how to merge them.
	tr := NewTree[string, string]()
	tr.Subscribe("a/+", "k", "plus")
	tr.Subscribe("a/#", "k", "hash")
	tr.Subscribe("a/b", "k", "literal")
	tr.Subscribe("$share/g/a/b", "k", "shared")
	got := matchTree(tr, "a/b")
	want := matched{subs: []string{"k=hash", "k=literal", "k=plus"}, groups: []string{"g:k=shared"}}
	if !slices.Equal(got.subs, want.subs) || !slices.Equal(got.groups, want.groups) {
		t.Errorf("Match(a/b) = %+v, want %+v", got, want)
	}
	if n := tr.Len(); n != 4 {
		t.Errorf("Len() = %d, want 4", n)
	}
}

func TestTreeUnsubscribe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		subs   []string // filters subscribed by key "k"
		unsub  string
		key    string
		want   bool
		remain int
	}{
		{name: "existing", subs: []string{"a/b"}, unsub: "a/b", key: "k", want: true, remain: 0},
		{name: "missing filter", subs: []string{"a/b"}, unsub: "a/c", key: "k", want: false, remain: 1},
		{name: "missing prefix of filter", subs: []string{"a/b"}, unsub: "a", key: "k", want: false, remain: 1},
		{name: "missing longer filter", subs: []string{"a/b"}, unsub: "a/b/c", key: "k", want: false, remain: 1},
		{name: "missing key", subs: []string{"a/b"}, unsub: "a/b", key: "other", want: false, remain: 1},
		{name: "empty tree", unsub: "a/b", key: "k", want: false, remain: 0},
		{name: "plus", subs: []string{"a/+", "a/#"}, unsub: "a/+", key: "k", want: true, remain: 1},
		{name: "hash", subs: []string{"a/+", "a/#"}, unsub: "a/#", key: "k", want: true, remain: 1},
		{name: "literal plus is not wildcard", subs: []string{"a/+"}, unsub: "a/b", key: "k", want: false, remain: 1},
		{name: "shared", subs: []string{"$share/g/a"}, unsub: "$share/g/a", key: "k", want: true, remain: 0},
		{name: "shared wrong group", subs: []string{"$share/g/a"}, unsub: "$share/h/a", key: "k", want: false, remain: 1},
		{name: "shared not plain", subs: []string{"$share/g/a"}, unsub: "a", key: "k", want: false, remain: 1},
		{name: "plain not shared", subs: []string{"a"}, unsub: "$share/g/a", key: "k", want: false, remain: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := NewTree[string, int]()
			for _, f := range tt.subs {
				tr.Subscribe(f, "k", 1)
			}
			if got := tr.Unsubscribe(tt.unsub, tt.key); got != tt.want {
				t.Errorf("Unsubscribe(%q, %q) = %v, want %v", tt.unsub, tt.key, got, tt.want)
			}
			if got := tr.Len(); got != tt.remain {
				t.Errorf("Len() = %d, want %d", got, tt.remain)
			}
			if got := tr.Unsubscribe(tt.unsub, tt.key); got {
				t.Errorf("second Unsubscribe(%q, %q) = true, want false", tt.unsub, tt.key)
			}
		})
	}
}

func TestTreePrunes(t *testing.T) {
	t.Parallel()
	filters := []string{"a/b/c", "a/+/c", "a/#", "#", "+", "a//", "/", "$share/g/a/b", "$share/h/a/b", "x/y/z/+/#"}
	tr := NewTree[int, int]()
	for k := range 3 {
		for _, f := range filters {
			tr.Subscribe(f, k, k)
		}
	}
	for k := range 3 {
		for _, f := range filters {
			if !tr.Unsubscribe(f, k) {
				t.Fatalf("Unsubscribe(%q, %d) = false, want true", f, k)
			}
		}
	}
	if n := tr.Len(); n != 0 {
		t.Errorf("Len() = %d after removing everything, want 0", n)
	}
	if !tr.root.empty() {
		t.Errorf("root not pruned: children %d, plus %v, hash %v", len(tr.root.children), tr.root.plus != nil, tr.root.hash != nil)
	}
	// Partial removal keeps the rest working and prunes only the dead branch.
	tr.Subscribe("a/b/c", 1, 1)
	tr.Subscribe("a/d", 1, 1)
	tr.Unsubscribe("a/b/c", 1)
	a := tr.root.children["a"]
	if a == nil || len(a.children) != 1 || a.children["d"] == nil {
		t.Errorf("after unsubscribing a/b/c, node a has children %v, want only d", a.children)
	}
}

func TestTreeManySubscribers(t *testing.T) {
	t.Parallel()
	const n = 1000 // well past the subList index threshold
	tr := NewTree[int, int]()
	for k := range n {
		tr.Subscribe("fleet/+/cmd", k, k)
		tr.Subscribe("$share/workers/fleet/#", k, k)
	}
	for k := range n {
		if !tr.Subscribe("fleet/+/cmd", k, k+n) {
			t.Fatalf("Subscribe of existing key %d = false, want true", k)
		}
	}
	// Remove every odd key.
	for k := 1; k < n; k += 2 {
		if !tr.Unsubscribe("fleet/+/cmd", k) || !tr.Unsubscribe("$share/workers/fleet/#", k) {
			t.Fatalf("Unsubscribe of key %d = false, want true", k)
		}
	}
	if got := tr.Len(); got != n {
		t.Errorf("Len() = %d, want %d", got, n)
	}
	seen := make(map[int]int)
	groups := 0
	tr.Match("fleet/t1/cmd",
		func(k, v int) { seen[k] = v },
		func(group string, members []Member[int, int]) {
			groups++
			if group != "workers" || len(members) != n/2 {
				t.Errorf("visitShared(%q, %d members), want workers with %d", group, len(members), n/2)
			}
			for _, m := range members {
				if m.Key%2 != 0 {
					t.Errorf("removed key %d still a member", m.Key)
				}
			}
		})
	if len(seen) != n/2 || groups != 1 {
		t.Errorf("Match visited %d keys and %d groups, want %d and 1", len(seen), groups, n/2)
	}
	for k, v := range seen {
		if k%2 != 0 || v != k+n {
			t.Errorf("visit(%d, %d), want even keys with value key+%d", k, v, n)
		}
	}
	// Shrink below the threshold and check that lookups still work.
	for k := 0; k < n-4; k += 2 {
		tr.Unsubscribe("fleet/+/cmd", k)
	}
	for k := n - 4; k < n; k += 2 {
		if !tr.Unsubscribe("fleet/+/cmd", k) {
			t.Errorf("Unsubscribe(%d) after shrinking = false, want true", k)
		}
	}
}

func TestTreeMatchDoesNotAllocate(t *testing.T) {
	tr := benchTree(1000)
	names := benchNames(100)
	n := 0
	visit := func(int, int) { n++ }
	visitShared := func(string, []Member[int, int]) { n++ }
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		tr.Match(names[i%len(names)], visit, visitShared)
		i++
	})
	if allocs != 0 {
		t.Errorf("Tree.Match allocates %v times per call, want 0", allocs)
	}
	if n == 0 {
		t.Error("benchmark tree matched nothing")
	}
}

func TestTreeConcurrent(t *testing.T) {
	t.Parallel()
	tr := NewTree[int, int]()
	filters := []string{"a/b", "a/+", "a/#", "#", "$share/g/a/b", "$share/g/+/b", "b/c/d", "+/c/+"}
	names := []string{"a/b", "a", "b/c/d", "x/c/y", "$SYS/a"}
	const workers, rounds = 4, 300
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				f := filters[(i+w)%len(filters)]
				tr.Subscribe(f, w, i)
				if i%3 == 0 {
					tr.Unsubscribe(f, w)
				}
			}
		})
		wg.Go(func() {
			for i := range rounds {
				tr.Match(names[(i+w)%len(names)],
					func(k, v int) { _ = k + v },
					func(_ string, ms []Member[int, int]) { _ = len(ms) })
				_ = tr.Len()
			}
		})
	}
	wg.Wait()
	// Whatever each worker left subscribed, removing all of it must leave an
	// empty, pruned tree.
	for w := range workers {
		for _, f := range filters {
			tr.Unsubscribe(f, w)
		}
	}
	if n := tr.Len(); n != 0 || !tr.root.empty() {
		t.Errorf("after cleanup Len() = %d, root empty %v; want 0, true", n, tr.root.empty())
	}
}
