/* SPDX-License-Identifier: MIT */
/*
 * dma-bufs: memory an exporter shares with importers, named by a file
 * descriptor. The kernel's dma-buf core in miniature: an exporter makes
 * one behind a descriptor of its own and exports it (by the descriptor's
 * inode, so any descriptor of that file finds it: dup, another number);
 * an importer looks it up by descriptor, attaches with a callback that is
 * told when the exporter takes its memory away (revoke, the kernel's move
 * notify), and asks the exporter for the memory, a contiguous PFN run.
 *
 * Lock order: a dma-buf's lock (the kernel's reservation lock), then
 * whatever its importers' callbacks take (a pages mutex).
 */
#ifndef UIOMMUFD_IOPT_DMABUF_H
#define UIOMMUFD_IOPT_DMABUF_H

#include <pthread.h>
#include <sys/types.h>

#include "base/common.h"

struct iopt_dmabuf;

struct iopt_dmabuf_ops {
	/*
	 * The memory for an importer, with the lock held: 0 and the PFN of
	 * the buffer's first page in *pfn (its pages follow contiguously),
	 * or a negative errno with a reason (-ENODEV: revoked; -EOPNOTSUPP:
	 * the exporter does not hand its memory to this importer).
	 */
	int (*map)(struct iopt_dmabuf *dmabuf, u64 *pfn);
	/* The last reference is gone. Cannot fail. */
	void (*release)(struct iopt_dmabuf *dmabuf);
};

/* An importer's link to a dma-buf. */
struct iopt_dmabuf_attach {
	struct iopt_dmabuf_attach *next;
	/*
	 * The exporter moved or revoked the memory (lock held): stop using
	 * it. The importer maps it again only through a new attachment.
	 */
	void (*invalidate)(struct iopt_dmabuf_attach *attach);
};

struct iopt_dmabuf {
	const struct iopt_dmabuf_ops *ops;
	u64 size;		/* bytes, a multiple of PAGE_SIZE */
	pthread_mutex_t lock;
	struct iopt_dmabuf_attach *attachments;
	/* The rest belongs to the registry (dmabuf.c). */
	u64 refs;
	dev_t dev;
	ino_t ino;
	struct iopt_dmabuf *reg_next;
};

/*
 * Start a dma-buf of @size bytes (a page multiple) with one reference,
 * the exporter's; it is found by descriptor only once exported.
 */
void iopt_dmabuf_init(struct iopt_dmabuf *dmabuf,
		      const struct iopt_dmabuf_ops *ops, u64 size);
/*
 * Make descriptor @fd (the exporter's own) name @dmabuf. Cannot fail but
 * for a bad @fd (-EBADF).
 */
int iopt_dmabuf_export(struct iopt_dmabuf *dmabuf, int fd);

/*
 * The dma-buf @fd names, with a reference, as the kernel's dma_buf_get():
 * ERR_PTR(-EBADF) when @fd is not an open descriptor (or an O_PATH one),
 * ERR_PTR(-EINVAL) when its file is not a dma-buf; each with a reason.
 */
struct iopt_dmabuf *iopt_dmabuf_get_fd(int fd);
void iopt_dmabuf_get(struct iopt_dmabuf *dmabuf);
/* The last reference unexports it and calls ops->release. */
void iopt_dmabuf_put(struct iopt_dmabuf *dmabuf);

/* Importers: add or remove @attach, with the lock held. */
void iopt_dmabuf_attach_locked(struct iopt_dmabuf *dmabuf,
			       struct iopt_dmabuf_attach *attach);
void iopt_dmabuf_detach_locked(struct iopt_dmabuf *dmabuf,
			       struct iopt_dmabuf_attach *attach);
/* Exporters, lock held: every importer lets go of the memory. */
void iopt_dmabuf_invalidate_locked(struct iopt_dmabuf *dmabuf);

/* Exported dma-bufs alive now, process wide. For tests. */
unsigned int iopt_dmabufs_live(void);

#endif
