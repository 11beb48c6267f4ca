// SPDX-License-Identifier: MIT
/*
 * Every command through the preload path: a program that knows only the
 * kernel's ABI opens /dev/iommu (or /dev/vfio/vfio) and issues each
 * iommufd command, each IOMMU_TEST_CMD op 1-9 and each VFIO type1
 * container request, once the way that works and once the way that fails
 * with the kernel's errno. Also the ioctl edges: a request passed as an
 * int (or with garbage above bit 31), ioctls on descriptors that are not
 * iommufd (a pipe, /dev/null, an access or fail-nth file, a closed
 * number) and bad pointers at every level of a command.
 *
 * Runs under uiommufd-run only; it links neither the library nor the shim.
 */
#include <sys/stat.h>

#include "e2e/e2e_utils.h"

#define BUF_PAGES 16
#define BUF_LEN (BUF_PAGES * PAGE_SZ)

/* A context with an IOAS, a mock domain on it and a mapped buffer. */
struct world {
	int fd;
	uint32_t ioas, stdev, hwpt;
	char *buf;
	uint64_t iova;
};

static void world_init(struct world *w, bool with_domain, bool with_map)
{
	w->fd = open_iommu();
	ASSERT_GE(w->fd, 0);
	ASSERT_EQ(0, ioas_alloc(w->fd, &w->ioas));
	if (with_domain)
		ASSERT_EQ(0, mock_domain(w->fd, w->ioas, &w->stdev, &w->hwpt));
	w->buf = e2e_buffer(BUF_LEN);
	ASSERT_NONNULL(w->buf);
	/* Inside the mock aperture, so a domain can be attached later. */
	w->iova = MOCK_APERTURE_START;
	if (with_map)
		ASSERT_EQ(0, ioas_map(w->fd, w->ioas, w->buf, BUF_LEN,
				      &w->iova, MAP_FIXED_RW));
}

TEST(shim_is_active)
{
	uint32_t ioas = 0;
	struct stat st;
	int fd = -1;

	/* The host has no /dev/iommu: only the shim can answer this. */
	fd = open("/dev/iommu", O_RDWR);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(1, ioas);
	/* A real descriptor, so fstat, poll and close behave. */
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(0, close(fd));

	fd = open("/dev/vfio/vfio", O_RDWR);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(1, ioas);
	ASSERT_EQ(0, close(fd));
}

/* ---- the iommufd commands ---- */

TEST(cmd_destroy)
{
	struct world w;

	world_init(&w, true, false);
	ASSERT_ERRNO(ENOENT, destroy(w.fd, 0));
	ASSERT_ERRNO(ENOENT, destroy(w.fd, 1000));
	/* A device is attached: the IOAS is busy until the device goes. */
	ASSERT_ERRNO(EBUSY, destroy(w.fd, w.ioas));
	ASSERT_EQ(0, destroy(w.fd, w.stdev));
	ASSERT_EQ(0, destroy(w.fd, w.ioas));
	ASSERT_ERRNO(ENOENT, destroy(w.fd, w.ioas));
	ASSERT_EQ(0, close(w.fd));
}

TEST(cmd_ioas_alloc)
{
	struct {
		struct iommu_ioas_alloc cmd;
		uint8_t extra[4];
	} big = {};
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd), .flags = 1 };
	uint32_t id1 = 0, id2 = 0;
	int fd = open_iommu();

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioas_alloc(fd, &id1));
	ASSERT_EQ(0, ioas_alloc(fd, &id2));
	ASSERT_NE(0, id1);
	ASSERT_NE(id1, id2);
	ASSERT_ERRNO(EOPNOTSUPP, ioctl(fd, IOMMU_IOAS_ALLOC, &cmd));
	cmd.flags = 0;
	cmd.size = sizeof(cmd) - 1;
	ASSERT_ERRNO(EINVAL, ioctl(fd, IOMMU_IOAS_ALLOC, &cmd));
	/* The extensible-struct rules: a longer struct with zeros is fine. */
	big.cmd.size = sizeof(big);
	big.extra[3] = 1;
	ASSERT_ERRNO(E2BIG, ioctl(fd, IOMMU_IOAS_ALLOC, &big));
	big.extra[3] = 0;
	ASSERT_EQ(0, ioctl(fd, IOMMU_IOAS_ALLOC, &big));
	ASSERT_EQ(id2 + 1, big.cmd.out_ioas_id);
	ASSERT_EQ(0, destroy(fd, big.cmd.out_ioas_id));
	ASSERT_EQ(0, close(fd));
}

TEST(cmd_allow_iovas)
{
	const uint64_t base = 0x40000000;
	struct iommu_iova_range allowed = { base, base + 0xfffffff };
	struct iommu_iova_range overlap = { 0x1000, 0x2fff };
	struct world w;
	uint64_t iova = 0;

	world_init(&w, false, false);
	ASSERT_EQ(0, allow_iovas(w.fd, w.ioas, &allowed, 1));
	ASSERT_EQ(0, ioas_map(w.fd, w.ioas, w.buf, BUF_LEN, &iova, MAP_RW));
	ASSERT_LE(base, iova);
	ASSERT_GE(allowed.last, iova + BUF_LEN - 1);
	/* Reserved and allowed ranges cannot meet, either way round. */
	ASSERT_ERRNO(EADDRINUSE, add_reserved(w.fd, w.ioas, base, PAGE_SZ));
	ASSERT_EQ(0, add_reserved(w.fd, w.ioas, 0x2000, PAGE_SZ));
	ASSERT_ERRNO(EADDRINUSE, allow_iovas(w.fd, w.ioas, &overlap, 1));
	ASSERT_ERRNO(ENOENT, allow_iovas(w.fd, 1000, &allowed, 1));
	ASSERT_EQ(0, close(w.fd));
}

