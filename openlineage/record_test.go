package openlineage_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/openlineage"
)

// TestRecordMapping checks the PROV mapping of the events of
// testdata/run.jsonl: run → activity with parent, producer → agent, job →
// plan, inputs → used and outputs → generated dataset versions,
// columnLineage → derivations.
func TestRecordMapping(t *testing.T) {
	events := seeds(t)[:6]
	recs := make([]*prov.Record, len(events))
	for i, raw := range events {
		e, err := openlineage.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		b, err := openlineage.Record(e)
		if err != nil {
			t.Fatal(err)
		}
		if recs[i], err = prov.ParseRecord(b); err != nil {
			t.Fatal(err)
		}
		if recs[i].Type != prov.TypeLineage || recs[i].ID != openlineage.EventID(raw) {
			t.Errorf("event %d: type %q id %q", i, recs[i].Type, recs[i].ID)
		}
	}
	child := recs[2] // the child run's COMPLETE
	ended := time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC)
	wantAct := &prov.Activity{ID: "run:0195a000-0000-7000-8000-000000000002", Kind: "run", Name: "etl:nightly.orders", CodeVersion: "abc123",
		Parent: "run:0195a000-0000-7000-8000-000000000001", Status: "complete", Ended: &ended}
	if !reflect.DeepEqual(child.Activity, wantAct) {
		a, _ := json.Marshal(child.Activity)
		t.Errorf("activity: got %s", a)
	}
	if child.Agent == nil || child.Agent.ID != "https://example.com/etl" {
		t.Errorf("agent: got %+v", child.Agent)
	}
	wantUsed := []prov.EntityRef{
		{ID: "job:etl:nightly.orders", Role: openlineage.RolePlan},
		{ID: "dataset:postgres://db:5432:shop.public.orders", Version: "v41", Role: openlineage.RoleInput},
	}
	if !reflect.DeepEqual(child.Used, wantUsed) {
		t.Errorf("used: got %+v", child.Used)
	}
	wantGen := []prov.EntityRef{{ID: "dataset:s3://lake:orders_daily", Op: prov.OpWrite, Role: openlineage.RoleOutput}}
	if !reflect.DeepEqual(child.Generated, wantGen) {
		t.Errorf("generated: got %+v", child.Generated)
	}
	wantDer := []prov.Derivation{
		{Generated: "dataset:s3://lake:orders_daily", Used: "dataset:postgres://db:5432:shop.public.orders", Columns: []string{"day"}, UsedColumns: []string{"created_at"}},
		{Generated: "dataset:s3://lake:orders_daily", Used: "dataset:postgres://db:5432:shop.public.orders", Columns: []string{"total"}, UsedColumns: []string{"amount"}},
	}
	if !reflect.DeepEqual(child.Derivations, wantDer) {
		t.Errorf("derivations: got %+v", child.Derivations)
	}
	// A START's outputs are not written yet: no op.
	if start := recs[1]; len(start.Generated) != 1 || start.Generated[0].Op != "" || start.Activity.Started == nil {
		t.Errorf("START: got %+v %+v", start.Generated, start.Activity)
	}
	// DatasetEvent: the dataset, described; no activity.
	if ds := recs[4]; ds.Activity != nil || !reflect.DeepEqual(ds.Used, []prov.EntityRef{{ID: "dataset:s3://lake:customers", Role: openlineage.RoleDescribed}}) {
		t.Errorf("DatasetEvent: got %+v %+v", ds.Activity, ds.Used)
	}
	// JobEvent: the job is the plan, its inputs used; no activity.
	if job := recs[5]; job.Activity != nil || len(job.Used) != 2 || job.Used[0].Role != openlineage.RolePlan || job.Used[1].ID != "dataset:s3://lake:orders_daily" {
		t.Errorf("JobEvent: got %+v %+v", job.Activity, job.Used)
	}
}
