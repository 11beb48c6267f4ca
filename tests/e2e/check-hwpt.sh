#!/bin/sh
# What Linux 7.2 added in ABI part 1 (HW pagetables, hardware info,
# invalidation, replace, dirty tracking, MAP_FILE and dma-bufs, a
# device's PASIDs), end to end: tests/e2e/hwpt_client.c, a program
# written only against the kernel's uAPI headers, run under uiommufd-run
# as Linux 7.2 (every command used as a VMM would, with the kernel's
# answers and errnos) and as Linux 6.2 (none of it there: ENOTTY and
# EOPNOTSUPP). The client prints a TAP line per check; they are numbered
# here. Prints TAP.
#
# BUILD is the build whose uiommufd-run runs the client (default
# build/cc-debug); the client is built here with CC (default: the
# compiler BUILD's name says) and BUILD's sanitizers. WRAP (valgrind,
# from tests/run-tests.sh) runs the client.

cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/e2e_lib.sh
e2e_setup hwpt

# The client's checks in each release: a run that stops early (a crash)
# comes up short of the plan.
checks_7_2=226
checks_6_2=25

echo "TAP version 13"
echo "1..$((1 + 2 + checks_7_2 + checks_6_2))"

client="$tmp/hwpt_client"
e2e_build_client hwpt_client

# client RELEASE CHECKS: run it as RELEASE, number its lines, and check
# that it ran all CHECKS and exited 0.
client() {
	"$run" --kernel="$1" -- $WRAP "$client" "$1" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	awk -v n="$n" -v tag="$1" '
		/^ok - / { n++; print "ok " n " " tag ": " substr($0, 6); next }
		/^not ok - / {
			n++; print "not ok " n " " tag ": " substr($0, 10); next
		}
		/^#/ { print; next }
		{ print "# " $0 }' "$tmp/out"
	ran=$(grep -c '^\(not \)\{0,1\}ok - ' "$tmp/out")
	n=$((n + ran))
	if [ "$rc" -eq 0 ] && [ "$ran" -eq "$2" ]; then
		ok "hwpt_client $1 ran its $2 checks and exited 0"
	else
		{ echo "exit status $rc, $ran checks of $2"; cat "$tmp/err"; } >"$tmp/log"
		nok "hwpt_client $1 ran its $2 checks and exited 0" "$tmp/log"
	fi
}

client 7.2 "$checks_7_2"
client 6.2 "$checks_6_2"