TEST(cmd_copy)
{
	uint32_t ioas2 = 0, stdev2 = 0, hwpt2 = 0;
	uint64_t iova2 = 0;
	struct world w;

	world_init(&w, true, true);
	ASSERT_EQ(0, ioas_alloc(w.fd, &ioas2));
	ASSERT_EQ(0, mock_domain(w.fd, ioas2, &stdev2, &hwpt2));
	ASSERT_EQ(0, ioas_copy(w.fd, ioas2, w.ioas, w.iova, BUF_LEN, &iova2,
			       MAP_RW));
	/* The same pages, in the second device's page table, pinned once. */
	ASSERT_EQ(0, check_map(w.fd, hwpt2, iova2, w.buf, BUF_LEN));
	ASSERT_EQ(0, check_refs(w.fd, w.buf, BUF_LEN, 1));
	/* A source range not covered by a mapping. */
	ASSERT_ERRNO(ENOENT, ioas_copy(w.fd, ioas2, w.ioas, w.iova + BUF_LEN,
				       PAGE_SZ, &iova2, MAP_RW));
	ASSERT_ERRNO(ENOENT, ioas_copy(w.fd, 1000, w.ioas, w.iova, PAGE_SZ,
				       &iova2, MAP_RW));
	ASSERT_EQ(0, close(w.fd));
}

TEST(cmd_iova_ranges)
{
	struct iommu_iova_range ranges[2];
	uint64_t align = 0;
	uint32_t num = 2;
	struct world w;

	world_init(&w, false, false);
	ASSERT_EQ(0, iova_ranges(w.fd, w.ioas, ranges, &num, &align));
	ASSERT_EQ(1, num);
	ASSERT_EQ(0, ranges[0].start);
	ASSERT_EQ(UINT64_MAX, ranges[0].last);
	ASSERT_EQ(1, align);
	ASSERT_EQ(0, mock_domain(w.fd, w.ioas, &w.stdev, &w.hwpt));
	num = 2;
	ASSERT_EQ(0, iova_ranges(w.fd, w.ioas, ranges, &num, &align));
	ASSERT_EQ(1, num);
	ASSERT_EQ(MOCK_APERTURE_START, ranges[0].start);
	ASSERT_EQ(MOCK_APERTURE_LAST, ranges[0].last);
	ASSERT_EQ(MOCK_PAGE_SIZE, align);
	/* Too small an array: EMSGSIZE, and the count still comes back. */
	num = 0;
	ASSERT_ERRNO(EMSGSIZE, iova_ranges(w.fd, w.ioas, ranges, &num, NULL));
	ASSERT_EQ(1, num);
	num = 2;
	ASSERT_ERRNO(ENOENT, iova_ranges(w.fd, 1000, ranges, &num, NULL));
	ASSERT_EQ(0, close(w.fd));
}

TEST(cmd_map_unmap)
{
	uint64_t iova = 0, fixed = MOCK_APERTURE_START + 0x100000, len = 0;
	struct world w;

	world_init(&w, true, false);
	ASSERT_EQ(0, ioas_map(w.fd, w.ioas, w.buf, BUF_LEN, &iova, MAP_RW));
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, iova, w.buf, BUF_LEN));
	ASSERT_EQ(0, ioas_map(w.fd, w.ioas, w.buf, BUF_LEN, &fixed,
			      MAP_FIXED_RW));
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, fixed, w.buf, BUF_LEN));
	/* Two maps of the same memory: two pins on each page. */
	ASSERT_EQ(0, check_refs(w.fd, w.buf, BUF_LEN, 2));
	ASSERT_ERRNO(EEXIST, ioas_map(w.fd, w.ioas, w.buf, PAGE_SZ, &fixed,
				      MAP_FIXED_RW));
	/* A length the mock domain's 2 KiB pages cannot map. */
	ASSERT_ERRNO(EINVAL, ioas_map(w.fd, w.ioas, w.buf, 100, &iova,
				      MAP_RW));
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, fixed, BUF_LEN, &len));
	ASSERT_EQ(BUF_LEN, len);
	ASSERT_ERRNO(ENOENT, ioas_unmap(w.fd, w.ioas, fixed, BUF_LEN, NULL));
	/* Unmap all: reports what went, then works on an empty IOAS. */
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, 0, UINT64_MAX, &len));
	ASSERT_EQ(BUF_LEN, len);
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, 0, UINT64_MAX, &len));
	ASSERT_EQ(0, len);
	ASSERT_EQ(0, check_refs(w.fd, w.buf, BUF_LEN, 0));
	ASSERT_EQ(0, close(w.fd));
}

TEST(cmd_option)
{
	struct world w;
	uint64_t val = 0;
	int vfd = -1;

	world_init(&w, false, false);
	val = 0;
	ASSERT_EQ(0, option(w.fd, IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET,
			    w.ioas, &val));
	ASSERT_EQ(1, val);
	val = 0;
	ASSERT_EQ(0, option(w.fd, IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET,
			    w.ioas, &val));
	val = 7;
	ASSERT_EQ(0, option(w.fd, IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET,
			    w.ioas, &val));
	ASSERT_EQ(0, val);
	val = 2;
	ASSERT_ERRNO(EINVAL, option(w.fd, IOMMU_OPTION_HUGE_PAGES,
				    IOMMU_OPTION_OP_SET, w.ioas, &val));
	val = 0;
	ASSERT_ERRNO(ENOENT, option(w.fd, IOMMU_OPTION_HUGE_PAGES,
				    IOMMU_OPTION_OP_GET, 0, &val));
	ASSERT_ERRNO(EOPNOTSUPP, option(w.fd, 99, IOMMU_OPTION_OP_GET, 0,
					&val));
	/* RLIMIT_MODE: per user on /dev/iommu, per process on VFIO's. */
	val = 7;
	ASSERT_EQ(0, option(w.fd, IOMMU_OPTION_RLIMIT_MODE,
			    IOMMU_OPTION_OP_GET, 0, &val));
	ASSERT_EQ(0, val);
	vfd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	ASSERT_GE(vfd, 0);
	val = 7;
	ASSERT_EQ(0, option(vfd, IOMMU_OPTION_RLIMIT_MODE,
			    IOMMU_OPTION_OP_GET, 0, &val));
	ASSERT_EQ(1, val);
	ASSERT_EQ(0, close(vfd));
	ASSERT_EQ(0, close(w.fd));
}

