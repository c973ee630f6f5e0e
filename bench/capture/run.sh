#!/usr/bin/env bash
# The capture benchmark: PostgreSQL with no audit ("plain"), with a naive
# row-audit trigger ("naive") and with Prov capture ("prov"), side by side on
# one server, with pgbench and two small Go programs. See README.md here for
# what each section measures; docs/PERFORMANCE-capture.md for results.
#
#   bench/capture/run.sh [SECTION…]
#
# Sections, in the order they run when none is named:
#   setup  create provbench_plain, provbench_naive, provbench_prov (pgbench -i),
#          install the naive trigger, prov init + capture enable, and show that
#          pgbench_history (no primary key) is refused
#   tpcb   pgbench TPC-B-like, -M prepared: plain, naive, prov (triggers only,
#          queue drained after each run), prov+seq (prov sequence --follow
#          running during the run)
#   update pgbench, one random pgbench_accounts row updated per transaction
#   sdk    the TPC-B-like transaction from Go (sdkload): pgx on plain, pgx on
#          prov (unattributed), provctx.BeginTx on prov (attributed)
#   bulk   one UPDATE of every pgbench_accounts row, on fresh tables each time
#   lag    sequencer lag (lagmon) with prov sequence --follow, under pgbench
#          --rate $RATE, TPC-B-like and single-row UPDATE
#   seq    go test -bench Sequencer (capture/bench_test.go), with a CPU profile
#          and the server-side time of each of the sequencer's statements
#   clean  drop the benchmark databases
#
# Variants run interleaved (A B C A B C …) so that noise from other load on
# the machine hits them alike; the summary gives medians. Settings, from the
# environment: PGURL, SCALE, CLIENTS, THREADS, ROUNDS, TPCB_SECONDS,
# UPDATE_SECONDS, SDK_SECONDS, BULK_ROUNDS, LAG_SECONDS, RATE, SEQ_BENCHTIME,
# SEQ_BENCHES (the Sequencer sub-benchmarks), PROV_BENCH_CHANGES, PGLOG (the
# server log, for the statement breakdown), OUT (the results directory).
#
# PROV_BEFORE=path/to/prov (another build, e.g. of an earlier commit) adds a
# variant "before": capture installed by that binary in provbench_before,
# interleaved with the others in tpcb, update, sdk and bulk, so that a change
# to the triggers is measured against its predecessor in the same run. Its
# queue is emptied with TRUNCATE after each run, never by this build's
# sequencer (which would re-create its capture functions).
set -euo pipefail

PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
PGPARAMS=${PGPARAMS:-sslmode=disable}
SCALE=${SCALE:-10}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
TPCB_SECONDS=${TPCB_SECONDS:-30}
UPDATE_SECONDS=${UPDATE_SECONDS:-20}
SDK_SECONDS=${SDK_SECONDS:-20}
BULK_ROUNDS=${BULK_ROUNDS:-3}
LAG_SECONDS=${LAG_SECONDS:-30}
RATE=${RATE:-2000}
SEQ_BENCHTIME=${SEQ_BENCHTIME:-2x}
SEQ_BENCHES=${SEQ_BENCHES:-update/batch=2000 insert/batch=2000 update/batch=10000}
PGLOG=${PGLOG:-/var/log/postgresql/postgresql-15-main.log}
OUT=${OUT:-/tmp/provbench-capture-$(date +%Y%m%d-%H%M%S)}
PROV_BEFORE=${PROV_BEFORE:-}
BEFORE=${PROV_BEFORE:+before} # the extra variant, or nothing

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=$OUT/bin
RESULTS=$OUT/results.tsv
KEY=$OUT/prov.key
mkdir -p "$BIN"
touch "$RESULTS"

dsn() { echo "$PGURL/$1?$PGPARAMS"; }
log() { echo "== $(date +%H:%M:%S) $*" >&2; }
# result SECTION VARIANT ROUND VALUE UNIT
result() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" | tee -a "$RESULTS" >&2; }
sql() { local db=$1; shift; psql -X -q -v ON_ERROR_STOP=1 "$(dsn "$db")" "$@"; }
prov() { local db=$1; shift; "$BIN/prov" --db "$(dsn "$db")" --key "$KEY" "$@"; }
prov_before() { local db=$1; shift; "$PROV_BEFORE" --db "$(dsn "$db")" --key "$KEY.before" "$@"; }
# empty_before: the before variant's queue emptied (see PROV_BEFORE).
empty_before() { sql provbench_before -c "TRUNCATE prov.changes"; }

