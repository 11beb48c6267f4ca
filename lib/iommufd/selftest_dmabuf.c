// SPDX-License-Identifier: MIT
/*
 * The test module's dma-bufs: DMABUF_GET makes one of zeroed memory behind
 * a descriptor of its own (the ioctl's result), DMABUF_REVOKE takes its
 * memory away from importers or gives it back.
 *
 * The descriptor is a memfd of the buffer's size: its pages are the
 * memory, and the exporter's own mapping of them (a file source over the
 * memfd) keeps them, and the inode that names the dma-buf, alive while a
 * mapping holds the dma-buf, after every descriptor is closed. The kernel's
 * test dma-buf is kernel memory no program can mmap; this one can be
 * mmap'd and read, which nothing in the kernel's ABI can observe.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/mem.h"
#include "base/overflow.h"
#include "base/process.h"
#include "base/warn.h"
#include "iommufd/fd_table.h"
#include "iopt/dmabuf.h"
#include "iopt/pfn_source.h"
#include "iommufd/selftest.h"

/* The kernel's bound: a test dma-buf is at most this many pages. */
#define DMABUF_MAX_PAGES 512

struct selftest_dmabuf {
	struct iommufd_file file;	/* the descriptor's reference */
	struct iopt_dmabuf dmabuf;
	struct pfn_source *memory;	/* the memfd's pages, mapped */
	bool revoked;			/* under dmabuf.lock */
};

static void stdmabuf_file_release(struct iommufd_file *file);
static int stdmabuf_map(struct iopt_dmabuf *dmabuf, u64 *pfn);
static void stdmabuf_release(struct iopt_dmabuf *dmabuf);

static const struct iommufd_file_ops stdmabuf_fops = {
	.name = "iommufd-selftest-dmabuf",
	.release = stdmabuf_file_release,
};

static const struct iopt_dmabuf_ops stdmabuf_ops = {
	.map = stdmabuf_map,
	.release = stdmabuf_release,
};

static struct selftest_dmabuf *to_stdmabuf(struct iopt_dmabuf *dmabuf)
{
	return container_of(dmabuf, struct selftest_dmabuf, dmabuf);
}

/* The last descriptor went: the dma-buf stays while importers hold it. */
static void stdmabuf_file_release(struct iommufd_file *file)
{
	struct selftest_dmabuf *st =
		container_of(file, struct selftest_dmabuf, file);

	iopt_dmabuf_put(&st->dmabuf);
}

static int stdmabuf_map(struct iopt_dmabuf *dmabuf, u64 *pfn)
{
	struct selftest_dmabuf *st = to_stdmabuf(dmabuf);

	if (st->revoked)
		return err_reason(-ENODEV, "the dma-buf is revoked");
	/* Page 0 of the memfd: the file source names it without a pin. */
	return st->memory->ops->identify(st->memory, 0, 1, pfn);
}

static void stdmabuf_release(struct iopt_dmabuf *dmabuf)
{
	struct selftest_dmabuf *st = to_stdmabuf(dmabuf);

	pfn_source_destroy(st->memory);
	mem_free(st);
}

/*
 * Zeroed memory of @length bytes behind @st's descriptor, which
 * iommufd_file_open() made: the memfd grows to the size, and the source
 * maps it so it outlives the descriptor.
 */
static int stdmabuf_memory(struct selftest_dmabuf *st, u64 length)
{
	struct pfn_source *memory;

	if (ftruncate(st->file.fd, (off_t)length))
		return err_reason(-errno, "cannot size the dma-buf's memory: %s",
				  strerror(errno));
	memory = pfn_source_file_create(st->file.fd, 0, length, true);
	if (IS_ERR(memory))
		return PTR_ERR(memory);
	st->memory = memory;
	return 0;
}

/*
 * What of open_flags a descriptor shows: O_CLOEXEC, and the status flags
 * F_SETFL sets. The kernel takes any bits (dma_buf_fd() uses O_CLOEXEC
 * alone, the file keeps the rest), so none is refused.
 */
static int stdmabuf_fd_flags(int fd, u32 open_flags)
{
	int flags;

	if (!(open_flags & O_CLOEXEC) && fcntl(fd, F_SETFD, 0))
		return err_reason(-errno, "fd %d: %s", fd, strerror(errno));
	if (!(open_flags & O_NONBLOCK))
		return 0;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK))
		return err_reason(-errno, "fd %d: %s", fd, strerror(errno));
	return 0;
}

int iommufd_test_dmabuf_get(struct iommufd_ucmd *ucmd,
			    struct iommu_test_cmd *cmd)
{
	u64 length = align_down((u64)cmd->dmabuf_get.length + PAGE_SIZE - 1,
				PAGE_SIZE);
	struct selftest_dmabuf *st;
	int rc;

	if (!length || length > DMABUF_MAX_PAGES * PAGE_SIZE)
		return err_reason(-EINVAL,
				  "a test dma-buf is 1 to %u pages, not %#x bytes",
				  DMABUF_MAX_PAGES, cmd->dmabuf_get.length);
	st = mem_zalloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	rc = iommufd_file_open(&st->file, &stdmabuf_fops);
	if (rc)
		goto err_free;
	rc = stdmabuf_memory(st, length);
	if (rc)
		goto err_abort;
	rc = stdmabuf_fd_flags(st->file.fd, cmd->dmabuf_get.open_flags);
	if (rc)
		goto err_memory;
	iopt_dmabuf_init(&st->dmabuf, &stdmabuf_ops, length);
	/* Nothing fails from here: published only now (pitfall 21). */
	rc = iopt_dmabuf_export(&st->dmabuf, st->file.fd);
	if (WARN_ON(rc))
		goto err_memory;
	iommufd_file_install(&st->file);
	return st->file.fd;

err_memory:
	pfn_source_destroy(st->memory);
err_abort:
	iommufd_file_abort(&st->file);
err_free:
	mem_free(st);
	return rc;
}

int iommufd_test_dmabuf_revoke(struct iommufd_ucmd *ucmd,
			       struct iommu_test_cmd *cmd)
{
	struct iopt_dmabuf *dmabuf;
	int rc = 0;

	/* The caller's number, which may be another process's. */
	dmabuf = iopt_dmabuf_get_fd(
		process_user_fd(cmd->dmabuf_revoke.dmabuf_fd));
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	if (dmabuf->ops != &stdmabuf_ops) {
		rc = err_reason(-EOPNOTSUPP,
				"fd %d is a dma-buf the test module did not make",
				cmd->dmabuf_revoke.dmabuf_fd);
		goto out_put;
	}
	/*
	 * Either way importers are told, as the kernel's exporter does:
	 * a mapping made before is revoked even by revoked = 0.
	 */
	pthread_mutex_lock(&dmabuf->lock);
	to_stdmabuf(dmabuf)->revoked = cmd->dmabuf_revoke.revoked;
	iopt_dmabuf_invalidate_locked(dmabuf);
	pthread_mutex_unlock(&dmabuf->lock);
out_put:
	iopt_dmabuf_put(dmabuf);
	return rc;
}
