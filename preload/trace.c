// SPDX-License-Identifier: MIT
/*
 * uiommufd-run --trace: every call on a shim descriptor, decoded. One
 * line per call, written with a single write() so threads and processes
 * interleave by line:
 *	IOMMU_IOAS_MAP(3, {size=40 flags=0x7 ioas_id=1 ...}) = 0
 *	IOMMU_DESTROY(3, {size=8 id=9}) = -1 ENOENT (no object with ID 9)
 * The struct is read after the call, so outputs show their new values; it
 * is read with process_vm_readv, so a bad pointer cannot crash the trace.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "preload/shim.h"
#include "uiommufd/iommufd_test_uapi.h"
#include "uiommufd/iommufd_uapi.h"

static int trace_fd = -1;

bool trace_enabled(void)
{
	return trace_fd >= 0;
}

/* What contexts answer as, from the environment uiommufd-run set. */
static void trace_host(void)
{
	struct uiommufd_ctx_attr attr = { .size = sizeof(attr) };
	const char *kernel = getenv("UIOMMUFD_KERNEL");
	const char *caps = getenv("UIOMMUFD_CAPS");
	const char *memlock = getenv("UIOMMUFD_MEMLOCK");
	uint32_t version = UIOMMUFD_KERNEL_NEWEST;

	if (kernel && *kernel) {
		if (uiommufd_ctx_attr_parse(&attr, "kernel", kernel)) {
			trace_printf("uiommufd: UIOMMUFD_KERNEL=%s is not a release uiommufd answers as: every command fails\n",
				     kernel);
			return;
		}
		version = attr.kernel;
	}
	trace_printf("uiommufd: Linux %u.%u%s, capabilities %s, memlock %s\n",
		     version >> 16, (version >> 8) & 0xff,
		     kernel && *kernel ? "" : " (the newest)",
		     caps && *caps ? caps : "the program's own",
		     memlock && *memlock ? memlock :
					   "the program's RLIMIT_MEMLOCK");
}

void trace_init(void)
{
	const char *where = getenv("UIOMMUFD_TRACE");

	if (!where || !*where || trace_fd >= 0)
		return;
	if (!strcmp(where, "-"))
		trace_fd = STDERR_FILENO;
	else
		trace_fd = real.open(where,
				     O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
				     0644);
	if (trace_fd >= 0)
		trace_host();
}

void trace_printf(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	real.write(trace_fd, line, n);
}

struct field {
	const char *name;
	unsigned short offset;
	unsigned char size;
};

#define F(type, member)                                                     \
	{ #member, offsetof(type, member), sizeof(((type *)0)->member) }
#define TF(member)                                                          \
	{ #member, offsetof(struct iommu_test_cmd, member),                 \
	  sizeof(((struct iommu_test_cmd *)0)->member) }

struct command {
	unsigned long request;
	const char *name;
	const struct field *fields;
};

static const struct field destroy_fields[] = {
	F(struct iommu_destroy, id), {}
};
static const struct field ioas_alloc_fields[] = {
	F(struct iommu_ioas_alloc, flags),
	F(struct iommu_ioas_alloc, out_ioas_id), {}
};
static const struct field allow_iovas_fields[] = {
	F(struct iommu_ioas_allow_iovas, ioas_id),
	F(struct iommu_ioas_allow_iovas, num_iovas),
	F(struct iommu_ioas_allow_iovas, allowed_iovas), {}
};
static const struct field copy_fields[] = {
	F(struct iommu_ioas_copy, flags),
	F(struct iommu_ioas_copy, dst_ioas_id),
	F(struct iommu_ioas_copy, src_ioas_id),
	F(struct iommu_ioas_copy, length),
	F(struct iommu_ioas_copy, dst_iova),
	F(struct iommu_ioas_copy, src_iova), {}
};
static const struct field iova_ranges_fields[] = {
	F(struct iommu_ioas_iova_ranges, ioas_id),
	F(struct iommu_ioas_iova_ranges, num_iovas),
	F(struct iommu_ioas_iova_ranges, allowed_iovas),
	F(struct iommu_ioas_iova_ranges, out_iova_alignment), {}
};
static const struct field map_fields[] = {
	F(struct iommu_ioas_map, flags),
	F(struct iommu_ioas_map, ioas_id),
	F(struct iommu_ioas_map, user_va),
	F(struct iommu_ioas_map, length),
	F(struct iommu_ioas_map, iova), {}
};
static const struct field unmap_fields[] = {
	F(struct iommu_ioas_unmap, ioas_id),
	F(struct iommu_ioas_unmap, iova),
	F(struct iommu_ioas_unmap, length), {}
};
static const struct field option_fields[] = {
	F(struct iommu_option, option_id),
	F(struct iommu_option, op),
	F(struct iommu_option, object_id),
	F(struct iommu_option, val64), {}
};
static const struct field vfio_ioas_fields[] = {
	F(struct iommu_vfio_ioas, ioas_id),
	F(struct iommu_vfio_ioas, op), {}
};

static const struct command commands[] = {
	{ IOMMU_DESTROY, "IOMMU_DESTROY", destroy_fields },
	{ IOMMU_IOAS_ALLOC, "IOMMU_IOAS_ALLOC", ioas_alloc_fields },
	{ IOMMU_IOAS_ALLOW_IOVAS, "IOMMU_IOAS_ALLOW_IOVAS",
	  allow_iovas_fields },
	{ IOMMU_IOAS_COPY, "IOMMU_IOAS_COPY", copy_fields },
	{ IOMMU_IOAS_IOVA_RANGES, "IOMMU_IOAS_IOVA_RANGES",
	  iova_ranges_fields },
	{ IOMMU_IOAS_MAP, "IOMMU_IOAS_MAP", map_fields },
	{ IOMMU_IOAS_UNMAP, "IOMMU_IOAS_UNMAP", unmap_fields },
	{ IOMMU_OPTION, "IOMMU_OPTION", option_fields },
	{ IOMMU_VFIO_IOAS, "IOMMU_VFIO_IOAS", vfio_ioas_fields },
	{ IOMMU_TEST_CMD, "IOMMU_TEST_CMD", NULL },
};

static const struct field add_reserved_fields[] = {
	TF(add_reserved.start), TF(add_reserved.length), {}
};
static const struct field mock_domain_fields[] = {
	TF(mock_domain.out_stdev_id), TF(mock_domain.out_hwpt_id),
	TF(mock_domain.out_idev_id), {}
};
static const struct field check_map_fields[] = {
	TF(check_map.iova), TF(check_map.length), TF(check_map.uptr), {}
};
static const struct field check_refs_fields[] = {
	TF(check_refs.length), TF(check_refs.uptr), TF(check_refs.refs), {}
};
static const struct field create_access_fields[] = {
	TF(create_access.out_access_fd), TF(create_access.flags), {}
};
static const struct field destroy_access_pages_fields[] = {
	TF(destroy_access_pages.access_pages_id), {}
};
static const struct field access_pages_fields[] = {
	TF(access_pages.flags), TF(access_pages.out_access_pages_id),
	TF(access_pages.iova), TF(access_pages.length),
	TF(access_pages.uptr), {}
};
static const struct field access_rw_fields[] = {
	TF(access_rw.iova), TF(access_rw.length), TF(access_rw.uptr),
	TF(access_rw.flags), {}
};
static const struct field memory_limit_fields[] = {
	TF(memory_limit.limit), {}
};

struct test_op {
	const char *name;
	const struct field *fields;
};

static const struct test_op test_ops[] = {
	[IOMMU_TEST_OP_ADD_RESERVED] = { "ADD_RESERVED", add_reserved_fields },
	[IOMMU_TEST_OP_MOCK_DOMAIN] = { "MOCK_DOMAIN", mock_domain_fields },
	[IOMMU_TEST_OP_MD_CHECK_MAP] = { "MD_CHECK_MAP", check_map_fields },
	[IOMMU_TEST_OP_MD_CHECK_REFS] = { "MD_CHECK_REFS",
					  check_refs_fields },
	[IOMMU_TEST_OP_CREATE_ACCESS] = { "CREATE_ACCESS",
					  create_access_fields },
	[IOMMU_TEST_OP_DESTROY_ACCESS_PAGES] = {
		"DESTROY_ACCESS_PAGES", destroy_access_pages_fields },
	[IOMMU_TEST_OP_ACCESS_PAGES] = { "ACCESS_PAGES", access_pages_fields },
	[IOMMU_TEST_OP_ACCESS_RW] = { "ACCESS_RW", access_rw_fields },
	[IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT] = { "SET_TEMP_MEMORY_LIMIT",
						  memory_limit_fields },
};

/* Read the caller's struct without trusting the pointer. */
static size_t peek(const void *uptr, void *buf, size_t len)
{
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)uptr, len };
	ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);

	return n < 0 ? 0 : n;
}

