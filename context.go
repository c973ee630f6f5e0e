package prov

import (
	"encoding/json"
	"strings"
)

// ContextSetting is the name of the PostgreSQL setting that carries the
// attribution of a transaction or session to capture triggers: set it
// transaction-locally with set_config('prov.context', …, true), or for a
// whole session (PGOPTIONS="-c prov.context=…").
const ContextSetting = "prov.context"

// Attribution says which activity and agent a database change belongs to.
// It travels with each captured change, so it holds identifiers only: the
// activity's details (kind, release, code version, reason) are recorded once,
// in an activity record. Parent, when set, names the enclosing activity (the
// release or deployment a request runs in), so that an activity with no
// record of its own, such as one request, still belongs to a release.
type Attribution struct {
	Activity string `json:"activity"`
	Agent    string `json:"agent,omitempty"`
	Parent   string `json:"parent,omitempty"`
}

// Encode returns the attribution as the value of the prov.context setting:
// compact JSON, with no white space, so that it also survives PGOPTIONS.
func (a Attribution) Encode() string {
	b, _ := json.Marshal(a) // cannot fail: two strings
	s := string(b)
	// PGOPTIONS splits on white space unless escaped with a backslash.
	return strings.NewReplacer(" ", `\u0020`, "\t", `\t`).Replace(s)
}

// ParseAttribution decodes a prov.context value. An empty value is no
// attribution (the change is unattributed).
func ParseAttribution(s string) (Attribution, error) {
	var a Attribution
	if strings.TrimSpace(s) == "" {
		return a, nil
	}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return a, Errorf(Invalid, "prov.context %q is not an attribution: want {\"activity\":\"ID\",\"agent\":\"ID\"}", s)
	}
	if strings.TrimSpace(a.Activity) == "" {
		return a, Errorf(Invalid, "prov.context %q names no activity", s)
	}
	return a, nil
}
