#!/bin/sh
# vIOMMUs, vdevices, vEVENTQs and HW queues of Linux 7.2, end to end:
# tests/e2e/viommu_client.c, a program written only against the kernel's
# uAPI headers, run under uiommufd-run as Linux 7.2 (a vIOMMU whose pages
# it mmap()s from the /dev/iommu descriptor through the shim, vdevices,
# a nested HW pagetable on the vIOMMU, cache invalidation, events read
# from a vEVENTQ, HW queues, destroy order, with the kernel's answers and
# errnos) and as Linux 6.2 (ENOTTY, EOPNOTSUPP, and no mmap: ENODEV). The
# client prints a TAP line per check; they are numbered here. Then both
# runs again under --trace, whose lines for mmap and munmap, vIOMMU
# invalidation entries, the vEVENTQ and its reads are checked in order.
# Prints TAP.
#
# BUILD is the build whose uiommufd-run runs the client (default
# build/cc-debug); the client is built here with CC (default: the
# compiler BUILD's name says) and BUILD's sanitizers. WRAP (valgrind,
# from tests/run-tests.sh) runs the client, but not under --trace.

cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/e2e_lib.sh
e2e_setup viommu

# The client's checks in each release: a run that stops early (a crash)
# comes up short of the plan.
checks_7_2=78
checks_6_2=8

# What --trace shows of the same runs, in order: mmap and munmap of the
# vIOMMU's region (munmaps of other memory are not shown), invalidation
# entries in the vIOMMU's layout, the vEVENTQ and the events read from
# it. Descriptors show as @FD@, addresses as @PTR@; IDs are the
# library's, lowest free first.
trace_7_2() {
	cat <<'EOF'
IOMMU_VIOMMU_ALLOC(@FD@, {size=40 flags=0 type=SELFTEST dev_id=3 hwpt_id=7 out_viommu_id=8 data_len=0x18 data_uptr=@PTR@ data={in_data=0xfeedf00d out_data=0xfeedf00d out_mmap_offset=0x1000 out_mmap_length=0x2000}}) = 0
mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_SHARED, @FD@, 0x1000) = @PTR@
mmap(NULL, 8192, PROT_READ, MAP_SHARED, @FD@, 0x1000) = @PTR@
mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, @FD@, 0x1000) = -1 EINVAL (the iommufd regions map only MAP_SHARED)
mmap(NULL, 8192, PROT_READ|PROT_EXEC, MAP_SHARED, @FD@, 0x1000) = -1 EPERM (the iommufd regions are not executable)
mmap(NULL, 8192, PROT_READ, MAP_SHARED, @FD@, 0) = -1 ENXIO (no region at offset 0)
mmap(NULL, 4096, PROT_READ, MAP_SHARED, @FD@, 0x1000) = -1 ENXIO (the region at offset 0x1000 is 0x2000 bytes at 0x1000)
IOMMU_HWPT_INVALIDATE(@FD@, {size=32 hwpt_id=8 data_uptr=@PTR@ data_type=SELFTEST entry_len=0xc entry_num=2 entries=[{flags=0 vdev_id=0x10 cache_id=2} {flags=ALL vdev_id=0x20 cache_id=0}]}) = 0
IOMMU_HWPT_INVALIDATE(@FD@, {size=32 hwpt_id=8 data_uptr=@PTR@ data_type=SELFTEST entry_len=0xc entry_num=2->0 entries=[{flags=0 vdev_id=0x30 cache_id=2} {flags=ALL vdev_id=0x20 cache_id=0}]}) = -1 EINVAL (invalidation entry 0: vIOMMU 8 has no vdevice 48)
IOMMU_VEVENTQ_ALLOC(@FD@, {size=32 flags=0 viommu_id=8 type=SELFTEST veventq_depth=2 out_veventq_id=0xc out_veventq_fd=@FD@}) = 0
IOMMU_VEVENTQ_ALLOC(@FD@, {size=32 flags=0 viommu_id=8 type=SELFTEST veventq_depth=2 out_veventq_id=0 out_veventq_fd=0}) = -1 EEXIST (vIOMMU 8 already has a vEVENTQ of type 0xbeefbeef)
IOMMU_TEST_CMD(@FD@, {size=72 op=TRIGGER_VEVENT id=0 trigger_vevent.dev_id=3}) = 0
read(@FD@, @PTR@, 4) = -1 EINVAL (4 bytes cannot hold a 8-byte vEVENT header)
read(@FD@, @PTR@, 8) = -1 EINVAL (8 bytes cannot hold the first vEVENT (12 bytes))
read(@FD@, [{flags=0 sequence=0 virt_id=0x10}], 64) = 12
read(@FD@, [], 64) = 0
mmap(NULL, 4096, PROT_READ, MAP_SHARED, @FD@, 0) = -1 ENODEV (the descriptor has no mmap)
read(@FD@, [{flags=0 sequence=1 virt_id=0x10} {flags=0 sequence=2 virt_id=0x10} {flags=LOST_EVENTS sequence=3}], 64) = 32
read(@FD@, [{flags=0 sequence=4 virt_id=0x10}], 64) = 12
close(@FD@) = 0
IOMMU_DESTROY(@FD@, {size=8 id=0xc}) = 0
mremap(@PTR@, 8192, 12288, MREMAP_MAYMOVE) = -1 EFAULT (a region's mapping moves or shrinks from within one mapping, and never grows)
mremap(@PTR@, 8192, 8192, MREMAP_MAYMOVE|MREMAP_FIXED, @PTR@) = @PTR@
munmap(@PTR@, 4096) = -1 EINVAL (no reason)
munmap(@PTR@, 8192) = 0
munmap(@PTR@, 4096) = 0
munmap(@PTR@, 4096) = 0
mmap(NULL, 8192, PROT_READ, MAP_SHARED, @FD@, 0x1000) = -1 ENXIO (no region at offset 0x1000)
mmap(NULL, 8192, PROT_READ, MAP_SHARED, @FD@, 0x1000) = @PTR@
close(@FD@) = 0
munmap(@PTR@, 8192) = 0
EOF
}

