// Package storetest is the conformance suite of the prov.Store contract.
// Every backend runs it, from its own tests, with a Harness that opens fresh
// stores of that backend:
//
//	func TestConformance(t *testing.T) {
//		storetest.Test(t, storetest.Harness{Open: ..., Tamper: ...})
//	}
//
// The suite checks the contract of prov.Store directly (indexes, bytes,
// conflicts, transactions, snapshots, concurrent writers), then builds a
// tlog.Log over the store and checks what the log promises on top of it:
// checkpoints, inclusion and consistency proofs, and that Verify passes an
// intact log and names each kind of damage done to the stored tables.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/tlog"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

// Harness connects the suite to one backend.
//
// Both functions are called from parallel subtests, so they must be safe for
// concurrent use.
type Harness struct {
	// Open returns a new, empty store that no other call returned. It
	// arranges, with t.Cleanup, for the store to be closed and its storage
	// removed; the suite never calls Close. It fails t if it cannot open one.
	Open func(t *testing.T) prov.Store

	// Tamper executes one SQL statement directly on the tables behind s,
	// bypassing the store, to damage a log the way someone with write access
	// to the database could. It returns the number of rows affected.
	//
	// The suite writes each statement once, for every backend: it names the
	// tables records and checkpoints with the columns of
	// sqlite/migrations/0001_log.sql (only records.idx, data, hashes and
	// checkpoints.size, root, note are used), uses ? placeholders and passes
	// only int64 and []byte arguments. The backend rewrites the statement
	// for its dialect: placeholders, schema or table names.
	//
	// If Tamper is nil, the tamper tests are skipped.
	Tamper func(ctx context.Context, s prov.Store, query string, args ...any) (rowsAffected int64, err error)
}

// Test runs the conformance suite against the stores h opens.
func Test(t *testing.T, h Harness) {
	if h.Open == nil {
		t.Fatal("storetest: Harness.Open is nil")
	}
	t.Run("Store", func(t *testing.T) { testStore(t, h) })
	t.Run("Log", func(t *testing.T) { testLog(t, h) })
	t.Run("Tamper", func(t *testing.T) {
		if h.Tamper == nil {
			t.Skip("the harness has no Tamper: the backend's tables cannot be damaged from the test")
		}
		testTamper(t, h)
	})
}

// ---- The store contract --------------------------------------------------

