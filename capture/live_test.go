package capture_test

import (
	"context"
	"testing"
)

func TestVerifyLiveListsWritesBehindCapture(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.app
	e.exec(t, "CREATE TABLE "+a+".t (id int PRIMARY KEY, v text, email text)")
	e.exec(t, "INSERT INTO "+a+".t VALUES (1, 'a', 'x@example.com'), (2, 'b', 'y@example.com'), (3, 'c', NULL)")
	if _, err := e.cap.Enable(ctx, []string{a + ".t"}, []string{"email"}); err != nil {
		t.Fatal(err)
	}
	check := func(when string, want map[string]string) {
		t.Helper()
		rep, err := e.cap.VerifyLive(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, d := range rep.Drift {
			got[d.Key] = d.What
		}
		if len(got) != len(want) {
			t.Errorf("%s: drift %v, want %v", when, got, want)
			return
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s: drift %v, want %v", when, got, want)
				return
			}
		}
	}
	check("right after enable", nil)
	e.attributed(t, "job:1", "UPDATE "+a+".t SET v = 'a2', email = 'z@example.com' WHERE id = 1")
	e.attributed(t, "job:1", "INSERT INTO "+a+".t VALUES (4, 'd', NULL)")
	e.attributed(t, "job:1", "DELETE FROM "+a+".t WHERE id = 3")
	check("with changes not yet sequenced", nil)
	e.sequence(t)
	check("after sequencing", nil)

	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, q := range []string{
		"SET session_replication_role = replica",
		"UPDATE " + a + ".t SET v = 'sneaky' WHERE id = 2",
		"INSERT INTO " + a + ".t VALUES (5, 'e', NULL)",
		"DELETE FROM " + a + ".t WHERE id = 4",
		"RESET session_replication_role",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	check("after writes behind capture's back", map[string]string{`{"id": 2}`: "changed", `{"id": 5}`: "inserted", `{"id": 4}`: "deleted"})
	rep, _ := e.cap.VerifyLive(ctx, 1)
	if len(rep.Drift) != 1 || rep.More != 2 {
		t.Errorf("limit 1: %d listed, %d more; want 1 and 2", len(rep.Drift), rep.More)
	}
}
