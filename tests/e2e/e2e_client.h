/* SPDX-License-Identifier: MIT */
/*
 * What the TAP clients of the check scripts share (hwpt_client.c,
 * viommu_client.c): programs written only against the kernel's uAPI
 * headers, so this includes nothing else (no test harness, nothing of
 * uiommufd). Each client prints one unnumbered TAP line per check
 * ("ok - ..."), which its script numbers, and works on one /dev/iommu
 * descriptor, iommufd, through the wrappers below: each returns what
 * ioctl() returns (-1 with errno on failure) and writes its outputs back
 * whatever the result, so a check can see what a failure left.
 */
#ifndef UIOMMUFD_TESTS_E2E_CLIENT_H
#define UIOMMUFD_TESTS_E2E_CLIENT_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <uiommufd/iommufd_test_uapi.h>
#include <uiommufd/iommufd_uapi.h>

#define PAGE 4096UL
#define BASE MOCK_APERTURE_START
#define MAP_RW (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)

static int iommufd;

/* ---- reporting ---- */

static inline const char *err_name(int err)
{
	return err ? strerrorname_np(err) ?: "errno ?" : "ok";
}

static inline bool __attribute__((format(printf, 2, 3)))
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

/*
 * An ioctl's result against the kernel's: @want is 0 for success or the
 * errno; the description gets ": ok" or ": EFOO" appended.
 */
static inline bool __attribute__((format(printf, 3, 4)))
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

/* The client could not start: exit 1, which its script reports. */
static inline void __attribute__((noreturn)) die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what,
		strerror(errno));
	exit(1);
}

/* ---- the commands, as a program would wrap them ---- */

static inline int test_cmd(struct iommu_test_cmd *cmd, uint32_t op,
			   uint32_t id)
{
	cmd->size = sizeof(*cmd);
	cmd->op = op;
	cmd->id = id;
	return ioctl(iommufd, IOMMU_TEST_CMD, cmd);
}

static inline int destroy(uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return ioctl(iommufd, IOMMU_DESTROY, &cmd);
}

static inline int ioas_alloc(uint32_t *id)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int rc = ioctl(iommufd, IOMMU_IOAS_ALLOC, &cmd);

	*id = cmd.out_ioas_id;
	return rc;
}

/* Read and write, at a fixed IOVA. */
static inline int ioas_map(uint32_t ioas, void *va, uint64_t len,
			   uint64_t iova)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA,
		.ioas_id = ioas,
		.user_va = (uintptr_t)va,
		.length = len,
		.iova = iova,
	};

	return ioctl(iommufd, IOMMU_IOAS_MAP, &cmd);
}

/* *unmapped (when not NULL): the length unmapped. */
static inline int ioas_unmap(uint32_t ioas, uint64_t iova, uint64_t len,
			     uint64_t *unmapped)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas,
		.iova = iova,
		.length = len,
	};
	int rc = ioctl(iommufd, IOMMU_IOAS_UNMAP, &cmd);

	if (unmapped)
		*unmapped = cmd.length;
	return rc;
}

struct mock_dev {
	uint32_t stdev, hwpt, idev;
};

/* A mock device attached to @pt_id; MOCK_DOMAIN_FLAGS when @dev_flags. */
static inline int mock_domain(uint32_t pt_id, uint32_t dev_flags,
			      struct mock_dev *dev)
{
	struct iommu_test_cmd cmd = {};
	int rc;

	cmd.mock_domain_flags.dev_flags = dev_flags;
	rc = test_cmd(&cmd, dev_flags ? IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS :
					IOMMU_TEST_OP_MOCK_DOMAIN, pt_id);
	dev->stdev = cmd.mock_domain.out_stdev_id;
	dev->hwpt = cmd.mock_domain.out_hwpt_id;
	dev->idev = cmd.mock_domain.out_idev_id;
	return rc;
}

/* *pt_id in; out, the ID attached (an auto HWPT's for an IOAS). */
static inline int replace(uint32_t stdev, uint32_t *pt_id)
{
	struct iommu_test_cmd cmd = {};
	int rc;

	cmd.mock_domain_replace.pt_id = *pt_id;
	rc = test_cmd(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, stdev);
	*pt_id = cmd.mock_domain_replace.pt_id;
	return rc;
}

static inline int hwpt_alloc(uint32_t flags, uint32_t dev_id, uint32_t pt_id,
			     uint32_t data_type, const void *data,
			     uint32_t len, uint32_t *out)
{
	struct iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.dev_id = dev_id,
		.pt_id = pt_id,
		.data_type = data_type,
		.data_len = len,
		.data_uptr = (uintptr_t)data,
	};
	int rc = ioctl(iommufd, IOMMU_HWPT_ALLOC, &cmd);

	*out = cmd.out_hwpt_id;
	return rc;
}

/* Of a nested HWPT or a vIOMMU; *num: entries in, entries handled out. */
static inline int invalidate(uint32_t id, uint32_t type, const void *entries,
			     uint32_t len, uint32_t *num)
{
	struct iommu_hwpt_invalidate cmd = {
		.size = sizeof(cmd),
		.hwpt_id = id,
		.data_uptr = (uintptr_t)entries,
		.data_type = type,
		.entry_len = len,
		.entry_num = *num,
	};
	int rc = ioctl(iommufd, IOMMU_HWPT_INVALIDATE, &cmd);

	*num = cmd.entry_num;
	return rc;
}

#endif