func testStore(t *testing.T, h Harness) {
	t.Run("EmptyStoreHasNothing", func(t *testing.T) {
		t.Parallel()
		ctx, s := t.Context(), h.Open(t)
		err := s.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
			if n, err := tx.Size(ctx); err != nil || n != 0 {
				t.Errorf("Size = %d, %v; want 0, nil", n, err)
			}
			if _, err := tx.LatestCheckpoint(ctx); !prov.IsKind(err, prov.NotFound) {
				t.Errorf("LatestCheckpoint: got error %v (kind %q), want kind %q", err, prov.KindOf(err), prov.NotFound)
			}
			if _, err := tx.Entry(ctx, 0); !prov.IsKind(err, prov.NotFound) {
				t.Errorf("Entry(0): got error %v (kind %q), want kind %q", err, prov.KindOf(err), prov.NotFound)
			}
			if v, err := tx.Meta(ctx, prov.MetaOrigin); err != nil || v != "" {
				t.Errorf("Meta(%q) = %q, %v; want \"\", nil", prov.MetaOrigin, v, err)
			}
			n := 0
			if err := tx.Entries(ctx, 0, 10, func(prov.Entry) error { n++; return nil }); err != nil || n != 0 {
				t.Errorf("Entries(0, 10) gave %d entries, %v; want 0, nil", n, err)
			}
			if err := tx.Checkpoints(ctx, func(prov.Checkpoint) error { n++; return nil }); err != nil || n != 0 {
				t.Errorf("Checkpoints gave %d, %v; want 0, nil", n, err)
			}
			if hs, err := tx.Hashes(ctx, nil); err != nil || len(hs) != 0 {
				t.Errorf("Hashes(nil) = %d hashes, %v; want 0, nil", len(hs), err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("View: %v", err)
		}
	})

	t.Run("AppendKeepsIndexesAndBytes", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		var want []prov.Entry
		for _, n := range []int{1, 2, 5, 40} { // 40: a large batch, which some backends write another way
			batch := entries(int64(len(want)), n)
			update(t, s, func(ctx context.Context, tx prov.Tx) error { return tx.Append(ctx, batch) })
			want = append(want, batch...)
		}
		checkEntries(t, s, want)
		view(t, s, func(ctx context.Context, tx prov.ReadTx) error {
			for _, i := range []int64{0, 1, 7, int64(len(want)) - 1} {
				got, err := tx.Entry(ctx, i)
				if err != nil {
					t.Fatalf("Entry(%d): %v", i, err)
				}
				sameEntry(t, got, want[i])
			}
			if _, err := tx.Entry(ctx, int64(len(want))); !prov.IsKind(err, prov.NotFound) {
				t.Errorf("Entry(%d) past the end: got error %v (kind %q), want kind %q", len(want), err, prov.KindOf(err), prov.NotFound)
			}
			var got []int64
			err := tx.Entries(ctx, 3, 6, func(e prov.Entry) error { got = append(got, e.Index); return nil })
			if err != nil || !slices.Equal(got, []int64{3, 4, 5}) {
				t.Errorf("Entries(3, 6) gave indexes %v, %v; want [3 4 5], nil", got, err)
			}
			got = nil
			err = tx.Entries(ctx, 46, 100, func(e prov.Entry) error { got = append(got, e.Index); return nil })
			if err != nil || !slices.Equal(got, []int64{46, 47}) {
				t.Errorf("Entries(46, 100) gave indexes %v, %v; want [46 47], nil", got, err)
			}
			stop := errors.New("stop")
			n := 0
			err = tx.Entries(ctx, 0, 48, func(prov.Entry) error { n++; return stop })
			if !errors.Is(err, stop) || n != 1 {
				t.Errorf("Entries whose fn fails: %d calls, error %v; want 1 call and fn's error", n, err)
			}
			return nil
		})
		// Entries without an event id are all kept: only ids that are set must be unique.
		update(t, s, func(ctx context.Context, tx prov.Tx) error {
			a, b := entry(48), entry(49)
			a.EventID, b.EventID = "", ""
			return tx.Append(ctx, []prov.Entry{a, b})
		})
		if n := size(t, s); n != 50 {
			t.Errorf("after appending two entries without event ids: Size = %d, want 50", n)
		}
	})

	t.Run("AppendWithGapOrOverlapIsConflict", func(t *testing.T) {
		t.Parallel()
		ctx, s := t.Context(), h.Open(t)
		want := entries(0, 3)
		update(t, s, func(ctx context.Context, tx prov.Tx) error { return tx.Append(ctx, want) })
		for _, c := range []struct {
			name  string
			batch []prov.Entry
		}{
			{"gap", entries(4, 1)},
			{"overlap", entries(2, 1)},
			{"rewrite from 0", entries(0, 2)},
			{"large batch with gap", entries(4, 40)},
			{"large batch overlapping", entries(1, 40)},
			{"gap inside the batch", append(entries(3, 1), entries(5, 1)...)},
			{"gap inside a large batch", append(entries(3, 20), entries(24, 20)...)},
		} {
			err := s.Update(ctx, func(ctx context.Context, tx prov.Tx) error {
				err := tx.Append(ctx, c.batch)
				if !prov.IsKind(err, prov.Conflict) {
					t.Errorf("%s: Append(%d..): got error %v (kind %q), want kind %q", c.name, c.batch[0].Index, err, prov.KindOf(err), prov.Conflict)
				}
				return err
			})
			if err == nil {
				t.Errorf("%s: Update returned nil after Append failed", c.name)
			}
			checkEntries(t, s, want)
		}
		// A refused first index writes nothing, so the transaction goes on.
		update(t, s, func(ctx context.Context, tx prov.Tx) error {
			if err := tx.Append(ctx, entries(7, 1)); !prov.IsKind(err, prov.Conflict) {
				t.Errorf("Append at 7 of a log of 3: got error %v (kind %q), want kind %q", err, prov.KindOf(err), prov.Conflict)
			}
			if n, err := tx.Size(ctx); err != nil || n != 3 {
				t.Errorf("Size after a refused Append = %d, %v; want 3, nil", n, err)
			}
			return nil
		})
		checkEntries(t, s, want)
	})

	t.Run("EventIndexes", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		want := entries(0, 3)
		update(t, s, func(ctx context.Context, tx prov.Tx) error { return tx.Append(ctx, want) })
		view(t, s, func(ctx context.Context, tx prov.ReadTx) error {
			got, err := tx.EventIndexes(ctx, []string{want[2].EventID, "absent", want[0].EventID})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[want[2].EventID] != 2 || got[want[0].EventID] != 0 {
				t.Errorf("EventIndexes = %v, want %s:2 and %s:0", got, want[2].EventID, want[0].EventID)
			}
			if none, err := tx.EventIndexes(ctx, nil); err != nil || len(none) != 0 {
				t.Errorf("EventIndexes(nil) = %v, %v", none, err)
			}
			return nil
		})
	})

	t.Run("EntriesOfTypeInRangeAndOrder", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		es := entries(0, 10)
		for _, i := range []int{1, 4, 5, 9} {
			es[i].Type = prov.TypeKey
		}
		update(t, s, func(ctx context.Context, tx prov.Tx) error { return tx.Append(ctx, es) })
		for _, read := range []func(fn func(ctx context.Context, tx prov.ReadTx) error){
			func(fn func(ctx context.Context, tx prov.ReadTx) error) { view(t, s, fn) },
			func(fn func(ctx context.Context, tx prov.ReadTx) error) {
				update(t, s, func(ctx context.Context, tx prov.Tx) error { return fn(ctx, tx) })
			},
		} {
			read(func(ctx context.Context, tx prov.ReadTx) error {
				tr, ok := tx.(prov.TypeReader)
				if !ok {
					t.Skip("the store has no TypeReader")
				}
				var got []int64
				err := tr.EntriesOfType(ctx, prov.TypeKey, 2, 9, func(e prov.Entry) error {
					if e.Type != prov.TypeKey || !bytes.Equal(e.Data, es[e.Index].Data) || e.AgentID != es[e.Index].AgentID {
						t.Errorf("EntriesOfType gave %+v", e)
					}
					if _, err := tx.Size(ctx); err != nil { // fn may use the transaction
						return err
					}
					got = append(got, e.Index)
					return nil
				})
				if err != nil || !slices.Equal(got, []int64{4, 5}) {
					t.Errorf("EntriesOfType(key, 2, 9) = %v, %v; want [4 5]", got, err)
				}
				if err := tr.EntriesOfType(ctx, "nope'; DROP TABLE records; --", 0, 10, func(prov.Entry) error { return nil }); !prov.IsKind(err, prov.Invalid) {
					t.Errorf("EntriesOfType of an unknown type: %v", err)
				}
				return nil
			})
		}
	})

	t.Run("DuplicateEventIDIsConflictAndKeepsNothing", func(t *testing.T) {
		t.Parallel()
		ctx, s := t.Context(), h.Open(t)
		want := entries(0, 3)
		update(t, s, func(ctx context.Context, tx prov.Tx) error { return tx.Append(ctx, want) })
		for _, c := range []struct {
			name  string
			batch []prov.Entry
		}{
			{"id already in the log", withEventIDs(entries(3, 2), "fresh", want[1].EventID)},
			{"id twice in the batch", withEventIDs(entries(3, 2), "twice", "twice")},
			{"id already in the log, large batch", withEventIDs(entries(3, 40), want[0].EventID)},
			{"id already in the log, amid a large batch", withEventIDsAt(entries(3, 100), map[int]string{50: want[2].EventID})},
			{"id twice amid a large batch", withEventIDsAt(entries(3, 100), map[int]string{10: "twice", 20: "twice"})},
		} {
			err := s.Update(ctx, func(ctx context.Context, tx prov.Tx) error {
				// Writes that precede the refused Append are not kept either.
				if err := tx.SetMeta(ctx, "k", "v"); err != nil {
					return err
				}
				if err := tx.PutCheckpoint(ctx, checkpoint(3)); err != nil {
					return err
				}
				if err := tx.Append(ctx, entries(3, 1)); err != nil {
					return err
				}
				batch := slices.Clone(c.batch)
				for i := range batch {
					batch[i].Index++
				}
				err := tx.Append(ctx, batch)
				if !prov.IsKind(err, prov.Conflict) {
					t.Errorf("%s: Append: got error %v (kind %q), want kind %q", c.name, err, prov.KindOf(err), prov.Conflict)
				}
				return err
			})
			if !prov.IsKind(err, prov.Conflict) {
				t.Errorf("%s: Update: got error %v (kind %q), want kind %q", c.name, err, prov.KindOf(err), prov.Conflict)
			}
			checkEntries(t, s, want)
			checkNothingElse(t, s)
		}
	})

	t.Run("DeferredAppend", func(t *testing.T) {
		t.Parallel()
		ctx, s := t.Context(), h.Open(t)
		deferring := false
		update(t, s, func(ctx context.Context, tx prov.Tx) error {
			_, deferring = tx.(prov.DeferringTx)
			return nil
		})
		if !deferring {
			t.Skip("the store's transactions have no AppendDeferred")
		}
		want := entries(0, 3)
		update(t, s, func(ctx context.Context, tx prov.Tx) error { return tx.Append(ctx, want) })
		// Deferred entries are seen by the transaction's later statements,
		// and kept at commit.
		more := entries(3, 2)
		update(t, s, func(ctx context.Context, tx prov.Tx) error {
			if err := tx.(prov.DeferringTx).AppendDeferred(ctx, slices.Clone(more)); err != nil {
				return err
			}
			if n, err := tx.Size(ctx); err != nil || n != 5 {
				t.Errorf("Size after AppendDeferred = %d, %v; want 5, nil", n, err)
			}
			e, err := tx.Entry(ctx, 4)
			if err != nil || !bytes.Equal(e.Data, more[1].Data) {
				t.Errorf("Entry(4) after AppendDeferred = %q, %v; want the deferred record", e.Data, err)
			}
			return tx.(prov.DeferringTx).AppendDeferred(ctx, entries(5, 1))
		})
		want = append(append(want, more...), entries(5, 1)...)
		checkEntries(t, s, want)
		// A deferred entry whose event id is in the log fails the whole
		// transaction with kind Conflict, at the latest when it commits.
		for _, later := range []bool{false, true} {
			err := s.Update(ctx, func(ctx context.Context, tx prov.Tx) error {
				if err := tx.SetMeta(ctx, "k", "v"); err != nil {
					return err
				}
				if err := tx.(prov.DeferringTx).AppendDeferred(ctx, withEventIDs(entries(6, 2), want[1].EventID)); err != nil {
					return err
				}
				if later { // a statement after it, before the commit
					if _, err := tx.Meta(ctx, "k"); err != nil {
						return err
					}
				}
				return nil
			})
			if !prov.IsKind(err, prov.Conflict) || !strings.Contains(err.Error(), want[1].EventID) {
				t.Errorf("deferred duplicate (statement after it: %v): Update returned %v (kind %q), want kind %q naming %q", later, err, prov.KindOf(err), prov.Conflict, want[1].EventID)
			}
			checkEntries(t, s, want)
			checkNothingElse(t, s)
		}
		// An index that does not continue the log is refused at once, as
		// by Append, and the transaction stays usable.
		update(t, s, func(ctx context.Context, tx prov.Tx) error {
			if err := tx.(prov.DeferringTx).AppendDeferred(ctx, entries(7, 1)); !prov.IsKind(err, prov.Conflict) {
				t.Errorf("AppendDeferred with a gap: got error %v (kind %q), want kind %q", err, prov.KindOf(err), prov.Conflict)
			}
			return tx.(prov.DeferringTx).AppendDeferred(ctx, entries(6, 1))
		})
		checkEntries(t, s, append(want, entries(6, 1)...))
	})

	t.Run("FailedUpdateKeepsNothing", func(t *testing.T) {
		t.Parallel()
		ctx, s := t.Context(), h.Open(t)
		want := entries(0, 2)
		update(t, s, func(ctx context.Context, tx prov.Tx) error { return tx.Append(ctx, want) })
		boom := errors.New("boom")
		err := s.Update(ctx, func(ctx context.Context, tx prov.Tx) error {
			if err := tx.Append(ctx, entries(2, 3)); err != nil {
				return err
			}
			if err := tx.Append(ctx, entries(5, 40)); err != nil {
				return err
			}
			if err := tx.PutCheckpoint(ctx, checkpoint(45)); err != nil {
				return err
			}
			if err := tx.SetMeta(ctx, "k", "v"); err != nil {
				return err
			}
			if n, err := tx.Size(ctx); err != nil || n != 45 {
				t.Errorf("Size inside the transaction = %d, %v; want 45, nil", n, err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Errorf("Update returned %v, want the error of fn", err)
		}
		checkEntries(t, s, want)
		checkNothingElse(t, s)
	})

	t.Run("HashesInRequestedOrderOrNotFound", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		want := entries(0, 8)
		update(t, s, func(ctx context.Context, tx prov.Tx) error { return tx.Append(ctx, want) })
		view(t, s, func(ctx context.Context, tx prov.ReadTx) error {
			for _, idx := range [][]int64{{5, 0, 3}, {7}, {0, 1, 2, 3, 4, 5, 6, 7}, {6, 6}} {
				got, err := tx.Hashes(ctx, idx)
				if err != nil {
					t.Fatalf("Hashes(%v): %v", idx, err)
				}
				if len(got) != len(idx) {
					t.Fatalf("Hashes(%v) gave %d hashes, want %d", idx, len(got), len(idx))
				}
				for i, x := range idx {
					if !bytes.Equal(got[i], want[x].Hashes) {
						t.Errorf("Hashes(%v)[%d] = %x, want the hashes of record %d, %x", idx, i, got[i], x, want[x].Hashes)
					}
				}
			}
			for _, idx := range [][]int64{{8}, {1, 99}, {-1}} {
				if _, err := tx.Hashes(ctx, idx); !prov.IsKind(err, prov.NotFound) {
					t.Errorf("Hashes(%v): got error %v (kind %q), want kind %q", idx, err, prov.KindOf(err), prov.NotFound)
				}
			}
			return nil
		})
	})

	t.Run("CheckpointsStoredOnceInSizeOrder", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		update(t, s, func(ctx context.Context, tx prov.Tx) error {
			for _, n := range []int64{3, 1, 2} {
				if err := tx.PutCheckpoint(ctx, checkpoint(n)); err != nil {
					return err
				}
			}
			return nil
		})
		update(t, s, func(ctx context.Context, tx prov.Tx) error {
			// A second checkpoint for a stored size is a no-op: the first stays.
			other := checkpoint(2)
			other.Note, other.Root = []byte("another note\n"), [prov.HashSize]byte{9}
			return tx.PutCheckpoint(ctx, other)
		})
		view(t, s, func(ctx context.Context, tx prov.ReadTx) error {
			var got []prov.Checkpoint
			if err := tx.Checkpoints(ctx, func(c prov.Checkpoint) error { got = append(got, cloneCheckpoint(c)); return nil }); err != nil {
				t.Fatalf("Checkpoints: %v", err)
			}
			if len(got) != 3 {
				t.Fatalf("Checkpoints gave %d, want 3", len(got))
			}
			for i, c := range got {
				sameCheckpoint(t, c, checkpoint(int64(i+1)))
			}
			latest, err := tx.LatestCheckpoint(ctx)
			if err != nil {
				t.Fatalf("LatestCheckpoint: %v", err)
			}
			sameCheckpoint(t, latest, checkpoint(3))
			return nil
		})
	})

	t.Run("MetaSetAndOverwritten", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		update(t, s, func(ctx context.Context, tx prov.Tx) error {
			if err := tx.SetMeta(ctx, prov.MetaOrigin, "one"); err != nil {
				return err
			}
			if v, err := tx.Meta(ctx, prov.MetaOrigin); err != nil || v != "one" {
				t.Errorf("Meta inside the transaction = %q, %v; want \"one\", nil", v, err)
			}
			return tx.SetMeta(ctx, "other", "x")
		})
		update(t, s, func(ctx context.Context, tx prov.Tx) error { return tx.SetMeta(ctx, prov.MetaOrigin, "two") })
		view(t, s, func(ctx context.Context, tx prov.ReadTx) error {
			for k, want := range map[string]string{prov.MetaOrigin: "two", "other": "x", "unset": ""} {
				if v, err := tx.Meta(ctx, k); err != nil || v != want {
					t.Errorf("Meta(%q) = %q, %v; want %q, nil", k, v, err, want)
				}
			}
			return nil
		})
	})

	t.Run("ViewSeesOneSnapshot", func(t *testing.T) {
		t.Parallel()
		s := h.Open(t)
		first := entries(0, 3)
		update(t, s, func(ctx context.Context, tx prov.Tx) error {
			if err := tx.PutCheckpoint(ctx, checkpoint(3)); err != nil {
				return err
			}
			return tx.Append(ctx, first)
		})
		view(t, s, func(ctx context.Context, tx prov.ReadTx) error {
			if n, err := tx.Size(ctx); err != nil || n != 3 {
				t.Fatalf("Size = %d, %v; want 3, nil", n, err)
			}
			// A writer commits while the view is open: it must not wait for
			// the view, and the view must not see what it wrote.
			done := make(chan error, 1)
			go func() {
				done <- s.Update(ctx, func(ctx context.Context, tx prov.Tx) error {
					if err := tx.PutCheckpoint(ctx, checkpoint(5)); err != nil {
						return err
					}
					if err := tx.SetMeta(ctx, "k", "v"); err != nil {
						return err
					}
					return tx.Append(ctx, entries(3, 2))
				})
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Update while a View is open: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Update waited over 10s for an open View: writers must not wait for readers")
			}
			if n, err := tx.Size(ctx); err != nil || n != 3 {
				t.Errorf("Size after a concurrent commit = %d, %v; want the snapshot's 3", n, err)
			}
			var got []int64
			if err := tx.Entries(ctx, 0, 10, func(e prov.Entry) error { got = append(got, e.Index); return nil }); err != nil || len(got) != 3 {
				t.Errorf("Entries after a concurrent commit gave %v, %v; want the snapshot's [0 1 2]", got, err)
			}
			if _, err := tx.Entry(ctx, 3); !prov.IsKind(err, prov.NotFound) {
				t.Errorf("Entry(3), committed after the snapshot: got error %v, want kind %q", err, prov.NotFound)
			}
			if c, err := tx.LatestCheckpoint(ctx); err != nil || c.Size != 3 {
				t.Errorf("LatestCheckpoint after a concurrent commit = size %d, %v; want the snapshot's 3", c.Size, err)
			}
			if v, err := tx.Meta(ctx, "k"); err != nil || v != "" {
				t.Errorf("Meta after a concurrent commit = %q, %v; want the snapshot's \"\"", v, err)
			}
			return nil
		})
		if n := size(t, s); n != 5 {
			t.Errorf("Size in a new View = %d, want 5", n)
		}
	})

	t.Run("ConcurrentWritersKeepTheLogContiguous", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		f := newLog(t, h)
		const writers, appends = 8, 6
		type appended struct {
			first   int64
			records [][]byte
		}
		results := make(chan appended, writers*appends)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for a := range appends {
					recs := make([][]byte, 1+a%3)
					for i := range recs {
						recs[i] = record(100000 + (w*appends+a)*10 + i)
					}
					first, err := f.log.Append(ctx, recs)
					if err != nil {
						t.Errorf("writer %d: Append: %v", w, err)
						return
					}
					results <- appended{first, recs}
				}
			})
		}
		wg.Wait()
		close(results)
		byIndex := map[int64][]byte{}
		for r := range results {
			for i, rec := range r.records {
				idx := r.first + int64(i)
				if _, dup := byIndex[idx]; dup {
					t.Errorf("index %d was returned to two writers", idx)
				}
				byIndex[idx] = rec
			}
		}
		n := size(t, f.store)
		if n != int64(len(byIndex)) {
			t.Fatalf("Size = %d after %d records were appended", n, len(byIndex))
		}
		next := int64(0)
		err := f.log.Entries(ctx, 0, n, func(e prov.Entry) error {
			if e.Index != next {
				return fmt.Errorf("index %d follows %d", e.Index, next-1)
			}
			next++
			if !bytes.Equal(e.Data, byIndex[e.Index]) {
				return fmt.Errorf("record %d holds %q, but its writer appended %q there", e.Index, e.Data, byIndex[e.Index])
			}
			return nil
		})
		if err != nil || next != n {
			t.Fatalf("reading the log back: %v (read %d of %d)", err, next, n)
		}
		if rep, err := f.log.Verify(ctx, tlog.VerifyOptions{}); err != nil || rep.Problem != nil {
			t.Fatalf("Verify after concurrent appends: %v, %+v", err, rep.Problem)
		}
	})
}

