package topic

import (
	"strings"
	"sync"
)

// Member is one subscriber of a subscription: its key and its value.
type Member[K comparable, V any] struct {
	Key   K
	Value V
}

// Tree is a concurrency-safe subscription index: a trie with one node per
// filter level. K identifies a subscriber (e.g. a session pointer) and V is
// the per-subscription data (options, QoS, subscription identifier...).
//
// The tree stores filters as given; callers validate them first with
// ValidateFilter (an invalid filter is stored harmlessly but may never match).
// A zero Tree is empty and ready to use. A Tree must not be copied.
type Tree[K comparable, V any] struct {
	mu    sync.RWMutex
	root  node[K, V] // guarded by mu
	count int        // guarded by mu; subscriptions, shared ones included
}

// node is one filter level. The path from the root spells the filter.
type node[K comparable, V any] struct {
	children map[string]*node[K, V] // literal next levels; nil when none
	plus     *node[K, V]            // the "+" next level
	hash     *node[K, V]            // the "#" next level
	subs     subList[K, V]          // non-shared subscriptions to this filter
	groups   []*shareGroup[K, V]    // share groups on this filter, by name
}

// shareGroup is the members of "$share/{name}/{filter}" for one filter.
type shareGroup[K comparable, V any] struct {
	name    string
	members subList[K, V]
}

// NewTree returns an empty tree.
func NewTree[K comparable, V any]() *Tree[K, V] {
	return &Tree[K, V]{}
}

// Len returns the number of subscriptions, shared ones included.
func (t *Tree[K, V]) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.count
}

// Subscribe adds or replaces k's subscription to filter, which may be a
// shared filter "$share/{group}/{filter}". It returns true if k already had
// exactly this filter; its value is then replaced by v.
func (t *Tree[K, V]) Subscribe(filter string, k K, v V) (replaced bool) {
	group, f, shared := ParseShared(filter)
	t.mu.Lock()
	defer t.mu.Unlock()
	n := &t.root
	for {
		level, rest, more := strings.Cut(f, "/")
		n = n.child(level)
		if !more {
			break
		}
		f = rest
	}
	if shared {
		g := n.group(group)
		if g == nil {
			g = &shareGroup[K, V]{name: group}
			n.groups = append(n.groups, g)
		}
		replaced = g.members.set(k, v)
	} else {
		replaced = n.subs.set(k, v)
	}
	if !replaced {
		t.count++
	}
	return replaced
}

// Unsubscribe removes k's subscription to filter (shared or not) and prunes
// the nodes left empty. It reports whether the subscription existed.
func (t *Tree[K, V]) Unsubscribe(filter string, k K) bool {
	group, f, shared := ParseShared(filter)
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.root.remove(f, shared, group, k) {
		return false
	}
	t.count--
	return true
}

// Match calls visit for every non-shared subscription whose filter matches
// the topic name, and visitShared once per matching share group (a group is
// its name plus its filter, so "$share/g/a/+" and "$share/g/a/#" are two
// groups) with all the group's members; the caller picks one. Either callback
// may be nil.
//
// The callbacks run under the tree's read lock: they must not call into the
// tree, and must not retain members after returning. Match does not allocate.
func (t *Tree[K, V]) Match(name string, visit func(k K, v V), visitShared func(group string, members []Member[K, V])) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	// A name starting with '$' is not matched by a filter starting with a
	// wildcard, so the root's '+' and '#' children are skipped for it.
	n := &t.root
	if n.hash != nil && !isDollar(name) {
		n.hash.deliver(visit, visitShared)
	}
	level, rest, more := strings.Cut(name, "/")
	if n.plus != nil && !isDollar(name) {
		n.plus.match(rest, !more, visit, visitShared)
	}
	if c := n.children[level]; c != nil {
		c.match(rest, !more, visit, visitShared)
	}
}

func isDollar(name string) bool { return name != "" && name[0] == '$' }

// match delivers the subscriptions at and below n that match name, the
// levels left after n's; done means no levels are left.
func (n *node[K, V]) match(name string, done bool, visit func(K, V), visitShared func(string, []Member[K, V])) {
	for {
		// "#" matches any remaining levels, and also none ("a/#" matches "a").
		if n.hash != nil {
			n.hash.deliver(visit, visitShared)
		}
		if done {
			n.deliver(visit, visitShared)
			return
		}
		level, rest, more := strings.Cut(name, "/")
		if n.plus != nil {
			n.plus.match(rest, !more, visit, visitShared)
		}
		c := n.children[level]
		if c == nil {
			return
		}
		n, name, done = c, rest, !more
	}
}

