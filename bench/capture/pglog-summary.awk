# Sums the durations that log_min_duration_statement = 0 wrote into the
# server log, per statement (parse, bind and execute together), for the
# lines of one database: awk -v db=provbench_seq -f pglog-summary.awk LOG
# Prints the statements by total time, largest first.
$0 ~ ("@" db " LOG:  duration: ") {
	line = $0
	sub(/.* LOG:  duration: /, "", line)
	ms = line + 0
	sub(/^[0-9.]+ ms  /, "", line)
	if (line ~ /^plan:/) next # auto_explain: the statement is counted on its own line
	phase = line
	sub(/[ :].*/, "", phase)
	sub(/^(statement|parse|bind|execute)( [^:]*)?: /, "", line)
	gsub(/"?seqbench_(app|prov)_[0-9a-f]+"?/, "S", line)
	gsub(/[ \t]+/, " ", line)
	key = substr(line, 1, 90)
	total[key] += ms
	if (phase != "parse" && phase != "bind") n[key]++
	all += ms
}
END {
	for (k in total) printf "%10.1f ms %6.1f%% %6d  %s\n", total[k], 100 * total[k] / all, n[k], k | "sort -rn"
	close("sort -rn")
	printf "%10.1f ms total\n", all
}
