// SPDX-License-Identifier: MIT
/*
 * What a context answers as: the kernel release, the capabilities its
 * callers hold, the memlock limit. From the caller's attributes, else the
 * environment (UIOMMUFD_KERNEL, UIOMMUFD_CAPS, UIOMMUFD_MEMLOCK, which
 * uiommufd-run sets), else the defaults: the newest release, the
 * capabilities the opening thread holds in effect, the process's own
 * RLIMIT_MEMLOCK (read at each charge).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/capability.h"
#include "base/err_reason.h"
#include "base/page.h"
#include "iommufd/iommufd_private.h"

/* "64M", "1g", "4096", "unlimited": bytes, powers of 1024. */
static int memlock_parse(const char *text, u64 *out)
{
	unsigned long long n;
	unsigned int shift = 0;
	char *end;

	if (!text)
		return err_reason(-EINVAL, "no memlock size");
	if (!strcasecmp(text, "unlimited") || !strcasecmp(text, "infinity")) {
		*out = UIOMMUFD_MEMLOCK_UNLIMITED;
		return 0;
	}
	if (*text < '0' || *text > '9')
		goto bad;
	errno = 0;
	n = strtoull(text, &end, 10);
	if (errno)
		goto bad;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	/* "64MiB" and "64MB" mean what "64M" means. */
	if (shift && (!strcasecmp(end, "ib") || !strcasecmp(end, "b")))
		end += strlen(end);
	if (*end)
		goto bad;
	if (shift && n > (U64_MAX >> shift))
		return err_reason(-EINVAL, "memlock size \"%s\" is too large",
				  text);
	*out = (u64)n << shift;
	return 0;
bad:
	return err_reason(-EINVAL,
			  "\"%s\" is not a memlock size (bytes with an optional K, M, G or T, or unlimited)",
			  text);
}

UIOMMUFD_EXPORT int uiommufd_ctx_attr_parse(struct uiommufd_ctx_attr *attr,
					    const char *key, const char *value)
{
	int rc;

	err_reason_clear();
	if (!attr || !key) {
		rc = err_reason(-EINVAL, "no attributes or no key");
	} else if (!strcmp(key, "kernel")) {
		rc = iommufd_release_parse(value, &attr->kernel);
		if (!rc)
			attr->set |= UIOMMUFD_ATTR_KERNEL;
	} else if (!strcmp(key, "caps")) {
		rc = cap_set_parse(value, &attr->caps);
		if (!rc)
			attr->set |= UIOMMUFD_ATTR_CAPS;
	} else if (!strcmp(key, "memlock")) {
		rc = memlock_parse(value, &attr->memlock);
		if (!rc)
			attr->set |= UIOMMUFD_ATTR_MEMLOCK;
	} else {
		rc = err_reason(-EINVAL,
				"unknown attribute \"%s\" (kernel, caps or memlock)",
				key);
	}
	if (rc) {
		errno = -rc;
		return -1;
	}
	return 0;
}

static const struct {
	const char *var;
	const char *key;
	unsigned int bit;
} env_attrs[] = {
	{ "UIOMMUFD_KERNEL", "kernel", UIOMMUFD_ATTR_KERNEL },
	{ "UIOMMUFD_CAPS", "caps", UIOMMUFD_ATTR_CAPS },
	{ "UIOMMUFD_MEMLOCK", "memlock", UIOMMUFD_ATTR_MEMLOCK },
};

int iommufd_host_resolve(const struct uiommufd_ctx_attr *attr,
			 struct iommufd_host *out)
{
	struct uiommufd_ctx_attr env = { .size = sizeof(env) };
	const struct uiommufd_ctx_attr *from;
	unsigned int given = attr ? attr->set : 0;

	for (unsigned int i = 0; i != ARRAY_SIZE(env_attrs); i++) {
		const char *text;

		if (given & env_attrs[i].bit)
			continue;
		text = getenv(env_attrs[i].var);
		if (!text || !*text)
			continue;
		if (uiommufd_ctx_attr_parse(&env, env_attrs[i].key, text)) {
			char why[ERR_REASON_MAX];

			snprintf(why, sizeof(why), "%s", err_reason_get());
			return err_reason(-EINVAL, "%s: %s", env_attrs[i].var,
					  why);
		}
	}

