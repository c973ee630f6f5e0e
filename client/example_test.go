package client_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/prov-dev/prov/client"
	"golang.org/x/mod/sumdb/note"
)

// An application appends a record with an event id (so that a retry is
// harmless), then proves it is in the log against a checkpoint signed with
// the key the log's operator published.
func Example() {
	ctx := context.Background()
	c, err := client.New("https://prov.example.com:7470", os.Getenv("PROV_TOKEN"), nil)
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Append(ctx, [][]byte{[]byte(`{"id":"ship-42","type":"change","time":"2026-01-02T03:04:05Z","activity":{"id":"job:ship","kind":"job"},"agent":{"id":"svc:shipping"},"generated":[{"id":"order:42","op":"update"}],"reason":"shipped"}`)})
	if err != nil {
		log.Fatal(err) // prov.KindOf(err) says what kind: invalid, unauthorized, unavailable, …
	}
	v, err := note.NewVerifier(os.Getenv("PROV_LOG_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	p, cp, err := c.ProveInclusion(ctx, v, res[0].Index, 0)
	if err != nil {
		log.Fatal(err) // kind tampered: the server lied
	}
	fmt.Printf("record %d is in the tree of %d records signed for %s\n", p.Index, cp.Size, cp.Origin)
}