TEST(cmd_vfio_ioas)
{
	uint32_t id = 0;
	struct world w;

	world_init(&w, false, false);
	ASSERT_ERRNO(ENODEV, vfio_ioas(w.fd, IOMMU_VFIO_IOAS_GET, &id));
	id = 1000;
	ASSERT_ERRNO(ENOENT, vfio_ioas(w.fd, IOMMU_VFIO_IOAS_SET, &id));
	id = w.ioas;
	ASSERT_EQ(0, vfio_ioas(w.fd, IOMMU_VFIO_IOAS_SET, &id));
	id = 0;
	ASSERT_EQ(0, vfio_ioas(w.fd, IOMMU_VFIO_IOAS_GET, &id));
	ASSERT_EQ(w.ioas, id);
	ASSERT_EQ(0, vfio_ioas(w.fd, IOMMU_VFIO_IOAS_CLEAR, &id));
	ASSERT_ERRNO(ENODEV, vfio_ioas(w.fd, IOMMU_VFIO_IOAS_GET, &id));
	ASSERT_EQ(0, close(w.fd));
}

TEST(cmd_unknown_requests)
{
	struct iommu_test_cmd cmd = { .op = 0 };
	uint32_t buf[16] = { sizeof(buf) };
	int fd = open_iommu();

	ASSERT_GE(fd, 0);
	/* Holes, size bits and numbers below the iommufd base: ENOTTY. */
	ASSERT_ERRNO(ENOTTY, ioctl(fd, _IO(IOMMUFD_TYPE, 0x95), buf));
	ASSERT_ERRNO(ENOTTY, ioctl(fd, _IO(IOMMUFD_TYPE, 0x7f), buf));
	ASSERT_ERRNO(ENOTTY, ioctl(fd, _IOW(IOMMUFD_TYPE, 0x81, uint32_t[3]),
				   buf));
	ASSERT_ERRNO(ENOTTY, ioctl(fd, FIONREAD, buf));
	ASSERT_ERRNO(EOPNOTSUPP, test_cmd(fd, &cmd));
	cmd.op = 1000;
	ASSERT_ERRNO(EOPNOTSUPP, test_cmd(fd, &cmd));
	ASSERT_EQ(0, close(fd));
}

/* ---- IOMMU_TEST_CMD ops 1-9 ---- */

TEST(test_op_add_reserved)
{
	struct iommu_iova_range ranges[3];
	uint32_t num = 3;
	struct world w;

	world_init(&w, false, true);
	ASSERT_EQ(0, add_reserved(w.fd, w.ioas, PAGE_SZ, PAGE_SZ));
	/* The reservation splits the usable space in two. */
	ASSERT_EQ(0, iova_ranges(w.fd, w.ioas, ranges, &num, NULL));
	ASSERT_EQ(2, num);
	ASSERT_EQ(PAGE_SZ - 1, ranges[0].last);
	ASSERT_EQ(2 * PAGE_SZ, ranges[1].start);
	ASSERT_ERRNO(EINVAL, add_reserved(w.fd, w.ioas, 0x100000, 0));
	/* Over an existing mapping. */
	ASSERT_ERRNO(EADDRINUSE, add_reserved(w.fd, w.ioas, w.iova, PAGE_SZ));
	ASSERT_ERRNO(ENOENT, add_reserved(w.fd, 1000, 0x100000, PAGE_SZ));
	ASSERT_EQ(0, close(w.fd));
}

/*
 * The newest release (the default): the 72-byte command puts the device
 * on the IOAS's auto HW pagetable, shared by the next device and gone with
 * the last; Linux 6.2's 56-byte command is below 7.2's minimum size.
 */
TEST(test_op_mock_domain)
{
	struct iommu_test_cmd_v6_2 old = {
		.size = sizeof(old),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
	};
	uint32_t stdev = 0, hwpt = 0, stdev2 = 0, hwpt2 = 0, ioas2 = 0;
	struct world w;

	world_init(&w, false, true);
	ASSERT_EQ(0, mock_domain(w.fd, w.ioas, &stdev, &hwpt));
	ASSERT_NE(0, stdev);
	ASSERT_NE(0, hwpt);
	/* Attaching filled the domain with what the IOAS maps. */
	ASSERT_EQ(0, check_map(w.fd, hwpt, w.iova, w.buf, BUF_LEN));
	ASSERT_ERRNO(ENOENT, mock_domain(w.fd, 0, NULL, NULL));
	ASSERT_ERRNO(ENOENT, mock_domain(w.fd, 1000, NULL, NULL));
	/* The Linux 6.2 command: too short for 7.2, nothing made. */
	old.id = w.ioas;
	ASSERT_ERRNO(EINVAL, ioctl(w.fd, IOMMU_TEST_CMD, &old));
	ASSERT_EQ(0, old.mock_domain.out_device_id);
	ASSERT_EQ(0, old.mock_domain.out_hwpt_id);
	/* The next device shares the auto HW pagetable. */
	ASSERT_EQ(0, mock_domain(w.fd, w.ioas, &stdev2, &hwpt2));
	ASSERT_EQ(hwpt, hwpt2);
	ASSERT_EQ(0, destroy(w.fd, stdev));
	ASSERT_ERRNO(EBUSY, destroy(w.fd, hwpt));
	ASSERT_EQ(0, check_map(w.fd, hwpt, w.iova, w.buf, BUF_LEN));
	ASSERT_EQ(0, destroy(w.fd, stdev2));
	/* The automatic HW pagetable went with its last device. */
	ASSERT_ERRNO(ENOENT, destroy(w.fd, hwpt));
	/* Nothing else was left: the next object takes the lowest ID. */
	ASSERT_EQ(0, ioas_alloc(w.fd, &ioas2));
	ASSERT_EQ(w.ioas + 1, ioas2);
	ASSERT_EQ(0, close(w.fd));
}

/*
 * MOCK_DOMAIN and MD_CHECK_MAP in the 72-byte command zeroed whole, for a
 * 6.2 context: an initializer naming one union member leaves the union's
 * other bytes undefined (clang keeps what the stack held), and Linux 6.2
 * wants zeros past its 56 bytes.
 */
