#!/bin/sh
# uiommufd-run --trace on what Linux 7.2 added in ABI part 1: every new
# command and test op (the PASID ops included), with their data, decoded
# line by line.
# tests/e2e/trace_client.c (uAPI headers only) runs twice:
#
#  - as 7.2, a run that works (HW info, nesting, invalidation, replace,
#    dirty tracking, MAP_FILE of a memfd and a dma-buf), so outputs are
#    decoded too: out_hwpt_id, the returned hardware info, a descriptor
#    as the result, ...;
#  - as 6.2, which refuses all of it, with odd arguments (unknown flag
#    bits, a short struct, unreadable pointers): inputs alone.
#
# Each expected line below is one test; it must be a line of the trace,
# the library's reason after an errno left out. @NAME@ is a value the
# client printed (ID, address, descriptor) as the trace writes numbers
# (decimal below 10, hex from there), @NAME.d@ in decimal. Fields both
# input and output show IN->OUT: the shim hands the trace the struct
# before the call (trace_ioctl_enter).
# Prints TAP.
#
# BUILD is the build whose uiommufd-run runs the client (default
# build/cc-debug); the client is built here with CC (default: the
# compiler BUILD's name says) and BUILD's sanitizers. The trace runs
# without WRAP: valgrind's own images would take the shim too.

cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/e2e_lib.sh
e2e_setup trace