static int put_fields(char *out, size_t room, const unsigned char *cmd,
		      size_t have, const struct field *f)
{
	int len = 0;

	for (; f && f->name; f++) {
		unsigned long long v = 0;
		int n;

		if (f->offset + f->size > have)
			break;
		memcpy(&v, cmd + f->offset, f->size);	/* little endian */
		n = snprintf(out + len, room - len,
			     v < 10 ? " %s=%llu" : " %s=%#llx", f->name, v);
		if (n < 0 || (size_t)n >= room - len)
			break;
		len += n;
	}
	return len;
}

void trace_ioctl(int fd, unsigned long request, const void *arg, int rc,
		 int err)
{
	const struct field *fields = NULL;
	const char *name = NULL, *reason;
	unsigned char cmd[128];
	char args[640];
	size_t have;
	int len;

	for (size_t i = 0; i != sizeof(commands) / sizeof(commands[0]); i++) {
		if (commands[i].request == request) {
			name = commands[i].name;
			fields = commands[i].fields;
		}
	}
	have = peek(arg, cmd, sizeof(cmd));
	if (have >= 4) {
		u_int32_t size;

		memcpy(&size, cmd, 4);
		if (size < have)
			have = size;
		len = snprintf(args, sizeof(args), "{size=%u", size);
	} else {
		len = snprintf(args, sizeof(args), "{?");
	}
	if (request == IOMMU_TEST_CMD && have >= 12) {
		const struct iommu_test_cmd *t = (const void *)cmd;

		if (t->op < sizeof(test_ops) / sizeof(test_ops[0]) &&
		    test_ops[t->op].name) {
			len += snprintf(args + len, sizeof(args) - len,
					" op=%s id=%u", test_ops[t->op].name,
					t->id);
			fields = test_ops[t->op].fields;
		} else {
			len += snprintf(args + len, sizeof(args) - len,
					" op=%u id=%u", t->op, t->id);
		}
	}
	len += put_fields(args + len, sizeof(args) - len, cmd, have, fields);
	snprintf(args + len, sizeof(args) - len, "}");

	if (!name) {
		trace_printf("ioctl(%d, %#lx, %p) = %d%s%s\n", fd, request, arg,
			     rc, rc ? " " : "", rc ? strerrorname_np(err) : "");
		return;
	}
	if (!rc) {
		trace_printf("%s(%d, %s) = 0\n", name, fd, args);
		return;
	}
	reason = uiommufd_last_reason();
	trace_printf("%s(%d, %s) = -1 %s (%s)\n", name, fd, args,
		     strerrorname_np(err) ?: "?", reason ? reason : "no reason");
}