trace_6_2() {
	cat <<'EOF'
IOMMU_VEVENTQ_ALLOC(@FD@, {size=32 flags=0 viommu_id=1 type=SELFTEST veventq_depth=2 out_veventq_id=0 out_veventq_fd=0}) = -1 ENOTTY (IOMMU_VEVENTQ_ALLOC came after Linux 6.2)
IOMMU_TEST_CMD(@FD@, {size=72 op=TRIGGER_VEVENT id=0 trigger_vevent.dev_id=2}) = -1 EOPNOTSUPP (no test op 17 in Linux 6.2)
mmap(NULL, 8192, PROT_READ, MAP_SHARED, @FD@, 0x1000) = -1 ENODEV (/dev/iommu had no mmap in Linux 6.2)
EOF
}

echo "TAP version 13"
echo "1..$((1 + 2 + checks_7_2 + checks_6_2 + 2 + \
	$(trace_7_2 | wc -l) + $(trace_6_2 | wc -l)))"

client="$tmp/viommu_client"
e2e_build_client viommu_client

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

# trace RELEASE EXPECT-FUNCTION: the client as RELEASE under --trace
# (without WRAP: valgrind's own images would take the shim too), its
# lines looked for in order.
trace() {
	"$run" --kernel="$1" --trace="$tmp/trace-$1" -- "$client" "$1" \
		>"$tmp/out" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ] && ! grep -q '^not ok' "$tmp/out"; then
		ok "viommu_client $1 runs under --trace"
	else
		echo "exit status $rc" >>"$tmp/out"
		nok "viommu_client $1 runs under --trace" "$tmp/out"
	fi
	# Descriptor numbers and addresses change from run to run.
	sed -E 's/^([A-Za-z_0-9]+)\([0-9]+([,)])/\1(@FD@\2/
		s/out_veventq_fd=[1-9][0-9]*/out_veventq_fd=@FD@/
		s/0x[0-9a-f]{9,}/@PTR@/g
		s/^(mmap\(.*, )[0-9]+(, [0-9a-fx]+\) = )/\1@FD@\2/' \
		"$tmp/trace-$1" >"$tmp/masked"
	$2 >"$tmp/want"
	e2e_in_order "$tmp/masked" <"$tmp/want"
}

trace 7.2 trace_7_2
trace 6.2 trace_6_2