// deliver calls the callbacks for n's own subscriptions.
func (n *node[K, V]) deliver(visit func(K, V), visitShared func(string, []Member[K, V])) {
	if visit != nil {
		for i := range n.subs.items {
			m := &n.subs.items[i]
			visit(m.Key, m.Value)
		}
	}
	if visitShared != nil {
		for _, g := range n.groups {
			visitShared(g.name, g.members.items)
		}
	}
}

// child returns n's child for a filter level, creating it if needed.
func (n *node[K, V]) child(level string) *node[K, V] {
	switch level {
	case "+":
		if n.plus == nil {
			n.plus = new(node[K, V])
		}
		return n.plus
	case "#":
		if n.hash == nil {
			n.hash = new(node[K, V])
		}
		return n.hash
	}
	c := n.children[level]
	if c == nil {
		if n.children == nil {
			n.children = make(map[string]*node[K, V])
		}
		c = new(node[K, V])
		n.children[level] = c
	}
	return c
}

// group returns n's share group of that name, or nil.
func (n *node[K, V]) group(name string) *shareGroup[K, V] {
	for _, g := range n.groups {
		if g.name == name {
			return g
		}
	}
	return nil
}

// remove removes k's subscription to filter f (the levels below n), pruning
// children left empty, and reports whether it existed.
func (n *node[K, V]) remove(f string, shared bool, group string, k K) bool {
	level, rest, more := strings.Cut(f, "/")
	var c *node[K, V]
	switch level {
	case "+":
		c = n.plus
	case "#":
		c = n.hash
	default:
		c = n.children[level]
	}
	if c == nil {
		return false
	}
	var removed bool
	switch {
	case more:
		removed = c.remove(rest, shared, group, k)
	case shared:
		removed = c.removeShared(group, k)
	default:
		removed = c.subs.remove(k)
	}
	if removed && c.empty() {
		switch level {
		case "+":
			n.plus = nil
		case "#":
			n.hash = nil
		default:
			delete(n.children, level)
			if len(n.children) == 0 {
				n.children = nil
			}
		}
	}
	return removed
}

// removeShared removes k from n's share group of that name, dropping the
// group when it becomes empty.
func (n *node[K, V]) removeShared(group string, k K) bool {
	for i, g := range n.groups {
		if g.name != group {
			continue
		}
		if !g.members.remove(k) {
			return false
		}
		if len(g.members.items) == 0 {
			last := len(n.groups) - 1
			n.groups[i] = n.groups[last]
			n.groups[last] = nil
			n.groups = n.groups[:last]
			if last == 0 {
				n.groups = nil
			}
		}
		return true
	}
	return false
}

// empty reports whether n holds nothing and can be pruned.
func (n *node[K, V]) empty() bool {
	return len(n.subs.items) == 0 && len(n.groups) == 0 &&
		len(n.children) == 0 && n.plus == nil && n.hash == nil
}

// indexAt is the list length above which a subList keeps a key index, so
// that a popular filter with many subscribers is still O(1) to change.
const indexAt = 16

// subList is a set of members kept in a slice, which is fast to walk in
// Match, with a key index once it grows past indexAt.
type subList[K comparable, V any] struct {
	items []Member[K, V]
	index map[K]int // position of each key in items; nil while small
}

func (s *subList[K, V]) find(k K) (int, bool) {
	if s.index != nil {
		i, ok := s.index[k]
		return i, ok
	}
	for i := range s.items {
		if s.items[i].Key == k {
			return i, true
		}
	}
	return -1, false
}

// set adds k with v, or replaces k's value; it reports whether k was there.
func (s *subList[K, V]) set(k K, v V) (replaced bool) {
	if i, ok := s.find(k); ok {
		s.items[i].Value = v
		return true
	}
	s.items = append(s.items, Member[K, V]{Key: k, Value: v})
	switch {
	case s.index != nil:
		s.index[k] = len(s.items) - 1
	case len(s.items) > indexAt:
		s.index = make(map[K]int, len(s.items))
		for i := range s.items {
			s.index[s.items[i].Key] = i
		}
	}
	return false
}

// remove removes k, moving the last member into its place; it reports
// whether k was there.
func (s *subList[K, V]) remove(k K) bool {
	i, ok := s.find(k)
	if !ok {
		return false
	}
	last := len(s.items) - 1
	if i != last {
		s.items[i] = s.items[last]
		if s.index != nil {
			s.index[s.items[i].Key] = i
		}
	}
	s.items[last] = Member[K, V]{} // let the collector have K and V
	s.items = s.items[:last]
	if s.index != nil {
		delete(s.index, k)
		if len(s.items) <= indexAt/2 {
			s.index = nil
		}
	}
	if len(s.items) == 0 {
		s.items = nil
	}
	return true
}
