#!/bin/sh
# One client, two kernel releases: tests/e2e/release_client.c, a program
# written only against the kernel's uAPI, run under uiommufd-run as Linux
# 6.2 and as Linux 7.2 (by --kernel=, by "--kernel RELEASE", by
# UIOMMUFD_KERNEL, and by default) gets each release's answers, compared
# line by line with the ones written down here. Then --caps (RLIMIT_MODE
# SET needs sys_resource), --memlock (a map over the limit is ENOMEM, at
# the 17th page of a 64K limit), bad option and environment values (exit
# 2, a message, the program not run), and --trace's first line. Prints TAP.
#
# BUILD is the build whose uiommufd-run runs the client (default
# build/cc-debug); the client is built here with CC (default: the
# compiler BUILD's name says) and BUILD's sanitizers. WRAP (valgrind, from
# tests/run-tests.sh) runs the client.

cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/e2e_lib.sh
e2e_setup release

echo "TAP version 13"
echo "1..29"

client="$tmp/release_client"
e2e_build_client release_client

# ---- what each release answers ----

# Both releases: 0x80-0x88 and the test command are there (size 0 is
# below their minimum) and test ops 1-9 work. Under 6.2, 0x89-0x94 are
# not there (ENOTTY, whatever the size) nor are ops 10-23; under 7.2 the
# commands and ops built so far answer as the kernel's would given zeroed
# arguments (no such object, length 0, ...), the others as under 6.2.
# common PART: the lines both releases print.
common() {
	case $1 in
	head) cat <<'EOF'
IOMMU_DESTROY (0x80), size 0: EINVAL
IOMMU_IOAS_ALLOC (0x81), size 0: EINVAL
IOMMU_IOAS_ALLOW_IOVAS (0x82), size 0: EINVAL
IOMMU_IOAS_COPY (0x83), size 0: EINVAL
IOMMU_IOAS_IOVA_RANGES (0x84), size 0: EINVAL
IOMMU_IOAS_MAP (0x85), size 0: EINVAL
IOMMU_IOAS_UNMAP (0x86), size 0: EINVAL
IOMMU_OPTION (0x87), size 0: EINVAL
IOMMU_VFIO_IOAS (0x88), size 0: EINVAL
EOF
	;;
	mid) cat <<'EOF'
IOMMU_TEST_CMD (0xa0), size 0: EINVAL
test op 1 (ADD_RESERVED): ok
test op 2 (MOCK_DOMAIN): ok
test op 3 (MD_CHECK_MAP): ok
test op 4 (MD_CHECK_REFS): ok
test op 5 (CREATE_ACCESS): ok
test op 6 (DESTROY_ACCESS_PAGES): ok
test op 7 (ACCESS_PAGES): ok
test op 8 (ACCESS_RW): ok
test op 9 (SET_TEMP_MEMORY_LIMIT): ok
EOF
	;;
	tail) cat <<'EOF'
IOMMU_TEST_CMD of 51 bytes: EINVAL
EOF
	;;
	esac
}