// ---- The log over the store ------------------------------------------------

func testLog(t *testing.T, h Harness) {
	t.Run("InitOnceOpenWithTheRightKey", func(t *testing.T) {
		t.Parallel()
		ctx, s := t.Context(), h.Open(t)
		if _, err := tlog.Open(ctx, s, tlog.Options{}); !prov.IsKind(err, prov.NotFound) {
			t.Errorf("Open of an empty store: got error %v (kind %q), want kind %q", err, prov.KindOf(err), prov.NotFound)
		}
		skey, vkey, err := tlog.GenerateKey(origin)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.Init(ctx, s, origin, vkey); err != nil {
			t.Fatalf("Init: %v", err)
		}
		if err := tlog.Init(ctx, s, origin, vkey); !prov.IsKind(err, prov.Conflict) {
			t.Errorf("second Init: got error %v (kind %q), want kind %q", err, prov.KindOf(err), prov.Conflict)
		}
		signer, err := note.NewSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		l, err := tlog.Open(ctx, s, tlog.Options{Signer: signer})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if l.Origin() != origin || l.Verifier().KeyHash() != signer.KeyHash() {
			t.Errorf("Open gave origin %q, key hash %08x; want %q, %08x", l.Origin(), l.Verifier().KeyHash(), origin, signer.KeyHash())
		}
		otherKey, _, _ := tlog.GenerateKey(origin)
		other, _ := note.NewSigner(otherKey)
		if _, err := tlog.Open(ctx, s, tlog.Options{Signer: other}); !prov.IsKind(err, prov.Invalid) {
			t.Errorf("Open with another key of the same name: got error %v (kind %q), want kind %q", err, prov.KindOf(err), prov.Invalid)
		}
	})

	t.Run("AppendedRecordsReadBackWithTheirHashes", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		f := newLog(t, h)
		for _, n := range []int{1, 2, 4, 33} {
			f.append(t, n)
		}
		if _, err := f.log.Append(ctx, [][]byte{[]byte(`{"type":"change"}`)}); !prov.IsKind(err, prov.Invalid) {
			t.Errorf("Append of an invalid record: got error %v (kind %q), want kind %q", err, prov.KindOf(err), prov.Invalid)
		}
		dup := record(3) // its event id is in the log
		if _, err := f.log.Append(ctx, [][]byte{record(9999), dup}); !prov.IsKind(err, prov.Conflict) {
			t.Errorf("Append of a record whose event id is logged: got error %v (kind %q), want kind %q", err, prov.KindOf(err), prov.Conflict)
		}
		ref := newTree(f.records)
		next := int64(0)
		err := f.log.Entries(ctx, 0, 100, func(e prov.Entry) error {
			if e.Index != next {
				return fmt.Errorf("index %d follows %d", e.Index, next-1)
			}
			if !bytes.Equal(e.Data, f.records[next]) {
				return fmt.Errorf("record %d is %q, want %q", next, e.Data, f.records[next])
			}
			if want := ref.storedHashes(next); !bytes.Equal(e.Hashes, want) {
				return fmt.Errorf("record %d has stored hashes %x, want %x", next, e.Hashes, want)
			}
			if e.Type != prov.TypeChange || e.EventID != fmt.Sprintf("ev-%d", next) || e.ActivityID != "migration:0042" || e.AgentID != "svc:api" ||
				!e.Time.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
				return fmt.Errorf("record %d has index fields type %q, event %q, activity %q, agent %q, time %v; not those of the record",
					next, e.Type, e.EventID, e.ActivityID, e.AgentID, e.Time)
			}
			next++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if next != int64(len(f.records)) {
			t.Fatalf("read %d records back, want %d", next, len(f.records))
		}
	})

	t.Run("IdempotentAppendReturnsOriginalIndexes", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		f := newLog(t, h)
		f.append(t, 3) // ev-0 … ev-2
		got, err := f.log.AppendIdempotent(ctx, [][]byte{record(3), record(1), record(3), record(4)})
		if err != nil {
			t.Fatalf("AppendIdempotent: %v", err)
		}
		want := []tlog.Appended{{Index: 3}, {Index: 1, Duplicate: true}, {Index: 3, Duplicate: true}, {Index: 4}}
		if !slices.Equal(got, want) {
			t.Errorf("AppendIdempotent = %+v, want %+v", got, want)
		}
		// Through a Batcher too, with a request of new records beside it.
		b := f.log.NewBatcher(0)
		defer b.Close()
		got, err = b.Append(ctx, [][]byte{record(2)})
		if err != nil || !slices.Equal(got, []tlog.Appended{{Index: 2, Duplicate: true}}) {
			t.Errorf("Batcher.Append of a logged record = %+v, %v; want index 2, duplicate", got, err)
		}
		got, err = b.Append(ctx, [][]byte{record(5)})
		if err != nil || !slices.Equal(got, []tlog.Appended{{Index: 5}}) {
			t.Errorf("Batcher.Append of a new record = %+v, %v; want index 5", got, err)
		}
		// An id in the log with other bytes: refused, nothing appended.
		_, err = f.log.AppendIdempotent(ctx, [][]byte{record(6), edit(record(0))})
		var re *tlog.RecordError
		if !prov.IsKind(err, prov.Conflict) || !errors.As(err, &re) || re.N != 1 {
			t.Errorf("AppendIdempotent of an id in the log with other bytes: got %v (kind %q), want a record error of kind %q at 1", err, prov.KindOf(err), prov.Conflict)
		}
		if n, err := f.log.Size(ctx); err != nil || n != 6 {
			t.Errorf("Size = %d, %v; want 6", n, err)
		}
		if _, err := f.log.Verify(ctx, tlog.VerifyOptions{}); err != nil {
			t.Errorf("Verify: %v", err)
		}
	})

	t.Run("BatcherStoresCheckpointWithAppends", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		f := newLog(t, h)
		f.append(t, 5)
		b := f.log.NewBatcher(0)
		defer b.Close()
		// With appends coming, the checkpoint goes in their transaction:
		// Checkpoint returns long before it would store it alone.
		type result struct {
			c       prov.Checkpoint
			created bool
			err     error
		}
		res := make(chan result, 1)
		go func() {
			c, created, err := b.Checkpoint(ctx, time.Hour)
			res <- result{c, created, err}
		}()
		var r result
		for i := 5; ; i++ {
			if _, err := b.Append(ctx, [][]byte{record(i)}); err != nil {
				t.Fatalf("Batcher.Append: %v", err)
			}
			select {
			case r = <-res:
			case <-time.After(10 * time.Millisecond):
				if i < 500 {
					continue
				}
				t.Fatal("Batcher.Checkpoint did not return while appends were committed")
			}
			break
		}
		if r.err != nil || !r.created || r.c.Size < 5 {
			t.Fatalf("Batcher.Checkpoint = size %d, created %v, %v; want a new checkpoint of at least 5 records", r.c.Size, r.created, r.err)
		}
		if _, _, err := f.log.OpenCheckpoint(r.c.Note); err != nil {
			t.Errorf("the checkpoint does not open: %v", err)
		}
		stored := f.checkpoint(t, r.c.Size)
		if !bytes.Equal(stored.Note, r.c.Note) {
			t.Errorf("stored checkpoint of size %d is %q, want %q", r.c.Size, stored.Note, r.c.Note)
		}
		// Idle: stored on its own after the wait.
		c, created, err := b.Checkpoint(ctx, time.Millisecond)
		if err != nil || !created {
			t.Fatalf("Batcher.Checkpoint of an idle log: created %v, %v; want a new checkpoint", created, err)
		}
		size, _ := f.log.Size(ctx)
		if latest, err := f.log.LatestCheckpoint(ctx); err != nil || latest.Size != size || !bytes.Equal(latest.Note, c.Note) {
			t.Errorf("latest checkpoint = size %d, %v; want the one of size %d just made", latest.Size, err, size)
		}
		// Nothing new: the latest is returned, nothing signed.
		if c2, created, err := b.Checkpoint(ctx, time.Millisecond); err != nil || created || !bytes.Equal(c2.Note, c.Note) {
			t.Errorf("Batcher.Checkpoint of an unchanged log: created %v, %v; want the latest, not created", created, err)
		}
	})

	t.Run("CheckpointSignedOncePerSize", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		f := newLog(t, h)
		if _, err := f.log.LatestCheckpoint(ctx); !prov.IsKind(err, prov.NotFound) {
			t.Errorf("LatestCheckpoint of a new log: got error %v, want kind %q", err, prov.NotFound)
		}
		for _, n := range []int{0, 1, 6} {
			f.append(t, n)
			c, created, err := f.log.Checkpoint(ctx)
			if err != nil || !created {
				t.Fatalf("Checkpoint at size %d: created %v, %v; want a new one", len(f.records), created, err)
			}
			size, root, err := f.log.OpenCheckpoint(c.Note)
			ref := newTree(f.records).root(int64(len(f.records)))
			if err != nil || size != int64(len(f.records)) || root != ref || c.Size != size || c.Root != ref {
				t.Fatalf("checkpoint at size %d opens as size %d, root %x, %v (stored as %d, %x); want root %x",
					len(f.records), size, root, err, c.Size, c.Root, ref)
			}
			again, created, err := f.log.Checkpoint(ctx)
			if err != nil || created || !bytes.Equal(again.Note, c.Note) {
				t.Errorf("Checkpoint with no new records: created %v, %v, same note %v; want the stored one", created, err, bytes.Equal(again.Note, c.Note))
			}
			latest, err := f.log.LatestCheckpoint(ctx)
			if err != nil || !bytes.Equal(latest.Note, c.Note) {
				t.Errorf("LatestCheckpoint: %v, same note %v; want the one just signed", err, bytes.Equal(latest.Note, c.Note))
			}
		}
		reader, err := tlog.Open(ctx, f.store, tlog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := reader.Checkpoint(ctx); !prov.IsKind(err, prov.Unauthorized) {
			t.Errorf("Checkpoint without a signer: got error %v (kind %q), want kind %q", err, prov.KindOf(err), prov.Unauthorized)
		}
	})

	t.Run("ProofsVerifyForEverySize", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		f := newLog(t, h)
		for _, n := range []int{1, 3, 32, 4} { // 40 records, in batches small and large
			f.append(t, n)
		}
		ref := newTree(f.records)
		n := int64(len(f.records))
		for size := int64(1); size <= n; size++ {
			root := ref.root(size)
			for index := int64(0); index < size; index++ {
				p, err := f.log.ProveInclusion(ctx, index, size)
				if err != nil {
					t.Fatalf("ProveInclusion(%d, %d): %v", index, size, err)
				}
				leaf := ref.leaf(index)
				if !bytes.Equal(p.RootHash, root[:]) || !bytes.Equal(p.LeafHash, leaf[:]) || p.Index != index || p.TreeSize != size {
					t.Fatalf("ProveInclusion(%d, %d) proves leaf %x in root %x (index %d, size %d); want leaf %x, root %x",
						index, size, p.LeafHash, p.RootHash, p.Index, p.TreeSize, leaf, root)
				}
				if err := tlog.VerifyInclusion(p); err != nil {
					t.Fatalf("VerifyInclusion(%d, %d): %v", index, size, err)
				}
			}
			for old := int64(0); old <= size; old++ {
				p, err := f.log.ProveConsistency(ctx, old, size)
				if err != nil {
					t.Fatalf("ProveConsistency(%d, %d): %v", old, size, err)
				}
				oldRoot := ref.root(old)
				if !bytes.Equal(p.OldRoot, oldRoot[:]) || !bytes.Equal(p.NewRoot, root[:]) {
					t.Fatalf("ProveConsistency(%d, %d) has roots %x, %x; want %x, %x", old, size, p.OldRoot, p.NewRoot, oldRoot, root)
				}
				if err := tlog.VerifyConsistency(p); err != nil {
					t.Fatalf("VerifyConsistency(%d, %d): %v", old, size, err)
				}
			}
		}
		// A proof for another leaf or root does not verify.
		p, err := f.log.ProveInclusion(ctx, 5, 17)
		if err != nil {
			t.Fatal(err)
		}
		wrong := ref.leaf(6)
		p.LeafHash = wrong[:]
		if err := tlog.VerifyInclusion(p); !prov.IsKind(err, prov.Tampered) {
			t.Errorf("VerifyInclusion of another leaf: got error %v, want kind %q", err, prov.Tampered)
		}
		c, err := f.log.ProveConsistency(ctx, 5, 17)
		if err != nil {
			t.Fatal(err)
		}
		wrongRoot := ref.root(6)
		c.OldRoot = wrongRoot[:]
		if err := tlog.VerifyConsistency(c); !prov.IsKind(err, prov.Tampered) {
			t.Errorf("VerifyConsistency from another root: got error %v, want kind %q", err, prov.Tampered)
		}
		for _, bad := range [][2]int64{{-1, 10}, {40, 40}, {5, 41}, {10, 5}} {
			if _, err := f.log.ProveInclusion(ctx, bad[0], bad[1]); err == nil {
				t.Errorf("ProveInclusion(%d, %d) gave no error", bad[0], bad[1])
			}
		}
	})

	t.Run("IntactLogVerifiesAtEverySize", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		f := newLog(t, h)
		var saved []byte // the first checkpoint, kept by an auditor
		checkpoints := 0
		for _, size := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33} {
			f.append(t, size-len(f.records))
			want := newTree(f.records).root(int64(size))
			verify := func(what string, wantCheckpoints int, opts tlog.VerifyOptions) {
				t.Helper()
				rep, err := f.log.Verify(ctx, opts)
				if err != nil || rep.Problem != nil {
					t.Fatalf("size %d, %s: Verify: %v, problem %+v; want no damage", size, what, err, rep.Problem)
				}
				if rep.Size != int64(size) || !bytes.Equal(rep.Root, want[:]) || rep.Checkpoints != wantCheckpoints || rep.Origin != origin {
					t.Fatalf("size %d, %s: Verify reports size %d, root %x, %d checkpoints, origin %q; want %d, %x, %d, %q",
						size, what, rep.Size, rep.Root, rep.Checkpoints, rep.Origin, size, want, wantCheckpoints, origin)
				}
			}
			verify("before a checkpoint", checkpoints, tlog.VerifyOptions{})
			c, _, err := f.log.Checkpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			checkpoints++
			if saved == nil {
				saved = c.Note
			}
			verify("after a checkpoint", checkpoints, tlog.VerifyOptions{})
			verify("with the first checkpoint saved", checkpoints, tlog.VerifyOptions{Checkpoint: saved})
			verify("with the latest checkpoint saved", checkpoints, tlog.VerifyOptions{Checkpoint: c.Note})
		}
	})
}

