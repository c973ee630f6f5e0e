#!/usr/bin/env bash
# Where the capture trigger's cost goes on single-row UPDATEs: the
# update_one.pgbench workload against one database (provbench_exp, dropped at
# the end) with the UPDATE capture trigger of pgbench_accounts swapped between
# variants, interleaved:
#   off       no capture trigger (plain PostgreSQL)
#   empty     the trigger with its transition tables, and a body that does
#             nothing: the cost of the transition tables and of the call
#   plain-fn  Prov's function without SECURITY DEFINER
#   prov      Prov's function as capture installs it
#   setpath   Prov's function with SET search_path = pg_catalog, pg_temp (as
#             Prov installed it before v3 of its functions): the cost of the
#             setting's save and restore on every call
#   nojoin    Prov's function, SECURITY DEFINER, but reading the images
#             from the transition tables with two scalar subqueries instead
#             of the FULL JOIN (right for single-row statements only)
#   auto      Prov's function choosing per statement: for a one-row
#             statement the nojoin INSERT, else the FULL JOIN (whether the
#             new transition table has a second row decides)
#   const     Prov's function, but inserting constant images into the queue:
#             the cost of the queue row without reading transition tables
#   row       no statement trigger: a FOR EACH ROW trigger (SECURITY
#             DEFINER, like Prov's) writing the same queue row from OLD/NEW
# With MODE=bulk, it times the 1,000,000-row UPDATE (bulk_update.sql, fresh
# tables each time) with the capture functions as installed ("prov"), with
# work_mem = 256MB set on the UPDATE capture function ("workmem"), and with
# jit = off as well ("workmem-nojit").
# With MODE=cpu, instead of pgbench, one psql session runs N single-row
# UPDATEs (prepared, autocommit, random rows) per variant and reports its
# backend's CPU time per statement (utime + stime from /proc/self/stat, read
# with pg_read_file: needs a superuser and the server on this machine). CPU
# time is much less disturbed than throughput by other load on a shared
# machine; take the minimum over rounds as well as the median.
# These are diagnostics for docs/PERFORMANCE-capture.md, not supported
# configurations. Settings: MODE, PGURL, PGPARAMS, SCALE, CLIENTS, THREADS,
# ROUNDS, RUN_SECONDS, N, VARIANTS, OUT, PROV (a prov binary; default: built
# from this repository).
set -euo pipefail
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
PGPARAMS=${PGPARAMS:-sslmode=disable}
SCALE=${SCALE:-10}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
RUN_SECONDS=${RUN_SECONDS:-15}
MODE=${MODE:-update}
N=${N:-10000}
VARIANTS=${VARIANTS:-off empty const plain-fn nojoin auto prov setpath row}
PROV=${PROV:-}
OUT=${OUT:-/tmp/provbench-variants-$(date +%Y%m%d-%H%M%S)}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
mkdir -p "$OUT"
DSN="$PGURL/provbench_exp?$PGPARAMS"
sql() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

if [ -z "$PROV" ]; then
	PROV=$OUT/prov
	(cd "$ROOT" && go build -o "$PROV" ./cmd/prov)
fi
# fresh: new pgbench tables with capture on pgbench_accounts; sets fn, the
# UPDATE capture function.
fresh() {
	sql "$DSN" -c "DROP SCHEMA IF EXISTS prov CASCADE"
	pgbench -q -i -s "$SCALE" "$DSN" >/dev/null 2>&1
	"$PROV" --db "$DSN" capture enable public.pgbench_accounts >/dev/null
	fn=$(sql "$DSN" -At -c "SELECT 'prov.' || quote_ident(proname) FROM pg_proc WHERE proname LIKE 'capture\_%\_u' AND pronamespace = 'prov'::regnamespace")
}
sql "$PGURL/postgres?$PGPARAMS" -c "DROP DATABASE IF EXISTS provbench_exp" -c "CREATE DATABASE provbench_exp"