static int mock_domain_72(int fd, uint32_t pt_id, uint32_t *stdev_id,
			  uint32_t *hwpt_id)
{
	struct iommu_test_cmd cmd;
	int rc;

	memset(&cmd, 0, sizeof(cmd));
	cmd.op = IOMMU_TEST_OP_MOCK_DOMAIN;
	cmd.id = pt_id;
	rc = test_cmd(fd, &cmd);
	if (!rc && stdev_id)
		*stdev_id = cmd.mock_domain.out_stdev_id;
	if (!rc && hwpt_id)
		*hwpt_id = cmd.mock_domain.out_hwpt_id;
	return rc;
}

static int check_map_72(int fd, uint32_t hwpt_id, uint64_t iova,
			const void *buf, uint64_t length)
{
	struct iommu_test_cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.op = IOMMU_TEST_OP_MD_CHECK_MAP;
	cmd.id = hwpt_id;
	cmd.check_map.iova = iova;
	cmd.check_map.length = length;
	cmd.check_map.uptr = (uintptr_t)buf;
	return test_cmd(fd, &cmd);
}

/*
 * A program for Linux 6.2 (UIOMMUFD_KERNEL=6.2, read when /dev/iommu is
 * opened): its 56-byte command gives the device a HW pagetable of its
 * own, which outlives the device until the program destroys it; the
 * 72-byte command with a zero tail is read as the 56-byte one. The ID
 * must name an IOAS.
 */
TEST(test_op_mock_domain_v6_2)
{
	struct iommu_test_cmd_v6_2 old = {
		.size = sizeof(old),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
	};
	uint32_t stdev = 0, hwpt = 0;
	struct world w;

	ASSERT_EQ(0, setenv("UIOMMUFD_KERNEL", "6.2", 1));
	world_init(&w, false, true);
	old.id = w.ioas;
	ASSERT_EQ(0, ioctl(w.fd, IOMMU_TEST_CMD, &old));
	ASSERT_NE(0, old.mock_domain.out_device_id);
	ASSERT_NE(0, old.mock_domain.out_hwpt_id);
	ASSERT_EQ(0, old.last);
	ASSERT_EQ(0, check_map_72(w.fd, old.mock_domain.out_hwpt_id, w.iova,
				  w.buf, BUF_LEN));
	ASSERT_ERRNO(ENOENT, mock_domain_72(w.fd, 0, NULL, NULL));
	ASSERT_ERRNO(ENOENT, mock_domain_72(w.fd, 1000, NULL, NULL));
	ASSERT_ERRNO(ENOENT, mock_domain_72(w.fd, old.mock_domain.out_hwpt_id,
					    NULL, NULL));
	/* 72 bytes: another HW pagetable of its own. */
	ASSERT_EQ(0, mock_domain_72(w.fd, w.ioas, &stdev, &hwpt));
	ASSERT_NE(old.mock_domain.out_hwpt_id, hwpt);
	ASSERT_EQ(0, check_map_72(w.fd, hwpt, w.iova, w.buf, BUF_LEN));
	ASSERT_ERRNO(EBUSY, destroy(w.fd, old.mock_domain.out_hwpt_id));
	ASSERT_EQ(0, destroy(w.fd, old.mock_domain.out_device_id));
	/* The device is gone, its HW pagetable is not. */
	ASSERT_EQ(0, check_map_72(w.fd, old.mock_domain.out_hwpt_id, w.iova,
				  w.buf, BUF_LEN));
	ASSERT_ERRNO(EBUSY, destroy(w.fd, w.ioas));
	ASSERT_EQ(0, destroy(w.fd, old.mock_domain.out_hwpt_id));
	ASSERT_EQ(0, destroy(w.fd, stdev));
	ASSERT_EQ(0, destroy(w.fd, hwpt));
	ASSERT_ERRNO(ENOENT, destroy(w.fd, hwpt));
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, 0, UINT64_MAX, NULL));
	ASSERT_EQ(0, destroy(w.fd, w.ioas));
	ASSERT_EQ(0, close(w.fd));
}

TEST(test_op_md_check_map)
{
	struct world w;

	world_init(&w, true, true);
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, w.iova, w.buf, BUF_LEN));
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, w.iova + MOCK_PAGE_SIZE,
			       w.buf + MOCK_PAGE_SIZE, MOCK_PAGE_SIZE));
	/* Misaligned, and the wrong memory. */
	ASSERT_ERRNO(EINVAL, check_map(w.fd, w.hwpt, w.iova + 1, w.buf + 1,
				       MOCK_PAGE_SIZE));
	ASSERT_ERRNO(EINVAL, check_map(w.fd, w.hwpt, w.iova, w.buf + PAGE_SZ,
				       PAGE_SZ));
	ASSERT_ERRNO(ENOENT, check_map(w.fd, 1000, w.iova, w.buf, PAGE_SZ));
	ASSERT_EQ(0, close(w.fd));
}

TEST(test_op_md_check_refs)
{
	struct world w;

	world_init(&w, true, true);
	ASSERT_EQ(0, check_refs(w.fd, w.buf, BUF_LEN, 1));
	ASSERT_ERRNO(EIO, check_refs(w.fd, w.buf, BUF_LEN, 2));
	ASSERT_ERRNO(EIO, check_refs(w.fd, w.buf, BUF_LEN, 0));
	ASSERT_ERRNO(EINVAL, check_refs(w.fd, w.buf + 1, PAGE_SZ, 1));
	ASSERT_EQ(0, destroy(w.fd, w.stdev));
	ASSERT_EQ(0, check_refs(w.fd, w.buf, BUF_LEN, 0));
	ASSERT_EQ(0, close(w.fd));
}

TEST(test_op_create_access)
{
	struct world w;
	int afd = -1;

	world_init(&w, false, true);
	ASSERT_EQ(0, create_access(w.fd, w.ioas, 0, &afd));
	ASSERT_GE(afd, 0);
	ASSERT_NE(w.fd, afd);
	/* A real descriptor, close-on-exec as the kernel makes it. */
	ASSERT_EQ(FD_CLOEXEC, fcntl(afd, F_GETFD));
	ASSERT_ERRNO(EOPNOTSUPP, create_access(w.fd, w.ioas, 1u << 5, &afd));
	ASSERT_ERRNO(ENOENT, create_access(w.fd, 1000, 0, &afd));
	/* The access holds its IOAS. */
	ASSERT_ERRNO(EBUSY, destroy(w.fd, w.ioas));
	ASSERT_EQ(0, close(afd));
	ASSERT_EQ(0, destroy(w.fd, w.ioas));
	ASSERT_EQ(0, close(w.fd));
}

