// SPDX-License-Identifier: MIT
/*
 * The release table: what came in which Linux release. One row per
 * command, test op, flag, struct layout and changed behaviour; a context
 * opened for a release answers with what that release had. Add a row
 * with every command, op, flag or behaviour change; add a release to
 * `releases` only when every row is known for it.
 */
#include "iommufd/release.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err_reason.h"
#include "uiommufd/iommufd_test_uapi.h"
#include "uiommufd/iommufd_uapi.h"
#include "uiommufd/uiommufd.h"

#define V(major, minor) UIOMMUFD_KERNEL_VERSION(major, minor)

/* The releases uiommufd answers as, oldest first. */
static struct iommufd_release releases[] = {
	{ .version = V(6, 2) },
	{ .version = V(7, 2) },
};

enum row_kind {
	ROW_CMD,	/* id: the request */
	ROW_TEST_OP,	/* id: IOMMU_TEST_OP_* */
	ROW_FLAG,	/* id: enum iommufd_flag_set, a: the bits */
	ROW_LAYOUT,	/* id: the request, a: sizeof, b: minimum size */
	ROW_NEW,	/* id: enum iommufd_behaviour */
};

struct release_row {
	enum row_kind kind;
	u32 id, a, b;
	u32 since;
	const char *what;
	const char *note;
};

