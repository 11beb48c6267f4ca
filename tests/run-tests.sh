#!/bin/sh
# Runs every test program given (TAP producers), prints their output, and
# ends with one line: "N passed, N failed" (", N skipped" when any).
# Exits non-zero when anything failed.
#
# Environment: VALGRIND=1 runs each program under valgrind; BUILD is the
# build directory (logs go to $BUILD/test-logs).

BUILD=${BUILD:-build}
logs="$BUILD/test-logs"
mkdir -p "$logs"

wrap=""
if [ -n "$VALGRIND" ] && [ "$VALGRIND" != 0 ]; then
	command -v valgrind >/dev/null 2>&1 || {
		echo "VALGRIND=1 but valgrind is not installed" >&2
		exit 1
	}
	# --fair-sched: valgrind runs one thread at a time, by default handing
	# the CPU back to whichever thread grabs it first, so a thread woken
	# from a sleep could wait behind busy ones for minutes.
	wrap="valgrind -q --error-exitcode=99 --leak-check=full \
--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
--track-origins=yes --fair-sched=yes"
	# valgrind is ~50x slower: shrink the randomized tests, stretch the
	# hang detection's windows and timeouts.
	export UIOMMUFD_TEST_SCALE=${UIOMMUFD_TEST_SCALE:-20}
	export UIOMMUFD_TIMEOUT_SCALE=${UIOMMUFD_TIMEOUT_SCALE:-20}
	# Signal storms slow down with it: valgrind delivers signals slowly.
	export UIOMMUFD_UNDER_VALGRIND=1
fi

# End-to-end programs run under uiommufd-run (valgrind goes inside it).
# ASan wants its runtime first among the libraries; the shim, preloaded,
# comes before it, which is fine for an instrumented shim.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

pass=0
fail=0
skip=0
for prog in "$@"; do
	name=$(basename "$prog")
	log="$logs/$name.tap"
	case "$prog" in
	*.sh) BUILD="$BUILD" WRAP="$wrap" sh "$prog" >"$log" 2>&1 ;;
	*/tests/e2e/*)
		# Their signal handlers issue ioctls on purpose (the kernel
		# takes them from anywhere); POSIX does not list ioctl as
		# async-signal-safe, so TSan's check of that is off here.
		TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}report_signal_unsafe=0" \
			"$BUILD/uiommufd-run" -- $wrap "$prog" >"$log" 2>&1 ;;
	*) $wrap "$prog" >"$log" 2>&1 ;;
	esac
	rc=$?
	cat "$log"
	p=$(grep -c '^ok ' "$log" | tr -d ' ')
	s=$(grep -c '^ok .*# SKIP' "$log" | tr -d ' ')
	f=$(grep -c '^not ok ' "$log" | tr -d ' ')
	planned=$(sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "$log" | head -n 1)
	p=$((p - s))
	ran=$((p + s + f))
	# A program that died outside a test, or ran short of its plan.
	if [ -z "$planned" ] || [ "$ran" -ne "$planned" ]; then
		echo "not ok - $name: planned ${planned:-?} tests, ran $ran"
		f=$((f + 1))
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "not ok - $name: exit status $rc"
		f=$((f + 1))
	fi
	pass=$((pass + p))
	fail=$((fail + f))
	skip=$((skip + s))
done

if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