TEST(test_op_access_pages)
{
	uint32_t item = 0, item2 = 0;
	struct world w;
	int afd = -1, afd_nopin = -1;

	world_init(&w, false, true);
	ASSERT_EQ(0, create_access(w.fd, w.ioas,
				   MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
				   &afd));
	ASSERT_EQ(0, check_refs(w.fd, w.buf, BUF_LEN, 0));
	ASSERT_EQ(0, access_pages(w.fd, afd, w.iova, 2 * PAGE_SZ, w.buf, 0,
				  &item));
	ASSERT_EQ(0, check_refs(w.fd, w.buf, 2 * PAGE_SZ, 1));
	ASSERT_EQ(0, check_refs(w.fd, w.buf + 2 * PAGE_SZ, PAGE_SZ, 0));
	ASSERT_EQ(0, access_pages(w.fd, afd, w.iova + PAGE_SZ, PAGE_SZ,
				  w.buf + PAGE_SZ, MOCK_FLAGS_ACCESS_WRITE,
				  &item2));
	ASSERT_NE(item, item2);
	/* Pinned pages that are not those at uptr. */
	ASSERT_ERRNO(EBADE, access_pages(w.fd, afd, w.iova, PAGE_SZ,
					 w.buf + PAGE_SZ, 0, NULL));
	ASSERT_ERRNO(ENOMEM, access_pages(w.fd, afd, w.iova, 1ULL << 25,
					  NULL, 0, NULL));
	ASSERT_ERRNO(EOPNOTSUPP, access_pages(w.fd, afd, w.iova, PAGE_SZ,
					      NULL, 1u << 3, NULL));
	ASSERT_ERRNO(EBADFD, access_pages(w.fd, w.fd, w.iova, PAGE_SZ, NULL,
					  0, NULL));
	ASSERT_EQ(0, create_access(w.fd, w.ioas, 0, &afd_nopin));
	ASSERT_ERRNO(EOPNOTSUPP, access_pages(w.fd, afd_nopin, w.iova,
					      PAGE_SZ, NULL, 0, NULL));

	/* DESTROY_ACCESS_PAGES: each item once. */
	ASSERT_EQ(0, destroy_access_pages(w.fd, afd, item));
	ASSERT_ERRNO(ENOENT, destroy_access_pages(w.fd, afd, item));
	ASSERT_EQ(0, check_refs(w.fd, w.buf, PAGE_SZ, 0));
	ASSERT_EQ(0, check_refs(w.fd, w.buf + PAGE_SZ, PAGE_SZ, 1));
	ASSERT_EQ(0, destroy_access_pages(w.fd, afd, item2));
	ASSERT_EQ(0, check_refs(w.fd, w.buf, BUF_LEN, 0));
	ASSERT_ERRNO(EBADFD, destroy_access_pages(w.fd, -1, 0));
	ASSERT_EQ(0, close(afd_nopin));
	ASSERT_EQ(0, close(afd));
	ASSERT_EQ(0, close(w.fd));
}

TEST(test_op_access_pages_unmap_callback)
{
	struct world w;
	uint32_t item = 0;
	int afd = -1;

	world_init(&w, false, true);
	ASSERT_EQ(0, create_access(w.fd, w.ioas,
				   MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
				   &afd));
	ASSERT_EQ(0, access_pages(w.fd, afd, w.iova, PAGE_SZ, w.buf, 0,
				  &item));
	/* Unmapping under the pin calls the access back: the item is gone. */
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, w.iova, BUF_LEN, NULL));
	ASSERT_ERRNO(ENOENT, destroy_access_pages(w.fd, afd, item));
	ASSERT_EQ(0, check_refs(w.fd, w.buf, BUF_LEN, 0));
	ASSERT_EQ(0, close(afd));
	ASSERT_EQ(0, close(w.fd));
}

TEST(test_op_access_rw)
{
	char text[64] = {}, back[64] = {};
	struct world w;
	int afd = -1;

	world_init(&w, true, true);
	ASSERT_EQ(0, create_access(w.fd, w.ioas, 0, &afd));
	strcpy(w.buf + 100, "written by the CPU");
	ASSERT_EQ(0, access_rw(w.fd, afd, w.iova + 100, text, sizeof(text),
			       0));
	ASSERT_STREQ("written by the CPU", text);
	/* A write that crosses a page boundary, and the slow path. */
	strcpy(text, "written through IOVA");
	ASSERT_EQ(0, access_rw(w.fd, afd, w.iova + PAGE_SZ - 10, text,
			       sizeof(text), MOCK_ACCESS_RW_WRITE));
	ASSERT_STREQ("written through IOVA", w.buf + PAGE_SZ - 10);
	ASSERT_EQ(0, access_rw(w.fd, afd, w.iova + PAGE_SZ - 10, back,
			       sizeof(back), MOCK_ACCESS_RW_SLOW_PATH));
	ASSERT_STREQ("written through IOVA", back);
	ASSERT_ERRNO(ENOENT, access_rw(w.fd, afd, w.iova + BUF_LEN, text,
				       sizeof(text), 0));
	ASSERT_ERRNO(EOPNOTSUPP, access_rw(w.fd, afd, w.iova, text,
					   sizeof(text), 1u << 3));
	ASSERT_ERRNO(ENOMEM, access_rw(w.fd, afd, w.iova, text, 1ULL << 25,
				       0));
	ASSERT_ERRNO(EBADFD, access_rw(w.fd, 1000, w.iova, text, 8, 0));
	ASSERT_EQ(0, close(afd));
	ASSERT_EQ(0, close(w.fd));
}