// ---- Damage done to the tables, and what Verify says ---------------------

func testTamper(t *testing.T, h Harness) {
	// Each case damages a log of 20 records with stored checkpoints at
	// sizes 8 and 20, then checks the problem Verify reports.
	const n = 20
	cases := []struct {
		name   string
		damage func(t *testing.T, f *fixture) tlog.VerifyOptions
		what   string
		index  int64
	}{
		{"EditedRecordIsEdited", func(t *testing.T, f *fixture) tlog.VerifyOptions {
			f.tamper(t, "UPDATE records SET data = ? WHERE idx = ?", edit(f.records[12]), int64(12))
			return tlog.VerifyOptions{}
		}, tlog.ProblemEdited, 12},

		{"DeletedRecordIsMissing", func(t *testing.T, f *fixture) tlog.VerifyOptions {
			f.tamper(t, "DELETE FROM records WHERE idx = ?", int64(9))
			return tlog.VerifyOptions{}
		}, tlog.ProblemMissing, 9},

		{"SwappedDataIsReordered", func(t *testing.T, f *fixture) tlog.VerifyOptions {
			f.tamper(t, "UPDATE records SET data = ? WHERE idx = ?", f.records[11], int64(3))
			f.tamper(t, "UPDATE records SET data = ? WHERE idx = ?", f.records[3], int64(11))
			return tlog.VerifyOptions{}
		}, tlog.ProblemReordered, 3},

		// Whole rows moved with their stored hashes: each row is consistent
		// in itself, the pairs they form are not. The reported index is the
		// first of the pair that no longer hashes to what was logged.
		{"SwappedEvenRowsAreReordered", func(t *testing.T, f *fixture) tlog.VerifyOptions {
			f.swapRows(t, 4, 10)
			return tlog.VerifyOptions{}
		}, tlog.ProblemReordered, 4},
		{"SwappedOddRowsAreReordered", func(t *testing.T, f *fixture) tlog.VerifyOptions {
			f.swapRows(t, 5, 9) // both store 2 hashes
			return tlog.VerifyOptions{}
		}, tlog.ProblemReordered, 4},
		{"SwappedPairsOfRowsAreReordered", func(t *testing.T, f *fixture) tlog.VerifyOptions {
			f.swapRows(t, 4, 8)
			f.swapRows(t, 5, 9)
			return tlog.VerifyOptions{}
		}, tlog.ProblemReordered, 4},

		{"DeletedTailIsTruncated", func(t *testing.T, f *fixture) tlog.VerifyOptions {
			f.tamper(t, "DELETE FROM records WHERE idx >= ?", int64(15))
			return tlog.VerifyOptions{}
		}, tlog.ProblemTruncated, 15},
		{"DeletedTailAndCheckpointsIsTruncatedBelowSavedCheckpoint", func(t *testing.T, f *fixture) tlog.VerifyOptions {
			saved := f.latest(t)
			f.tamper(t, "DELETE FROM records WHERE idx >= ?", int64(15))
			f.tamper(t, "DELETE FROM checkpoints WHERE size > ?", int64(15))
			// Without the saved checkpoint the shorter log looks whole.
			if rep, err := f.log.Verify(t.Context(), tlog.VerifyOptions{}); err != nil || rep.Problem != nil {
				t.Fatalf("Verify without the saved checkpoint: %v, %+v; want no damage found", err, rep.Problem)
			}
			return tlog.VerifyOptions{Checkpoint: saved}
		}, tlog.ProblemTruncated, 15},

		{"RecordRewrittenWithItsHashesIsRewritten", func(t *testing.T, f *fixture) tlog.VerifyOptions {
			f.rewrite(t, 12)
			return tlog.VerifyOptions{}
		}, tlog.ProblemRewritten, 8}, // 8: the last checkpoint that still matches
		{"RecordRewrittenWithItsHashesIsRewrittenBelowSavedCheckpoint", func(t *testing.T, f *fixture) tlog.VerifyOptions {
			saved := f.latest(t)
			f.rewrite(t, 12)
			f.tamper(t, "DELETE FROM checkpoints WHERE size > ?", int64(0))
			if rep, err := f.log.Verify(t.Context(), tlog.VerifyOptions{}); err != nil || rep.Problem != nil {
				t.Fatalf("Verify without a checkpoint: %v, %+v; want no damage found", err, rep.Problem)
			}
			return tlog.VerifyOptions{Checkpoint: saved}
		}, tlog.ProblemRewritten, 0},

		{"AlteredInnerHashIsHashes", func(t *testing.T, f *fixture) tlog.VerifyOptions {
			f.alterHash(t, 15, 2) // record 15's hash of records 12 to 15
			return tlog.VerifyOptions{}
		}, tlog.ProblemHashes, 15},
		{"AlteredPairHashIsHashes", func(t *testing.T, f *fixture) tlog.VerifyOptions {
			f.alterHash(t, 13, 1) // record 13's hash of records 12 and 13
			return tlog.VerifyOptions{}
		}, tlog.ProblemHashes, 13},
		{"ShortenedHashesAreHashes", func(t *testing.T, f *fixture) tlog.VerifyOptions {
			e := f.entry(t, 7)
			f.tamper(t, "UPDATE records SET hashes = ? WHERE idx = ?", e.Hashes[:len(e.Hashes)-prov.HashSize], int64(7))
			return tlog.VerifyOptions{}
		}, tlog.ProblemHashes, 7},

		{"AlteredCheckpointNoteIsCheckpoint", func(t *testing.T, f *fixture) tlog.VerifyOptions {
			c := f.checkpoint(t, 8)
			forged := bytes.Replace(c.Note, []byte("\n8\n"), []byte("\n9\n"), 1)
			f.tamper(t, "UPDATE checkpoints SET note = ? WHERE size = ?", forged, int64(8))
			return tlog.VerifyOptions{}
		}, tlog.ProblemCheckpoint, 8},
		{"CheckpointSignedByAnotherKeyIsCheckpoint", func(t *testing.T, f *fixture) tlog.VerifyOptions {
			c := f.checkpoint(t, 20)
			skey, _, err := tlog.GenerateKey(origin) // same name, another key
			if err != nil {
				t.Fatal(err)
			}
			signer, _ := note.NewSigner(skey)
			n, err := note.Open(c.Note, note.VerifierList(f.log.Verifier()))
			if err != nil {
				t.Fatal(err)
			}
			forged, err := note.Sign(&note.Note{Text: n.Text}, signer)
			if err != nil {
				t.Fatal(err)
			}
			f.tamper(t, "UPDATE checkpoints SET note = ? WHERE size = ?", forged, int64(20))
			return tlog.VerifyOptions{}
		}, tlog.ProblemCheckpoint, 20},
		{"AlteredCheckpointRootIsCheckpoint", func(t *testing.T, f *fixture) tlog.VerifyOptions {
			f.tamper(t, "UPDATE checkpoints SET root = ? WHERE size = ?", make([]byte, prov.HashSize), int64(8))
			return tlog.VerifyOptions{}
		}, tlog.ProblemCheckpoint, 8},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newLog(t, h)
			f.append(t, 8)
			f.checkpoint(t, -1)
			f.append(t, n-8)
			f.checkpoint(t, -1)
			opts := c.damage(t, f)
			rep, err := f.log.Verify(t.Context(), opts)
			if !prov.IsKind(err, prov.Tampered) {
				t.Errorf("Verify: got error %v (kind %q), want kind %q", err, prov.KindOf(err), prov.Tampered)
			}
			p := rep.Problem
			if p == nil {
				t.Fatalf("Verify reports no problem; want %s at %d", c.what, c.index)
			}
			if p.What != c.what || p.Index != c.index {
				t.Errorf("Verify reports %s at %d (%s); want %s at %d", p.What, p.Index, p.Detail, c.what, c.index)
			}
			if p.Detail == "" {
				t.Errorf("Verify reports %s at %d with no detail for people", p.What, p.Index)
			}
		})
	}
}