#define CMD(req, since) { ROW_CMD, req, 0, 0, since, #req, NULL }
#define CMD_NOTE(req, since, note) { ROW_CMD, req, 0, 0, since, #req, note }
#define TEST_OP(op, since) { ROW_TEST_OP, op, 0, 0, since, #op, NULL }
#define FLAG(set, label, bits, since, note)                                 \
	{ ROW_FLAG, set, bits, 0, since, label " flag " #bits, note }
#define LAYOUT(req, size, min, since, note)                                 \
	{ ROW_LAYOUT, req, size, min, since, #req " of " #size " bytes", note }
#define NEW(behaviour, what, since, note)                                   \
	{ ROW_NEW, behaviour, 0, 0, since, what, note }

static const char after_6_2[] =
	"came after 6.2; the release in between is not recorded here";

static const struct release_row table[] = {
	/* ---- Linux 6.2: the first ABI ---- */
	CMD(IOMMU_DESTROY, V(6, 2)),
	CMD(IOMMU_IOAS_ALLOC, V(6, 2)),
	CMD(IOMMU_IOAS_ALLOW_IOVAS, V(6, 2)),
	CMD(IOMMU_IOAS_COPY, V(6, 2)),
	CMD(IOMMU_IOAS_IOVA_RANGES, V(6, 2)),
	CMD(IOMMU_IOAS_MAP, V(6, 2)),
	CMD(IOMMU_IOAS_UNMAP, V(6, 2)),
	CMD_NOTE(IOMMU_OPTION, V(6, 2),
		 "RLIMIT_MODE and HUGE_PAGES as the newest; not known to differ in 6.2"),
	CMD_NOTE(IOMMU_VFIO_IOAS, V(6, 2),
		 "the VFIO type1 compatibility behind it answers as the newest under every release"),
	CMD(IOMMU_TEST_CMD, V(6, 2)),
	TEST_OP(IOMMU_TEST_OP_ADD_RESERVED, V(6, 2)),
	TEST_OP(IOMMU_TEST_OP_MOCK_DOMAIN, V(6, 2)),
	TEST_OP(IOMMU_TEST_OP_MD_CHECK_MAP, V(6, 2)),
	TEST_OP(IOMMU_TEST_OP_MD_CHECK_REFS, V(6, 2)),
	TEST_OP(IOMMU_TEST_OP_CREATE_ACCESS, V(6, 2)),
	TEST_OP(IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, V(6, 2)),
	TEST_OP(IOMMU_TEST_OP_ACCESS_PAGES, V(6, 2)),
	TEST_OP(IOMMU_TEST_OP_ACCESS_RW, V(6, 2)),
	TEST_OP(IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, V(6, 2)),
	FLAG(IOMMUFD_FLAGS_IOAS_MAP, "IOMMU_IOAS_MAP",
	     IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE |
		     IOMMU_IOAS_MAP_READABLE,
	     V(6, 2), NULL),
	FLAG(IOMMUFD_FLAGS_IOAS_COPY, "IOMMU_IOAS_COPY",
	     IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE |
		     IOMMU_IOAS_MAP_READABLE,
	     V(6, 2), NULL),
	FLAG(IOMMUFD_FLAGS_TEST_CREATE_ACCESS, "CREATE_ACCESS",
	     MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, V(6, 2), NULL),
	FLAG(IOMMUFD_FLAGS_TEST_ACCESS_PAGES, "ACCESS_PAGES",
	     MOCK_FLAGS_ACCESS_WRITE, V(6, 2), NULL),
	FLAG(IOMMUFD_FLAGS_TEST_ACCESS_RW, "ACCESS_RW",
	     MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH, V(6, 2), NULL),
	LAYOUT(IOMMU_TEST_CMD, 56, 52, V(6, 2),
	       "mock_domain is {out_device_id, out_hwpt_id}"),

	/* ---- after 6.2 ---- */
	LAYOUT(IOMMU_TEST_CMD, 72, 68, V(7, 2),
	       "out_idev_id and the later ops' members; grew after 6.2 in steps not recorded here"),
	NEW(IOMMUFD_NEW_MOCK_DOMAIN_AUTO_HWPT,
	    "MOCK_DOMAIN attaches to an automatic HW pagetable", V(7, 2),
	    "came with out_idev_id, after 6.2; 6.2's mock device was the selftest object alone (no device ID of its own) with a HW pagetable of its own, destroyed by the caller after the device"),
	NEW(IOMMUFD_NEW_MOCK_DOMAIN_ON_HWPT,
	    "MOCK_DOMAIN takes a HW pagetable id", V(7, 2),
	    "6.2 looked its id up as an IOAS (ENOENT for anything else); after 6.2"),
	NEW(IOMMUFD_NEW_CHECK_MAP_LOOKUP_FIRST,
	    "MD_CHECK_MAP finds its HW pagetable before checking alignment, to the domain's IO page",
	    V(7, 2),
	    "came with the huge mock pagetable, after 6.2; 6.2 checked the mock IO page first (EINVAL before ENOENT)"),
	NEW(IOMMUFD_NEW_MAP_NEEDS_PROT,
	    "IOMMU_IOAS_MAP and IOMMU_IOAS_COPY need READABLE or WRITEABLE",
	    V(7, 2),
	    "6.2 made the area with the protection given, even none; one fix after 6.2 (\"Do not allow creating areas without READ or WRITE\") added the check to both. An access reads only a READABLE area and writes only a WRITEABLE one under both releases (the newest rule; 6.2's is not known)"),
	FLAG(IOMMUFD_FLAGS_TEST_ACCESS_PAGES, "ACCESS_PAGES",
	     MOCK_FLAGS_ACCESS_SYZ, V(7, 2), after_6_2),
	FLAG(IOMMUFD_FLAGS_TEST_ACCESS_RW, "ACCESS_RW", MOCK_FLAGS_ACCESS_SYZ,
	     V(7, 2), after_6_2),
	FLAG(IOMMUFD_FLAGS_IOAS_COPY, "IOMMU_IOAS_COPY", MOCK_FLAGS_ACCESS_SYZ,
	     V(7, 2), "the test module's src_iova encoding; after 6.2"),

	/* HW pagetables, nesting, dirty tracking, replace, file mappings */
	CMD_NOTE(IOMMU_HWPT_ALLOC, V(7, 2), after_6_2),
	CMD_NOTE(IOMMU_GET_HW_INFO, V(7, 2), after_6_2),
	CMD_NOTE(IOMMU_HWPT_SET_DIRTY_TRACKING, V(7, 2), after_6_2),
	CMD_NOTE(IOMMU_HWPT_GET_DIRTY_BITMAP, V(7, 2), after_6_2),
	CMD_NOTE(IOMMU_HWPT_INVALIDATE, V(7, 2),
		 "on nested HW pagetables and vIOMMUs; after 6.2"),
	CMD_NOTE(IOMMU_IOAS_MAP_FILE, V(7, 2),
		 "memfds and dma-bufs; after 6.2"),
	CMD_NOTE(IOMMU_IOAS_CHANGE_PROCESS, V(7, 2),
		 "moves the charges of IOAS_MAP_FILE mappings to the caller; after 6.2"),
	FLAG(IOMMUFD_FLAGS_HWPT_ALLOC, "IOMMU_HWPT_ALLOC",
	     IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_DIRTY_TRACKING |
		     IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID,
	     V(7, 2),
	     "each came after 6.2; FAULT_ID_VALID names a fault queue (IOMMU_FAULT_QUEUE_ALLOC)"),
	FLAG(IOMMUFD_FLAGS_TEST_MOCK_DEVICE, "MOCK_DOMAIN_FLAGS",
	     MOCK_FLAGS_DEVICE_NO_DIRTY | MOCK_FLAGS_DEVICE_PASID, V(7, 2),
	     after_6_2),
	TEST_OP(IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, V(7, 2)),
	TEST_OP(IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, V(7, 2)),
	TEST_OP(IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, V(7, 2)),
	TEST_OP(IOMMU_TEST_OP_DIRTY, V(7, 2)),
	TEST_OP(IOMMU_TEST_OP_MD_CHECK_IOTLB, V(7, 2)),
	TEST_OP(IOMMU_TEST_OP_DEV_CHECK_CACHE, V(7, 2)),
	TEST_OP(IOMMU_TEST_OP_PASID_ATTACH, V(7, 2)),
	TEST_OP(IOMMU_TEST_OP_PASID_REPLACE, V(7, 2)),
	TEST_OP(IOMMU_TEST_OP_PASID_DETACH, V(7, 2)),
	TEST_OP(IOMMU_TEST_OP_PASID_CHECK_HWPT, V(7, 2)),
	TEST_OP(IOMMU_TEST_OP_DMABUF_GET, V(7, 2)),
	TEST_OP(IOMMU_TEST_OP_DMABUF_REVOKE, V(7, 2)),

	/* vIOMMUs, vdevices and HW queues */
	CMD_NOTE(IOMMU_VIOMMU_ALLOC, V(7, 2),
		 "IOMMU_VIOMMU_TYPE_SELFTEST, whose pages mmap() of the context reaches; after 6.2"),
	CMD_NOTE(IOMMU_VDEVICE_ALLOC, V(7, 2),
		 "a device's vdevice goes with it, leaving a tombstone; after 6.2"),
	CMD_NOTE(IOMMU_HW_QUEUE_ALLOC, V(7, 2),
		 "IOMMU_HW_QUEUE_TYPE_SELFTEST; after 6.2"),
	CMD_NOTE(IOMMU_VEVENTQ_ALLOC, V(7, 2),
		 "a descriptor read as the kernel's vEVENTQ file; after 6.2"),
	TEST_OP(IOMMU_TEST_OP_TRIGGER_VEVENT, V(7, 2)),
	NEW(IOMMUFD_NEW_MMAP, "mmap() of /dev/iommu reaches a vIOMMU's pages",
	    V(7, 2),
	    "the file had no mmap before (ENODEV); came with vIOMMU regions, after 6.2"),

	/* IO page faults delivered to user space */
	CMD_NOTE(IOMMU_FAULT_QUEUE_ALLOC, V(7, 2),
		 "a descriptor read and written as the kernel's fault file; after 6.2"),
	TEST_OP(IOMMU_TEST_OP_TRIGGER_IOPF, V(7, 2)),
};

static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;

static unsigned int slot_of(u32 request)
{
	return (request & 0xff) - IOMMUFD_CMD_BASE;
}

static void apply_row(struct iommufd_release *r, const struct release_row *row)
{
	unsigned int slot;

	switch (row->kind) {
	case ROW_CMD:
		r->commands |= 1ull << slot_of(row->id);
		break;
	case ROW_TEST_OP:
		r->test_ops |= 1ull << row->id;
		break;
	case ROW_FLAG:
		r->flags[row->id] |= row->a;
		break;
	case ROW_LAYOUT:
		/* Rows run oldest first: the newest layout so far wins. */
		slot = slot_of(row->id);
		r->layout[slot].size = row->a;
		r->layout[slot].min_size = row->b;
		break;
	case ROW_NEW:
		r->behaviours |= 1ull << row->id;
		break;
	}
}

static void resolve(void)
{
	for (unsigned int i = 0; i != ARRAY_SIZE(releases); i++) {
		struct iommufd_release *r = &releases[i];

		snprintf(r->name, sizeof(r->name), "%u.%u",
			 (r->version >> 16) & 0xff, (r->version >> 8) & 0xff);
		for (unsigned int j = 0; j != ARRAY_SIZE(table); j++)
			if (table[j].since <= r->version)
				apply_row(r, &table[j]);
	}
}

const struct iommufd_release *iommufd_release_find(u32 version)
{
	pthread_once(&resolve_once, resolve);
	for (unsigned int i = 0; i != ARRAY_SIZE(releases); i++)
		if (releases[i].version == version)
			return &releases[i];
	return NULL;
}

const struct iommufd_release *iommufd_release_newest(void)
{
	pthread_once(&resolve_once, resolve);
	return &releases[ARRAY_SIZE(releases) - 1];
}

static const char *known_releases(char *buf, size_t len)
{
	size_t used = 0;

	pthread_once(&resolve_once, resolve);
	buf[0] = 0;
	for (unsigned int i = 0; i != ARRAY_SIZE(releases); i++) {
		int n = snprintf(buf + used, len - used, "%s%s",
				 i ? (i + 1 == ARRAY_SIZE(releases) ? " or " :
								      ", ") :
				     "",
				 releases[i].name);

		if (n < 0 || (size_t)n >= len - used)
			break;
		used += n;
	}
	return buf;
}

int iommufd_release_parse(const char *text, u32 *version)
{
	unsigned long major, minor;
	const char *p = text;
	char *end, known[64];

	if (!p)
		return err_reason(-EINVAL, "no kernel release");
	if (*p == 'v' || *p == 'V')
		p++;
	if (*p < '0' || *p > '9')
		goto bad;
	major = strtoul(p, &end, 10);
	if (*end != '.' || end[1] < '0' || end[1] > '9')
		goto bad;
	minor = strtoul(end + 1, &end, 10);
	/* A patch level (6.2.16) answers as its release. */
	if (*end == '.' && end[1] >= '0' && end[1] <= '9')
		strtoul(end + 1, &end, 10);
	if (*end || major > 255 || minor > 255)
		goto bad;
	if (!iommufd_release_find(V(major, minor)))
		return err_reason(-EINVAL,
				  "uiommufd answers as Linux %s, not %lu.%lu",
				  known_releases(known, sizeof(known)), major,
				  minor);
	*version = V(major, minor);
	return 0;
bad:
	return err_reason(-EINVAL,
			  "\"%s\" is not a kernel release (such as %s)", text,
			  known_releases(known, sizeof(known)));
}

UIOMMUFD_EXPORT int uiommufd_release_row(unsigned int i,
					 struct uiommufd_release_row *row)
{
	err_reason_clear();
	if (!row || i >= ARRAY_SIZE(table)) {
		errno = row ? ENOENT : EINVAL;
		return -1;
	}
	row->what = table[i].what;
	row->since = table[i].since;
	row->note = table[i].note;
	return 0;
}
