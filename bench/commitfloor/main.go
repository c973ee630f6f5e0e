// Command commitfloor measures the latency floors under a durable
// single-record acknowledgement on this machine, at a fixed rate (open
// loop, as bench/serve's single-record run), so that a server's p99 can be
// compared with what the disk and the database allow at all:
//
//   - fsync: an 8 KiB write appended to a file then fdatasync, as a WAL
//     commit does (the file is preallocated and overwritten in a ring, as
//     SQLite's WAL and PostgreSQL's segments are reused);
//   - sqlite: one row of 1 KiB per transaction into a plain table, same
//     settings as the store (WAL, synchronous=FULL, BEGIN IMMEDIATE), with
//     SQLite's automatic checkpoint (the default) or without it (-autocheckpoint 0);
//   - postgres: one autocommit INSERT of 1 KiB (one round trip, synchronous_commit=on).
//
// Each operation runs one after the other (a commit never overlaps the
// previous one); a late tick is counted from when it was due, as a queued
// request would be.
//
//	go run ./bench/commitfloor -mode fsync -dir /tmp
//	go run ./bench/commitfloor -mode sqlite -dir /tmp
//	go run ./bench/commitfloor -mode postgres -db postgres://…/test
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"
)

func main() {
	mode := flag.String("mode", "fsync", "fdatasync, fsync, sqlite or postgres")
	dir := flag.String("dir", os.TempDir(), "directory of the file (fsync, sqlite)")
	db := flag.String("db", "", "postgres:// URL (postgres)")
	rate := flag.Int("rate", 1000, "operations per second")
	seconds := flag.Int("seconds", 10, "length of a run")
	runs := flag.Int("runs", 1, "runs")
	autockpt := flag.Int("autocheckpoint", 1000, "sqlite: wal_autocheckpoint pages (0: off)")
	bgckpt := flag.Duration("bg-checkpoint", 0, "sqlite: run PASSIVE checkpoints on another connection at most this often, after commits (with -autocheckpoint 0)")
	flag.Parse()
	ctx := context.Background()
	var op func() error
	data := []byte(strings.Repeat("x", 1024))
	switch *mode {
	case "fsync", "fdatasync":
		f, err := os.OpenFile(filepath.Join(*dir, "commitfloor.wal"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			log.Fatal(err)
		}
		defer os.Remove(f.Name())
		const size = 64 << 20
		buf := make([]byte, 8192)
		if err := f.Truncate(size); err != nil {
			log.Fatal(err)
		}
		for off := int64(0); off < size; off += int64(len(buf)) {
			f.WriteAt(buf, off)
		}
		f.Sync()
		off := int64(0)
		op = func() error {
			if _, err := f.WriteAt(buf, off); err != nil {
				return err
			}
			off = (off + int64(len(buf))) % size
			if *mode == "fsync" {
				return f.Sync()
			}
			return fdatasync(f)
		}
	case "sqlite":
		path := filepath.Join(*dir, "commitfloor.db")
		for _, s := range []string{"", "-wal", "-shm"} {
			os.Remove(path + s)
		}
		defer func() {
			for _, s := range []string{"", "-wal", "-shm"} {
				os.Remove(path + s)
			}
		}()
		d, err := sql.Open("sqlite", "file:"+path+fmt.Sprintf("?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=wal_autocheckpoint(%d)&_txlock=immediate", *autockpt))
		if err != nil {
			log.Fatal(err)
		}
		d.SetMaxOpenConns(1)
		if _, err := d.Exec("CREATE TABLE raw (idx INTEGER PRIMARY KEY, data BLOB NOT NULL)"); err != nil {
			log.Fatal(err)
		}
		kick := make(chan struct{}, 1)
		if *bgckpt > 0 {
			c, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
			if err != nil {
				log.Fatal(err)
			}
			c.SetMaxOpenConns(1)
			go func() {
				for range kick {
					var busy, frames, done int
					if err := c.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &done); err != nil {
						log.Fatal(err)
					}
					time.Sleep(*bgckpt)
				}
			}()
		}
		i := 0
		op = func() error {
			defer func() {
				select {
				case kick <- struct{}{}:
				default:
				}
			}()
			tx, err := d.Begin()
			if err != nil {
				return err
			}
			if _, err := tx.Exec("INSERT INTO raw (idx, data) VALUES (?, ?)", i, data); err != nil {
				tx.Rollback()
				return err
			}
			i++
			return tx.Commit()
		}
	case "postgres":
		c, err := pgx.Connect(ctx, *db)
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP TABLE IF EXISTS commitfloor_raw; CREATE TABLE commitfloor_raw (idx bigint PRIMARY KEY, data bytea NOT NULL)"); err != nil {
			log.Fatal(err)
		}
		defer c.Exec(ctx, "DROP TABLE commitfloor_raw")
		i := 0
		op = func() error {
			_, err := c.Exec(ctx, "INSERT INTO commitfloor_raw (idx, data) VALUES ($1, $2)", i, data)
			i++
			return err
		}
	default:
		log.Fatalf("no mode %q", *mode)
	}
	for r := range *runs {
		var lat, svc []time.Duration
		every := time.Second / time.Duration(*rate)
		start := time.Now()
		n := *rate * *seconds
		for k := range n {
			due := start.Add(time.Duration(k) * every)
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			t0 := time.Now()
			if err := op(); err != nil {
				log.Fatal(err)
			}
			svc = append(svc, time.Since(t0))
			lat = append(lat, time.Since(due))
		}
		achieved := float64(n) / time.Since(start).Seconds()
		for _, x := range []struct {
			what string
			d    []time.Duration
		}{{"from due", lat}, {"service", svc}} {
			slices.Sort(x.d)
			q := func(p float64) time.Duration { return x.d[int(p*float64(len(x.d)-1))].Round(time.Microsecond) }
			fmt.Printf("%s run %d, %d ops at %d/s (achieved %.0f/s), %s: p50 %v p90 %v p99 %v p99.9 %v max %v\n",
				*mode, r+1, n, *rate, achieved, x.what, q(.5), q(.9), q(.99), q(.999), x.d[len(x.d)-1].Round(time.Microsecond))
		}
	}
}