probes_6_2() {
	common head
	cat <<'EOF'
IOMMU_HWPT_ALLOC (0x89), size 0: ENOTTY
IOMMU_HWPT_ALLOC, size 48: ENOTTY
IOMMU_GET_HW_INFO (0x8a), size 0: ENOTTY
IOMMU_GET_HW_INFO, size 40: ENOTTY
IOMMU_HWPT_SET_DIRTY_TRACKING (0x8b), size 0: ENOTTY
IOMMU_HWPT_SET_DIRTY_TRACKING, size 16: ENOTTY
IOMMU_HWPT_GET_DIRTY_BITMAP (0x8c), size 0: ENOTTY
IOMMU_HWPT_GET_DIRTY_BITMAP, size 48: ENOTTY
IOMMU_HWPT_INVALIDATE (0x8d), size 0: ENOTTY
IOMMU_HWPT_INVALIDATE, size 32: ENOTTY
IOMMU_FAULT_QUEUE_ALLOC (0x8e), size 0: ENOTTY
IOMMU_FAULT_QUEUE_ALLOC, size 16: ENOTTY
IOMMU_IOAS_MAP_FILE (0x8f), size 0: ENOTTY
IOMMU_IOAS_MAP_FILE, size 40: ENOTTY
IOMMU_VIOMMU_ALLOC (0x90), size 0: ENOTTY
IOMMU_VIOMMU_ALLOC, size 40: ENOTTY
IOMMU_VDEVICE_ALLOC (0x91), size 0: ENOTTY
IOMMU_VDEVICE_ALLOC, size 24: ENOTTY
IOMMU_IOAS_CHANGE_PROCESS (0x92), size 0: ENOTTY
IOMMU_IOAS_CHANGE_PROCESS, size 8: ENOTTY
IOMMU_VEVENTQ_ALLOC (0x93), size 0: ENOTTY
IOMMU_VEVENTQ_ALLOC, size 32: ENOTTY
IOMMU_HW_QUEUE_ALLOC (0x94), size 0: ENOTTY
IOMMU_HW_QUEUE_ALLOC, size 40: ENOTTY
EOF
	common mid
	cat <<'EOF'
test op 10: EOPNOTSUPP
test op 11: EOPNOTSUPP
test op 12: EOPNOTSUPP
test op 13: EOPNOTSUPP
test op 14: EOPNOTSUPP
test op 15: EOPNOTSUPP
test op 16: EOPNOTSUPP
test op 17: EOPNOTSUPP
test op 18: EOPNOTSUPP
test op 19: EOPNOTSUPP
test op 20: EOPNOTSUPP
test op 21: EOPNOTSUPP
test op 22: EOPNOTSUPP
test op 23: EOPNOTSUPP
test op 24: EOPNOTSUPP
EOF
	common tail
}

probes_7_2() {
	common head
	cat <<'EOF'
IOMMU_HWPT_ALLOC (0x89), size 0: EINVAL
IOMMU_HWPT_ALLOC, size 48: ENOENT
IOMMU_GET_HW_INFO (0x8a), size 0: EINVAL
IOMMU_GET_HW_INFO, size 40: ENOENT
IOMMU_HWPT_SET_DIRTY_TRACKING (0x8b), size 0: EINVAL
IOMMU_HWPT_SET_DIRTY_TRACKING, size 16: ENOENT
IOMMU_HWPT_GET_DIRTY_BITMAP (0x8c), size 0: EINVAL
IOMMU_HWPT_GET_DIRTY_BITMAP, size 48: ENOENT
IOMMU_HWPT_INVALIDATE (0x8d), size 0: EINVAL
IOMMU_HWPT_INVALIDATE, size 32: ENOENT
IOMMU_FAULT_QUEUE_ALLOC (0x8e), size 0: EINVAL
IOMMU_FAULT_QUEUE_ALLOC, size 16: ok
IOMMU_IOAS_MAP_FILE (0x8f), size 0: EINVAL
IOMMU_IOAS_MAP_FILE, size 40: EINVAL
IOMMU_VIOMMU_ALLOC (0x90), size 0: EINVAL
IOMMU_VIOMMU_ALLOC, size 40: EOPNOTSUPP
IOMMU_VDEVICE_ALLOC (0x91), size 0: EINVAL
IOMMU_VDEVICE_ALLOC, size 24: ENOENT
IOMMU_IOAS_CHANGE_PROCESS (0x92), size 0: EINVAL
IOMMU_IOAS_CHANGE_PROCESS, size 8: ok
IOMMU_VEVENTQ_ALLOC (0x93), size 0: EINVAL
IOMMU_VEVENTQ_ALLOC, size 32: EOPNOTSUPP
IOMMU_HW_QUEUE_ALLOC (0x94), size 0: EINVAL
IOMMU_HW_QUEUE_ALLOC, size 40: EOPNOTSUPP
EOF
	common mid
	cat <<'EOF'
test op 10: ENOENT
test op 11: errno 77
test op 12: ok
test op 13: EINVAL
test op 14: ENOENT
test op 15: ENOENT
test op 16: ENOENT
test op 17: ENOENT
test op 18: ENOENT
test op 19: ENOENT
test op 20: ENOENT
test op 21: ENOENT
test op 22: EINVAL
test op 23: EINVAL
test op 24: EOPNOTSUPP
EOF
	common tail
}

