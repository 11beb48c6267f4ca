// SPDX-License-Identifier: MIT
/*
 * dma-bufs (see dmabuf.h). The registry maps a file's (device, inode) to
 * the dma-buf exported under it. The exporter keeps that file open for
 * the dma-buf's life (it holds the memory, or a mapping of it), so the
 * inode number cannot be reused for another file while the entry lives.
 *
 * References are counted under the registry lock: a lookup must never
 * revive a dma-buf whose last reference is being dropped.
 */
#include "iopt/dmabuf.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/warn.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct iopt_dmabuf *registry_head;
static unsigned int registry_count;

void iopt_dmabuf_init(struct iopt_dmabuf *dmabuf,
		      const struct iopt_dmabuf_ops *ops, u64 size)
{
	dmabuf->ops = ops;
	dmabuf->size = size;
	pthread_mutex_init(&dmabuf->lock, NULL);
	dmabuf->attachments = NULL;
	dmabuf->refs = 1;
	dmabuf->dev = 0;
	dmabuf->ino = 0;
	dmabuf->reg_next = NULL;
}

/* A descriptor the kernel's fget() would take: open, and not O_PATH. */
static int fd_stat(int fd, struct stat *st)
{
	int flags = fd < 0 ? -1 : fcntl(fd, F_GETFL);

	if (flags < 0)
		return err_reason(-EBADF, "fd %d is not an open descriptor", fd);
	if (flags & O_PATH)
		return err_reason(-EBADF,
				  "fd %d is an O_PATH descriptor, which names no open file",
				  fd);
	if (fstat(fd, st))
		return err_reason(-EBADF, "fd %d: %s", fd, strerror(errno));
	return 0;
}

int iopt_dmabuf_export(struct iopt_dmabuf *dmabuf, int fd)
{
	struct stat st;
	int rc;

	rc = fd_stat(fd, &st);
	if (rc)
		return rc;
	pthread_mutex_lock(&registry_lock);
	dmabuf->dev = st.st_dev;
	dmabuf->ino = st.st_ino;
	dmabuf->reg_next = registry_head;
	registry_head = dmabuf;
	registry_count++;
	pthread_mutex_unlock(&registry_lock);
	return 0;
}

struct iopt_dmabuf *iopt_dmabuf_get_fd(int fd)
{
	struct iopt_dmabuf *dmabuf;
	struct stat st;
	int rc;

	rc = fd_stat(fd, &st);
	if (rc)
		return ERR_PTR(rc);
	pthread_mutex_lock(&registry_lock);
	for (dmabuf = registry_head; dmabuf; dmabuf = dmabuf->reg_next)
		if (dmabuf->dev == st.st_dev && dmabuf->ino == st.st_ino)
			break;
	if (dmabuf)
		dmabuf->refs++;
	pthread_mutex_unlock(&registry_lock);
	if (!dmabuf)
		return ERR_PTR(err_reason(-EINVAL, "fd %d is not a dma-buf", fd));
	return dmabuf;
}

void iopt_dmabuf_get(struct iopt_dmabuf *dmabuf)
{
	pthread_mutex_lock(&registry_lock);
	WARN_ON(!dmabuf->refs);
	dmabuf->refs++;
	pthread_mutex_unlock(&registry_lock);
}

static void unexport_locked(struct iopt_dmabuf *dmabuf)
{
	struct iopt_dmabuf **pos;

	for (pos = &registry_head; *pos; pos = &(*pos)->reg_next) {
		if (*pos == dmabuf) {
			*pos = dmabuf->reg_next;
			registry_count--;
			return;
		}
	}
}

void iopt_dmabuf_put(struct iopt_dmabuf *dmabuf)
{
	bool last;

	pthread_mutex_lock(&registry_lock);
	WARN_ON(!dmabuf->refs);
	last = !--dmabuf->refs;
	if (last)
		unexport_locked(dmabuf);
	pthread_mutex_unlock(&registry_lock);
	if (!last)
		return;
	/* Importers hold references: none can be attached any more. */
	WARN_ON(dmabuf->attachments);
	pthread_mutex_destroy(&dmabuf->lock);
	dmabuf->ops->release(dmabuf);
}

void iopt_dmabuf_attach_locked(struct iopt_dmabuf *dmabuf,
			       struct iopt_dmabuf_attach *attach)
{
	attach->next = dmabuf->attachments;
	dmabuf->attachments = attach;
}

void iopt_dmabuf_detach_locked(struct iopt_dmabuf *dmabuf,
			       struct iopt_dmabuf_attach *attach)
{
	struct iopt_dmabuf_attach **pos;

	for (pos = &dmabuf->attachments; *pos; pos = &(*pos)->next) {
		if (*pos == attach) {
			*pos = attach->next;
			return;
		}
	}
	WARN_ON(true);
}

void iopt_dmabuf_invalidate_locked(struct iopt_dmabuf *dmabuf)
{
	struct iopt_dmabuf_attach *attach;

	for (attach = dmabuf->attachments; attach; attach = attach->next)
		attach->invalidate(attach);
}

unsigned int iopt_dmabufs_live(void)
{
	unsigned int n;

	pthread_mutex_lock(&registry_lock);
	n = registry_count;
	pthread_mutex_unlock(&registry_lock);
	return n;
}
