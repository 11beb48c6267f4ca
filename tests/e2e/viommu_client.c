// SPDX-License-Identifier: MIT
/*
 * vIOMMUs, vdevices and HW queues of /dev/iommu, used the way a VMM
 * would: a program written only against the kernel's uAPI headers (plain
 * open(), ioctl() and mmap(), nothing of uiommufd), run by
 * tests/e2e/check-viommu.sh under uiommufd-run. The answers expected are
 * the kernel's (drivers/iommu/iommufd/viommu.c, main.c's mmap and the
 * mock vIOMMU of its test module).
 *
 *   viommu_client 7.2   a vIOMMU on a nesting parent, its pages mmap()ed
 *                       from the /dev/iommu descriptor (and a dup of it),
 *                       the kernel's mmap refusals, vdevices, a nested HW
 *                       pagetable on the vIOMMU, cache invalidation, HW
 *                       queues in order, destroy order
 *   viommu_client 6.2   the commands answer ENOTTY, mmap() ENODEV
 *
 * Prints one TAP line per check, unnumbered ("ok - ..."); the checker
 * numbers them. Every check prints its line even when what it needs
 * failed earlier, so the count stays fixed. Exits 1 when it could not
 * start at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
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
#define BASE MOCK_APERTURE_START
#define LEN (16 * PAGE)
#define MAP_RW (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)

static int iommufd;
static uint8_t *buf;

static const char *err_name(int err)
{
	return err ? strerrorname_np(err) ?: "errno ?" : "ok";
}

static bool __attribute__((format(printf, 2, 3)))
check(bool pass, const char *fmt, ...)
{
	va_list ap;

	printf(pass ? "ok - " : "not ok - ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return pass;
}

/* @rc against the kernel's answer @want (0 or an errno). */
static bool __attribute__((format(printf, 3, 4)))
expect(int rc, int want, const char *fmt, ...)
{
	int got = rc ? errno : 0;
	bool pass = rc ? rc == -1 && got == want : !want;
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	printf(pass ? "ok - %s: %s\n" : "not ok - %s: %s\n", what,
	       err_name(want));
	if (!pass)
		printf("# got %s (rc %d)\n", err_name(got), rc);
	return pass;
}

/* mmap() of the descriptor: 0 and *out, or -1 with errno. */
static int map_region(int fd, size_t len, int prot, int flags, off_t off,
		      void **out)
{
	void *p = mmap(NULL, len, prot, flags, fd, off);

	if (p == MAP_FAILED)
		return -1;
	*out = p;
	return 0;
}

static void die(const char *what)
{
	fprintf(stderr, "viommu_client: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* ---- the commands, as a program would wrap them ---- */

static int destroy(uint32_t id)
{
	struct iommu_destroy d = { .size = sizeof(d), .id = id };

	return ioctl(iommufd, IOMMU_DESTROY, &d);
}

static int ioas_alloc(uint32_t *id)
{
	struct iommu_ioas_alloc c = { .size = sizeof(c) };
	int rc = ioctl(iommufd, IOMMU_IOAS_ALLOC, &c);

	*id = c.out_ioas_id;
	return rc;
}

static int ioas_map(uint32_t ioas, void *va, uint64_t len, uint64_t iova)
{
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA,
		.ioas_id = ioas,
		.user_va = (uintptr_t)va,
		.length = len,
		.iova = iova,
	};

	return ioctl(iommufd, IOMMU_IOAS_MAP, &m);
}

static int ioas_unmap(uint32_t ioas, uint64_t iova, uint64_t len)
{
	struct iommu_ioas_unmap u = {
		.size = sizeof(u), .ioas_id = ioas, .iova = iova, .length = len,
	};

	return ioctl(iommufd, IOMMU_IOAS_UNMAP, &u);
}

static int mock_domain(uint32_t pt_id, uint32_t *stdev, uint32_t *idev)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c), .op = IOMMU_TEST_OP_MOCK_DOMAIN, .id = pt_id,
	};
	int rc = ioctl(iommufd, IOMMU_TEST_CMD, &c);

	*stdev = c.mock_domain.out_stdev_id;
	*idev = c.mock_domain.out_idev_id;
	return rc;
}

static int replace(uint32_t stdev, uint32_t pt_id)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c), .op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
		.id = stdev, .mock_domain_replace.pt_id = pt_id,
	};

	return ioctl(iommufd, IOMMU_TEST_CMD, &c);
}

