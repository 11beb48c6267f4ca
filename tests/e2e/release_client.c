// SPDX-License-Identifier: MIT
/*
 * A /dev/iommu client written only against the kernel's uAPI (and the
 * test module's), like examples/iommufd_demo.c: it links nothing of
 * uiommufd. It issues the same calls whatever answers them and reports
 * what it saw, one "what: answer" line per probe, so that
 * tests/e2e/check-release.sh can run it under uiommufd-run --kernel=6.2
 * and --kernel=7.2 and compare with each release's answers.
 *
 *   release_client release   commands, test ops, the test command's
 *                            sizes, MOCK_DOMAIN, the SYZ flag, IOAS_COPY
 *                            without protection
 *   release_client rlimit    IOMMU_OPTION RLIMIT_MODE SET (CAP_SYS_RESOURCE)
 *   release_client memlock   maps up to 16 pages, then a 17th, with a
 *                            mock domain so every page is pinned
 *
 * Exits 0 once every probe ran (answers are for the checker to judge),
 * 1 when something a probe needs could not be set up.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uiommufd/iommufd_test_uapi.h>
#include <uiommufd/iommufd_uapi.h>

#define PAGE 4096UL
#define P(n) ((uint64_t)(n) * PAGE)
#define BASE MOCK_APERTURE_START
#define BUF_PAGES 32
#define MAP_RW (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)
#define MAP_FIXED_RW (MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA)
#define SENTINEL 0xdeadbeefu

static int iommufd;
static uint8_t *buf;	/* BUF_PAGES pages, page i filled with i + 1 */

static const char *err_name(int err)
{
	static char other[16];

	switch (err) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case EINVAL: return "EINVAL";
	case ENOTTY: return "ENOTTY";
	case ENOMEM: return "ENOMEM";
	case E2BIG: return "E2BIG";
	case ERANGE: return "ERANGE";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EOVERFLOW: return "EOVERFLOW";
	case EADDRINUSE: return "EADDRINUSE";
	case EIO: return "EIO";
	}
	snprintf(other, sizeof(other), "errno %d", err);
	return other;
}

/* What an ioctl's result says: "ok", or the errno's name. */
static const char *answer(int rc)
{
	return rc ? err_name(errno) : "ok";
}

static void die(const char *what)
{
	fprintf(stderr, "release_client: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* ---- commands ---- */

static uint32_t ioas_alloc(void)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };

	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &cmd))
		die("IOMMU_IOAS_ALLOC");
	return cmd.out_ioas_id;
}

static int destroy(uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return ioctl(iommufd, IOMMU_DESTROY, &cmd);
}

static int map(uint32_t ioas, void *va, uint64_t length, uint64_t iova,
	       uint32_t flags)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.ioas_id = ioas,
		.user_va = (uintptr_t)va,
		.length = length,
		.iova = iova,
	};

	return ioctl(iommufd, IOMMU_IOAS_MAP, &cmd);
}

static int unmap(uint32_t ioas, uint64_t iova, uint64_t length)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas,
		.iova = iova,
		.length = length,
	};

	return ioctl(iommufd, IOMMU_IOAS_UNMAP, &cmd);
}

static int copy(uint32_t dst, uint32_t src, uint64_t src_iova,
		uint64_t length, uint64_t dst_iova, uint32_t flags)
{
	struct iommu_ioas_copy cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.dst_ioas_id = dst,
		.src_ioas_id = src,
		.length = length,
		.dst_iova = dst_iova,
		.src_iova = src_iova,
	};

	return ioctl(iommufd, IOMMU_IOAS_COPY, &cmd);
}

/* ---- the test command, in today's 72-byte layout ---- */

static int test_cmd(struct iommu_test_cmd *cmd)
{
	cmd->size = sizeof(*cmd);
	return ioctl(iommufd, IOMMU_TEST_CMD, cmd);
}