TEST(test_op_set_temp_memory_limit)
{
	struct world w;

	world_init(&w, true, false);
	ASSERT_ERRNO(EINVAL, set_temp_memory_limit(w.fd, 11));
	/* A tiny limit: many small batches, and the same result. */
	ASSERT_EQ(0, set_temp_memory_limit(w.fd, 16));
	ASSERT_EQ(0, ioas_map(w.fd, w.ioas, w.buf, BUF_LEN, &w.iova, MAP_RW));
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, w.iova, w.buf, BUF_LEN));
	ASSERT_EQ(0, check_refs(w.fd, w.buf, BUF_LEN, 1));
	ASSERT_EQ(0, set_temp_memory_limit(w.fd, TEMP_LIMIT_DEFAULT));
	ASSERT_EQ(0, close(w.fd));
}

/* ---- VFIO type1 on /dev/vfio/vfio and on /dev/iommu ---- */

FIXTURE(vfio) {
	int fd;
	uint32_t ioas, stdev, hwpt;
	char *buf;
};

FIXTURE_VARIANT(vfio) {
	const char *path;
};

FIXTURE_VARIANT_ADD(vfio, dev_vfio_vfio) {
	.path = "/dev/vfio/vfio",
};

FIXTURE_VARIANT_ADD(vfio, dev_iommu) {
	.path = "/dev/iommu",
};

FIXTURE_SETUP(vfio)
{
	self->fd = open(variant->path, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->fd, 0);
	self->buf = e2e_buffer(BUF_LEN);
	ASSERT_NONNULL(self->buf);
}

FIXTURE_TEARDOWN(vfio)
{
	close(self->fd);
}

/* The compat IOAS with a mock device, as VFIO's group attach makes it. */
static void vfio_setup_ioas(struct _fixture_data_vfio *self)
{
	uint32_t id = 0;

	ASSERT_EQ(0, ioas_alloc(self->fd, &self->ioas));
	ASSERT_EQ(0, mock_domain(self->fd, self->ioas, &self->stdev,
				 &self->hwpt));
	id = self->ioas;
	ASSERT_EQ(0, vfio_ioas(self->fd, IOMMU_VFIO_IOAS_SET, &id));
}

static int vfio_map_dma(int fd, void *buf, uint64_t iova, uint64_t size,
			uint32_t flags)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = flags,
		.vaddr = (uintptr_t)buf,
		.iova = iova,
		.size = size,
	};

	return ioctl(fd, VFIO_IOMMU_MAP_DMA, &map);
}

static int vfio_unmap_dma(int fd, uint64_t iova, uint64_t size,
			  uint32_t flags, uint64_t *unmapped)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.flags = flags,
		.iova = iova,
		.size = size,
	};
	int rc = ioctl(fd, VFIO_IOMMU_UNMAP_DMA, &unmap);

	if (unmapped)
		*unmapped = unmap.size;
	return rc;
}

#define VFIO_RW (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)

TEST_F(vfio, before_an_ioas_is_set)
{
	struct vfio_iommu_type1_info info = { .argsz = sizeof(info) };
	struct vfio_iommu_type1_dma_map map = { .argsz = 1 };

	ASSERT_EQ(VFIO_API_VERSION, ioctl(self->fd, VFIO_GET_API_VERSION));
	ASSERT_EQ(1, ioctl(self->fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU));
	ASSERT_EQ(1, ioctl(self->fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU));
	ASSERT_EQ(0, ioctl(self->fd, VFIO_CHECK_EXTENSION,
			   VFIO_NOIOMMU_IOMMU));
	ASSERT_ERRNO(ENODEV, ioctl(self->fd, VFIO_SET_IOMMU,
				   VFIO_TYPE1v2_IOMMU));
	ASSERT_ERRNO(ENODEV, ioctl(self->fd, VFIO_IOMMU_GET_INFO, &info));
	info.argsz = 1;
	ASSERT_ERRNO(EINVAL, ioctl(self->fd, VFIO_IOMMU_GET_INFO, &info));
	ASSERT_ERRNO(EINVAL, ioctl(self->fd, VFIO_IOMMU_MAP_DMA, &map));
	ASSERT_ERRNO(ENODEV, vfio_map_dma(self->fd, self->buf,
					  MOCK_APERTURE_START, PAGE_SZ,
					  VFIO_RW));
	ASSERT_ERRNO(ENODEV, vfio_unmap_dma(self->fd, MOCK_APERTURE_START,
					    PAGE_SZ, 0, NULL));
}