static int check_cache(uint32_t idev, uint32_t id, uint32_t value)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c), .op = IOMMU_TEST_OP_DEV_CHECK_CACHE,
		.id = idev, .check_dev_cache = { .id = id, .cache = value },
	};

	return ioctl(iommufd, IOMMU_TEST_CMD, &c);
}

static int hwpt_alloc(uint32_t flags, uint32_t dev_id, uint32_t pt_id,
		      const void *data, uint32_t len, uint32_t *out)
{
	struct iommu_hwpt_alloc c = {
		.size = sizeof(c), .flags = flags, .dev_id = dev_id,
		.pt_id = pt_id,
		.data_type = data ? IOMMU_HWPT_DATA_SELFTEST :
				    IOMMU_HWPT_DATA_NONE,
		.data_len = len, .data_uptr = (uintptr_t)data,
	};
	int rc = ioctl(iommufd, IOMMU_HWPT_ALLOC, &c);

	*out = c.out_hwpt_id;
	return rc;
}

static int viommu_alloc(uint32_t dev_id, uint32_t hwpt_id,
			struct iommu_viommu_selftest *data, uint32_t *out)
{
	struct iommu_viommu_alloc c = {
		.size = sizeof(c), .type = IOMMU_VIOMMU_TYPE_SELFTEST,
		.dev_id = dev_id, .hwpt_id = hwpt_id,
		.data_len = sizeof(*data), .data_uptr = (uintptr_t)data,
	};
	int rc = ioctl(iommufd, IOMMU_VIOMMU_ALLOC, &c);

	*out = c.out_viommu_id;
	return rc;
}

static int vdevice_alloc(uint32_t viommu, uint32_t dev_id, uint64_t virt_id,
			 uint32_t *out)
{
	struct iommu_vdevice_alloc c = {
		.size = sizeof(c), .viommu_id = viommu, .dev_id = dev_id,
		.virt_id = virt_id,
	};
	int rc = ioctl(iommufd, IOMMU_VDEVICE_ALLOC, &c);

	*out = c.out_vdevice_id;
	return rc;
}

static int vinvalidate(uint32_t viommu, const void *entries, uint32_t *num)
{
	struct iommu_hwpt_invalidate c = {
		.size = sizeof(c), .hwpt_id = viommu,
		.data_uptr = (uintptr_t)entries,
		.data_type = IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
		.entry_len = sizeof(struct iommu_viommu_invalidate_selftest),
		.entry_num = *num,
	};
	int rc = ioctl(iommufd, IOMMU_HWPT_INVALIDATE, &c);

	*num = c.entry_num;
	return rc;
}

static int queue_alloc(uint32_t viommu, uint32_t index, uint64_t iova,
		       uint64_t len, uint32_t *out)
{
	struct iommu_hw_queue_alloc c = {
		.size = sizeof(c), .viommu_id = viommu,
		.type = IOMMU_HW_QUEUE_TYPE_SELFTEST, .index = index,
		.nesting_parent_iova = iova, .length = len,
	};
	int rc = ioctl(iommufd, IOMMU_HW_QUEUE_ALLOC, &c);

	*out = c.out_hw_queue_id;
	return rc;
}

/* ---- Linux 7.2 ---- */