// ---- Fixtures ------------------------------------------------------------

const origin = "storetest.example/prov"

// record returns a valid change record whose event id is ev-i.
func record(i int) []byte {
	return fmt.Appendf(nil, `{"type":"change","id":"ev-%d","time":"2026-01-02T03:04:05Z","activity":{"id":"migration:0042","kind":"migration","release":"v1.0"},"agent":{"id":"svc:api"},"generated":[{"id":"pg:app/public.users/{\"id\":%d}","op":"update"}],"reason":"bad photo URL migration"}`, i, i)
}

// edit returns other bytes for a record: the same record with another reason.
func edit(data []byte) []byte {
	return bytes.Replace(data, []byte("bad photo URL"), []byte("good photo URL"), 1)
}

// entry returns a store entry for index i; the store does not interpret
// Hashes, so they only need to be distinct.
func entry(i int64) prov.Entry {
	h := make([]byte, prov.HashSize*(1+int(i%3)))
	for j := range h {
		h[j] = byte(int(i)*7 + j)
	}
	e := prov.Entry{
		Index:  i,
		Data:   record(int(i)),
		Hashes: h,
		Type:   prov.TypeChange,
		// Micro precision is what the store keeps; the zone is not kept.
		Time: time.Date(2026, 1, 2, 3, 4, 5, int(i)*1000, time.FixedZone("X", 3600)),
	}
	if i%4 != 3 { // some entries have no ids at all
		e.EventID = fmt.Sprintf("ev-%d", i)
		e.ActivityID = fmt.Sprintf("act-%d", i/2)
		e.AgentID = "svc:api"
	}
	return e
}

