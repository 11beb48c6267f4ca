#!/bin/sh
# Runs every benchmark program given, in turn, printing its output. Speed
# never fails a benchmark; a program exits non-zero only on a real error
# (a wrong result, a failed allocation), and then so does this script.
# The environment (UIOMMUFD_BENCH_REPS, UIOMMUFD_BENCH_QUICK) reaches every
# program.

failed=""
for prog in "$@"; do
	name=$(basename "$prog")
	start=$(date +%s)
	"$prog"
	rc=$?
	end=$(date +%s)
	if [ "$rc" -ne 0 ]; then
		echo "FAILED: $name (exit status $rc)"
		failed="$failed $name"
	else
		echo "($name: $((end - start)) s)"
	fi
	echo
done

if [ -n "$failed" ]; then
	echo "benchmarks failed:$failed"
	exit 1
fi
echo "all $# benchmarks ran"
