package policy

import (
	"cmp"
	"slices"
	"strconv"
)

// Request is one action a client asks to perform.
type Request struct {
	// Action is the IoT action, e.g. "iot:Publish" (case-insensitive).
	Action string
	// Resource is the full ARN (see ARN and ResourceType), or AnyResource.
	Resource string
	// Context describes the connection the request comes from.
	Context Context
}

// Decision is the outcome of evaluating a request, with the statement that
// decided it. The zero Decision denies.
type Decision struct {
	// Allowed is true only when an Allow statement matched and no Deny did.
	Allowed bool
	// Policy is the name of the deciding policy; "" for the default deny.
	Policy string
	// Statement is the 0-based index of the deciding statement in Policy;
	// -1 for the default deny.
	Statement int
	// Sid is the deciding statement's Sid, if it has one.
	Sid string
	// Effect is "Allow" or "Deny" from the deciding statement; "" for the
	// default deny.
	Effect string
	// Reason explains the decision: "allowed by policy p statement 0",
	// "denied by policy p statement 2" or "no statement matched (default
	// deny)".
	Reason string
}

// defaultDeny is the decision when no statement matches.
var defaultDeny = Decision{Statement: -1, Reason: "no statement matched (default deny)"}

// Err returns nil if d allows, and otherwise a *DeniedError carrying d.
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	return &DeniedError{Decision: d}
}

// DeniedError is a refused request; its text is the decision's reason.
type DeniedError struct{ Decision Decision }

func (e *DeniedError) Error() string {
	if e.Decision.Reason == "" {
		return "not authorized"
	}
	return "not authorized: " + e.Decision.Reason
}

// Named is a policy with the name it is attached under.
type Named struct {
	Name   string
	Policy *Policy
}

// Set is the set of policies in effect for one principal (every policy
// attached to its certificate, each at its default version). It is
// immutable and safe for concurrent use. A nil *Set denies everything.
type Set struct {
	policies []setPolicy
}

type setPolicy struct {
	name      string
	p         *Policy
	decisions []Decision // per statement, precomputed so evaluating never formats
}

// NewSet returns the set of the given policies. Policies are ordered by name
// (so the decision that is reported does not depend on attachment order);
// nil policies are skipped.
func NewSet(policies ...Named) *Set {
	s := &Set{}
	for _, n := range policies {
		if n.Policy == nil {
			continue
		}
		sp := setPolicy{name: n.Name, p: n.Policy}
		for i, st := range n.Policy.stmts {
			d := Decision{Allowed: st.effect == effectAllow, Policy: n.Name, Statement: i, Sid: st.sid, Effect: st.effect.String()}
			verb := "denied"
			if d.Allowed {
				verb = "allowed"
			}
			d.Reason = verb + " by policy " + n.Name + " statement " + strconv.Itoa(i)
			sp.decisions = append(sp.decisions, d)
		}
		s.policies = append(s.policies, sp)
	}
	slices.SortStableFunc(s.policies, func(a, b setPolicy) int { return cmp.Compare(a.name, b.name) })
	return s
}

// Len returns the number of policies in the set.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.policies)
}

// Evaluate decides req: an explicit Deny in any policy wins, then any Allow,
// and otherwise the request is denied by default. The reported statement is
// the first matching Deny, or else the first matching Allow, in policy-name
// then statement order.
func (s *Set) Evaluate(req Request) Decision {
	if s == nil {
		return defaultDeny
	}
	idx := actionIndex(req.Action)
	ctx := &req.Context
	for _, eff := range [...]effect{effectDeny, effectAllow} {
		for i := range s.policies {
			sp := &s.policies[i]
			for j := range sp.p.stmts {
				st := &sp.p.stmts[j]
				if st.effect == eff && st.matchAction(idx, req.Action) &&
					st.matchResource(req.Resource, ctx) && st.matchConditions(ctx) {
					return sp.decisions[j]
				}
			}
		}
	}
	return defaultDeny
}

func (st *statement) matchAction(idx int, action string) bool {
	if idx >= 0 {
		return st.mask&(1<<idx) != 0
	}
	for i := range st.actions {
		if st.actions[i].match(action, nil, true) {
			return !st.notAction
		}
	}
	return st.notAction
}

func (st *statement) matchResource(resource string, ctx *Context) bool {
	for i := range st.resources {
		if st.resources[i].match(resource, ctx, false) {
			return !st.notRes
		}
	}
	return st.notRes
}

func (st *statement) matchConditions(ctx *Context) bool {
	for i := range st.conditions {
		if !st.conditions[i].eval(ctx) {
			return false
		}
	}
	return true
}

// Bound is a Set specialised to one connection: variables are substituted
// and conditions evaluated once, in Bind, so Evaluate only matches actions
// and resources. Every condition key AWS IoT defines describes the
// connection, so a Bound stays valid for the connection's life (rebind when
// the policies, the thing or its attributes change). It is immutable and
// safe for concurrent use. A nil *Bound denies everything.
type Bound struct {
	// byAction[i] holds the statements that apply to knownActions[i];
	// byAction[len(knownActions)] holds every statement, for other actions.
	byAction [len(knownActions) + 1][]boundStatement
}

type boundStatement struct {
	st        *statement
	resources []pattern // variables substituted
	decision  *Decision
}

// Bind returns s specialised to the connection described by ctx. Statements
// whose conditions are false for ctx are dropped; Deny statements come
// before Allow statements.
func (s *Set) Bind(ctx Context) *Bound {
	b := &Bound{}
	if s == nil {
		return b
	}
	for _, eff := range [...]effect{effectDeny, effectAllow} {
		for i := range s.policies {
			sp := &s.policies[i]
			for j := range sp.p.stmts {
				st := &sp.p.stmts[j]
				if st.effect != eff || !st.matchConditions(&ctx) {
					continue
				}
				bs := boundStatement{st: st, resources: st.resources, decision: &sp.decisions[j]}
				if st.resVars {
					bs.resources = make([]pattern, len(st.resources))
					for k := range st.resources {
						bs.resources[k] = st.resources[k].bind(&ctx)
					}
				}
				for a := range knownActions {
					if st.mask&(1<<a) != 0 {
						b.byAction[a] = append(b.byAction[a], bs)
					}
				}
				b.byAction[len(knownActions)] = append(b.byAction[len(knownActions)], bs)
			}
		}
	}
	return b
}

// Evaluate decides action on resource (a full ARN, or AnyResource) for the
// bound connection, with the same result as Set.Evaluate. It does not
// allocate.
func (b *Bound) Evaluate(action, resource string) Decision {
	if b == nil {
		return defaultDeny
	}
	idx := actionIndex(action)
	slot := idx
	if idx < 0 {
		slot = len(knownActions)
	}
	for i := range b.byAction[slot] {
		bs := &b.byAction[slot][i]
		if idx < 0 && !bs.st.matchAction(idx, action) {
			continue
		}
		if bs.matchResource(resource) {
			return *bs.decision
		}
	}
	return defaultDeny
}

func (bs *boundStatement) matchResource(resource string) bool {
	for i := range bs.resources {
		if bs.resources[i].match(resource, nil, false) {
			return !bs.st.notRes
		}
	}
	return bs.st.notRes
}
