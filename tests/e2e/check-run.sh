#!/bin/sh
# uiommufd-run end to end: the demo runs unmodified under the shim and
# says what it did; --trace decodes its calls; programs the shim cannot
# enter are refused, not run without it; exit statuses and signals come
# through.
BUILD=${BUILD:-build}
run="$BUILD/uiommufd-run"
demo="$BUILD/examples/iommufd_demo"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n $1"; }
nok() { n=$((n + 1)); echo "not ok $n $1"; [ -f "$2" ] && sed 's/^/# /' "$2"; }

echo "TAP version 13"
echo "1..7"

if "$run" -- $WRAP "$demo" >"$tmp/out" 2>&1 &&
   grep -q 'our memory now says "hello from the device"' "$tmp/out" &&
   grep -q 'nothing is pinned any more' "$tmp/out"; then
	ok "the demo runs under uiommufd-run"
else
	nok "the demo runs under uiommufd-run" "$tmp/out"
fi

if "$run" --trace="$tmp/trace" -- "$demo" >/dev/null 2>&1 &&
   grep -q '^open("/dev/iommu", .*) = [0-9]' "$tmp/trace" &&
   grep -q '^IOMMU_IOAS_MAP([0-9]*, {size=40 .*) = 0$' "$tmp/trace" &&
   grep -q '^IOMMU_TEST_CMD([0-9]*, {size=72 op=DESTROY_ACCESS_PAGES .*) = -1 ENOENT (.*)$' "$tmp/trace" &&
   grep -q '^IOMMU_DESTROY([0-9]*, {size=8 id=[0-9]*}) = -1 EBUSY (.*)$' "$tmp/trace"; then
	ok "--trace=FILE decodes calls, results, errnos and reasons"
else
	nok "--trace=FILE decodes calls, results, errnos and reasons" "$tmp/trace"
fi

if "$run" --trace -- "$demo" 2>"$tmp/err" >/dev/null &&
   grep -q '^IOMMU_IOAS_ALLOC(' "$tmp/err"; then
	ok "--trace alone writes to standard error"
else
	nok "--trace alone writes to standard error" "$tmp/err"
fi

"$run" -- sh -c 'exit 7' >/dev/null 2>&1
rc=$?
if [ "$rc" -eq 7 ]; then
	ok "the program's exit status comes through"
else
	echo "# got $rc"
	nok "the program's exit status comes through"
fi

"$run" -- sh -c 'kill -TERM $$' >/dev/null 2>&1
rc=$?
if [ "$rc" -eq 143 ]; then
	ok "a signal that killed the program kills uiommufd-run the same way"
else
	echo "# got $rc"
	nok "a signal that killed the program kills uiommufd-run the same way"
fi

# A statically linked program cannot take the shim: refused, not run.
if command -v cc >/dev/null 2>&1 &&
   printf 'int main(void){return 0;}\n' >"$tmp/s.c" &&
   cc -static -o "$tmp/static" "$tmp/s.c" 2>/dev/null; then
	"$run" -- "$tmp/static" >/dev/null 2>"$tmp/err"
	rc=$?
	if [ "$rc" -eq 126 ] && grep -q 'statically linked' "$tmp/err"; then
		ok "a statically linked program is refused with a reason"
	else
		echo "# got $rc"
		nok "a statically linked program is refused with a reason" "$tmp/err"
	fi
else
	n=$((n + 1))
	echo "ok $n a statically linked program is refused # SKIP no static libc"
fi

UIOMMUFD_PRELOAD="$tmp/missing.so" "$run" -- true >/dev/null 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 127 ] && grep -q 'missing' "$tmp/err"; then
	ok "a missing shim is reported, and the program not run"
else
	echo "# got $rc"
	nok "a missing shim is reported, and the program not run" "$tmp/err"
fi