/* *idev is the word at out_idev_id afterwards; it goes in as SENTINEL. */
static int mock_domain(uint32_t pt_id, uint32_t *stdev, uint32_t *hwpt,
		       uint32_t *idev)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = pt_id,
		.mock_domain = { .out_idev_id = SENTINEL },
	};
	int rc = test_cmd(&cmd);

	if (!rc) {
		if (stdev)
			*stdev = cmd.mock_domain.out_stdev_id;
		if (hwpt)
			*hwpt = cmd.mock_domain.out_hwpt_id;
		if (idev)
			*idev = cmd.mock_domain.out_idev_id;
	}
	return rc;
}

static int check_map(uint32_t hwpt, uint64_t iova, uint64_t length,
		     const void *uptr)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MD_CHECK_MAP,
		.id = hwpt,
		.check_map = { .iova = iova, .length = length,
			       .uptr = (uintptr_t)uptr },
	};

	return test_cmd(&cmd);
}

static int check_refs(const void *uptr, uint64_t length, uint32_t refs)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MD_CHECK_REFS,
		.check_refs = { .length = length, .uptr = (uintptr_t)uptr,
				.refs = refs },
	};

	return test_cmd(&cmd);
}

static int create_access(uint32_t ioas, uint32_t flags, int *fd)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_CREATE_ACCESS,
		.id = ioas,
		.create_access = { .flags = flags },
	};
	int rc = test_cmd(&cmd);

	if (!rc)
		*fd = cmd.create_access.out_access_fd;
	return rc;
}

static int access_pages(int fd, uint64_t iova, uint64_t length,
			const void *uptr, uint32_t flags, uint32_t *item)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_ACCESS_PAGES,
		.id = fd,
		.access_pages = { .flags = flags, .iova = iova,
				  .length = length, .uptr = (uintptr_t)uptr },
	};
	int rc = test_cmd(&cmd);

	if (!rc && item)
		*item = cmd.access_pages.out_access_pages_id;
	return rc;
}

static int destroy_access_pages(int fd, uint32_t item)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_DESTROY_ACCESS_PAGES,
		.id = fd,
		.destroy_access_pages = { .access_pages_id = item },
	};

	return test_cmd(&cmd);
}

static int access_rw(int fd, uint64_t iova, void *data, uint64_t length,
		     uint32_t flags)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_ACCESS_RW,
		.id = fd,
		.access_rw = { .iova = iova, .length = length,
			       .uptr = (uintptr_t)data, .flags = flags },
	};

	return test_cmd(&cmd);
}

/* MOCK_FLAGS_ACCESS_SYZ's IOVA: {u32 nth_area, u32 offset}, little end. */
static uint64_t syz(uint32_t nth_area, uint32_t offset)
{
	return (uint64_t)offset << 32 | nth_area;
}

/* ---- release ---- */

