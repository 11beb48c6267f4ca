// SPDX-License-Identifier: MIT
/*
 * A tour of /dev/iommu, written only against the kernel's uAPI: it opens
 * /dev/iommu and issues ioctls, so it runs unchanged on a kernel with
 * iommufd and its test module (CONFIG_IOMMUFD_TEST), or anywhere under
 * uiommufd-run. It says what happens, step by step:
 *
 *   an IO address space (IOAS) and its usable IOVA ranges; user memory
 *   mapped into it; mock devices attached through the test module, whose
 *   IO page tables then mirror the IOAS; an emulated device (an access)
 *   pinning a page and reading and writing through IOVA; a copy into a
 *   second IOAS that shares the pinned pages; an unmap under the access's
 *   pin, which the access is called back for; and the teardown.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#if __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#endif
/* The test module's interface (the kernel keeps it beside its selftests). */
#include "uiommufd/iommufd_test_uapi.h"

#define PAGE 4096UL
#define BUF_LEN (16 * PAGE)

static int iommufd;

static void die(const char *what)
{
	fprintf(stderr, "demo: %s failed: %s\n", what, strerror(errno));
	exit(1);
}

static uint32_t ioas_alloc(void)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };

	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &cmd))
		die("IOMMU_IOAS_ALLOC");
	return cmd.out_ioas_id;
}

static void show_ranges(uint32_t ioas)
{
	struct iommu_iova_range ranges[4];
	struct iommu_ioas_iova_ranges cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas,
		.num_iovas = 4,
		.allowed_iovas = (uintptr_t)ranges,
	};

	if (ioctl(iommufd, IOMMU_IOAS_IOVA_RANGES, &cmd))
		die("IOMMU_IOAS_IOVA_RANGES");
	for (uint32_t i = 0; i < cmd.num_iovas; i++)
		printf("    usable IOVA [%#llx, %#llx]\n",
		       (unsigned long long)ranges[i].start,
		       (unsigned long long)ranges[i].last);
	printf("    every IOVA and length must be a multiple of %llu bytes\n",
	       (unsigned long long)cmd.out_iova_alignment);
}

static int test_cmd(struct iommu_test_cmd *cmd)
{
	cmd->size = sizeof(*cmd);
	return ioctl(iommufd, IOMMU_TEST_CMD, cmd);
}

static uint32_t attach_mock_device(uint32_t ioas, uint32_t *hwpt)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = ioas,
	};

	if (test_cmd(&cmd))
		die("IOMMU_TEST_OP_MOCK_DOMAIN");
	*hwpt = cmd.mock_domain.out_hwpt_id;
	return cmd.mock_domain.out_stdev_id;
}

static void check_map(uint32_t hwpt, uint64_t iova, void *buf, size_t len)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MD_CHECK_MAP,
		.id = hwpt,
		.check_map = { .iova = iova, .length = len,
			       .uptr = (uintptr_t)buf },
	};

	if (test_cmd(&cmd))
		die("IOMMU_TEST_OP_MD_CHECK_MAP");
}

static void check_refs(void *buf, size_t len, unsigned int refs)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MD_CHECK_REFS,
		.check_refs = { .length = len, .uptr = (uintptr_t)buf,
				.refs = refs },
	};

	if (test_cmd(&cmd))
		die("IOMMU_TEST_OP_MD_CHECK_REFS");
}

static void destroy(uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	if (ioctl(iommufd, IOMMU_DESTROY, &cmd))
		die("IOMMU_DESTROY");
}

