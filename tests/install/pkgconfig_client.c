// SPDX-License-Identifier: MIT
/*
 * A program built against an installed uiommufd with nothing but
 * `pkg-config --cflags --libs uiommufd` (tests/install/check-install.sh
 * builds it, shared and static). It opens a context with attributes,
 * reads them back, and runs commands through uiommufd_ioctl(), checking
 * each result. Prints one line per check; exits 0 only if all held.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <uiommufd/iommufd_uapi.h>
#include <uiommufd/uiommufd.h>

static int failed;

static void check(int cond, const char *what)
{
	int err = errno;
	const char *why = uiommufd_last_reason();

	printf("%s: %s", cond ? "ok" : "FAILED", what);
	if (!cond)
		printf(" (errno %d %s; reason: %s)", err, strerror(err),
		       why ? why : "none");
	printf("\n");
	if (!cond)
		failed = 1;
}

int main(void)
{
	struct uiommufd_ctx_attr attr = { .size = sizeof(attr) };
	struct uiommufd_ctx_attr got = { .size = sizeof(got) };
	struct uiommufd_ctx_attr bad = { .size = sizeof(bad) };
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommu_ioas_map map = { .size = sizeof(map) };
	struct iommu_ioas_unmap unmap = { .size = sizeof(unmap) };
	struct iommu_destroy destroy = { .size = sizeof(destroy) };
	const size_t len = 1 << 16;
	struct uiommufd_ctx *ctx;
	void *buf;
	int rc;

	check(!uiommufd_ctx_attr_parse(&attr, "kernel", "6.2"),
	      "attribute kernel=6.2 parses");
	check(!uiommufd_ctx_attr_parse(&attr, "memlock", "64M"),
	      "attribute memlock=64M parses");
	check(uiommufd_ctx_attr_parse(&bad, "kernel", "2.6") == -1 &&
		      errno == EINVAL && uiommufd_last_reason(),
	      "an unknown release is EINVAL with a reason");

	ctx = uiommufd_ctx_open_attr(&attr);
	check(ctx != NULL, "uiommufd_ctx_open_attr opens a context");
	if (!ctx)
		return 1;

	rc = uiommufd_ctx_get_attr(ctx, &got);
	check(!rc && got.kernel == UIOMMUFD_KERNEL_6_2 &&
		      (got.set & UIOMMUFD_ATTR_KERNEL) &&
		      (got.set & UIOMMUFD_ATTR_MEMLOCK) &&
		      got.memlock == (uint64_t)64 << 20,
	      "uiommufd_ctx_get_attr reads back release 6.2 and 64 MiB");

	rc = uiommufd_ioctl(ctx, IOMMU_IOAS_ALLOC, &alloc);
	check(rc == 0 && alloc.out_ioas_id != 0,
	      "IOMMU_IOAS_ALLOC gives an IOAS");

	buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check(buf != MAP_FAILED, "mmap");
	if (buf == MAP_FAILED)
		return 1;
	map.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
		    IOMMU_IOAS_MAP_WRITEABLE;
	map.ioas_id = alloc.out_ioas_id;
	map.user_va = (uintptr_t)buf;
	map.length = len;
	map.iova = 0x1000000;
	rc = uiommufd_ioctl(ctx, IOMMU_IOAS_MAP, &map);
	check(rc == 0 && map.iova == 0x1000000, "IOMMU_IOAS_MAP at a fixed IOVA");

	unmap.ioas_id = alloc.out_ioas_id;
	unmap.iova = 0x1000000;
	unmap.length = len;
	rc = uiommufd_ioctl(ctx, IOMMU_IOAS_UNMAP, &unmap);
	check(rc == 0 && unmap.length == len,
	      "IOMMU_IOAS_UNMAP reports the bytes unmapped");

	destroy.id = alloc.out_ioas_id + 1000;
	rc = uiommufd_ioctl(ctx, IOMMU_DESTROY, &destroy);
	check(rc == -1 && errno == ENOENT && uiommufd_last_reason(),
	      "IOMMU_DESTROY of no object is ENOENT with a reason");

	destroy.id = alloc.out_ioas_id;
	rc = uiommufd_ioctl(ctx, IOMMU_DESTROY, &destroy);
	check(rc == 0, "IOMMU_DESTROY of the IOAS");

	uiommufd_ctx_close(ctx);
	munmap(buf, len);
	printf("%s\n", failed ? "pkgconfig_client: FAILED" :
				"pkgconfig_client: all checks passed");
	return failed;
}