build() {
	log "building prov, sdkload, lagmon into $BIN"
	(cd "$ROOT" && go build -o "$BIN/prov" ./cmd/prov && go build -o "$BIN/sdkload" ./bench/capture/sdkload &&
		go build -o "$BIN/lagmon" ./bench/capture/lagmon)
}

# prep DB: the same state before every timed run: pgbench_history emptied,
# everything vacuumed and analysed (autovacuum may be off), a checkpoint.
prep() {
	sql "$1" -c "TRUNCATE pgbench_history" -c "VACUUM ANALYZE" -c "CHECKPOINT"
}

# drain: sequence what is queued (untimed for the workload; the CLI's own
# throughput is recorded as section drain).
drain() {
	local tag=$1 out
	out=$(prov provbench_prov --json sequence)
	local n s
	n=$(sed -n 's/.*"sequenced": \([0-9]*\).*/\1/p' <<<"$out")
	s=$(sed -n 's/.*"seconds": \([0-9.e+-]*\).*/\1/p' <<<"$out")
	if [ "${n:-0}" -ge 20000 ]; then
		result drain "$tag" "n=$n" "$(awk -v n="$n" -v s="$s" 'BEGIN { printf "%.0f", n / s }')" changes/s
	fi
}

# seq_start / seq_stop: prov sequence --follow in the background.
# The binary runs as the background job itself (not through the prov
# function, whose subshell would ignore SIGINT), so that SIGINT stops it.
seq_start() {
	"$BIN/prov" --db "$(dsn provbench_prov)" --key "$KEY" sequence --follow --poll 100ms >"$1" 2>&1 &
	SEQ_PID=$!
}
seq_stop() {
	kill -INT "$SEQ_PID"
	wait "$SEQ_PID" || true
	cat "$1" >&2
}

pgbench_tps() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$1"; }

setup() {
	for v in plain naive prov $BEFORE; do
		log "creating provbench_$v (pgbench -i -s $SCALE)"
		sql postgres -c "DROP DATABASE IF EXISTS provbench_$v" -c "CREATE DATABASE provbench_$v"
		pgbench -q -i -s "$SCALE" "$(dsn provbench_$v)" 2>&1 | tail -1
	done
	sql provbench_naive -f "$HERE/naive_audit.sql"
	rm -f "$KEY"
	prov provbench_prov init --origin bench.example/capture
	log "prov capture enable (the three tables with a primary key)"
	prov provbench_prov capture enable public.pgbench_accounts public.pgbench_tellers public.pgbench_branches | tee "$OUT/enable.txt"
	log "prov capture enable public.pgbench_history: must be refused"
	if prov provbench_prov capture enable public.pgbench_history >"$OUT/history-refusal.txt" 2>&1; then
		echo "capture enable on pgbench_history succeeded: it has no primary key and must be refused" >&2
		exit 1
	fi
	cat "$OUT/history-refusal.txt"
	grep -q "has no primary key" "$OUT/history-refusal.txt"
	prov provbench_prov capture status
	if [ -n "$BEFORE" ]; then
		rm -f "$KEY.before"
		prov_before provbench_before init --origin bench.example/capture-before
		log "capture enable in provbench_before with $PROV_BEFORE"
		prov_before provbench_before capture enable public.pgbench_accounts public.pgbench_tellers public.pgbench_branches
	fi
}

tpcb() {
	for r in $(seq "$ROUNDS"); do
		for v in plain naive prov $BEFORE prov+seq; do
			local db=provbench_${v%+seq} f=$OUT/tpcb-$v-$r.txt
			prep "$db"
			if [ "$v" = prov+seq ]; then seq_start "$OUT/tpcb-seq-$r.txt"; fi
			log "tpcb $v round $r"
			pgbench -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$TPCB_SECONDS" "$(dsn "$db")" >"$f" 2>&1
			if [ "$v" = prov+seq ]; then seq_stop "$OUT/tpcb-seq-$r.txt"; fi
			result tpcb "$v" "$r" "$(pgbench_tps "$f")" tps
			if [ "$db" = provbench_prov ]; then drain "tpcb-$v"; fi
			if [ "$db" = provbench_before ]; then empty_before; fi
		done
	done
}

update() {
	for r in $(seq "$ROUNDS"); do
		for v in plain naive prov $BEFORE; do
			local db=provbench_$v f=$OUT/update-$v-$r.txt
			prep "$db"
			log "update $v round $r"
			pgbench -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$UPDATE_SECONDS" -f "$HERE/update_one.pgbench" "$(dsn "$db")" >"$f" 2>&1
			result update "$v" "$r" "$(pgbench_tps "$f")" tps
			if [ "$v" = prov ]; then drain update-prov; fi
			if [ "$v" = before ]; then empty_before; fi
		done
	done
}