# Linux 6.2: the 56-byte test command (from 52; the 72-byte one reads as
# 56 with a zero tail), a HW pagetable of the device's own, kept after it
# and destroyed by the caller, no out_idev_id, MOCK_DOMAIN only on an
# IOAS, no SYZ flag, and IOAS_COPY makes a copy without protection.
expect_6_2() {
	probes_6_2
	cat <<'EOF'
IOMMU_TEST_CMD of 52 bytes: ok
IOMMU_TEST_CMD of 56 bytes: ok
IOMMU_TEST_CMD of 57 bytes: ok
IOMMU_TEST_CMD of 67 bytes: ok
IOMMU_TEST_CMD of 68 bytes: ok
IOMMU_TEST_CMD of 72 bytes: ok
IOMMU_TEST_CMD of 73 bytes: ok
IOMMU_TEST_CMD of 80 bytes: ok
IOMMU_TEST_CMD of 57 bytes, byte 56 not zero: E2BIG
IOMMU_TEST_CMD of 72 bytes, byte 64 not zero: E2BIG
IOMMU_TEST_CMD of 73 bytes, byte 72 not zero: E2BIG
MOCK_DOMAIN out_idev_id: left alone
MOCK_DOMAIN twice on one IOAS: two HW pagetables
MOCK_DOMAIN on a HW pagetable: ENOENT
destroying the HW pagetable under its device: EBUSY
destroying the HW pagetable after its device: ok
destroying the IOAS after both: ok
ACCESS_PAGES with SYZ {area 1, page 2}: EOPNOTSUPP
ACCESS_RW with SYZ {area 1, page 1 + 8}: EOPNOTSUPP
IOAS_COPY with SYZ {area 1, page 1}: EOPNOTSUPP
IOAS_COPY without protection, no such IOAS: ENOENT
IOAS_COPY without protection: ok
  in the mock domain: yes
  pinned for writing: EPERM
  pinned for reading: EPERM
  written through ACCESS_RW: EPERM
  buf unchanged: yes
  unmapped: ok
EOF
}

# Linux 7.2: the 72-byte test command (from 68), one auto HW pagetable
# shared and gone with its last device, out_idev_id written, MOCK_DOMAIN
# on a HW pagetable, SYZ reaching the area it names, and IOAS_COPY
# without protection EINVAL before any IOAS is looked up.
expect_7_2() {
	probes_7_2
	cat <<'EOF'
IOMMU_TEST_CMD of 52 bytes: EINVAL
IOMMU_TEST_CMD of 56 bytes: EINVAL
IOMMU_TEST_CMD of 57 bytes: EINVAL
IOMMU_TEST_CMD of 67 bytes: EINVAL
IOMMU_TEST_CMD of 68 bytes: ok
IOMMU_TEST_CMD of 72 bytes: ok
IOMMU_TEST_CMD of 73 bytes: ok
IOMMU_TEST_CMD of 80 bytes: ok
IOMMU_TEST_CMD of 57 bytes, byte 56 not zero: EINVAL
IOMMU_TEST_CMD of 72 bytes, byte 64 not zero: ok
IOMMU_TEST_CMD of 73 bytes, byte 72 not zero: E2BIG
MOCK_DOMAIN out_idev_id: written
MOCK_DOMAIN twice on one IOAS: one HW pagetable
MOCK_DOMAIN on a HW pagetable: ok
destroying the HW pagetable under its device: EBUSY
destroying the HW pagetable after its device: ENOENT
destroying the IOAS after both: ok
ACCESS_PAGES with SYZ {area 1, page 2}: ok
  pins buf page 10: yes
ACCESS_RW with SYZ {area 1, page 1 + 8}: ok
  reads buf page 9: yes
IOAS_COPY with SYZ {area 1, page 1}: ok
  copies buf pages 9-10: yes
IOAS_COPY without protection, no such IOAS: EINVAL
IOAS_COPY without protection: EINVAL
  the IOVA is free: yes
EOF
}

expect_6_2 >"$tmp/want-6.2"
expect_7_2 >"$tmp/want-7.2"

# release WHAT [env VAR=VALUE...] -- uiommufd-run options...: the client's
# answers against release WHAT's, as test WHAT.
release() {
	want=$1
	what=$2
	shift 2
	"$@" -- $WRAP "$client" release >"$tmp/got" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -eq 0 ] && diff -u "$tmp/want-$want" "$tmp/got" >"$tmp/diff" 2>&1; then
		ok "$what"
	else
		{ echo "exit status $rc"; cat "$tmp/diff" "$tmp/err"; } >"$tmp/log"
		nok "$what" "$tmp/log"
	fi
}