if [ "$MODE" = bulk ]; then
	for r in $(seq "$ROUNDS"); do
		for v in prov workmem workmem-nojit; do
			fresh
			case $v in
			workmem) sql "$DSN" -c "ALTER FUNCTION $fn() SET work_mem = '256MB'" ;;
			workmem-nojit) sql "$DSN" -c "ALTER FUNCTION $fn() SET work_mem = '256MB'" -c "ALTER FUNCTION $fn() SET jit = off" ;;
			esac
			sql "$DSN" -c "VACUUM ANALYZE" -c "CHECKPOINT"
			sql "$DSN" -c '\timing on' -f "$HERE/bulk_update.sql" >"$OUT/bulk-$v-$r.txt"
			printf '%s\t%s\t%s\n' "$v" "$r" "$(sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' "$OUT/bulk-$v-$r.txt")" | tee -a "$OUT/results.tsv"
		done
	done
	# The plan of the capture INSERT with work_mem = 256MB.
	fresh
	sql "$DSN" -c "ALTER FUNCTION $fn() SET work_mem = '256MB'" -c "ALTER FUNCTION $fn() SET jit = off" -c "VACUUM ANALYZE"
	sql "$DSN" -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 0" -c "SET auto_explain.log_analyze = on" \
		-c "SET auto_explain.log_nested_statements = on" -c "SET client_min_messages = log" -f "$HERE/bulk_update.sql" >"$OUT/bulk-explain-workmem.txt" 2>&1 || true
