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
 *                       pagetable on the vIOMMU, cache invalidation, a
 *                       vEVENTQ and the events read from it, HW queues in
 *                       order, destroy order, munmap in parts
 *   viommu_client 6.2   the commands answer ENOTTY, TRIGGER_VEVENT
 *                       EOPNOTSUPP, mmap() ENODEV
 *
 * Prints one TAP line per check, unnumbered ("ok - ..."); the checker
 * numbers them. Every check prints its line even when what it needs
 * failed earlier, so the count stays fixed. Exits 1 when it could not
 * start at all.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "e2e_client.h"

#define LEN (16 * PAGE)

static uint8_t *buf;

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

/* mremap(): 0 and *out, or -1 with errno. */
static int remap(void *old, size_t old_len, size_t new_len, int flags,
		 void *new_addr, void **out)
{
	void *p = mremap(old, old_len, new_len, flags, new_addr);

	if (p == MAP_FAILED)
		return -1;
	*out = p;
	return 0;
}

/* ---- the commands only this client uses ---- */

static int check_cache(uint32_t idev, uint32_t id, uint32_t value)
{
	struct iommu_test_cmd c = {};

	c.check_dev_cache.id = id;
	c.check_dev_cache.cache = value;
	return test_cmd(&c, IOMMU_TEST_OP_DEV_CHECK_CACHE, idev);
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
	return invalidate(viommu, IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
			  entries,
			  sizeof(struct iommu_viommu_invalidate_selftest),
			  num);
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

static int veventq_alloc(uint32_t viommu, uint32_t depth, uint32_t *id,
			 int *fd)
{
	struct iommu_veventq_alloc c = {
		.size = sizeof(c), .viommu_id = viommu,
		.type = IOMMU_VEVENTQ_TYPE_SELFTEST, .veventq_depth = depth,
	};
	int rc = ioctl(iommufd, IOMMU_VEVENTQ_ALLOC, &c);

	*id = c.out_veventq_id;
	*fd = c.out_veventq_fd;
	return rc;
}

/* The mock vIOMMU reports an event for @idev's vdevice, @n times. */
static int trigger_vevent(uint32_t idev, unsigned int n)
{
	struct iommu_test_cmd c = {};
	int rc = 0;

	c.trigger_vevent.dev_id = idev;
	while (n-- && !rc)
		rc = test_cmd(&c, IOMMU_TEST_OP_TRIGGER_VEVENT, 0);
	return rc;
}

/* One event as read() gives it: a header, and its payload. */
struct event {
	struct iommufd_vevent_header hdr;
	struct iommu_viommu_event_selftest sel;
} __attribute__((packed));

static bool event_is(const uint8_t *p, uint32_t seq, uint32_t virt_id)
{
	struct event e;

	memcpy(&e, p, sizeof(e));
	return !e.hdr.flags && e.hdr.sequence == seq &&
	       e.sel.virt_id == virt_id;
}

/* ---- Linux 7.2 ---- */

/*
 * A vEVENTQ of depth 2 on the vIOMMU: events of the device's vdevice
 * (virt_id 0x10) read back whole, in sequence, and an overflow read as
 * the events kept and a LOST_EVENTS header.
 */
static void veventq_checks(uint32_t viommu, uint32_t idev)
{
	uint8_t ev[64];
	struct iommufd_vevent_header lost;
	uint32_t veventq = 0, id;
	int fd = -1, junk;
	void *map;
	ssize_t n;

	/* The kernel's read never waits: a read that blocks is a failure. */
	alarm(60);
	expect(veventq_alloc(viommu, 2, &veventq, &fd), 0,
	       "VEVENTQ_ALLOC SELFTEST, depth 2");
	check(fd >= 0, "out_veventq_fd is a descriptor");
	expect(veventq_alloc(viommu, 2, &id, &junk), EEXIST,
	       "VEVENTQ_ALLOC of the same type again");
	expect(trigger_vevent(idev, 1), 0, "TRIGGER_VEVENT");
	expect(read(fd, ev, 4), EINVAL, "read of less than a header");
	expect(read(fd, ev, 8), EINVAL, "read of less than the first event");
	n = read(fd, ev, sizeof(ev));
	check(n == sizeof(struct event) && event_is(ev, 0, 0x10),
	      "read: one event, sequence 0, virt_id 0x10");
	n = read(fd, ev, sizeof(ev));
	check(n == 0, "read of the empty queue: 0");
	expect(map_region(fd, PAGE, PROT_READ, MAP_SHARED, 0, &map), ENODEV,
	       "mmap of the vEVENTQ's descriptor");
	expect(trigger_vevent(idev, 3), 0, "TRIGGER_VEVENT three times");
	n = read(fd, ev, sizeof(ev));
	memcpy(&lost, ev + 2 * sizeof(struct event), sizeof(lost));
	check(n == 2 * sizeof(struct event) + sizeof(lost) &&
		      event_is(ev, 1, 0x10) &&
		      event_is(ev + sizeof(struct event), 2, 0x10) &&
		      lost.flags == IOMMU_VEVENTQ_FLAG_LOST_EVENTS &&
		      lost.sequence == 3,
	      "read: the two events kept, then a LOST_EVENTS header");
	expect(trigger_vevent(idev, 1), 0, "TRIGGER_VEVENT after the overflow");
	n = read(fd, ev, sizeof(ev));
	check(n == sizeof(struct event) && event_is(ev, 4, 0x10),
	      "read: the next event, sequence 4");
	check(!close(fd), "close of the vEVENTQ's descriptor");
	expect(destroy(veventq), 0, "DESTROY of the vEVENTQ");
	alarm(0);
}

static void run_7_2(void)
{
	struct iommu_viommu_selftest data = { .in_data = 0xfeedf00d };
	struct iommu_viommu_invalidate_selftest inv[2] = {
		{ .vdev_id = 0x10, .cache_id = 2 },
		{ .flags = IOMMU_TEST_INVALIDATE_FLAG_ALL, .vdev_id = 0x20 },
	};
	struct iommu_hwpt_selftest nd = { .iotlb = 1 };
	struct mock_dev dev = {}, dev2 = {};
	uint32_t ioas = 0, parent = 0, viommu = 0, nested = 0, vd = 0;
	uint32_t vd2 = 0, q0 = 0, q1 = 0, num, pt;
	uint32_t *page = NULL, *page2 = NULL;
	void *moved = NULL, *hole;
	void *junk;
	int dupfd;

	expect(ioas_alloc(&ioas), 0, "IOAS_ALLOC");
	expect(ioas_map(ioas, buf, LEN, BASE), 0, "IOAS_MAP");
	expect(mock_domain(ioas, 0, &dev), 0, "MOCK_DOMAIN");
	expect(mock_domain(ioas, 0, &dev2), 0, "a second MOCK_DOMAIN");
	expect(hwpt_alloc(IOMMU_HWPT_ALLOC_NEST_PARENT, dev.idev, ioas,
			  IOMMU_HWPT_DATA_NONE, NULL, 0, &parent),
	       0, "HWPT_ALLOC NEST_PARENT");

	/* The vIOMMU and its pages. */
	expect(viommu_alloc(dev.idev, parent, &data, &viommu), 0,
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
	expect(hwpt_alloc(0, dev.idev, viommu, IOMMU_HWPT_DATA_SELFTEST, &nd,
			  sizeof(nd), &nested),
	       0, "HWPT_ALLOC nested on the vIOMMU");
	pt = nested;
	expect(replace(dev.stdev, &pt), ENOENT,
	       "attach to it without a vdevice");
	expect(vdevice_alloc(viommu, dev.idev, 0x10, &vd), 0, "VDEVICE_ALLOC");
	expect(vdevice_alloc(viommu, dev.idev, 0x11, &vd2), EEXIST,
	       "VDEVICE_ALLOC of the same device again");
	expect(vdevice_alloc(viommu, dev2.idev, 0x10, &vd2), EEXIST,
	       "VDEVICE_ALLOC of a taken virt_id");
	expect(vdevice_alloc(viommu, dev2.idev, 0x20, &vd2), 0,
	       "VDEVICE_ALLOC of the second device");
	pt = nested;
	expect(replace(dev.stdev, &pt), 0, "attach to it with a vdevice");
	num = 2;
	expect(vinvalidate(viommu, inv, &num), 0, "HWPT_INVALIDATE of the vIOMMU");
	check(num == 2, "both entries handled");
	check(!check_cache(dev.idev, 2, 0) &&
		      !check_cache(dev.idev, 1, IOMMU_TEST_DEV_CACHE_DEFAULT),
	      "the first device lost cache entry 2 only");
	check(!check_cache(dev2.idev, 0, 0) && !check_cache(dev2.idev, 3, 0),
	      "the second device lost every entry");
	inv[0].vdev_id = 0x30;
	num = 2;
	expect(vinvalidate(viommu, inv, &num), EINVAL,
	       "HWPT_INVALIDATE naming no vdevice");
	check(num == 0, "entry_num says none was handled");

	veventq_checks(viommu, dev.idev);

	/* HW queues: in order, pinned, locked in the IOAS. */
	expect(queue_alloc(viommu, 1, BASE, PAGE, &q1), EIO,
	       "HW_QUEUE_ALLOC index 1 before 0");
	expect(queue_alloc(viommu, 0, BASE, PAGE, &q0), 0,
	       "HW_QUEUE_ALLOC index 0");
	expect(queue_alloc(viommu, 1, BASE + PAGE, 2 * PAGE, &q1), 0,
	       "HW_QUEUE_ALLOC index 1");
	expect(ioas_unmap(ioas, BASE, LEN, NULL), EBUSY,
	       "IOAS_UNMAP of a queue's memory");
	expect(destroy(q0), EBUSY, "DESTROY of queue 0 before 1");

	/* The device goes first: its vdevice leaves a tombstone. */
	expect(destroy(dev2.stdev), 0, "DESTROY of the second device");
	expect(destroy(vd2), ENOENT, "its vdevice is gone");

	/* Destroy order. */
	expect(destroy(q1), 0, "DESTROY queue 1");
	expect(destroy(q0), 0, "DESTROY queue 0");
	expect(ioas_unmap(ioas, BASE, LEN, NULL), 0, "IOAS_UNMAP once free");
	pt = ioas;
	expect(replace(dev.stdev, &pt), 0, "the device back to the IOAS");
	expect(destroy(nested), 0, "DESTROY the nested HW pagetable");
	expect(destroy(vd), 0, "DESTROY the vdevice");
	expect(destroy(viommu), EBUSY, "DESTROY of the vIOMMU still mapped");
	/* mremap as of the kernel's VM_PFNMAP | VM_DONTEXPAND mapping. */
	expect(remap(page, 2 * PAGE, 3 * PAGE, MREMAP_MAYMOVE, NULL, &moved),
	       EFAULT, "mremap growing a mapping");
	hole = mmap(NULL, 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	check(hole != MAP_FAILED, "a place to move the mapping to");
	expect(remap(page, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
		     hole, &moved),
	       0, "mremap moving the first mapping");
	check(moved == hole && ((uint32_t *)moved)[0] == 0xfeedf00d,
	      "the moved mapping reads the vIOMMU's page");
	page = moved;
	expect(munmap((uint8_t *)page + 1, PAGE), EINVAL,
	       "munmap at an address in the mapping not page aligned");
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
	expect(viommu_alloc(dev.idev, ioas, &data, &viommu), ENOENT,
	       "VIOMMU_ALLOC on an IOAS");
	expect(hwpt_alloc(IOMMU_HWPT_ALLOC_NEST_PARENT, dev.idev, ioas,
			  IOMMU_HWPT_DATA_NONE, NULL, 0, &parent),
	       0, "HWPT_ALLOC NEST_PARENT again");
	data.in_data = 0xabc;
	expect(viommu_alloc(dev.idev, parent, &data, &viommu), 0,
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
	struct mock_dev dev = {};
	uint32_t ioas = 0, out = 0;
	void *junk;
	int fd;

	expect(ioas_alloc(&ioas), 0, "IOAS_ALLOC");
	expect(mock_domain(ioas, 0, &dev), 0, "MOCK_DOMAIN");
	expect(viommu_alloc(dev.stdev, ioas, &data, &out), ENOTTY,
	       "VIOMMU_ALLOC");
	expect(vdevice_alloc(1, dev.stdev, 0, &out), ENOTTY, "VDEVICE_ALLOC");
	expect(queue_alloc(1, 0, BASE, PAGE, &out), ENOTTY, "HW_QUEUE_ALLOC");
	expect(veventq_alloc(1, 2, &out, &fd), ENOTTY, "VEVENTQ_ALLOC");
	expect(trigger_vevent(dev.stdev, 1), EOPNOTSUPP,
	       "test op 17 TRIGGER_VEVENT");
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