expect_7_2() {
	cat <<'EOF'
IOMMU_IOAS_ALLOC(@FD.d@, {size=12 flags=0 out_ioas_id=@IOAS@}) = 0
IOMMU_IOAS_MAP(@FD.d@, {size=40 flags=7 ioas_id=@IOAS@ user_va=@BUF@ length=0x10000 iova=0x1000000}) = 0
IOMMU_TEST_CMD(@FD.d@, {size=72 op=MOCK_DOMAIN id=@IOAS.d@ mock_domain.out_stdev_id=@STDEV@ mock_domain.out_hwpt_id=@HWPT@ mock_domain.out_idev_id=@IDEV@}) = 0
IOMMU_GET_HW_INFO(@FD.d@, {size=40 flags=0 dev_id=@IDEV@ data_len=0x10->8 data_uptr=@INFO@ out_data_type=SELFTEST out_max_pasid_log2=0 out_capabilities=DIRTY_TRACKING|PCI_ATS_NOT_SUPPORTED data={flags=0 test_reg=0xdeadbeef}}) = 0
IOMMU_GET_HW_INFO(@FD.d@, {size=40 flags=INPUT_TYPE dev_id=@IDEV@ data_len=4->8 data_uptr=@INFO@ in_data_type=SELFTEST out_data_type=SELFTEST out_max_pasid_log2=0 out_capabilities=DIRTY_TRACKING|PCI_ATS_NOT_SUPPORTED data={flags=0}}) = 0
IOMMU_GET_HW_INFO(@FD.d@, {size=40 flags=INPUT_TYPE dev_id=@IDEV@ data_len=0x10 data_uptr=@INFO@ in_data_type=INTEL_VTD out_max_pasid_log2=0 out_capabilities=0}) = -1 EOPNOTSUPP
IOMMU_HWPT_ALLOC(@FD.d@, {size=48 flags=NEST_PARENT dev_id=@IDEV@ pt_id=@IOAS@ out_hwpt_id=@PARENT@ data_type=NONE data_len=0 data_uptr=0 fault_id=0}) = 0
IOMMU_HWPT_ALLOC(@FD.d@, {size=48 flags=0 dev_id=@IDEV@ pt_id=@PARENT@ out_hwpt_id=@NESTED@ data_type=SELFTEST data_len=8 data_uptr=@NEST@ fault_id=0 data={iotlb=0xbadbeef pagetable_type=DEFAULT}}) = 0
IOMMU_TEST_CMD(@FD.d@, {size=72 op=MD_CHECK_IOTLB id=@NESTED.d@ check_iotlb.id=1 check_iotlb.iotlb=0xbadbeef}) = 0
IOMMU_HWPT_INVALIDATE(@FD.d@, {size=32 hwpt_id=@NESTED@ data_uptr=@INV@ data_type=SELFTEST entry_len=8 entry_num=3->2 entries=[{flags=0 iotlb_id=1} {flags=ALL iotlb_id=0} {flags=0 iotlb_id=4}]}) = -1 EINVAL
IOMMU_HWPT_INVALIDATE(@FD.d@, {size=32 hwpt_id=@NESTED@ data_uptr=@INV@ data_type=SELFTEST entry_len=8 entry_num=6 entries=[{flags=0 iotlb_id=0} {flags=0 iotlb_id=1} {flags=0 iotlb_id=2} {flags=0 iotlb_id=3} +2]}) = 0
IOMMU_TEST_CMD(@FD.d@, {size=72 op=DEV_CHECK_CACHE id=@IDEV.d@ check_dev_cache.id=0 check_dev_cache.cache=0xbaddad}) = 0
IOMMU_TEST_CMD(@FD.d@, {size=72 op=MOCK_DOMAIN_REPLACE id=@STDEV.d@ mock_domain_replace.pt_id=@NESTED@}) = 0
IOMMU_TEST_CMD(@FD.d@, {size=72 op=MOCK_DOMAIN_REPLACE id=@STDEV.d@ mock_domain_replace.pt_id=@IOAS@->@AUTO@}) = 0
IOMMU_TEST_CMD(@FD.d@, {size=72 op=MOCK_DOMAIN_FLAGS id=@IOAS.d@ mock_domain_flags.out_stdev_id=@STDEV2@ mock_domain_flags.out_hwpt_id=@HWPT2@ mock_domain_flags.out_idev_id=@IDEV2@ mock_domain_flags.dev_flags=NO_DIRTY}) = 0
IOMMU_TEST_CMD(@FD.d@, {size=72 op=ACCESS_REPLACE_IOAS id=@ACCESS.d@ access_replace_ioas.ioas_id=@IOAS2@}) = 0
IOMMU_HWPT_ALLOC(@FD.d@, {size=48 flags=DIRTY_TRACKING dev_id=@IDEV@ pt_id=@IOAS@ out_hwpt_id=@DIRTYPT@ data_type=NONE data_len=0 data_uptr=0 fault_id=0}) = 0
IOMMU_HWPT_SET_DIRTY_TRACKING(@FD.d@, {size=16 flags=ENABLE hwpt_id=@DIRTYPT@}) = 0
IOMMU_TEST_CMD(@FD.d@, {size=72 op=DIRTY id=@DIRTYPT.d@ dirty.flags=0 dirty.iova=0x1000000 dirty.length=0x10000 dirty.page_size=0x1000 dirty.uptr=@BITMAP@ dirty.out_nr_dirty=2}) = 0
IOMMU_HWPT_GET_DIRTY_BITMAP(@FD.d@, {size=48 hwpt_id=@DIRTYPT@ flags=NO_CLEAR iova=0x1000000 length=0x10000 page_size=0x1000 data=@BITMAP@}) = 0
IOMMU_HWPT_GET_DIRTY_BITMAP(@FD.d@, {size=48 hwpt_id=@DIRTYPT@ flags=0 iova=0x1000000 length=0x10000 page_size=0x1000 data=@BITMAP@}) = 0
IOMMU_HWPT_SET_DIRTY_TRACKING(@FD.d@, {size=16 flags=0 hwpt_id=@DIRTYPT@}) = 0
IOMMU_IOAS_MAP_FILE(@FD.d@, {size=40 flags=WRITEABLE|READABLE ioas_id=@IOAS@ fd=@MEMFD.d@ start=0 length=0x10000 iova=0->@FILEIOVA@}) = 0
IOMMU_IOAS_MAP_FILE(@FD.d@, {size=40 flags=FIXED_IOVA|READABLE ioas_id=@IOAS@ fd=@MEMFD.d@ start=0x1000 length=0x2000 iova=0x1100000}) = 0
IOMMU_TEST_CMD(@FD.d@, {size=72 op=DMABUF_GET id=0 dmabuf_get.length=0x2000 dmabuf_get.open_flags=0x80000}) = @DMABUF.d@
IOMMU_IOAS_MAP_FILE(@FD.d@, {size=40 flags=FIXED_IOVA|WRITEABLE|READABLE ioas_id=@IOAS@ fd=@DMABUF.d@ start=0 length=0x2000 iova=0x1200000}) = 0
IOMMU_TEST_CMD(@FD.d@, {size=72 op=DMABUF_REVOKE id=0 dmabuf_revoke.dmabuf_fd=@DMABUF.d@ dmabuf_revoke.revoked=1}) = 0
IOMMU_IOAS_MAP_FILE(@FD.d@, {size=40 flags=FIXED_IOVA|WRITEABLE|READABLE ioas_id=@IOAS@ fd=@DMABUF.d@ start=0 length=0x2000 iova=0x1300000}) = -1 ENODEV
IOMMU_HWPT_ALLOC(@FD.d@, {size=48 flags=PASID dev_id=@PIDEV@ pt_id=@IOAS@ out_hwpt_id=@PPT1@ data_type=NONE data_len=0 data_uptr=0 fault_id=0}) = 0
IOMMU_TEST_CMD(@FD.d@, {size=72 op=PASID_ATTACH id=@PSTDEV.d@ pasid_attach.pasid=1 pasid_attach.pt_id=@PPT1@}) = 0
IOMMU_TEST_CMD(@FD.d@, {size=72 op=PASID_ATTACH id=@PSTDEV.d@ pasid_attach.pasid=0 pasid_attach.pt_id=@IOAS@}) = -1 EBUSY
IOMMU_TEST_CMD(@FD.d@, {size=72 op=PASID_REPLACE id=@PSTDEV.d@ pasid_replace.pasid=1 pasid_replace.pt_id=@PPT2@}) = 0
IOMMU_TEST_CMD(@FD.d@, {size=72 op=PASID_CHECK_HWPT id=@PSTDEV.d@ pasid_check.pasid=1 pasid_check.hwpt_id=@PPT2@}) = 0
IOMMU_TEST_CMD(@FD.d@, {size=72 op=PASID_CHECK_HWPT id=@PSTDEV.d@ pasid_check.pasid=1 pasid_check.hwpt_id=0}) = -1 EINVAL
IOMMU_TEST_CMD(@FD.d@, {size=72 op=PASID_ATTACH id=@PSTDEV.d@ pasid_attach.pasid=0x400 pasid_attach.pt_id=@PPT1@}) = 0
IOMMU_TEST_CMD(@FD.d@, {size=72 op=PASID_REPLACE id=@PSTDEV.d@ pasid_replace.pasid=0x400 pasid_replace.pt_id=@PPT2@}) = -1 ENOMEM
IOMMU_TEST_CMD(@FD.d@, {size=72 op=PASID_DETACH id=@PSTDEV.d@ pasid_detach.pasid=0x400}) = 0
IOMMU_TEST_CMD(@FD.d@, {size=72 op=PASID_DETACH id=@PSTDEV.d@ pasid_detach.pasid=1}) = 0
IOMMU_TEST_CMD(@FD.d@, {size=72 op=PASID_REPLACE id=@PSTDEV.d@ pasid_replace.pasid=0 pasid_replace.pt_id=@IOAS@->@PAUTO@}) = 0
IOMMU_TEST_CMD(@FD.d@, {size=72 op=PASID_DETACH id=@PSTDEV.d@ pasid_detach.pasid=0}) = 0
IOMMU_TEST_CMD(@FD.d@, {size=72 op=PASID_ATTACH id=@PSTDEV.d@ pasid_attach.pasid=0 pasid_attach.pt_id=@IOAS@->@PAUTO2@}) = 0
IOMMU_DESTROY(@FD.d@, {size=8 id=@PARENT@}) = -1 EBUSY
EOF
}