static const struct {
	unsigned long request;
	const char *name;
	uint32_t size;
} commands[] = {
	{ IOMMU_DESTROY, "IOMMU_DESTROY", sizeof(struct iommu_destroy) },
	{ IOMMU_IOAS_ALLOC, "IOMMU_IOAS_ALLOC",
	  sizeof(struct iommu_ioas_alloc) },
	{ IOMMU_IOAS_ALLOW_IOVAS, "IOMMU_IOAS_ALLOW_IOVAS",
	  sizeof(struct iommu_ioas_allow_iovas) },
	{ IOMMU_IOAS_COPY, "IOMMU_IOAS_COPY", sizeof(struct iommu_ioas_copy) },
	{ IOMMU_IOAS_IOVA_RANGES, "IOMMU_IOAS_IOVA_RANGES",
	  sizeof(struct iommu_ioas_iova_ranges) },
	{ IOMMU_IOAS_MAP, "IOMMU_IOAS_MAP", sizeof(struct iommu_ioas_map) },
	{ IOMMU_IOAS_UNMAP, "IOMMU_IOAS_UNMAP",
	  sizeof(struct iommu_ioas_unmap) },
	{ IOMMU_OPTION, "IOMMU_OPTION", sizeof(struct iommu_option) },
	{ IOMMU_VFIO_IOAS, "IOMMU_VFIO_IOAS", sizeof(struct iommu_vfio_ioas) },
	{ IOMMU_HWPT_ALLOC, "IOMMU_HWPT_ALLOC",
	  sizeof(struct iommu_hwpt_alloc) },
	{ IOMMU_GET_HW_INFO, "IOMMU_GET_HW_INFO",
	  sizeof(struct iommu_hw_info) },
	{ IOMMU_HWPT_SET_DIRTY_TRACKING, "IOMMU_HWPT_SET_DIRTY_TRACKING",
	  sizeof(struct iommu_hwpt_set_dirty_tracking) },
	{ IOMMU_HWPT_GET_DIRTY_BITMAP, "IOMMU_HWPT_GET_DIRTY_BITMAP",
	  sizeof(struct iommu_hwpt_get_dirty_bitmap) },
	{ IOMMU_HWPT_INVALIDATE, "IOMMU_HWPT_INVALIDATE",
	  sizeof(struct iommu_hwpt_invalidate) },
	{ IOMMU_FAULT_QUEUE_ALLOC, "IOMMU_FAULT_QUEUE_ALLOC",
	  sizeof(struct iommu_fault_alloc) },
	{ IOMMU_IOAS_MAP_FILE, "IOMMU_IOAS_MAP_FILE",
	  sizeof(struct iommu_ioas_map_file) },
	{ IOMMU_VIOMMU_ALLOC, "IOMMU_VIOMMU_ALLOC",
	  sizeof(struct iommu_viommu_alloc) },
	{ IOMMU_VDEVICE_ALLOC, "IOMMU_VDEVICE_ALLOC",
	  sizeof(struct iommu_vdevice_alloc) },
	{ IOMMU_IOAS_CHANGE_PROCESS, "IOMMU_IOAS_CHANGE_PROCESS",
	  sizeof(struct iommu_ioas_change_process) },
	{ IOMMU_VEVENTQ_ALLOC, "IOMMU_VEVENTQ_ALLOC",
	  sizeof(struct iommu_veventq_alloc) },
	{ IOMMU_HW_QUEUE_ALLOC, "IOMMU_HW_QUEUE_ALLOC",
	  sizeof(struct iommu_hw_queue_alloc) },
	{ IOMMU_TEST_CMD, "IOMMU_TEST_CMD", sizeof(struct iommu_test_cmd) },
};

/*
 * Size 0 is below every command's minimum: EINVAL if the command is
 * there, ENOTTY if not. The size of its struct, zeroed, shows whether a
 * missing command stays missing given a plausible argument.
 */
static void probe_commands(void)
{
	union {
		uint8_t bytes[512];
		uint64_t align;
	} arg;

	for (unsigned int i = 0; i != sizeof(commands) / sizeof(commands[0]);
	     i++) {
		int rc;

		memset(&arg, 0, sizeof(arg));
		rc = ioctl(iommufd, commands[i].request, &arg);
		printf("%s (%#x), size 0: %s\n", commands[i].name,
		       (unsigned int)_IOC_NR(commands[i].request), answer(rc));
		if (_IOC_NR(commands[i].request) < 0x89 ||
		    commands[i].request == IOMMU_TEST_CMD ||
		    commands[i].size > sizeof(arg))
			continue;
		memset(&arg, 0, sizeof(arg));
		memcpy(arg.bytes, &commands[i].size, sizeof(uint32_t));
		rc = ioctl(iommufd, commands[i].request, &arg);
		printf("%s, size %u: %s\n", commands[i].name, commands[i].size,
		       answer(rc));
	}
}

