package capture_test

import (
	"context"
	"testing"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/postgres"
)

// TestApplicationNeverWaitsForTheSequencer holds a transaction that has done
// what a sequencer step does before it commits — the log's write lock, the
// queued changes taken and deleted, the row states and the index written —
// and checks that application transactions on captured tables still commit,
// with lock_timeout set so that any wait fails them.
func TestApplicationNeverWaitsForTheSequencer(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tbl := e.app + ".items"
	e.exec(t, "CREATE TABLE "+tbl+" (id int PRIMARY KEY, v text)")
	if _, err := e.cap.Enable(ctx, []string{tbl}, nil); err != nil {
		t.Fatal(err)
	}
	e.attributed(t, "job:1", "INSERT INTO "+tbl+" SELECT g, 'v' FROM generate_series(1, 100) g")
	e.sequence(t)
	e.attributed(t, "job:2", "UPDATE "+tbl+" SET v = 'w' WHERE id <= 50")

	held := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- e.store.Update(ctx, func(ctx context.Context, tx prov.Tx) error {
			q := tx.(interface{ Querier() postgres.Querier }).Querier()
			s := e.store.Schema()
			for _, stmt := range []string{
				"DELETE FROM " + s + ".changes WHERE id IN (SELECT id FROM " + s + ".changes ORDER BY id FOR UPDATE SKIP LOCKED)",
				"UPDATE " + s + ".row_state SET idx = idx",
				"UPDATE " + s + ".capture_stats SET changes = changes",
				"INSERT INTO " + s + ".change_activities VALUES ('job:held', NULL, now(), now(), 1)",
			} {
				if _, err := q.Exec(ctx, stmt); err != nil {
					return err
				}
			}
			close(held)
			<-release
			return prov.Errorf(prov.Conflict, "rolled back on purpose")
		})
	}()
	select {
	case <-held:
	case err := <-done:
		t.Fatalf("the held transaction ended early: %v", err)
	}
	for _, stmt := range []string{
		"INSERT INTO " + tbl + " VALUES (1000, 'new')",
		"UPDATE " + tbl + " SET v = 'x' WHERE id = 1",
		"UPDATE " + tbl + " SET v = 'y' WHERE id > 90",
		"DELETE FROM " + tbl + " WHERE id = 2",
	} {
		start := time.Now()
		tx, err := e.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '2s'"); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, stmt); err != nil {
			tx.Rollback(ctx)
			t.Errorf("%s waited for the sequencer: %v", stmt, err)
			continue
		}
		if err := tx.Commit(ctx); err != nil {
			t.Errorf("%s: commit: %v", stmt, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s took %v while a sequencer step was open", stmt, d)
		}
	}
	close(release)
	if err := <-done; prov.KindOf(err) != prov.Conflict {
		t.Fatalf("held transaction: %v", err)
	}
	// Everything is still captured, once, in order.
	recs := e.sequence(t)
	if len(recs) != 50+1+1+11+1 { // ids 91..100 and 1000 are > 90
		t.Errorf("%d change records after the held step, want 64", len(recs))
	}
}
