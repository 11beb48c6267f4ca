/* SPDX-License-Identifier: MIT */
/*
 * Kernel releases: what came in which Linux release, so a context answers
 * as the release it was opened for. release.c holds the one table (a row
 * per command, test op, flag, struct layout and changed behaviour); this
 * header gives the layers above a release's resolved view of it.
 */
#ifndef UIOMMUFD_IOMMUFD_RELEASE_H
#define UIOMMUFD_IOMMUFD_RELEASE_H

#include "base/common.h"

/* The command numbers the dispatcher's table spans (0x80 to 0xa0). */
#define IOMMUFD_CMD_SLOTS 33

/* Sets of flag bits whose members came in different releases. */
enum iommufd_flag_set {
	IOMMUFD_FLAGS_IOAS_MAP,		/* IOMMU_IOAS_MAP flags */
	IOMMUFD_FLAGS_IOAS_COPY,	/* IOMMU_IOAS_COPY flags */
	IOMMUFD_FLAGS_TEST_CREATE_ACCESS, /* test op CREATE_ACCESS */
	IOMMUFD_FLAGS_TEST_ACCESS_PAGES, /* test op ACCESS_PAGES */
	IOMMUFD_FLAGS_TEST_ACCESS_RW,	/* test op ACCESS_RW */
	IOMMUFD_FLAGS_HWPT_ALLOC,	/* IOMMU_HWPT_ALLOC flags */
	IOMMUFD_FLAGS_TEST_MOCK_DEVICE,	/* MOCK_DOMAIN_FLAGS dev_flags */
	IOMMUFD_FLAGS_MAX,
};

/* Behaviours that changed; each is true from the release that made it. */
enum iommufd_behaviour {
	/* IOAS_MAP and IOAS_COPY without READABLE or WRITEABLE: EINVAL. */
	IOMMUFD_NEW_MAP_NEEDS_PROT,
	/*
	 * MOCK_DOMAIN attaches its device to an automatic HW pagetable that
	 * goes with the device; before, the device got a HW pagetable of its
	 * own that the caller destroys after the device.
	 */
	IOMMUFD_NEW_MOCK_DOMAIN_AUTO_HWPT,
	/* MOCK_DOMAIN's id may name a HW pagetable; before, only an IOAS. */
	IOMMUFD_NEW_MOCK_DOMAIN_ON_HWPT,
	/*
	 * MD_CHECK_MAP looks its HW pagetable up before checking the
	 * arguments, against the domain's IO page; before, against the mock
	 * IO page first.
	 */
	IOMMUFD_NEW_CHECK_MAP_LOOKUP_FIRST,
	/* mmap() of the file reaches regions objects publish; before, ENODEV. */
	IOMMUFD_NEW_MMAP,
	IOMMUFD_NEW_MAX,
};

/* One release, resolved from the table. */
struct iommufd_release {
	u32 version;			/* UIOMMUFD_KERNEL_VERSION() */
	char name[8];			/* "6.2" */
	u64 commands;			/* bit nr - IOMMUFD_CMD_BASE */
	u64 test_ops;			/* bit op */
	u32 flags[IOMMUFD_FLAGS_MAX];
	u64 behaviours;			/* bit enum iommufd_behaviour */
	/* Struct sizes where they differ from the newest (0: the newest). */
	struct {
		u32 size;
		u32 min_size;
	} layout[IOMMUFD_CMD_SLOTS];
};

/* The release of @version, or NULL when uiommufd cannot answer as it. */
const struct iommufd_release *iommufd_release_find(u32 version);
const struct iommufd_release *iommufd_release_newest(void);
/*
 * "6.2", "v6.2", "6.2.16" (the patch level is ignored): 0 and the
 * version, or -EINVAL with a reason listing the releases there are.
 */
int iommufd_release_parse(const char *text, u32 *version);

static inline bool iommufd_release_has_cmd(const struct iommufd_release *r,
					   unsigned int slot)
{
	return slot < IOMMUFD_CMD_SLOTS && (r->commands >> slot) & 1;
}

static inline bool iommufd_release_has_test_op(const struct iommufd_release *r,
					       u32 op)
{
	return op < 64 && (r->test_ops >> op) & 1;
}

static inline u32 iommufd_release_flags(const struct iommufd_release *r,
					enum iommufd_flag_set set)
{
	return r->flags[set];
}

static inline bool iommufd_release_new(const struct iommufd_release *r,
				       enum iommufd_behaviour behaviour)
{
	return (r->behaviours >> behaviour) & 1;
}

#endif