/* Ops 1-9, each used as a program would; 10-23 named and nothing else. */
static void probe_test_ops(void)
{
	static const char *const names[] = {
		[IOMMU_TEST_OP_ADD_RESERVED] = "ADD_RESERVED",
		[IOMMU_TEST_OP_MOCK_DOMAIN] = "MOCK_DOMAIN",
		[IOMMU_TEST_OP_MD_CHECK_MAP] = "MD_CHECK_MAP",
		[IOMMU_TEST_OP_MD_CHECK_REFS] = "MD_CHECK_REFS",
		[IOMMU_TEST_OP_CREATE_ACCESS] = "CREATE_ACCESS",
		[IOMMU_TEST_OP_DESTROY_ACCESS_PAGES] = "DESTROY_ACCESS_PAGES",
		[IOMMU_TEST_OP_ACCESS_PAGES] = "ACCESS_PAGES",
		[IOMMU_TEST_OP_ACCESS_RW] = "ACCESS_RW",
		[IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT] = "SET_TEMP_MEMORY_LIMIT",
	};
	struct iommu_test_cmd cmd;
	uint32_t ioas = ioas_alloc(), hwpt = 0, item = 0;
	uint8_t data[16];
	int err[10] = { 0 }, fd = -1;

#define RUN(op, call) (err[op] = (call) ? errno : 0)

	memset(&cmd, 0, sizeof(cmd));
	cmd.op = IOMMU_TEST_OP_ADD_RESERVED;
	cmd.id = ioas;
	cmd.add_reserved.start = BASE + P(1024);
	cmd.add_reserved.length = P(1);
	RUN(1, test_cmd(&cmd));
	RUN(2, mock_domain(ioas, NULL, &hwpt, NULL));
	if (map(ioas, buf, P(4), BASE, MAP_FIXED_RW))
		die("IOMMU_IOAS_MAP");
	RUN(3, check_map(hwpt, BASE, P(4), buf));
	RUN(4, check_refs(buf, P(4), 1));
	RUN(5, create_access(ioas, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
			     &fd));
	RUN(7, access_pages(fd, BASE + P(1), P(1), buf + P(1), 0, &item));
	RUN(6, destroy_access_pages(fd, item));
	RUN(8, access_rw(fd, BASE + P(2), data, sizeof(data), 0));
	memset(&cmd, 0, sizeof(cmd));
	cmd.op = IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT;
	cmd.memory_limit.limit = 65536;
	RUN(9, test_cmd(&cmd));
	for (unsigned int op = 1; op <= 9; op++)
		printf("test op %u (%s): %s\n", op, names[op],
		       err[op] ? err_name(err[op]) : "ok");
	if (fd >= 0)
		close(fd);

	for (uint32_t op = 10; op <= 24; op++) {
		memset(&cmd, 0, sizeof(cmd));
		cmd.op = op;
		cmd.id = ioas;
		printf("test op %u: %s\n", op, answer(test_cmd(&cmd)));
	}
#undef RUN
}

/* SET_TEMP_MEMORY_LIMIT with @size bytes; byte @poke (if >= 0) is 1. */
static void probe_test_cmd_size(uint32_t size, int poke)
{
	union {
		struct iommu_test_cmd cmd;
		uint8_t bytes[96];
	} b;

	memset(&b, 0, sizeof(b));
	b.cmd.size = size;
	b.cmd.op = IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT;
	b.cmd.memory_limit.limit = 65536;
	if (poke >= 0)
		b.bytes[poke] = 1;
	if (poke >= 0)
		printf("IOMMU_TEST_CMD of %u bytes, byte %d not zero: %s\n",
		       size, poke, answer(ioctl(iommufd, IOMMU_TEST_CMD, &b)));
	else
		printf("IOMMU_TEST_CMD of %u bytes: %s\n", size,
		       answer(ioctl(iommufd, IOMMU_TEST_CMD, &b)));
}

static void probe_test_cmd_sizes(void)
{
	static const uint32_t sizes[] = { 51, 52, 56, 57, 67, 68, 72, 73, 80 };

	for (unsigned int i = 0; i != sizeof(sizes) / sizeof(sizes[0]); i++)
		probe_test_cmd_size(sizes[i], -1);
	probe_test_cmd_size(57, 56);
	probe_test_cmd_size(72, 64);
	probe_test_cmd_size(73, 72);
}