TEST_F(vfio, type1v2_get_info)
{
	struct {
		struct vfio_iommu_type1_info info;
		uint8_t caps[256];
	} big;
	struct vfio_iommu_type1_info info;
	struct vfio_info_cap_header *hdr;
	bool seen_iova = false;
	uint32_t off = 0, needed = 0;

	vfio_setup_ioas(self);
	ASSERT_EQ(0, ioctl(self->fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	ASSERT_EQ(1, ioctl(self->fd, VFIO_CHECK_EXTENSION, VFIO_DMA_CC_IOMMU));

	/* The pre-capability ABI: nothing written past argsz. */
	memset(&info, 0xaa, sizeof(info));
	info.argsz = offsetof(struct vfio_iommu_type1_info, cap_offset);
	ASSERT_EQ(0, ioctl(self->fd, VFIO_IOMMU_GET_INFO, &info));
	ASSERT_EQ(VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS, info.flags);
	ASSERT_NE(0, info.iova_pgsizes);
	ASSERT_EQ(0xaaaaaaaa, info.cap_offset);

	/* Room for the struct only: the size the chain needs comes back. */
	memset(&info, 0, sizeof(info));
	info.argsz = sizeof(info);
	ASSERT_EQ(0, ioctl(self->fd, VFIO_IOMMU_GET_INFO, &info));
	ASSERT_EQ(0, info.cap_offset);
	ASSERT_LT(sizeof(info), info.argsz);
	ASSERT_GE(sizeof(big), info.argsz);
	needed = info.argsz;

	memset(&big, 0, sizeof(big));
	big.info.argsz = needed;
	ASSERT_EQ(0, ioctl(self->fd, VFIO_IOMMU_GET_INFO, &big));
	ASSERT_EQ(sizeof(big.info), big.info.cap_offset);
	for (off = big.info.cap_offset; off; off = hdr->next) {
		ASSERT_GE(needed - sizeof(*hdr), off);
		hdr = (void *)((char *)&big + off);
		if (hdr->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
			struct vfio_iommu_type1_info_cap_iova_range *r =
				(void *)hdr;

			ASSERT_EQ(1, r->nr_iovas);
			ASSERT_EQ(MOCK_APERTURE_START, r->iova_ranges[0].start);
			ASSERT_EQ(MOCK_APERTURE_LAST, r->iova_ranges[0].end);
			seen_iova = true;
		} else {
			ASSERT_EQ(VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, hdr->id);
		}
		if (hdr->next)
			ASSERT_LT(off, hdr->next);
	}
	ASSERT_TRUE(seen_iova);
}

TEST_F(vfio, type1v2_map_unmap)
{
	uint64_t iova = MOCK_APERTURE_START, unmapped = 0, val = 7;

	vfio_setup_ioas(self);
	ASSERT_ERRNO(EINVAL, ioctl(self->fd, VFIO_SET_IOMMU, 42));
	ASSERT_EQ(0, ioctl(self->fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	ASSERT_EQ(0, option(self->fd, IOMMU_OPTION_HUGE_PAGES,
			    IOMMU_OPTION_OP_GET, self->ioas, &val));
	ASSERT_EQ(1, val);
	ASSERT_EQ(0, vfio_map_dma(self->fd, self->buf, iova, BUF_LEN,
				  VFIO_RW));
	/* The compat IOAS is an ordinary IOAS: the mock domain shows it. */
	ASSERT_EQ(0, check_map(self->fd, self->hwpt, iova, self->buf,
			       BUF_LEN));
	ASSERT_EQ(0, check_refs(self->fd, self->buf, BUF_LEN, 1));
	ASSERT_ERRNO(EEXIST, vfio_map_dma(self->fd, self->buf, iova, PAGE_SZ,
					  VFIO_RW));
	ASSERT_ERRNO(EINVAL, vfio_map_dma(self->fd, self->buf, iova, PAGE_SZ,
					  1u << 31));
	/* v2 cannot cut a mapping; an empty range is no error. */
	ASSERT_ERRNO(ENOENT, vfio_unmap_dma(self->fd, iova, PAGE_SZ, 0, NULL));
	ASSERT_EQ(0, vfio_unmap_dma(self->fd, iova + 2 * BUF_LEN, PAGE_SZ, 0,
				    &unmapped));
	ASSERT_EQ(0, unmapped);
	ASSERT_EQ(0, vfio_unmap_dma(self->fd, iova, BUF_LEN, 0, &unmapped));
	ASSERT_EQ(BUF_LEN, unmapped);
	ASSERT_EQ(0, check_refs(self->fd, self->buf, BUF_LEN, 0));

	/* Unmap all: iova and size must be 0. */
	ASSERT_EQ(0, vfio_map_dma(self->fd, self->buf, iova, BUF_LEN,
				  VFIO_RW));
	ASSERT_EQ(0, vfio_map_dma(self->fd, self->buf, iova + BUF_LEN,
				  PAGE_SZ, VFIO_DMA_MAP_FLAG_READ));
	ASSERT_ERRNO(EINVAL, vfio_unmap_dma(self->fd, iova, PAGE_SZ,
					    VFIO_DMA_UNMAP_FLAG_ALL, NULL));
	ASSERT_EQ(0, vfio_unmap_dma(self->fd, 0, 0, VFIO_DMA_UNMAP_FLAG_ALL,
				    &unmapped));
	ASSERT_EQ(BUF_LEN + PAGE_SZ, unmapped);
	ASSERT_EQ(0, check_refs(self->fd, self->buf, BUF_LEN, 0));
}

TEST_F(vfio, type1_cuts_mappings)
{
	uint64_t iova = MOCK_APERTURE_START, unmapped = 0, val = 7;

	vfio_setup_ioas(self);
	ASSERT_EQ(0, ioctl(self->fd, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU));
	/* Type1 runs with large pages off. */
	ASSERT_EQ(0, option(self->fd, IOMMU_OPTION_HUGE_PAGES,
			    IOMMU_OPTION_OP_GET, self->ioas, &val));
	ASSERT_EQ(0, val);
	ASSERT_EQ(0, vfio_map_dma(self->fd, self->buf, iova, 4 * PAGE_SZ,
				  VFIO_RW));
	ASSERT_EQ(0, vfio_unmap_dma(self->fd, iova + PAGE_SZ, PAGE_SZ, 0,
				    &unmapped));
	ASSERT_EQ(PAGE_SZ, unmapped);
	/* The pages on either side of the cut are still mapped and pinned. */
	ASSERT_EQ(0, check_map(self->fd, self->hwpt, iova, self->buf,
			       PAGE_SZ));
	ASSERT_EQ(0, check_map(self->fd, self->hwpt, iova + 2 * PAGE_SZ,
			       self->buf + 2 * PAGE_SZ, 2 * PAGE_SZ));
	ASSERT_EQ(0, check_refs(self->fd, self->buf + PAGE_SZ, PAGE_SZ, 0));
	ASSERT_EQ(0, check_refs(self->fd, self->buf + 2 * PAGE_SZ, PAGE_SZ, 1));
}

/* ---- the ioctl edges ---- */

typedef int (*ioctl_int_fn)(int fd, int request, ...);

TEST(ioctl_request_as_int)
{
	/* Old headers declare ioctl(int, int, ...): the request is an int. */
	ioctl_int_fn ioctl_int = (ioctl_int_fn)(void (*)(void))ioctl;
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int fd = open_iommu();

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioctl_int(fd, (int)IOMMU_IOAS_ALLOC, &cmd));
	ASSERT_EQ(1, cmd.out_ioas_id);
	ASSERT_EQ(0, ioctl_int(fd, (int)VFIO_GET_API_VERSION));
	/* Only the low 32 bits reach the kernel, whatever is above them. */
	ASSERT_EQ(0, ioctl(fd, 0xdeadbeef00000000UL | IOMMU_IOAS_ALLOC, &cmd));
	ASSERT_EQ(2, cmd.out_ioas_id);
	ASSERT_EQ(0, ioctl(fd, 0xffffffff00000000UL | IOMMU_DESTROY,
			   &(struct iommu_destroy){ .size = 8, .id = 2 }));
	ASSERT_ERRNO(ENOENT, destroy(fd, 2));
	ASSERT_EQ(0, close(fd));
}

TEST(ioctl_on_other_descriptors)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	struct world w;
	int pipefd[2], null_fd = -1, afd = -1, nfd = -1;

	/* Not ours: the kernel answers, as without the shim. */
	ASSERT_EQ(0, pipe(pipefd));
	ASSERT_ERRNO(ENOTTY, ioctl(pipefd[0], IOMMU_IOAS_ALLOC, &cmd));
	ASSERT_ERRNO(ENOTTY, ioctl(pipefd[1], IOMMU_TEST_CMD, &cmd));
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_GE(null_fd, 0);
	ASSERT_ERRNO(ENOTTY, ioctl(null_fd, IOMMU_IOAS_ALLOC, &cmd));
	ASSERT_ERRNO(EBADF, ioctl(1000, IOMMU_IOAS_ALLOC, &cmd));
	ASSERT_ERRNO(EBADF, ioctl(-1, IOMMU_IOAS_ALLOC, &cmd));

	/* Access and fail-nth files have no ioctls. */
	world_init(&w, false, true);
	ASSERT_EQ(0, create_access(w.fd, w.ioas, 0, &afd));
	ASSERT_ERRNO(ENOTTY, ioctl(afd, IOMMU_IOAS_ALLOC, &cmd));
	ASSERT_ERRNO(ENOTTY, ioctl(afd, VFIO_GET_API_VERSION));
	nfd = failnth_open(e2e_gettid());
	ASSERT_GE(nfd, 0);
	ASSERT_ERRNO(ENOTTY, ioctl(nfd, IOMMU_IOAS_ALLOC, &cmd));

	/* A closed iommufd number. */
	ASSERT_EQ(0, close(w.fd));
	ASSERT_ERRNO(EBADF, ioctl(w.fd, IOMMU_IOAS_ALLOC, &cmd));
	close(nfd);
	close(afd);
	close(null_fd);
	close(pipefd[0]);
	close(pipefd[1]);
}

TEST(ioctl_bad_pointers)
{
	struct iommu_ioas_iova_ranges ranges = {
		.size = sizeof(ranges),
		.num_iovas = 1,
		.allowed_iovas = 8,
	};
	struct iommu_ioas_allow_iovas allow = {
		.size = sizeof(allow),
		.num_iovas = 1,
		.allowed_iovas = 8,
	};
	uint32_t next_id = 0, id = 0;
	char *pages, *hole;
	struct world w;
	int afd = -1;

	world_init(&w, true, true);
	ASSERT_EQ(0, create_access(w.fd, w.ioas, 0, &afd));
	/* IDs are handed out lowest first: this one comes back next. */
	ASSERT_EQ(0, ioas_alloc(w.fd, &next_id));
	ASSERT_EQ(0, destroy(w.fd, next_id));
	ranges.ioas_id = w.ioas;
	allow.ioas_id = w.ioas;
	/* Three pages: read-write, none, read-only. */
	pages = mmap(NULL, 3 * PAGE_SZ, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(pages != MAP_FAILED);
	hole = pages + PAGE_SZ;
	ASSERT_EQ(0, mprotect(hole, PAGE_SZ, PROT_NONE));

	/* The command itself: NULL, a low address, a protected page. */
	ASSERT_ERRNO(EFAULT, ioctl(w.fd, IOMMU_IOAS_ALLOC, NULL));
	ASSERT_ERRNO(EFAULT, ioctl(w.fd, IOMMU_IOAS_ALLOC, (void *)8));
	ASSERT_ERRNO(EFAULT, ioctl(w.fd, IOMMU_IOAS_MAP, hole));
	/* Its size readable, the rest of it not. */
	*(uint32_t *)(hole - 4) = sizeof(struct iommu_ioas_map);
	ASSERT_ERRNO(EFAULT, ioctl(w.fd, IOMMU_IOAS_MAP, hole - 4));
	/* Readable, but the result cannot be written back. */
	*(struct iommu_ioas_alloc *)(pages + 2 * PAGE_SZ) =
		(struct iommu_ioas_alloc){ .size = 12 };
	ASSERT_EQ(0, mprotect(pages + 2 * PAGE_SZ, PAGE_SZ, PROT_READ));
	ASSERT_ERRNO(EFAULT, ioctl(w.fd, IOMMU_IOAS_ALLOC,
				   pages + 2 * PAGE_SZ));
	/* Pointers inside the command. */
	ASSERT_ERRNO(EFAULT, ioctl(w.fd, IOMMU_IOAS_IOVA_RANGES, &ranges));
	ASSERT_ERRNO(EFAULT, ioctl(w.fd, IOMMU_IOAS_ALLOW_IOVAS, &allow));
	ASSERT_ERRNO(EFAULT, ioas_map(w.fd, w.ioas, hole, PAGE_SZ, NULL,
				      MAP_RW));
	ASSERT_ERRNO(EFAULT, access_rw(w.fd, afd, w.iova, hole, 16, 0));
	ASSERT_ERRNO(EFAULT, access_rw(w.fd, afd, w.iova, hole, 16,
				       MOCK_ACCESS_RW_WRITE));
	ASSERT_ERRNO(EFAULT, check_refs(w.fd, hole, PAGE_SZ, 0));
	ASSERT_ERRNO(EFAULT, ioctl(w.fd, VFIO_IOMMU_GET_INFO, hole));

	/* Nothing was made by the failures, and the context still works. */
	ASSERT_EQ(0, ioas_alloc(w.fd, &id));
	ASSERT_EQ(next_id, id);
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, w.iova, w.buf, BUF_LEN));
	ASSERT_EQ(0, close(afd));
	ASSERT_EQ(0, close(w.fd));
	munmap(pages, 3 * PAGE_SZ);
}