release 6.2 "--kernel=6.2: Linux 6.2's answers" "$run" --kernel=6.2
release 7.2 "--kernel=7.2: Linux 7.2's answers" "$run" --kernel=7.2
release 6.2 "--kernel 6.2 (two words): Linux 6.2's answers" "$run" --kernel 6.2
release 6.2 "--kernel=v6.2.16: Linux 6.2's answers" "$run" --kernel=v6.2.16
release 6.2 "UIOMMUFD_KERNEL=6.2 in the environment: Linux 6.2's answers" \
	env UIOMMUFD_KERNEL=6.2 "$run"
release 7.2 "UIOMMUFD_KERNEL=6.2 with --kernel=7.2: the option wins" \
	env UIOMMUFD_KERNEL=6.2 "$run" --kernel=7.2
release 7.2 "no option, no UIOMMUFD_KERNEL: the newest, 7.2" "$run"

# ---- --caps ----

# answers WHAT EXPECTED-FILE-TEXT CLIENT-MODE -- uiommufd-run options...
answers() {
	what=$1
	printf '%s\n' "$2" >"$tmp/want"
	mode_=$3
	shift 3
	"$@" -- $WRAP "$client" "$mode_" >"$tmp/got" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -eq 0 ] && diff -u "$tmp/want" "$tmp/got" >"$tmp/diff" 2>&1; then
		ok "$what"
	else
		{ echo "exit status $rc"; cat "$tmp/diff" "$tmp/err"; } >"$tmp/log"
		nok "$what" "$tmp/log"
	fi
}

eperm='RLIMIT_MODE SET 1: EPERM
RLIMIT_MODE GET: 0'
set_ok='RLIMIT_MODE SET 1: ok
RLIMIT_MODE GET: 1'
answers "--caps=none: RLIMIT_MODE SET is EPERM, the mode stays 0" "$eperm" \
	rlimit "$run" --caps=none
answers "--caps=ipc_lock: still EPERM" "$eperm" rlimit "$run" --caps=ipc_lock
answers "--caps=sys_resource: RLIMIT_MODE SET works" "$set_ok" \
	rlimit "$run" --caps=sys_resource
answers "--caps=all under either release: RLIMIT_MODE SET works" "$set_ok" \
	rlimit "$run" --kernel=6.2 --caps=all
answers "UIOMMUFD_CAPS=none in the environment: EPERM" "$eperm" \
	rlimit env UIOMMUFD_CAPS=none "$run"

# ---- --memlock ----

over='map 15 pages: ok
map the 16th page: ok
map the 17th page: ENOMEM
unmap the 16th page: ok
map the 17th page again: ok
map 15 pages more: ENOMEM'
all_ok='map 15 pages: ok
map the 16th page: ok
map the 17th page: ok
unmap the 16th page: ok
map the 17th page again: ok
map 15 pages more: ok'
answers "--memlock=64K --caps=none: the 17th page is ENOMEM, an unmap makes room" \
	"$over" memlock "$run" --memlock=64K --caps=none
answers "--memlock=unlimited --caps=none: every page maps" "$all_ok" \
	memlock "$run" --memlock=unlimited --caps=none
answers "--memlock=64K --caps=ipc_lock: nothing is charged, every page maps" \
	"$all_ok" memlock "$run" --memlock=64K --caps=ipc_lock
answers "UIOMMUFD_MEMLOCK=64K UIOMMUFD_CAPS=none: the 17th page is ENOMEM" \
	"$over" memlock env UIOMMUFD_MEMLOCK=64K UIOMMUFD_CAPS=none "$run"

# ---- bad values: exit 2, a message naming what is wrong, not run ----

# bad WHAT MESSAGE-PATTERN command...: the command (uiommufd-run with its
# options, the program last) exits 2 with MESSAGE-PATTERN on stderr and
# the program never runs.
bad() {
	what=$1
	pattern=$2
	shift 2
	rm -f "$tmp/ran"
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -eq 2 ] && [ ! -e "$tmp/ran" ] &&
	   grep -q -- "$pattern" "$tmp/err"; then
		ok "$what"
	else
		{ echo "exit status $rc"; [ -e "$tmp/ran" ] && echo "the program ran"
		  cat "$tmp/err"; } >"$tmp/log"
		nok "$what" "$tmp/log"
	fi
}

