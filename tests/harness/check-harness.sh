#!/bin/sh
# The harness reports every kind of failure and keeps going. The demo's
# hangs are short and it runs natively even in a valgrind pass: no
# timeout scaling.
BUILD=${BUILD:-build}
out=$(UIOMMUFD_SEED=0x1234 UIOMMUFD_TIMEOUT_SCALE=1 \
	"$BUILD/tests/harness/harness_demo" 2>&1)
rc=$?

n=0
echo "TAP version 13"
echo "1..19"
check() {
	n=$((n + 1))
	if printf '%s\n' "$out" | grep -qE "$1"; then
		echo "ok $n $2"
	else
		echo "not ok $n $2"
		printf '%s\n' "$out" | sed 's/^/#   /'
	fi
}
check '^1\.\.15$' "plan counts every test and variant"
check '^ok 1 passes$' "a passing test passes"
check '^not ok 2 assert_fails' "a failed ASSERT fails the test"
check '^not ok 3 expect_fails_but_continues' "a failed EXPECT fails the test"
check 'still running after EXPECT' "EXPECT lets the test go on"
check '^not ok 4 crashes # Aborted' "a crash is reported with its signal"
check '^not ok 5 times_out # timed out: no progress for 1 s' "a hung test (no CPU, no progress) times out after its stall window"
check '^not ok 6 spins_without_end # timed out: still running after' "a test busy without end is still ended, by its timeout"
check '^ok 7 slow_but_progressing$' "a test idle but reporting progress, then busy, is not hung"
check '^ok 8 waits_for_children$' "test_wait_child kills hung children and waits for busy ones"
check 'hung children were killed, the busy one waited for' "test_wait_child's checks ran"
check '^ok 9 skips # SKIP' "a skip is reported"
check 'leaks: 1 library allocation' "a leaked library allocation fails the test"
check '^not ok 11 thread_assert_fails' "an ASSERT in another thread fails the test"
check 'seed 0x1234 \(replay: UIOMMUFD_SEED=0x1234 .* -t .seeded.\)' "the seed is printed with a replay command"
check '^ok 13 fx.good.compares$' "fixture variants are named fixture.variant.test"
check 'teardown ran for want=8' "teardown runs after a failed ASSERT"
check '^ok 15 last_passes$' "tests after failures still run"
if [ "$rc" -ne 0 ]; then
	n=$((n + 1)); echo "ok $n the program exits non-zero when a test failed"
else
	n=$((n + 1)); echo "not ok $n the program exits non-zero when a test failed"
fi
