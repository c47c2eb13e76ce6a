package policy

import (
	"bytes"
	"encoding/json"
)

// normalDoc is the normalized form of a policy document: Statement is always
// an array, Action/Resource (and their Not forms) and condition values are
// always arrays, condition operators and keys are sorted.
type normalDoc struct {
	Version   string       `json:"Version,omitempty"`
	ID        *string      `json:"Id,omitempty"`
	Statement []normalStmt `json:"Statement"`
}

type normalStmt struct {
	Sid         *string                        `json:"Sid,omitempty"`
	Effect      string                         `json:"Effect"`
	Action      []string                       `json:"Action,omitempty"`
	NotAction   []string                       `json:"NotAction,omitempty"`
	Resource    []string                       `json:"Resource,omitempty"`
	NotResource []string                       `json:"NotResource,omitempty"`
	Condition   map[string]map[string][]string `json:"Condition,omitempty"`
}

// MarshalJSON returns the policy in normalized form (see Parse). The
// normalized form of a valid document parses to an equivalent policy, and
// normalizing it again gives the same bytes. It is not the stored document:
// AWS returns documents exactly as written.
func (p *Policy) MarshalJSON() ([]byte, error) {
	d := normalDoc{Version: p.version, Statement: []normalStmt{}}
	if p.hasID {
		d.ID = &p.id
	}
	for i := range p.stmts {
		st := &p.stmts[i]
		ns := normalStmt{Effect: st.effect.String()}
		if st.hasSid {
			ns.Sid = &st.sid
		}
		actions := raws(st.actions)
		if st.notAction {
			ns.NotAction = actions
		} else {
			ns.Action = actions
		}
		resources := raws(st.resources)
		if st.notRes {
			ns.NotResource = resources
		} else {
			ns.Resource = resources
		}
		for _, c := range st.conditions {
			if ns.Condition == nil {
				ns.Condition = map[string]map[string][]string{}
			}
			if ns.Condition[c.operator] == nil {
				ns.Condition[c.operator] = map[string][]string{}
			}
			ns.Condition[c.operator][c.key.name] = c.raw
		}
		d.Statement = append(d.Statement, ns)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func raws(ps []pattern) []string {
	out := make([]string, len(ps))
	for i := range ps {
		out[i] = ps[i].raw
	}
	return out
}