func entries(from int64, n int) []prov.Entry {
	out := make([]prov.Entry, n)
	for i := range out {
		out[i] = entry(from + int64(i))
	}
	return out
}

// withEventIDs sets the event ids of the last entries of es to ids.
func withEventIDs(es []prov.Entry, ids ...string) []prov.Entry {
	for i, id := range ids {
		es[len(es)-len(ids)+i].EventID = id
	}
	return es
}

// withEventIDsAt sets the event ids of the entries of es at the given
// positions.
func withEventIDsAt(es []prov.Entry, ids map[int]string) []prov.Entry {
	for i, id := range ids {
		es[i].EventID = id
	}
	return es
}

func checkpoint(size int64) prov.Checkpoint {
	return prov.Checkpoint{
		Size:    size,
		Root:    [prov.HashSize]byte{byte(size), 1, 2, 3},
		Note:    fmt.Appendf(nil, "%s\n%d\nroot\n\n— sig\n", origin, size),
		Created: time.Date(2026, 1, 2, 3, 4, 5, int(size)*1000, time.UTC),
	}
}

func cloneCheckpoint(c prov.Checkpoint) prov.Checkpoint {
	c.Note = bytes.Clone(c.Note)
	return c
}

func sameEntry(t *testing.T, got, want prov.Entry) {
	t.Helper()
	if got.Index != want.Index || !bytes.Equal(got.Data, want.Data) || !bytes.Equal(got.Hashes, want.Hashes) ||
		got.Type != want.Type || got.EventID != want.EventID || got.ActivityID != want.ActivityID || got.AgentID != want.AgentID ||
		!got.Time.Equal(want.Time) {
		t.Errorf("entry %d:\n got %+v\nwant %+v", want.Index, got, want)
	}
}

