#!/bin/sh
# vIOMMUs, vdevices and HW queues of Linux 7.2, end to end:
# tests/e2e/viommu_client.c, a program written only against the kernel's
# uAPI headers, run under uiommufd-run as Linux 7.2 (a vIOMMU whose pages
# it mmap()s from the /dev/iommu descriptor through the shim, vdevices,
# a nested HW pagetable on the vIOMMU, cache invalidation, HW queues,
# destroy order, with the kernel's answers and errnos) and as Linux 6.2
# (ENOTTY, and no mmap: ENODEV). The client prints a TAP line per check;
# they are numbered here. Prints TAP.
#
# BUILD is the build whose uiommufd-run runs the client (default
# build/cc-debug); the client is built here with CC (default: the
# compiler BUILD's name says) and BUILD's sanitizers. WRAP (valgrind,
# from tests/run-tests.sh) runs the client.

cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build/cc-debug}
WRAP=${WRAP:-}
run="$BUILD/uiommufd-run"
variant=${BUILD##*/}
case $variant in
*-debug | *-debug-*) mode=debug ;;
*-release | *-release-*) mode=release ;;
*) mode= ;;
esac
ccname=${variant%%-"$mode"*}
[ -n "$mode" ] || ccname=cc
CC=${CC:-$ccname}
if [ -z "${SANITIZE+set}" ] && [ -n "$mode" ]; then
	SANITIZE=$(printf '%s' "${variant#"$ccname-$mode"}" | sed 's/^-//; s/-/,/g')
fi
sanflags=
[ -n "$SANITIZE" ] && sanflags="-fsanitize=$SANITIZE -fno-omit-frame-pointer"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
unset UIOMMUFD_KERNEL UIOMMUFD_CAPS UIOMMUFD_MEMLOCK UIOMMUFD_TRACE

# The client's checks in each release: a run that stops early (a crash)
# comes up short of the plan.
checks_7_2=58
checks_6_2=6

tmp=$(mktemp -d "${TMPDIR:-/tmp}/uiommufd-viommu.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n $1"; }
nok() {
	n=$((n + 1))
	echo "not ok $n $1"
	[ -n "${2:-}" ] && [ -f "$2" ] && sed 's/^/# /' "$2"
	return 0
}

echo "TAP version 13"
echo "1..$((1 + 2 + checks_7_2 + checks_6_2))"

client="$tmp/viommu_client"
# shellcheck disable=SC2086
if $CC -std=gnu11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
	-Wno-unused-parameter -Wno-missing-field-initializers $sanflags \
	-Iinclude -o "$client" tests/e2e/viommu_client.c >"$tmp/cc" 2>&1; then
	ok "viommu_client builds with $CC against the uAPI headers alone"
else
	nok "viommu_client builds with $CC against the uAPI headers alone" "$tmp/cc"
	echo "Bail out! no client"
	exit 1
fi

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
		ok "viommu_client $1 ran its $2 checks and exited 0"
	else
		{ echo "exit status $rc, $ran checks of $2"; cat "$tmp/err"; } >"$tmp/log"
		nok "viommu_client $1 ran its $2 checks and exited 0" "$tmp/log"
	fi
}

client 7.2 "$checks_7_2"
client 6.2 "$checks_6_2"
