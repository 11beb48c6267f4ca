#!/bin/sh
# uiommufd-run --trace on fault queues: IOMMU_FAULT_QUEUE_ALLOC and
# TRIGGER_IOPF decoded, and what is read from and written to the fault
# queue's descriptor shown record by record, with the errno and the
# library's reason of every refusal. Runs two tests of
# tests/e2e/test_shim_fault.c under the trace and checks its lines, in
# order (stack addresses and descriptor numbers masked); readv and
# writev show as one read or write per vector. Prints TAP.
#
# BUILD is the build to use (default build/cc-debug). The trace runs
# without WRAP: valgrind's own images would take the shim too.

cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/e2e_lib.sh
e2e_setup ftrace

expect() {
	cat <<'EOF2'
IOMMU_FAULT_QUEUE_ALLOC(@FD@, {size=16 flags=0 out_fault_id=5 out_fault_fd=@FD@}) = 0
IOMMU_HWPT_ALLOC(@FD@, {size=48 flags=FAULT_ID_VALID dev_id=3 pt_id=1 out_hwpt_id=6 data_type=NONE data_len=0 data_uptr=0 fault_id=5}) = 0
read(@FD@, [], 160) = 0
IOMMU_TEST_CMD(@FD@, {size=72 op=TRIGGER_IOPF id=0 trigger_iopf.dev_id=3 trigger_iopf.pasid=0 trigger_iopf.grpid=7 trigger_iopf.perm=READ trigger_iopf.addr=0x7000}) = 0
read(@FD@, @PTR@, 41) = -1 ESPIPE (a fault queue reads whole 40-byte records, not 41 bytes)
read(@FD@, @PTR@, 0) = -1 EINVAL (0 bytes cannot hold the first fault group (1 record))
read(@FD@, 0x10, 40) = -1 EFAULT (cannot write 40 bytes of the read buffer at 0x10)
read(@FD@, [{flags=LAST_PAGE dev_id=3 pasid=0 grpid=7 perm=READ addr=0x7000 length=0 cookie=1} {flags=LAST_PAGE dev_id=3 pasid=0 grpid=8 perm=READ addr=0x8000 length=0 cookie=2}], 160) = 80
write(@FD@, @PTR@, 7) = -1 ESPIPE (a fault queue takes whole 8-byte responses, not 7 bytes)
write(@FD@, [{cookie=2 code=SUCCESS} {cookie=1 code=INVALID}], 16) = 16
write(@FD@, @PTR@, 8) = -1 EINVAL (response 0: no fault read awaits cookie 2)
read(@FD@, [{flags=LAST_PAGE dev_id=3 pasid=0 grpid=0 perm=READ addr=0 length=0 cookie=1}], 40) = 40
read(@FD@, @PTR@, 41) = -1 ESPIPE (a fault queue reads whole 40-byte records, not 41 bytes)
read(@FD@, [{flags=LAST_PAGE dev_id=3 pasid=0 grpid=2 perm=READ addr=0 length=0 cookie=3}], 80) = 40
write(@FD@, [{cookie=1 code=SUCCESS}], 8) = 8
write(@FD@, [{cookie=2 code=SUCCESS} {cookie=3 code=SUCCESS}], 16) = 16
EOF2
}

echo "TAP version 13"
echo "1..$((1 + $(expect | wc -l)))"
"$run" --trace="$tmp/trace" -- \
	"$BUILD/tests/e2e/test_shim_fault" -t read_write_poll \
	-t readv_writev_per_vector >"$tmp/out" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
	ok "test_shim_fault ran under --trace"
else
	echo "exit status $rc" >>"$tmp/out"
	nok "test_shim_fault ran under --trace" "$tmp/out"
fi
# Descriptor numbers and stack addresses change from run to run.
sed -E 's/^([A-Za-z_]+)\([0-9]+,/\1(@FD@,/; s/out_fault_fd=[0-9]+/out_fault_fd=@FD@/; s/0x7f[0-9a-f]{8,}/@PTR@/g' \
	"$tmp/trace" >"$tmp/masked"
expect | e2e_in_order "$tmp/masked"