int main(void)
{
	uint32_t ioas, ioas2, dev, hwpt, dev2, hwpt2, item;
	char *buf, text[64];
	uint64_t iova, iova2;
	int access_fd;

	printf("1. Open /dev/iommu and make an IO address space (IOAS).\n");
	iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (iommufd < 0)
		die("open /dev/iommu");
	ioas = ioas_alloc();
	printf("    IOAS %u; with no device attached, any IOVA will do:\n",
	       ioas);
	show_ranges(ioas);

	printf("2. Attach a mock device (test module): its IO page table now mirrors the IOAS.\n");
	dev = attach_mock_device(ioas, &hwpt);
	printf("    device object %u, IO page table (HW pagetable) %u; the device's limits apply:\n",
	       dev, hwpt);
	show_ranges(ioas);

	printf("3. Map 64 KiB of our memory; the library picks the IOVA.\n");
	buf = mmap(NULL, BUF_LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap");
	strcpy(buf, "hello from the CPU");
	{
		struct iommu_ioas_map cmd = {
			.size = sizeof(cmd),
			.flags = IOMMU_IOAS_MAP_READABLE |
				 IOMMU_IOAS_MAP_WRITEABLE,
			.ioas_id = ioas,
			.user_va = (uintptr_t)buf,
			.length = BUF_LEN,
		};

		if (ioctl(iommufd, IOMMU_IOAS_MAP, &cmd))
			die("IOMMU_IOAS_MAP");
		iova = cmd.iova;
	}
	check_map(hwpt, iova, buf, BUF_LEN);
	check_refs(buf, BUF_LEN, 1);
	printf("    mapped at IOVA %#llx; the device's page table translates every 2 KiB of it to our pages,\n"
	       "    and each page is pinned exactly once\n",
	       (unsigned long long)iova);

	printf("4. An emulated device (an access) pins the first page and uses IOVA.\n");
	{
		struct iommu_test_cmd cmd = {
			.op = IOMMU_TEST_OP_CREATE_ACCESS,
			.id = ioas,
			.create_access = {
				.flags = MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
			},
		};

		if (test_cmd(&cmd))
			die("IOMMU_TEST_OP_CREATE_ACCESS");
		access_fd = cmd.create_access.out_access_fd;
	}
	{
		struct iommu_test_cmd cmd = {
			.op = IOMMU_TEST_OP_ACCESS_PAGES,
			.id = access_fd,
			.access_pages = { .iova = iova, .length = PAGE,
					  .uptr = (uintptr_t)buf },
		};

		if (test_cmd(&cmd))
			die("IOMMU_TEST_OP_ACCESS_PAGES");
		item = cmd.access_pages.out_access_pages_id;
	}
	check_refs(buf, PAGE, 1);
	{
		struct iommu_test_cmd cmd = {
			.op = IOMMU_TEST_OP_ACCESS_RW,
			.id = access_fd,
			.access_rw = { .iova = iova, .length = sizeof(text),
				       .uptr = (uintptr_t)text },
		};

		memset(text, 0, sizeof(text));
		if (test_cmd(&cmd))
			die("IOMMU_TEST_OP_ACCESS_RW read");
		printf("    access %d pinned the page (still pinned once) and read \"%s\" at IOVA %#llx\n",
		       access_fd, text, (unsigned long long)iova);
		strcpy(text, "hello from the device");
		cmd.access_rw.flags = MOCK_ACCESS_RW_WRITE;
		if (test_cmd(&cmd))
			die("IOMMU_TEST_OP_ACCESS_RW write");
		printf("    it wrote through IOVA; our memory now says \"%s\"\n",
		       buf);
	}

	printf("5. Copy the mapping into a second IOAS with its own device: no second pin.\n");
	ioas2 = ioas_alloc();
	dev2 = attach_mock_device(ioas2, &hwpt2);
	{
		struct iommu_ioas_copy cmd = {
			.size = sizeof(cmd),
			.flags = IOMMU_IOAS_MAP_READABLE |
				 IOMMU_IOAS_MAP_WRITEABLE,
			.dst_ioas_id = ioas2,
			.src_ioas_id = ioas,
			.length = BUF_LEN,
			.src_iova = iova,
		};

		if (ioctl(iommufd, IOMMU_IOAS_COPY, &cmd))
			die("IOMMU_IOAS_COPY");
		iova2 = cmd.dst_iova;
	}
	check_map(hwpt2, iova2, buf, BUF_LEN);
	check_refs(buf, BUF_LEN, 1);
	printf("    IOAS %u maps the same pages at IOVA %#llx; still one pin per page\n",
	       ioas2, (unsigned long long)iova2);

	printf("6. Unmap the first IOAS while the access holds its pin.\n");
	{
		struct iommu_ioas_unmap cmd = {
			.size = sizeof(cmd),
			.ioas_id = ioas,
			.iova = iova,
			.length = BUF_LEN,
		};

		if (ioctl(iommufd, IOMMU_IOAS_UNMAP, &cmd))
			die("IOMMU_IOAS_UNMAP");
		printf("    unmapped %llu bytes\n",
		       (unsigned long long)cmd.length);
	}
	{
		struct iommu_test_cmd cmd = {
			.op = IOMMU_TEST_OP_DESTROY_ACCESS_PAGES,
			.id = access_fd,
			.destroy_access_pages = { .access_pages_id = item },
		};

		if (!test_cmd(&cmd) || errno != ENOENT)
			die("the unmap callback check");
		printf("    the access was called back during the unmap and dropped its pin:\n"
		       "    its pin %u is gone (ENOENT); the copy keeps the pages pinned once\n",
		       item);
	}
	check_refs(buf, BUF_LEN, 1);

	printf("7. Tear down.\n");
	{
		struct iommu_destroy cmd = { .size = sizeof(cmd), .id = ioas2 };

		if (!ioctl(iommufd, IOMMU_DESTROY, &cmd) || errno != EBUSY)
			die("the busy IOAS check");
		printf("    IOAS %u cannot go while a device is attached (EBUSY)\n",
		       ioas2);
	}
	close(access_fd);
	destroy(dev2);
	destroy(ioas2);
	destroy(dev);
	destroy(ioas);
	check_refs(buf, BUF_LEN, 0);
	close(iommufd);
	printf("    devices, IO page tables and IOASes destroyed; nothing is pinned any more\n");
	munmap(buf, BUF_LEN);
	return 0;
}