sdk() {
	for r in $(seq "$ROUNDS"); do
		for v in pgx-plain pgx-prov provctx-prov ${BEFORE:+provctx-before}; do
			local mode=${v%-*} db=provbench_${v#*-} f=$OUT/sdk-$v-$r.txt
			prep "$db"
			log "sdk $v round $r"
			"$BIN/sdkload" -db "$(dsn "$db")" -mode "$mode" -clients "$CLIENTS" -duration "${SDK_SECONDS}s" >"$f"
			cat "$f" >&2
			result sdk "$v" "$r" "$(sed -n 's/.* tps=\([0-9.]*\) .*/\1/p' "$f")" tps
			if [ "$db" = provbench_prov ]; then drain "sdk-$v"; fi
			if [ "$db" = provbench_before ]; then empty_before; fi
		done
	done
	sql provbench_prov -c "SELECT count(*) FILTER (WHERE activity_id LIKE 'request:%') AS attributed_changes_in_log, count(*) AS records FROM prov.records"
}

bulk() {
	sql postgres -c "DROP DATABASE IF EXISTS provbench_bulk" -c "CREATE DATABASE provbench_bulk"
	for r in $(seq "$BULK_ROUNDS"); do
		for v in plain naive prov $BEFORE; do
			log "bulk $v round $r: fresh tables"
			sql provbench_bulk -c "DROP SCHEMA IF EXISTS prov CASCADE" -c "DROP SCHEMA IF EXISTS audit CASCADE"
			pgbench -q -i -s "$SCALE" "$(dsn provbench_bulk)" >/dev/null 2>&1
			case $v in
			naive) sql provbench_bulk -f "$HERE/naive_audit.sql" ;;
			prov) prov provbench_bulk capture enable public.pgbench_accounts public.pgbench_tellers public.pgbench_branches >/dev/null ;;
			before) prov_before provbench_bulk capture enable public.pgbench_accounts public.pgbench_tellers public.pgbench_branches >/dev/null ;;
			esac
			sql provbench_bulk -c "VACUUM ANALYZE" -c "CHECKPOINT"
			local f=$OUT/bulk-$v-$r.txt
			sql provbench_bulk -c '\timing on' -f "$HERE/bulk_update.sql" >"$f"
			cat "$f" >&2
			result bulk "$v" "$r" "$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' "$f")" ms
			case $v in
			naive) sql provbench_bulk -At -c "SELECT 'audit rows: ' || count(*) FROM audit.log" >&2 ;;
			prov | before) sql provbench_bulk -At -c "SELECT 'queued changes: ' || count(*) FROM prov.changes" >&2 ;;
			esac
		done
	done
	# Where the time goes with capture: the plans of the UPDATE and of the
	# trigger's INSERT, from auto_explain (nested statements, sent to the client).
	log "bulk: auto_explain of the UPDATE with capture"
	sql provbench_bulk -c "TRUNCATE prov.changes" -c "VACUUM ANALYZE" -c "CHECKPOINT"
	sql provbench_bulk -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 0" \
		-c "SET auto_explain.log_analyze = on" -c "SET auto_explain.log_buffers = on" \
		-c "SET auto_explain.log_nested_statements = on" -c "SET client_min_messages = log" \
		-c '\timing on' -f "$HERE/bulk_update.sql" >"$OUT/bulk-explain.txt" 2>&1 || true
	sql postgres -c "DROP DATABASE IF EXISTS provbench_bulk"
}

lag() {
	for w in tpcb update; do
		log "lag: $w at --rate $RATE with prov sequence --follow"
		prov provbench_prov sequence >/dev/null
		prep provbench_prov
		local f=$OUT/lag-$w.txt script=()
		if [ "$w" = update ]; then script=(-f "$HERE/update_one.pgbench"); fi
		seq_start "$OUT/lag-$w-seq.txt"
		"$BIN/lagmon" -db "$(dsn provbench_prov)" -duration "${LAG_SECONDS}s" >"$OUT/lag-$w-mon.txt" &
		local mon=$!
		pgbench -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$LAG_SECONDS" --rate "$RATE" "${script[@]}" "$(dsn provbench_prov)" >"$f" 2>&1
		wait "$mon"
		seq_stop "$OUT/lag-$w-seq.txt"
		cat "$OUT/lag-$w-mon.txt" >&2
		result lag "$w" 1 "$(pgbench_tps "$f")" "tps achieved (target rate $RATE)"
		for q in p50 p99 max; do
			result lag "$w" 1 "$(sed -n "s/.*lag_${q}_s=\([0-9.]*\).*/\1/p" "$OUT/lag-$w-mon.txt")" "s lag $q"
		done
	done
}