# Refused by 6.2: what the program passed is all there is to decode.
expect_6_2() {
	cat <<'EOF'
IOMMU_HWPT_ALLOC(@FD.d@, {size=48 flags=NEST_PARENT|DIRTY_TRACKING|0x100 dev_id=7 pt_id=0xc out_hwpt_id=0 data_type=SELFTEST data_len=8 data_uptr=@NEST@ fault_id=3 data={iotlb=0xbadbeef pagetable_type=HUGE}}) = -1 ENOTTY
IOMMU_HWPT_ALLOC(@FD.d@, {size=48 flags=NEST_PARENT|DIRTY_TRACKING|0x100 dev_id=7 pt_id=0xc out_hwpt_id=0 data_type=SELFTEST data_len=4 data_uptr=@NEST@ fault_id=3 data={iotlb=0xbadbeef}}) = -1 ENOTTY
IOMMU_HWPT_ALLOC(@FD.d@, {size=48 flags=FAULT_ID_VALID|PASID dev_id=7 pt_id=0xc out_hwpt_id=0 data_type=SELFTEST data_len=8 data_uptr=0x10 fault_id=3 data={?}}) = -1 ENOTTY
IOMMU_HWPT_ALLOC(@FD.d@, {size=24 flags=FAULT_ID_VALID|PASID dev_id=7 pt_id=0xc out_hwpt_id=0}) = -1 ENOTTY
IOMMU_HWPT_ALLOC(@FD.d@, {size=48 flags=0 dev_id=7 pt_id=0xc out_hwpt_id=0 data_type=VTD_S1 data_len=8 data_uptr=0x10 fault_id=3}) = -1 ENOTTY
IOMMU_GET_HW_INFO(@FD.d@, {size=40 flags=INPUT_TYPE|0x2 dev_id=5 data_len=8 data_uptr=@INFO@ in_data_type=AMD out_max_pasid_log2=0 out_capabilities=0}) = -1 ENOTTY
IOMMU_GET_HW_INFO(@FD.d@, {size=40 flags=0 dev_id=5 data_len=0 data_uptr=0 out_max_pasid_log2=0 out_capabilities=0}) = -1 ENOTTY
IOMMU_HWPT_SET_DIRTY_TRACKING(@FD.d@, {size=16 flags=ENABLE hwpt_id=9}) = -1 ENOTTY
IOMMU_HWPT_SET_DIRTY_TRACKING(@FD.d@, {size=16 flags=0 hwpt_id=0xa}) = -1 ENOTTY
IOMMU_HWPT_GET_DIRTY_BITMAP(@FD.d@, {size=48 hwpt_id=0xb flags=NO_CLEAR iova=0x1000000 length=0x10000 page_size=0x1000 data=@INFO@}) = -1 ENOTTY
IOMMU_HWPT_INVALIDATE(@FD.d@, {size=32 hwpt_id=0xc data_uptr=@INV@ data_type=SELFTEST entry_len=8 entry_num=2 entries=[{flags=ALL|0x2 iotlb_id=3} {flags=0 iotlb_id=2}]}) = -1 ENOTTY
IOMMU_HWPT_INVALIDATE(@FD.d@, {size=32 hwpt_id=0xc data_uptr=@INV@ data_type=VTD_S1 entry_len=8 entry_num=2}) = -1 ENOTTY
IOMMU_HWPT_INVALIDATE(@FD.d@, {size=32 hwpt_id=0xc data_uptr=0x10 data_type=SELFTEST entry_len=8 entry_num=1 entries=[{?}]}) = -1 ENOTTY
IOMMU_IOAS_MAP_FILE(@FD.d@, {size=40 flags=FIXED_IOVA|WRITEABLE|READABLE ioas_id=1 fd=42 start=0x1000 length=0x10000 iova=0x1000000}) = -1 ENOTTY
IOMMU_IOAS_MAP_FILE(@FD.d@, {size=40 flags=WRITEABLE|READABLE ioas_id=1 fd=-1 start=0 length=0x10000 iova=0}) = -1 ENOTTY
IOMMU_TEST_CMD(@FD.d@, {size=72 op=MOCK_DOMAIN_REPLACE id=2 mock_domain_replace.pt_id=5}) = -1 EOPNOTSUPP
IOMMU_TEST_CMD(@FD.d@, {size=72 op=ACCESS_REPLACE_IOAS id=4 access_replace_ioas.ioas_id=0xb}) = -1 EOPNOTSUPP
IOMMU_TEST_CMD(@FD.d@, {size=72 op=MOCK_DOMAIN_FLAGS id=1 mock_domain_flags.out_stdev_id=0 mock_domain_flags.out_hwpt_id=0 mock_domain_flags.out_idev_id=0 mock_domain_flags.dev_flags=NO_DIRTY|PASID|0x2}) = -1 EOPNOTSUPP
IOMMU_TEST_CMD(@FD.d@, {size=72 op=DIRTY id=6 dirty.flags=0 dirty.iova=0x1000000 dirty.length=0x10000 dirty.page_size=0x1000 dirty.uptr=@INFO@ dirty.out_nr_dirty=0}) = -1 EOPNOTSUPP
IOMMU_TEST_CMD(@FD.d@, {size=72 op=MD_CHECK_IOTLB id=6 check_iotlb.id=2 check_iotlb.iotlb=0xbadbeef}) = -1 EOPNOTSUPP
IOMMU_TEST_CMD(@FD.d@, {size=72 op=DEV_CHECK_CACHE id=3 check_dev_cache.id=3 check_dev_cache.cache=0xbaddad}) = -1 EOPNOTSUPP
IOMMU_TEST_CMD(@FD.d@, {size=72 op=DMABUF_GET id=0 dmabuf_get.length=0x2000 dmabuf_get.open_flags=0x80000}) = -1 EOPNOTSUPP
IOMMU_TEST_CMD(@FD.d@, {size=72 op=DMABUF_REVOKE id=0 dmabuf_revoke.dmabuf_fd=-1 dmabuf_revoke.revoked=1}) = -1 EOPNOTSUPP
IOMMU_TEST_CMD(@FD.d@, {size=72 op=TRIGGER_IOPF id=0 trigger_iopf.dev_id=0 trigger_iopf.pasid=0 trigger_iopf.grpid=0 trigger_iopf.perm=0 trigger_iopf.addr=0}) = -1 EOPNOTSUPP
IOMMU_TEST_CMD(@FD.d@, {size=72 op=PASID_ATTACH id=2 pasid_attach.pasid=0x400 pasid_attach.pt_id=5}) = -1 EOPNOTSUPP
IOMMU_TEST_CMD(@FD.d@, {size=72 op=PASID_REPLACE id=2 pasid_replace.pasid=0xfffff pasid_replace.pt_id=5}) = -1 EOPNOTSUPP
IOMMU_TEST_CMD(@FD.d@, {size=72 op=PASID_DETACH id=2 pasid_detach.pasid=0}) = -1 EOPNOTSUPP
IOMMU_TEST_CMD(@FD.d@, {size=72 op=PASID_CHECK_HWPT id=3 pasid_check.pasid=7 pasid_check.hwpt_id=5}) = -1 EOPNOTSUPP
EOF
}