ran="touch $tmp/ran"
bad "--kernel=6.3: exit 2, a message naming 6.3 and the releases there are" \
	'^uiommufd-run: --kernel: .*6\.2 or 7\.2.*6\.3' \
	"$run" --kernel=6.3 -- sh -c "$ran"
bad "--kernel=junk: exit 2, a message" \
	'^uiommufd-run: --kernel: .*"junk" is not a kernel release' \
	"$run" --kernel=junk -- sh -c "$ran"
bad "--caps=ipc_lock,bogus: exit 2, a message naming bogus" \
	'^uiommufd-run: --caps: .*"bogus"' \
	"$run" --caps=ipc_lock,bogus -- sh -c "$ran"
bad "--memlock=12Q: exit 2, a message naming 12Q" \
	'^uiommufd-run: --memlock: .*"12Q"' \
	"$run" --memlock=12Q -- sh -c "$ran"
bad "--memlock=16777216T (past 64 bits): exit 2, a message" \
	'^uiommufd-run: --memlock: .*too large' \
	"$run" --memlock=16777216T -- sh -c "$ran"
bad "--kernel with no value: exit 2, a message" \
	'^uiommufd-run: --kernel needs a value' "$run" --kernel
bad "UIOMMUFD_KERNEL=6.3 in the environment: exit 2, a message naming it" \
	'^uiommufd-run: UIOMMUFD_KERNEL: .*6\.3' \
	env UIOMMUFD_KERNEL=6.3 "$run" -- sh -c "$ran"
bad "UIOMMUFD_CAPS=bogus in the environment: exit 2, a message naming it" \
	'^uiommufd-run: UIOMMUFD_CAPS: .*"bogus"' \
	env UIOMMUFD_CAPS=bogus "$run" -- sh -c "$ran"
bad "UIOMMUFD_MEMLOCK=12Q in the environment: exit 2, a message naming it" \
	'^uiommufd-run: UIOMMUFD_MEMLOCK: .*"12Q"' \
	env UIOMMUFD_MEMLOCK=12Q "$run" -- sh -c "$ran"

# ---- --trace's first line ----
# (Not under WRAP: valgrind's own exec'd images take the shim too, and each
# image that does starts the trace anew.)

"$run" --trace="$tmp/trace" --kernel=6.2 --caps=none --memlock=64M -- \
	"$client" rlimit >/dev/null 2>"$tmp/err"
rc=$?
first=$(head -n 1 "$tmp/trace" 2>/dev/null)
if [ "$rc" -eq 0 ] &&
   [ "$first" = "uiommufd: Linux 6.2, capabilities none, memlock 64M" ] &&
   sed -n 2p "$tmp/trace" | grep -q '^open("/dev/iommu", .*) = [0-9]'; then
	ok "--trace=FILE starts with the release, capabilities and memlock given"
else
	{ echo "exit status $rc"; cat "$tmp/trace" "$tmp/err"; } >"$tmp/log" 2>&1
	nok "--trace=FILE starts with the release, capabilities and memlock given" "$tmp/log"
fi

"$run" --trace -- "$client" rlimit >/dev/null 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 0 ] &&
   head -n 1 "$tmp/err" |
	grep -q '^uiommufd: Linux 7\.2 (the newest), capabilities [^,]*, memlock .*$' &&
   sed -n 2p "$tmp/err" | grep -q '^open("/dev/iommu", .*) = [0-9]'; then
	ok "--trace alone starts with \"uiommufd: Linux 7.2 (the newest), capabilities ..., memlock ...\""
else
	{ echo "exit status $rc"; cat "$tmp/err"; } >"$tmp/log"
	nok "--trace alone starts with \"uiommufd: Linux 7.2 (the newest), capabilities ..., memlock ...\"" "$tmp/log"
fi

# ---- --releases: the release table, a row a line ----

"$run" --releases >"$tmp/rows" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ] &&
   grep -q '^6\.2 *IOMMU_IOAS_MAP$' "$tmp/rows" &&
   grep -q '^7\.2 *IOMMU_IOAS_MAP and IOMMU_IOAS_COPY need READABLE or WRITEABLE (' "$tmp/rows" &&
   [ "$(grep -vc '^[67]\.2 ' "$tmp/rows")" = 0 ]; then
	ok "--releases prints the release table and exits 0"
else
	{ echo "exit status $rc"; cat "$tmp/rows" "$tmp/err"; } >"$tmp/log"
	nok "--releases prints the release table and exits 0" "$tmp/log"
fi