	from = given & UIOMMUFD_ATTR_KERNEL ? attr : &env;
	if (from->set & UIOMMUFD_ATTR_KERNEL) {
		out->release = iommufd_release_find(from->kernel);
		if (!out->release)
			return err_reason(-EINVAL,
					  "uiommufd cannot answer as kernel release %#x",
					  from->kernel);
	} else {
		out->release = iommufd_release_newest();
	}
	from = given & UIOMMUFD_ATTR_CAPS ? attr : &env;
	out->caps_given = from->set & UIOMMUFD_ATTR_CAPS;
	/*
	 * Else the process's set as the context opens: read per command (as
	 * the kernel's capable()) it would cost a system call per map.
	 */
	out->caps = out->caps_given ? from->caps & CAP_SET_ALL :
				      cap_set_effective();
	from = given & UIOMMUFD_ATTR_MEMLOCK ? attr : &env;
	out->memlock_given = from->set & UIOMMUFD_ATTR_MEMLOCK;
	out->memlock = out->memlock_given ? from->memlock : 0;
	return 0;
}

bool iommufd_capable(struct uiommufd_ctx *ctx, int cap)
{
	if (cap < 0 || cap > CAP_SET_LAST)
		return false;
	return ctx->host.caps & (1ull << cap);
}

int iommufd_check_flags(struct uiommufd_ctx *ctx, u32 flags,
			enum iommufd_flag_set set)
{
	const struct iommufd_release *release = iommufd_release(ctx);
	u32 unknown = flags & ~iommufd_release_flags(release, set);

	if (unknown)
		return err_reason(-EOPNOTSUPP, "unknown flags %#x (Linux %s)",
				  unknown, release->name);
	return 0;
}

u64 iommufd_memlock_limit(struct uiommufd_ctx *ctx)
{
	if (!ctx->host.memlock_given)
		return IOPT_MEMLOCK_RLIMIT;
	if (ctx->host.memlock == UIOMMUFD_MEMLOCK_UNLIMITED)
		return U64_MAX;
	return ctx->host.memlock >> PAGE_SHIFT;
}

UIOMMUFD_EXPORT int uiommufd_ctx_get_attr(struct uiommufd_ctx *ctx,
					  struct uiommufd_ctx_attr *attr)
{
	const struct iommufd_host *host;
	struct uiommufd_ctx_attr out;
	size_t len, copy;
	int rc = 0;

	err_reason_clear();
	if (!ctx)
		rc = err_reason(-EBADF, "no context");
	else if (!attr || attr->size < offsetof(struct uiommufd_ctx_attr, caps))
		rc = err_reason(-EINVAL, "attr->size must be at least %zu",
				offsetof(struct uiommufd_ctx_attr, caps));
	if (rc) {
		errno = -rc;
		return -1;
	}
	host = &ctx->host;
	memset(&out, 0, sizeof(out));
	out.flags = ctx->vfio_compat ? UIOMMUFD_CTX_VFIO : 0;
	out.set = UIOMMUFD_ATTR_KERNEL;
	out.kernel = host->release->version;
	if (host->caps_given) {
		out.set |= UIOMMUFD_ATTR_CAPS;
		out.caps = host->caps;
	}
	if (host->memlock_given) {
		out.set |= UIOMMUFD_ATTR_MEMLOCK;
		out.memlock = host->memlock;
	}
	/*
	 * As far as the caller's struct goes (an older caller's is shorter):
	 * a field it cuts off is left out whole, the rest of a newer
	 * caller's struct is zeroed.
	 */
	len = min((size_t)attr->size, sizeof(out));
	copy = len;
	if (len < offsetof(struct uiommufd_ctx_attr, memlock) +
			  sizeof(out.memlock)) {
		out.set &= ~UIOMMUFD_ATTR_MEMLOCK;
		copy = offsetof(struct uiommufd_ctx_attr, memlock);
	}
	if (len < offsetof(struct uiommufd_ctx_attr, caps) + sizeof(out.caps)) {
		out.set &= ~UIOMMUFD_ATTR_CAPS;
		copy = offsetof(struct uiommufd_ctx_attr, caps);
	}
	memset(attr, 0, attr->size);
	memcpy(attr, &out, copy);
	attr->size = len;
	return 0;
}