static void run_7_2(void)
{
	struct iommu_viommu_selftest data = { .in_data = 0xfeedf00d };
	struct iommu_viommu_invalidate_selftest inv[2] = {
		{ .vdev_id = 0x10, .cache_id = 2 },
		{ .flags = IOMMU_TEST_INVALIDATE_FLAG_ALL, .vdev_id = 0x20 },
	};
	struct iommu_hwpt_selftest nd = { .iotlb = 1 };
	uint32_t ioas = 0, stdev = 0, idev = 0, stdev2 = 0, idev2 = 0;
	uint32_t parent = 0, viommu = 0, nested = 0, vd = 0, vd2 = 0;
	uint32_t q0 = 0, q1 = 0, num;
	uint32_t *page = NULL, *page2 = NULL;
	void *junk;
	int dupfd;

	expect(ioas_alloc(&ioas), 0, "IOAS_ALLOC");
	expect(ioas_map(ioas, buf, LEN, BASE), 0, "IOAS_MAP");
	expect(mock_domain(ioas, &stdev, &idev), 0, "MOCK_DOMAIN");
	expect(mock_domain(ioas, &stdev2, &idev2), 0, "a second MOCK_DOMAIN");
	expect(hwpt_alloc(IOMMU_HWPT_ALLOC_NEST_PARENT, idev, ioas, NULL, 0,
			  &parent),
	       0, "HWPT_ALLOC NEST_PARENT");

	/* The vIOMMU and its pages. */
	expect(viommu_alloc(idev, parent, &data, &viommu), 0,
	       "VIOMMU_ALLOC SELFTEST with data");
	check(data.out_data == 0xfeedf00d, "out_data loops in_data back");
	check(data.out_mmap_length == 2 * PAGE && data.out_mmap_offset,
	      "out_mmap_length is two pages at a nonzero out_mmap_offset");
	expect(map_region(iommufd, data.out_mmap_length, PROT_READ | PROT_WRITE,
			  MAP_SHARED, data.out_mmap_offset, (void **)&page),
	       0, "mmap of /dev/iommu at out_mmap_offset");
	check(page && page[0] == 0xfeedf00d,
	      "the first word of the pages is in_data");
	dupfd = dup(iommufd);
	expect(map_region(dupfd, data.out_mmap_length, PROT_READ, MAP_SHARED,
			  data.out_mmap_offset, (void **)&page2),
	       0, "mmap of a dup of the descriptor");
	if (page)
		page[1] = 0x1234;
	check(page2 && page2[1] == 0x1234,
	      "both mappings are the same memory");
	close(dupfd);
	expect(map_region(iommufd, 2 * PAGE, PROT_READ, MAP_PRIVATE,
			  data.out_mmap_offset, &junk),
	       EINVAL, "mmap MAP_PRIVATE");
	expect(map_region(iommufd, 2 * PAGE, PROT_READ | PROT_EXEC, MAP_SHARED,
			  data.out_mmap_offset, &junk),
	       EPERM, "mmap PROT_EXEC");
	expect(map_region(iommufd, 2 * PAGE, PROT_READ, MAP_SHARED, 0, &junk),
	       ENXIO, "mmap at offset 0");
	expect(map_region(iommufd, PAGE, PROT_READ, MAP_SHARED,
			  data.out_mmap_offset, &junk),
	       ENXIO, "mmap of half the region");
	expect(destroy(viommu), EBUSY, "DESTROY of a mapped vIOMMU");
	expect(destroy(parent), EBUSY, "DESTROY of the vIOMMU's parent");

	/* vdevices, a nested HW pagetable on the vIOMMU, invalidation. */
	expect(hwpt_alloc(0, idev, viommu, &nd, sizeof(nd), &nested), 0,
	       "HWPT_ALLOC nested on the vIOMMU");
	expect(replace(stdev, nested), ENOENT,
	       "attach to it without a vdevice");
	expect(vdevice_alloc(viommu, idev, 0x10, &vd), 0, "VDEVICE_ALLOC");
	expect(vdevice_alloc(viommu, idev, 0x11, &vd2), EEXIST,
	       "VDEVICE_ALLOC of the same device again");
	expect(vdevice_alloc(viommu, idev2, 0x10, &vd2), EEXIST,
	       "VDEVICE_ALLOC of a taken virt_id");
	expect(vdevice_alloc(viommu, idev2, 0x20, &vd2), 0,
	       "VDEVICE_ALLOC of the second device");
	expect(replace(stdev, nested), 0, "attach to it with a vdevice");
	num = 2;
	expect(vinvalidate(viommu, inv, &num), 0, "HWPT_INVALIDATE of the vIOMMU");
	check(num == 2, "both entries handled");
	check(!check_cache(idev, 2, 0) &&
		      !check_cache(idev, 1, IOMMU_TEST_DEV_CACHE_DEFAULT),
	      "the first device lost cache entry 2 only");
	check(!check_cache(idev2, 0, 0) && !check_cache(idev2, 3, 0),
	      "the second device lost every entry");
	inv[0].vdev_id = 0x30;
	num = 2;
	expect(vinvalidate(viommu, inv, &num), EINVAL,
	       "HWPT_INVALIDATE naming no vdevice");
	check(num == 0, "entry_num says none was handled");

	/* HW queues: in order, pinned, locked in the IOAS. */
	expect(queue_alloc(viommu, 1, BASE, PAGE, &q1), EIO,
	       "HW_QUEUE_ALLOC index 1 before 0");
	expect(queue_alloc(viommu, 0, BASE, PAGE, &q0), 0,
	       "HW_QUEUE_ALLOC index 0");
	expect(queue_alloc(viommu, 1, BASE + PAGE, 2 * PAGE, &q1), 0,
	       "HW_QUEUE_ALLOC index 1");
	expect(ioas_unmap(ioas, BASE, LEN), EBUSY,
	       "IOAS_UNMAP of a queue's memory");
	expect(destroy(q0), EBUSY, "DESTROY of queue 0 before 1");

	/* The device goes first: its vdevice leaves a tombstone. */
	expect(destroy(stdev2), 0, "DESTROY of the second device");
	expect(destroy(vd2), ENOENT, "its vdevice is gone");

	/* Destroy order. */
	expect(destroy(q1), 0, "DESTROY queue 1");
	expect(destroy(q0), 0, "DESTROY queue 0");
	expect(ioas_unmap(ioas, BASE, LEN), 0, "IOAS_UNMAP once free");
	expect(replace(stdev, ioas), 0, "the device back to the IOAS");
	expect(destroy(nested), 0, "DESTROY the nested HW pagetable");
	expect(destroy(vd), 0, "DESTROY the vdevice");
	expect(destroy(viommu), EBUSY, "DESTROY of the vIOMMU still mapped");
	expect(munmap(page, 2 * PAGE), 0, "munmap of the first mapping");
	expect(munmap((uint8_t *)page2 + PAGE, PAGE), 0,
	       "munmap of half the second");
	expect(destroy(viommu), EBUSY, "DESTROY with half a mapping left");
	expect(munmap(page2, PAGE), 0, "munmap of the other half");
	expect(destroy(viommu), 0, "DESTROY of the vIOMMU");
	expect(map_region(iommufd, 2 * PAGE, PROT_READ, MAP_SHARED,
			  data.out_mmap_offset, &junk),
	       ENXIO, "mmap once the vIOMMU is gone");
	expect(destroy(parent), 0, "DESTROY of the parent");

	/* A mapping outlives the descriptor, as the kernel's VMA. */
	expect(viommu_alloc(idev, ioas, &data, &viommu), ENOENT,
	       "VIOMMU_ALLOC on an IOAS");
	expect(hwpt_alloc(IOMMU_HWPT_ALLOC_NEST_PARENT, idev, ioas, NULL, 0,
			  &parent),
	       0, "HWPT_ALLOC NEST_PARENT again");
	data.in_data = 0xabc;
	expect(viommu_alloc(idev, parent, &data, &viommu), 0,
	       "VIOMMU_ALLOC again");
	page = NULL;
	expect(map_region(iommufd, 2 * PAGE, PROT_READ, MAP_SHARED,
			  data.out_mmap_offset, (void **)&page),
	       0, "mmap of the new vIOMMU's pages");
	close(iommufd);
	check(page && page[0] == 0xabc,
	      "the pages are readable after close of the descriptor");
	expect(munmap(page, 2 * PAGE), 0, "munmap after the close");
}

