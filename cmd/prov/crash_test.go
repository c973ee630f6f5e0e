package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov/storetest"
)

// TestCrashLosesNoAcknowledgedRecord kills 'prov append' with SIGKILL at
// random moments while it streams records, many times, and checks after each
// kill that every record whose index was printed is stored with its exact
// bytes, and that the log verifies.
func TestCrashLosesNoAcknowledgedRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped with -short")
	}
	forEachBackend(t, func(t *testing.T, newLog func(*testing.T) *testLog) { testCrashLosesNoAcknowledgedRecord(t, newLog(t)) })
}

func testCrashLosesNoAcknowledgedRecord(t *testing.T, db *testLog) {
	trials := 25
	if s := os.Getenv("PROV_CRASH_TRIALS"); s != "" {
		trials, _ = strconv.Atoi(s)
	}
	acked := map[int64]string{}
	for trial := range trials {
		batch := []int{1, 3, 10, 50}[trial%4]
		cmd := db.cmd("--json", "append", "--batch-size", strconv.Itoa(batch), "-")
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sent := make(chan []string, 1)
		go func() { // feed records until the process dies
			var lines []string
			w := bufio.NewWriter(stdin)
			for i := 0; ; i++ {
				line := fmt.Sprintf(`{"type":"change","time":"2026-01-02T03:04:05Z","id":"t%d-%d","generated":[{"id":"row:%d/%d","op":"insert"}]}`, trial, i, trial, i)
				lines = append(lines, line)
				if _, err := w.WriteString(line + "\n"); err != nil {
					break
				}
				if i%batch == batch-1 {
					if w.Flush() != nil {
						break
					}
				}
			}
			sent <- lines
		}()
		killAfter := time.Duration(rand.IntN(150)+5) * time.Millisecond
		timer := time.AfterFunc(killAfter, func() { cmd.Process.Signal(syscall.SIGKILL) })
		var printed []struct{ Line, Index int64 }
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var p struct{ Line, Index int64 }
			if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
				t.Fatalf("trial %d: bad output line %q", trial, sc.Text())
			}
			printed = append(printed, p)
		}
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		timer.Stop()
		stdin.Close()
		lines := <-sent
		for _, p := range printed {
			acked[p.Index] = lines[p.Line-1]
		}
		checkAcked(t, db, acked, trial)
	}
	t.Logf("%d trials, %d acknowledged records, all present and verified", trials, len(acked))
}

// checkAcked reopens the log, as a new process would, and checks that every
// acknowledged record is there with its bytes and that the log verifies.
func checkAcked(t *testing.T, db *testLog, acked map[int64]string, trial int) {
	t.Helper()
	stored := readLog(t, db)
	for idx, want := range acked {
		got, ok := stored[idx]
		if !ok {
			t.Fatalf("trial %d: acknowledged record %d lost", trial, idx)
		}
		if got != want {
			t.Fatalf("trial %d: record %d = %q, want %q", trial, idx, got, want)
		}
	}
	if r := db.run(t, "", "verify"); r.code != 0 {
		t.Fatalf("trial %d: log does not verify after SIGKILL: %s", trial, r.stderr)
	}
}

// readLog returns every stored record by index, through 'prov log --json'.
func readLog(t *testing.T, db *testLog) map[int64]string {
	t.Helper()
	r := db.run(t, "", "--json", "log")
	if r.code != 0 {
		t.Fatalf("log: %s", r.stderr)
	}
	out := map[int64]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line == "" {
			continue
		}
		var e struct {
			Index  int64           `json:"index"`
			Record json.RawMessage `json:"record"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log --json line %q: %v", line, err)
		}
		out[e.Index] = string(e.Record)
	}
	return out
}

// TestCrashDuringAtomicAppend kills a whole-input append: afterwards either
// all of its records are in the log or none.
func TestCrashDuringAtomicAppend(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped with -short")
	}
	forEachBackend(t, func(t *testing.T, newLog func(*testing.T) *testLog) { testCrashDuringAtomicAppend(t, newLog(t)) })
}

func testCrashDuringAtomicAppend(t *testing.T, db *testLog) {
	in := filepath.Join(t.TempDir(), "in.jsonl")
	f, _ := os.Create(in)
	const n = 20000
	for i := range n {
		fmt.Fprintln(f, record(i))
	}
	f.Close()
	for trial := range 5 {
		before := logSize(t, db)
		cmd := db.cmd("append", "--no-checkpoint", in)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(50+rand.IntN(400)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		after := logSize(t, db)
		if d := after - before; d != 0 && d != n {
			t.Fatalf("trial %d: a killed atomic append left %d of %d records", trial, d, n)
		}
		checkAcked(t, db, nil, trial)
	}
}

func logSize(t *testing.T, db *testLog) int64 {
	t.Helper()
	return int64(len(readLog(t, db)))
}

// TestCrashDuringSequencingLosesAndDuplicatesNothing kills 'prov sequence'
// at random moments while it moves captured changes into the log, then
// checks that every captured change is in the log exactly once.
func TestCrashDuringSequencingLosesAndDuplicatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped with -short")
	}
	dsn := storetest.PostgresDSN(t)
	db := newPostgresLog(t, dsn)
	app := strings.Replace(db.args[3], "provcli_", "app_", 1)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+app+" CASCADE") })
	for _, q := range []string{"CREATE SCHEMA " + app, "CREATE TABLE " + app + ".t (id int PRIMARY KEY, n int)"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if r := db.run(t, "", "capture", "enable", app+".t"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	const rows = 3000
	if _, err := conn.Exec(ctx, "INSERT INTO "+app+".t SELECT g, 0 FROM generate_series(1, $1) g", rows); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "UPDATE "+app+".t SET n = n + 1"); err != nil {
		t.Fatal(err)
	}
	kills := 0
	for trial := 0; trial < 12; trial++ {
		cmd := db.cmd("sequence", "--batch", "20")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(50+rand.IntN(200)) * time.Millisecond)
		if cmd.Process.Signal(syscall.SIGKILL) == nil {
			kills++
		}
		cmd.Wait()
	}
	before := len(readLog(t, db))
	if r := db.run(t, "", "sequence"); r.code != 0 {
		t.Fatalf("sequence after the kills: %s", r.stderr)
	}
	seen := map[int64]int{}
	for _, rec := range readLog(t, db) {
		var r struct {
			Type       string `json:"type"`
			Attributes struct {
				Change int64 `json:"change"`
			} `json:"attributes"`
		}
		json.Unmarshal([]byte(rec), &r)
		if r.Type == "change" {
			seen[r.Attributes.Change]++
		}
	}
	for id := int64(1); id <= 2*rows; id++ {
		if seen[id] != 1 {
			t.Fatalf("captured change %d is in the log %d times, want once", id, seen[id])
		}
	}
	if len(seen) != 2*rows {
		t.Errorf("%d distinct changes in the log, want %d", len(seen), 2*rows)
	}
	if r := db.run(t, "", "verify", "--live"); r.code != 0 {
		t.Errorf("verify --live after the kills: %s %s", r.stdout, r.stderr)
	}
	t.Logf("%d kills during sequencing, which had logged %d records; %d changes, each in the log once", kills, before, len(seen))
}