seqbench() {
	sql postgres -c "DROP DATABASE IF EXISTS provbench_seq" -c "CREATE DATABASE provbench_seq"
	(cd "$ROOT" && go test -c -o "$BIN/capture.test" ./capture/)
	local logdsn
	# Every statement's duration in the server log (without the parameters'
	# values), and the plans of those over 15 ms (auto_explain).
	logdsn="$(dsn provbench_seq)&options=-c%20log_min_duration_statement%3D0%20-c%20log_parameter_max_length%3D0"
	logdsn+="%20-c%20session_preload_libraries%3Dauto_explain%20-c%20auto_explain.log_min_duration%3D15"
	for b in $SEQ_BENCHES; do
		local tag=${b//[\/=]/-} start=0
		if [ -r "$PGLOG" ]; then start=$(wc -l <"$PGLOG"); fi
		log "go test -bench Sequencer/$b"
		(cd "$ROOT/capture" && PROV_TEST_POSTGRES=$logdsn "$BIN/capture.test" -test.run '^$' \
			-test.bench "Sequencer/$b\$" -test.benchtime "$SEQ_BENCHTIME" \
			-test.cpuprofile "$OUT/seq-$tag.cpu") | tee "$OUT/seq-$tag.txt" >&2
		result seq "$b" - "$(sed -n 's/.* \([0-9.]*\) changes\/s.*/\1/p' "$OUT/seq-$tag.txt")" changes/s
		go tool pprof -top -nodecount 30 "$BIN/capture.test" "$OUT/seq-$tag.cpu" >"$OUT/seq-$tag-pprof-flat.txt" 2>/dev/null
		go tool pprof -top -cum -nodecount 40 "$BIN/capture.test" "$OUT/seq-$tag.cpu" >"$OUT/seq-$tag-pprof-cum.txt" 2>/dev/null
		if [ -r "$PGLOG" ]; then
			tail -n +"$((start + 1))" "$PGLOG" >"$OUT/seq-$tag-server.log"
			# The timed rounds only: from the benchmark's mark on.
			sed -n '/seqbench: timed rounds begin/,$p' "$OUT/seq-$tag-server.log" |
				awk -v db=provbench_seq -f "$HERE/pglog-summary.awk" >"$OUT/seq-$tag-server.txt"
			# The plan of the sequencer's DELETE in the timed rounds.
			sed -n '/seqbench: timed rounds begin/,$p' "$OUT/seq-$tag-server.log" |
				awk '/Query Text: DELETE FROM/ && !done { p = 1 } p && / LOG: / { p = 0; done = 1 } p' >"$OUT/seq-$tag-delete-plan.txt"
			head -15 "$OUT/seq-$tag-server.txt" >&2
		fi
	done
	sql postgres -c "DROP DATABASE IF EXISTS provbench_seq"
}

clean() {
	for v in plain naive prov before bulk seq; do sql postgres -c "DROP DATABASE IF EXISTS provbench_$v"; done
}

summary() {
	echo
	echo "Medians ($RESULTS):"
	sort -t$'\t' -k1,1 -k2,2 -k5,5 "$RESULTS" | awk -F'\t' '
		function flush() {
			if (n == 0) return
			m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			line = ""
			for (i = 1; i <= n; i++) line = line (i > 1 ? " " : "") v[i]
			printf "%-7s %-14s %12.3f  %-32s [%s]\n", sec, var, m, unit, line
			n = 0
		}
		{
			if ($1 != sec || $2 != var || $5 != unit) flush()
			sec = $1; var = $2; unit = $5
			# insertion sort: few values
			x = $4 + 0; i = ++n
			while (i > 1 && v[i - 1] > x) { v[i] = v[i - 1]; i-- }
			v[i] = x
		}
		END { flush() }'
}

sections=("$@")
if [ ${#sections[@]} -eq 0 ]; then sections=(setup tpcb update sdk bulk lag seq); fi
log "results in $OUT"
build
for s in "${sections[@]}"; do
	case $s in
	setup | tpcb | update | sdk | bulk | lag | clean) "$s" ;;
	seq) seqbench ;;
	summary) ;;
	*) echo "unknown section $s" >&2; exit 2 ;;
	esac
done
summary | tee "$OUT/summary.txt"