/* ---- Linux 6.2 ---- */

static void run_6_2(void)
{
	struct iommu_viommu_selftest data = { 0 };
	uint32_t ioas = 0, stdev = 0, idev = 0, out = 0;
	void *junk;

	expect(ioas_alloc(&ioas), 0, "IOAS_ALLOC");
	expect(mock_domain(ioas, &stdev, &idev), 0, "MOCK_DOMAIN");
	expect(viommu_alloc(stdev, ioas, &data, &out), ENOTTY, "VIOMMU_ALLOC");
	expect(vdevice_alloc(1, stdev, 0, &out), ENOTTY, "VDEVICE_ALLOC");
	expect(queue_alloc(1, 0, BASE, PAGE, &out), ENOTTY, "HW_QUEUE_ALLOC");
	expect(map_region(iommufd, 2 * PAGE, PROT_READ, MAP_SHARED, PAGE,
			  &junk),
	       ENODEV, "mmap of /dev/iommu");
	close(iommufd);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (iommufd < 0)
		die("open /dev/iommu");
	buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap");
	memset(buf, 0x5a, LEN);
	if (!strcmp(mode, "7.2"))
		run_7_2();
	else if (!strcmp(mode, "6.2"))
		run_6_2();
	else
		return fprintf(stderr, "usage: viommu_client 7.2|6.2\n"), 1;
	return 0;
}