static void probe_mock_domain(void)
{
	uint32_t ioas = ioas_alloc(), ioas2 = ioas_alloc();
	uint32_t stdev1 = 0, stdev2 = 0, hwpt1 = 0, hwpt2 = 0, idev = 0;
	int rc;

	if (mock_domain(ioas, &stdev1, &hwpt1, &idev) ||
	    mock_domain(ioas, &stdev2, &hwpt2, NULL))
		die("MOCK_DOMAIN");
	printf("MOCK_DOMAIN out_idev_id: %s\n",
	       idev == SENTINEL ? "left alone" : "written");
	printf("MOCK_DOMAIN twice on one IOAS: %s\n",
	       hwpt1 == hwpt2 ? "one HW pagetable" : "two HW pagetables");
	rc = mock_domain(hwpt1, NULL, NULL, NULL);
	printf("MOCK_DOMAIN on a HW pagetable: %s\n", answer(rc));

	/* One device alone on an IOAS, then destroyed. */
	if (mock_domain(ioas2, &stdev1, &hwpt1, NULL))
		die("MOCK_DOMAIN");
	printf("destroying the HW pagetable under its device: %s\n",
	       answer(destroy(hwpt1)));
	if (destroy(stdev1))
		die("IOMMU_DESTROY");
	printf("destroying the HW pagetable after its device: %s\n",
	       answer(destroy(hwpt1)));
	printf("destroying the IOAS after both: %s\n", answer(destroy(ioas2)));
}

/*
 * MOCK_FLAGS_ACCESS_SYZ: area 0 maps buf pages 0-3 at BASE, area 1 pages
 * 8-11 at BASE + 64 pages; {1, offset} names area 1 only.
 */
static void probe_syz(void)
{
	uint32_t ioas = ioas_alloc(), dst = ioas_alloc(), hwpt = 0, item = 0;
	uint8_t data[32];
	int fd = -1, rc;

	if (map(ioas, buf, P(4), BASE, MAP_FIXED_RW) ||
	    map(ioas, buf + P(8), P(4), BASE + P(64), MAP_FIXED_RW) ||
	    mock_domain(dst, NULL, &hwpt, NULL) ||
	    create_access(ioas, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, &fd))
		die("the SYZ world");

	/* The pinned page is checked against buf page 10. */
	rc = access_pages(fd, syz(1, P(2)), P(1), buf + P(10),
			  MOCK_FLAGS_ACCESS_SYZ, &item);
	printf("ACCESS_PAGES with SYZ {area 1, page 2}: %s\n", answer(rc));
	if (!rc) {
		printf("  pins buf page 10: %s\n",
		       check_refs(buf + P(10), P(1), 1) ? "no" : "yes");
		destroy_access_pages(fd, item);
	}

	memset(data, 0, sizeof(data));
	rc = access_rw(fd, syz(1, P(1) + 8), data, sizeof(data),
		       MOCK_FLAGS_ACCESS_SYZ);
	printf("ACCESS_RW with SYZ {area 1, page 1 + 8}: %s\n", answer(rc));
	if (!rc)
		printf("  reads buf page 9: %s\n",
		       memcmp(data, buf + P(9) + 8, sizeof(data)) ? "no" :
								    "yes");

	rc = copy(dst, ioas, syz(1, P(1)), P(2), BASE + P(256),
		  MAP_FIXED_RW | MOCK_FLAGS_ACCESS_SYZ);
	printf("IOAS_COPY with SYZ {area 1, page 1}: %s\n", answer(rc));
	if (!rc)
		printf("  copies buf pages 9-10: %s\n",
		       check_map(hwpt, BASE + P(256), P(2), buf + P(9)) ?
			       "no" : "yes");
	close(fd);
}

