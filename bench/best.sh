# best.sh is sourced by the process benchmarks: best CMD... runs CMD $runs times (stdout
# discarded) and prints the shortest wall time, in seconds.
best() {
	local b=""
	for ((i = 0; i < runs; i++)); do
		local t0 t1
		t0=$(date +%s.%N)
		"$@" >/dev/null
		t1=$(date +%s.%N)
		b=$(awk -v a="$t0" -v z="$t1" -v b="$b" 'BEGIN { s = z - a; if (b == "" || s < b) print s; else print b }')
	done
	echo "$b"
}