else
	fresh
	orig=$(sql "$DSN" -At -c "SELECT pg_get_functiondef('$fn'::regproc)")
	body=$(sed -n '/^BEGIN/,/^END/p' <<<"$orig")
	# The function's DECLARE section (what a statement's changes share), which
	# every variant keeps, on one line.
	decl=$(sed -n '/^DECLARE/,/^BEGIN/p' <<<"$orig" | sed '$d' | tr '\n' ' ')
	insert=$(sed -n 's/^\t\(INSERT .*\);$/\1/p' <<<"$body")
	nojoin=$(sed -e "s/\(pg_catalog\.\)\{0,1\}to_jsonb(prov_n\.\*)/(SELECT pg_catalog.to_jsonb(prov_n.*) FROM prov_new AS prov_n)/" \
		-e "s/\(pg_catalog\.\)\{0,1\}to_jsonb(prov_o\.\*)/(SELECT pg_catalog.to_jsonb(prov_o.*) FROM prov_old AS prov_o)/" \
		-e "s/ FROM prov_new AS prov_n FULL JOIN prov_old AS prov_o ON .*//" <<<"$insert")
	echo "$orig" >"$OUT/function.sql"

	rowfn=prov.bench_row_capture
	const=$(sed -e "s/\(pg_catalog\.\)\{0,1\}to_jsonb(prov_[no]\.\*)/'{}'::jsonb/g" -e "s/ FROM prov_new AS prov_n FULL JOIN prov_old AS prov_o ON .*//" <<<"$insert")
	rowinsert=$(sed -e "s/to_jsonb(prov_n\.\*)/to_jsonb(NEW)/" -e "s/to_jsonb(prov_o\.\*)/to_jsonb(OLD)/" \
		-e "s/ FROM prov_new AS prov_n FULL JOIN prov_old AS prov_o ON .*//" <<<"$insert")
	sql "$DSN" -c "CREATE FUNCTION $rowfn() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS \$f\$ $decl BEGIN $rowinsert; RETURN NULL; END \$f\$"

	# variant installs one variant. Triggers are dropped rather than disabled:
	# a disabled trigger with transition tables still makes PostgreSQL collect them.
	variant() {
		sql "$DSN" -c "DROP TRIGGER IF EXISTS prov_capture_u ON pgbench_accounts" -c "DROP TRIGGER IF EXISTS bench_row_capture ON pgbench_accounts"
		local def
		case $1 in
		off) return ;;
		row)
			sql "$DSN" -c "CREATE TRIGGER bench_row_capture AFTER UPDATE ON pgbench_accounts FOR EACH ROW EXECUTE FUNCTION $rowfn()"
			return
			;;
		empty) def="CREATE OR REPLACE FUNCTION $fn() RETURNS trigger LANGUAGE plpgsql AS \$f\$ BEGIN RETURN NULL; END \$f\$" ;;
		const) def="CREATE OR REPLACE FUNCTION $fn() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS \$f\$ $decl BEGIN $const; RETURN NULL; END \$f\$" ;;
		plain-fn) def="CREATE OR REPLACE FUNCTION $fn() RETURNS trigger LANGUAGE plpgsql AS \$f\$ $decl BEGIN $insert; RETURN NULL; END \$f\$" ;;
		prov) def=$orig ;;
		setpath) def="CREATE OR REPLACE FUNCTION $fn() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS \$f\$ $decl BEGIN $insert; RETURN NULL; END \$f\$" ;;
		nojoin) def="CREATE OR REPLACE FUNCTION $fn() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS \$f\$ $decl BEGIN $nojoin; RETURN NULL; END \$f\$" ;;
		auto) def="CREATE OR REPLACE FUNCTION $fn() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS \$f\$ $decl BEGIN IF NOT EXISTS (SELECT FROM prov_new OFFSET 1) THEN $nojoin; ELSE $insert; END IF; RETURN NULL; END \$f\$" ;;
		esac
		sql "$DSN" -c "$def" -c "CREATE TRIGGER prov_capture_u AFTER UPDATE ON pgbench_accounts REFERENCING OLD TABLE AS prov_old NEW TABLE AS prov_new FOR EACH STATEMENT EXECUTE FUNCTION $fn()"
	}

	# The MODE=cpu session: N EXECUTEs between two reads of its CPU time.
	stat="split_part(pg_read_file('/proc/self/stat'), ' ', 14)::bigint + split_part(pg_read_file('/proc/self/stat'), ' ', 15)::bigint"
	{
		echo 'PREPARE u(int, int) AS UPDATE pgbench_accounts SET abalance = abalance + $2 WHERE aid = $1;'
		echo "SELECT $stat AS t0 \\gset"
		awk -v n="$N" -v rows="$((SCALE * 100000))" 'BEGIN { srand(7); for (i = 0; i < n; i++) printf "EXECUTE u(%d, %d);\n", 1 + int(rand() * rows), int(rand() * 10000) - 5000 }'
		echo "SELECT round(($stat - :t0) * 1000000.0 / $(getconf CLK_TCK) / $N, 1);"
	} >"$OUT/cpu.sql"

	for r in $(seq "$ROUNDS"); do
		for v in $VARIANTS; do
			variant "$v"
			sql "$DSN" -c "TRUNCATE prov.changes" -c "VACUUM ANALYZE" -c "CHECKPOINT"
			if [ "$MODE" = cpu ]; then
				printf '%s\t%s\t%s\n' "$v" "$r" "$(sql "$DSN" -At -f "$OUT/cpu.sql" | tail -1)" | tee -a "$OUT/results.tsv"
				continue
			fi
			pgbench -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$RUN_SECONDS" -f "$HERE/update_one.pgbench" "$DSN" >"$OUT/$v-$r.txt" 2>&1
			printf '%s\t%s\t%s\n' "$v" "$r" "$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$OUT/$v-$r.txt")" | tee -a "$OUT/results.tsv"
		done
	done
fi
sql "$PGURL/postgres?$PGPARAMS" -c "DROP DATABASE IF EXISTS provbench_exp"
echo "medians (MODE=cpu: µs of backend CPU per statement):"
sort -k1,1 -k3,3n "$OUT/results.tsv" | awk '{ v[$1] = v[$1] " " $3; n[$1]++ } END { for (k in v) { split(substr(v[k], 2), a, " "); print k, a[int((n[k] + 1) / 2)], "[" substr(v[k], 2) "]" } }'