/* IOAS_COPY with neither READABLE nor WRITEABLE. */
static void probe_copy_without_protection(void)
{
	uint32_t src = ioas_alloc(), dst = ioas_alloc(), hwpt = 0, item = 0;
	uint64_t dst_iova = BASE + P(128);
	uint8_t data[32];
	int fd = -1, rc;

	if (map(src, buf, P(4), BASE, MAP_FIXED_RW) ||
	    mock_domain(dst, NULL, &hwpt, NULL) ||
	    create_access(dst, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, &fd))
		die("the copy world");
	printf("IOAS_COPY without protection, no such IOAS: %s\n",
	       answer(copy(9999, 9998, BASE, P(4), dst_iova,
			   IOMMU_IOAS_MAP_FIXED_IOVA)));
	rc = copy(dst, src, BASE, P(4), dst_iova, IOMMU_IOAS_MAP_FIXED_IOVA);
	printf("IOAS_COPY without protection: %s\n", answer(rc));
	if (!rc) {
		printf("  in the mock domain: %s\n",
		       check_map(hwpt, dst_iova, P(4), buf) ? "no" : "yes");
		printf("  pinned for writing: %s\n",
		       answer(access_pages(fd, dst_iova, P(1), buf,
					   MOCK_FLAGS_ACCESS_WRITE, &item)));
		rc = access_pages(fd, dst_iova + P(1), P(1), buf + P(1), 0,
				  &item);
		printf("  pinned for reading: %s\n", answer(rc));
		if (!rc)
			destroy_access_pages(fd, item);
		memset(data, 0, sizeof(data));
		printf("  written through ACCESS_RW: %s\n",
		       answer(access_rw(fd, dst_iova, data, sizeof(data),
					MOCK_ACCESS_RW_WRITE)));
		printf("  buf unchanged: %s\n", buf[0] == 1 ? "yes" : "no");
		printf("  unmapped: %s\n",
		       answer(unmap(dst, dst_iova, P(4))));
	} else {
		printf("  the IOVA is free: %s\n",
		       unmap(dst, dst_iova, P(4)) && errno == ENOENT ? "yes" :
								       "no");
	}
	close(fd);
}

/* ---- rlimit ---- */

static void probe_rlimit(void)
{
	struct iommu_option cmd = {
		.size = sizeof(cmd),
		.option_id = IOMMU_OPTION_RLIMIT_MODE,
		.op = IOMMU_OPTION_OP_SET,
		.val64 = 1,
	};

	printf("RLIMIT_MODE SET 1: %s\n",
	       answer(ioctl(iommufd, IOMMU_OPTION, &cmd)));
	cmd.op = IOMMU_OPTION_OP_GET;
	cmd.val64 = 99;
	if (ioctl(iommufd, IOMMU_OPTION, &cmd))
		die("RLIMIT_MODE GET");
	printf("RLIMIT_MODE GET: %llu\n", (unsigned long long)cmd.val64);
}

/* ---- memlock ---- */

static void probe_memlock(void)
{
	uint32_t ioas = ioas_alloc();
	int rc;

	if (mock_domain(ioas, NULL, NULL, NULL))
		die("MOCK_DOMAIN");
	printf("map 15 pages: %s\n",
	       answer(map(ioas, buf, P(15), BASE, MAP_FIXED_RW)));
	printf("map the 16th page: %s\n",
	       answer(map(ioas, buf + P(15), P(1), BASE + P(15),
			  MAP_FIXED_RW)));
	rc = map(ioas, buf + P(16), P(1), BASE + P(16), MAP_FIXED_RW);
	printf("map the 17th page: %s\n", answer(rc));
	/* Taken back, so the next steps are the same either way. */
	if (!rc && unmap(ioas, BASE + P(16), P(1)))
		die("IOMMU_IOAS_UNMAP");
	printf("unmap the 16th page: %s\n",
	       answer(unmap(ioas, BASE + P(15), P(1))));
	printf("map the 17th page again: %s\n",
	       answer(map(ioas, buf + P(16), P(1), BASE + P(16),
			  MAP_FIXED_RW)));
	printf("map 15 pages more: %s\n",
	       answer(map(ioas, buf + P(17), P(15), BASE + P(17),
			  MAP_FIXED_RW)));
}

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "release";

	setvbuf(stdout, NULL, _IOLBF, 0);
	buf = mmap(NULL, P(BUF_PAGES), PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap");
	for (unsigned int i = 0; i != BUF_PAGES; i++)
		memset(buf + P(i), i + 1, PAGE);
	iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (iommufd < 0)
		die("/dev/iommu");

	if (!strcmp(what, "release")) {
		probe_commands();
		probe_test_ops();
		probe_test_cmd_sizes();
		probe_mock_domain();
		probe_syz();
		probe_copy_without_protection();
	} else if (!strcmp(what, "rlimit")) {
		probe_rlimit();
	} else if (!strcmp(what, "memlock")) {
		probe_memlock();
	} else {
		fprintf(stderr,
			"usage: release_client [release|rlimit|memlock]\n");
		return 2;
	}
	if (close(iommufd))
		die("close");
	return 0;
}