func sameCheckpoint(t *testing.T, got, want prov.Checkpoint) {
	t.Helper()
	if got.Size != want.Size || got.Root != want.Root || !bytes.Equal(got.Note, want.Note) || !got.Created.Equal(want.Created) {
		t.Errorf("checkpoint %d:\n got %+v\nwant %+v", want.Size, got, want)
	}
}

func view(t *testing.T, s prov.Store, fn func(context.Context, prov.ReadTx) error) {
	t.Helper()
	if err := s.View(t.Context(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

func update(t *testing.T, s prov.Store, fn func(context.Context, prov.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func size(t *testing.T, s prov.Store) (n int64) {
	t.Helper()
	view(t, s, func(ctx context.Context, tx prov.ReadTx) (err error) {
		n, err = tx.Size(ctx)
		return err
	})
	return n
}

// checkEntries checks that the store holds exactly want.
func checkEntries(t *testing.T, s prov.Store, want []prov.Entry) {
	t.Helper()
	view(t, s, func(ctx context.Context, tx prov.ReadTx) error {
		if n, err := tx.Size(ctx); err != nil || n != int64(len(want)) {
			t.Fatalf("Size = %d, %v; want %d", n, err, len(want))
		}
		i := 0
		err := tx.Entries(ctx, 0, int64(len(want))+100, func(e prov.Entry) error {
			if i >= len(want) {
				return fmt.Errorf("Entries gave index %d past the %d entries appended", e.Index, len(want))
			}
			sameEntry(t, e, want[i])
			i++
			return nil
		})
		if err != nil || i != len(want) {
			t.Fatalf("Entries gave %d entries, %v; want %d", i, err, len(want))
		}
		return nil
	})
}

// checkNothingElse checks that the store holds no checkpoint and no setting
// "k" (what the failed transactions of the tests tried to write).
func checkNothingElse(t *testing.T, s prov.Store) {
	t.Helper()
	view(t, s, func(ctx context.Context, tx prov.ReadTx) error {
		if c, err := tx.LatestCheckpoint(ctx); !prov.IsKind(err, prov.NotFound) {
			t.Errorf("LatestCheckpoint = size %d, %v; want none kept from a failed transaction", c.Size, err)
		}
		if v, err := tx.Meta(ctx, "k"); err != nil || v != "" {
			t.Errorf("Meta(k) = %q, %v; want nothing kept from a failed transaction", v, err)
		}
		return nil
	})
}

// fixture is a log in a fresh store, with the records appended to it.
type fixture struct {
	h       Harness
	store   prov.Store
	log     *tlog.Log
	records [][]byte
}

func newLog(t *testing.T, h Harness) *fixture {
	t.Helper()
	ctx, st := t.Context(), h.Open(t)
	skey, vkey, err := tlog.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.Init(ctx, st, origin, vkey); err != nil {
		t.Fatalf("Init: %v", err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tlog.Open(ctx, st, tlog.Options{Signer: signer})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return &fixture{h: h, store: st, log: l}
}

// append appends n new records in one call.
func (f *fixture) append(t *testing.T, n int) {
	t.Helper()
	if n == 0 {
		return
	}
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = record(len(f.records) + i)
	}
	first, err := f.log.Append(t.Context(), recs)
	if err != nil {
		t.Fatalf("Append of %d records: %v", n, err)
	}
	if first != int64(len(f.records)) {
		t.Fatalf("Append returned first index %d, want %d", first, len(f.records))
	}
	f.records = append(f.records, recs...)
}

// checkpoint signs a checkpoint of the log's size if size is -1, and
// returns the stored checkpoint of the given size otherwise.
func (f *fixture) checkpoint(t *testing.T, size int64) prov.Checkpoint {
	t.Helper()
	if size < 0 {
		c, _, err := f.log.Checkpoint(t.Context())
		if err != nil {
			t.Fatalf("Checkpoint: %v", err)
		}
		return c
	}
	var found *prov.Checkpoint
	view(t, f.store, func(ctx context.Context, tx prov.ReadTx) error {
		return tx.Checkpoints(ctx, func(c prov.Checkpoint) error {
			if c.Size == size {
				c = cloneCheckpoint(c)
				found = &c
			}
			return nil
		})
	})
	if found == nil {
		t.Fatalf("no stored checkpoint for size %d", size)
	}
	return *found
}

// latest returns the latest checkpoint's note, as an auditor saves it.
func (f *fixture) latest(t *testing.T) []byte {
	t.Helper()
	c, err := f.log.LatestCheckpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(c.Note)
}

func (f *fixture) entry(t *testing.T, i int64) prov.Entry {
	t.Helper()
	e, err := f.log.Get(t.Context(), i)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (f *fixture) tamper(t *testing.T, query string, args ...any) {
	t.Helper()
	n, err := f.h.Tamper(t.Context(), f.store, query, args...)
	if err != nil {
		t.Fatalf("Tamper %q: %v", query, err)
	}
	if n == 0 {
		t.Fatalf("Tamper %q changed no row", query)
	}
}

// swapRows swaps the positions of two whole rows, stored hashes included.
func (f *fixture) swapRows(t *testing.T, a, b int64) {
	t.Helper()
	f.tamper(t, "UPDATE records SET idx = ? WHERE idx = ?", int64(-1), a)
	f.tamper(t, "UPDATE records SET idx = ? WHERE idx = ?", a, b)
	f.tamper(t, "UPDATE records SET idx = ? WHERE idx = ?", b, int64(-1))
}

// alterHash flips a bit of the stored hash at level of record i.
func (f *fixture) alterHash(t *testing.T, i int64, level int) {
	t.Helper()
	e := f.entry(t, i)
	if (level+1)*prov.HashSize > len(e.Hashes) {
		t.Fatalf("record %d stores no hash at level %d", i, level)
	}
	e.Hashes[level*prov.HashSize] ^= 1
	f.tamper(t, "UPDATE records SET hashes = ? WHERE idx = ?", e.Hashes, i)
}

// rewrite edits record k and rewrites the stored hashes of every record so
// that they are consistent with the new bytes: only a signed root shows it.
func (f *fixture) rewrite(t *testing.T, k int64) {
	t.Helper()
	recs := slices.Clone(f.records)
	recs[k] = edit(recs[k])
	old, ref := newTree(f.records), newTree(recs)
	f.tamper(t, "UPDATE records SET data = ? WHERE idx = ?", recs[k], k)
	for i := k; i < int64(len(recs)); i++ {
		if h := ref.storedHashes(i); !bytes.Equal(h, old.storedHashes(i)) {
			f.tamper(t, "UPDATE records SET hashes = ? WHERE idx = ?", h, i)
		}
	}
}

// tree is a reference Merkle tree, computed in memory with
// golang.org/x/mod/sumdb/tlog, to check the log's hashes and proofs against.
type tree struct {
	hashes memHashes // in stored hash order
	start  []int     // start[i]: the position of record i's first stored hash
}

type memHashes []sumdb.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]sumdb.Hash, error) {
	out := make([]sumdb.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = m[x]
	}
	return out, nil
}

func newTree(records [][]byte) *tree {
	t := &tree{}
	for i, r := range records {
		hs, err := sumdb.StoredHashes(int64(i), r, t.hashes)
		if err != nil {
			panic(err)
		}
		t.start = append(t.start, len(t.hashes))
		t.hashes = append(t.hashes, hs...)
	}
	return t
}

func (t *tree) leaf(i int64) sumdb.Hash { return t.hashes[t.start[i]] }

// storedHashes returns what the store keeps for record i: its leaf hash and
// the hashes of the subtrees it completes.
func (t *tree) storedHashes(i int64) []byte {
	end := len(t.hashes)
	if i+1 < int64(len(t.start)) {
		end = t.start[i+1]
	}
	var out []byte
	for _, h := range t.hashes[t.start[i]:end] {
		out = append(out, h[:]...)
	}
	return out
}

func (t *tree) root(size int64) sumdb.Hash {
	if size == 0 {
		var h sumdb.Hash
		copy(h[:], rfc6962.DefaultHasher.EmptyRoot())
		return h
	}
	h, err := sumdb.TreeHash(size, t.hashes)
	if err != nil {
		panic(err)
	}
	return h
}
