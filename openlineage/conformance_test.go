package openlineage_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/prov-dev/prov/openlineage"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

const specPrefix = "https://openlineage.io/spec/"

// specLoader loads https://openlineage.io/spec/… from the published copies
// under external/spec-published. A facet the 1-0-5 core schema refers to
// relative to itself (facets/X.json, never published there) is the newest
// published facets/*/X.json, as the corpus README says.
type specLoader struct{ root string }

func (l specLoader) Load(u string) (any, error) {
	rel, ok := strings.CutPrefix(u, specPrefix)
	if !ok {
		return nil, fmt.Errorf("not an OpenLineage schema: %s", u)
	}
	path := filepath.Join(l.root, filepath.FromSlash(rel))
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if i := strings.Index(rel, "/facets/"); i >= 0 && !strings.HasPrefix(rel, "facets/") {
			name := rel[i+len("/facets/"):]
			matches, _ := filepath.Glob(filepath.Join(l.root, "facets", "*", name))
			sort.Strings(matches)
			if len(matches) > 0 {
				path = matches[len(matches)-1]
			}
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return jsonschema.UnmarshalJSON(f)
}

// schemas compiles the official schemas (format asserted) on demand.
type schemas struct {
	mu  sync.Mutex
	c   *jsonschema.Compiler
	got map[string]*jsonschema.Schema
	bad map[string]error
}

func newSchemas() *schemas {
	c := jsonschema.NewCompiler()
	c.UseLoader(specLoader{root: filepath.Join(external, "spec-published")})
	c.AssertFormat()
	return &schemas{c: c, got: map[string]*jsonschema.Schema{}, bad: map[string]error{}}
}

func (s *schemas) get(u string) (*jsonschema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch, ok := s.got[u]; ok {
		return sch, nil
	}
	if err, ok := s.bad[u]; ok {
		return nil, err
	}
	sch, err := s.c.Compile(u)
	if err != nil {
		s.bad[u] = err
		return nil, err
	}
	s.got[u] = sch
	return sch, nil
}

var published = map[string]bool{"1-0-0": true, "1-0-1": true, "1-0-2": true, "1-0-3": true, "1-0-4": true, "1-0-5": true, "2-0-0": true, "2-0-1": true, "2-0-2": true}

// verdict validates an event as the corpus README's validator did: the
// core schema of the version its schemaURL names (2-0-2 if none or not a
// published one), then every facet whose _schemaURL is a published facet
// schema. nil: valid.
func (s *schemas) verdict(doc any) error {
	m, ok := doc.(map[string]any)
	if !ok {
		return errors.New("not an object")
	}
	version := "2-0-2"
	if su, ok := m["schemaURL"].(string); ok {
		if rest, ok := strings.CutPrefix(su, specPrefix); ok {
			if v, _, _ := strings.Cut(rest, "/"); published[v] {
				version = v
			}
		}
	}
	core, err := s.get(specPrefix + version + "/OpenLineage.json")
	if err != nil {
		return fmt.Errorf("compile core %s: %w", version, err)
	}
	if err := core.Validate(doc); err != nil {
		return err
	}
	for _, f := range facetsOf(m) {
		su, _ := f["_schemaURL"].(string)
		if !strings.HasPrefix(su, specPrefix+"facets/") {
			continue
		}
		sch, err := s.get(su)
		if err != nil {
			continue // not a published facet version
		}
		if err := sch.Validate(f); err != nil {
			return err
		}
	}
	return nil
}

// facetsOf returns every facet object of an event.
func facetsOf(m map[string]any) []map[string]any {
	var out []map[string]any
	add := func(v any) {
		if fm, ok := v.(map[string]any); ok {
			for _, f := range fm {
				if o, ok := f.(map[string]any); ok {
					out = append(out, o)
				}
			}
		}
	}
	obj := func(v any) map[string]any { o, _ := v.(map[string]any); return o }
	add(obj(m["run"])["facets"])
	add(obj(m["job"])["facets"])
	add(obj(m["dataset"])["facets"])
	for _, k := range []string{"inputs", "outputs"} {
		list, _ := m[k].([]any)
		for _, d := range list {
			add(obj(d)["facets"])
			add(obj(d)["inputFacets"])
			add(obj(d)["outputFacets"])
		}
	}
	return out
}

// repair undoes in doc what Decode tolerated, so that the schema can say
// whether anything else is wrong.
func repair(doc any, e *openlineage.Event) {
	m := doc.(map[string]any)
	for _, t := range e.Tolerated {
		switch t.What {
		case openlineage.TolerateNoSchemaURL, openlineage.TolerateJobEventVersion:
			m["schemaURL"] = specPrefix + "2-0-2/OpenLineage.json"
		case openlineage.TolerateTimeWithoutZone:
			m["eventTime"] = m["eventTime"].(string) + "Z"
		case openlineage.TolerateRunIDNotUUID:
			const id = "01948a1e-0000-7000-8000-000000000000"
			run := m["run"].(map[string]any)
			if t.Path == "run.runId" {
				run["runId"] = id
			} else {
				run["facets"].(map[string]any)["parent"].(map[string]any)["run"].(map[string]any)["runId"] = id
			}
		case openlineage.TolerateNotURI:
			fix := func(o map[string]any, k string) {
				if p, ok := o[k].(string); ok {
					if u, err := url.Parse(p); err != nil || u.Scheme == "" {
						o[k] = "urn:prov-test:" + url.PathEscape(p)
					}
				}
			}
			fix(m, "producer")
			for _, f := range facetsOf(m) {
				fix(f, "_producer")
				fix(f, "uri") // dataSource
				fix(f, "url") // sourceCodeLocation
			}
		case openlineage.TolerateNoColumnMetrics:
			for _, f := range facetsOf(m) {
				if strings.Contains(fmt.Sprint(f["_schemaURL"]), "DataQualityMetrics") && f["columnMetrics"] == nil {
					f["columnMetrics"] = map[string]any{}
				}
			}
		case openlineage.TolerateFacetBase:
			for _, f := range facetsOf(m) {
				if _, ok := f["_producer"]; !ok {
					f["_producer"] = "urn:prov-test:producer"
				}
				if _, ok := f["_schemaURL"]; !ok {
					f["_schemaURL"] = specPrefix + "2-0-2/OpenLineage.json#/$defs/BaseFacet"
				}
			}
		}
	}
}

// knownStricter lists the corpus events that the official schemas accept
// and Decode refuses, with the reason. It must stay exactly the set found.
var knownStricter = map[string]string{}

// TestConformance checks every event of the corpus against the official
// schemas (format asserted, facets by their _schemaURL) and Decode: the same
// verdict, except where Decode tolerates what real producers send — and
// then the schemas accept the event once those deviations are undone.
func TestConformance(t *testing.T) {
	events := corpus(t)
	s := newSchemas()
	var valid, invalid, tolerated int
	byWhat := map[string]int{}
	refused := map[string]int{} // by directory
	for _, c := range events {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(c.raw))
		if err != nil {
			t.Errorf("%s: not JSON to the schema validator: %v", c, err)
			continue
		}
		schemaErr := s.verdict(doc)
		ev, goErr := openlineage.Decode(c.raw)
		switch {
		case goErr != nil && schemaErr != nil:
			invalid++
			dir := strings.Join(strings.SplitN(c.file, "/", 3)[:min(2, strings.Count(c.file, "/"))], "/")
			refused[dir]++
		case goErr != nil:
			if why, ok := knownStricter[c.String()]; !ok {
				t.Errorf("%s: the schemas accept it, Decode refuses it: %v", c, goErr)
			} else {
				t.Logf("%s: refused, stricter than the schemas: %s", c, why)
			}
		case len(ev.Tolerated) == 0:
			valid++
			if schemaErr != nil {
				t.Errorf("%s: Decode accepts it without tolerance, the schemas refuse it: %v", c, schemaErr)
			}
		default:
			tolerated++
			for _, x := range ev.Tolerated {
				byWhat[x.What]++
			}
			repaired, _ := jsonschema.UnmarshalJSON(bytes.NewReader(c.raw))
			repair(repaired, ev)
			if err := s.verdict(repaired); err != nil {
				tj, _ := json.Marshal(ev.Tolerated)
				t.Errorf("%s: accepted with tolerances %s, but the schemas refuse it for something else: %v", c, tj, err)
			}
		}
	}
	t.Logf("%d corpus events: %d valid, %d accepted with tolerances %v, %d refused by both, by directory: %v", len(events), valid, tolerated, byWhat, invalid, refused)
}