plan=$(( 4 + $(expect_7_2 | wc -l) + $(expect_6_2 | wc -l) ))
echo "TAP version 13"
echo "1..$plan"

client="$tmp/trace_client"
e2e_build_client trace_client

# A sed script turning the client's "NAME value" lines into the trace's
# spelling of each value.
values() {
	while read -r name value; do
		if [ "$value" -ge 0 ] && [ "$value" -lt 10 ]; then
			t=$value
		else
			t=$(printf '%#x' "$value")
		fi
		echo "s/@$name@/$t/g; s/@$name\\.d@/$value/g"
	done
}

# check RELEASE EXPECT-FUNCTION: run the client as RELEASE under --trace
# and look for each expected line.
check() {
	release=$1
	"$run" --kernel="$release" --trace="$tmp/trace-$release" -- \
		"$client" "$release" >"$tmp/vars-$release" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -eq 0 ] && [ -s "$tmp/trace-$release" ]; then
		ok "trace_client $release runs under uiommufd-run --kernel=$release --trace"
	else
		{ echo "exit status $rc"; cat "$tmp/err"; } >"$tmp/log"
		nok "trace_client $release runs under uiommufd-run --kernel=$release --trace" "$tmp/log"
	fi
	values <"$tmp/vars-$release" >"$tmp/sed-$release"
	sed -E 's/ = -1 ([A-Z0-9]+) \(.*\)$/ = -1 \1/' "$tmp/trace-$release" \
		>"$tmp/lines-$release"
	$2 >"$tmp/want-$release"
	while IFS= read -r want; do
		line=$(printf '%s\n' "$want" | sed -f "$tmp/sed-$release")
		if grep -Fxq -- "$line" "$tmp/lines-$release"; then
			ok "$release: $want"
		else
			# the calls of the same command, to compare with
			op=$(printf '%s\n' "$line" | grep -o ' op=[A-Z_0-9]* ')
			{ echo "expected: $line"
			  grep -F -- "${line%%, \{*}, {size=" "$tmp/lines-$release" |
				grep -F -- "$op" | sed 's/^/     got: /' | head -n 20
			} >"$tmp/log"
			nok "$release: $want" "$tmp/log"
		fi
	done <"$tmp/want-$release"
}

check 7.2 expect_7_2
check 6.2 expect_6_2

if grep -q 'entry_num=3->2 ' "$tmp/lines-7.2"; then
	ok "in/out fields show IN->OUT"
else
	nok "in/out fields show IN->OUT" "$tmp/lines-7.2"
fi
