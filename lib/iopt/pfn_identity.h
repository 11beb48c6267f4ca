/* SPDX-License-Identifier: MIT */
/*
 * PFN identity (the scheme is in pfn_source.h) and what the user and file
 * sources share.
 *
 * File ids: a process-wide registry from (device, inode), as
 * /proc/self/maps names them, to an id in [1, PFN_FILE_ID_MAX] with a
 * reference count. Every pinned page of a file PFN holds one reference on
 * its id (taken by pin, dropped by unpin) and every file source holds one
 * for its lifetime, so an id lives exactly as long as a PFN naming it can
 * be stored anywhere, and is reused only after that.
 *
 * identify() never creates an id: a file without one has no page pinned
 * anywhere, so its pages get PFN_FILE_ID_NONE, an id nothing pinned has.
 *
 * Everything here is thread safe.
 */
#ifndef UIOMMUFD_IOPT_PFN_IDENTITY_H
#define UIOMMUFD_IOPT_PFN_IDENTITY_H

#include <sys/types.h>

#include "iopt/pfn_source.h"

/*
 * Find or create the id of (dev, ino) and add @refs (> 0) references to
 * it: 0, -ENOMEM, or -ENOSPC when every id is in use.
 */
int pfn_file_id_get(dev_t dev, ino_t ino, u64 refs, u32 *id);
/* Add @refs to an id the caller already holds a reference on. */
void pfn_file_id_hold(u32 id, u64 refs);
/* Drop @refs; the id goes at zero. Cannot fail, never allocates. */
void pfn_file_id_put(u32 id, u64 refs);
/* The id of (dev, ino) if it has one: 0, or -ENOENT. Takes nothing. */
int pfn_file_id_find(dev_t dev, ino_t ino, u32 *id);
/* References held on @id, 0 if there is no such id. For tests. */
u64 pfn_file_id_refs(u32 id);
/* Ids in use now. For tests. */
unsigned int pfn_file_ids_live(void);

/* Drop the reference each file PFN in pfns[0, n) holds. */
void pfn_put_pfns(const u64 *pfns, u64 n);
/* Drop the references of the PFN run [pfn, pfn + npages) (unpin). */
void pfn_put_run(u64 pfn, u64 npages);

enum pfn_identify_mode {
	PFN_IDENTIFY,		/* names only: no checks, no references */
	PFN_IDENTIFY_READABLE,	/* must be readable; takes nothing */
	PFN_IDENTIFY_PIN_READ,	/* must be readable; takes file refs */
	PFN_IDENTIFY_PIN_WRITE,	/* must be writable too */
};

/*
 * PFNs of this process's pages [addr, addr + npages * PAGE_SIZE) (@addr
 * page aligned, npages > 0) into pfns[0, npages). A page of a shared
 * mapping of a file (MAP_SHARED file, memfd, shmem, shared anonymous) is
 * named by file and page offset, any other by its address. The pin modes
 * check access and take one file-id reference per file page, all or
 * nothing; READABLE checks as a read pin would and takes nothing (what a
 * get_user_pages() for a look would refuse, it refuses). 0, -EFAULT (a hole, no access, not user memory, an offset past
 * what a PFN names, /proc unreadable), or with a pin mode -ENOMEM/-ENOSPC.
 * Populates nothing.
 */
int pfn_identify_range(u64 addr, u64 npages, u64 *pfns,
		       enum pfn_identify_mode mode);
/* The same for the memory of process @pid (this one, or another). */
int pfn_identify_range_pid(pid_t pid, u64 addr, u64 npages, u64 *pfns,
			   enum pfn_identify_mode mode);

/*
 * Make [addr, addr + len) present for reading, or for writing, as pinning
 * does: MADV_POPULATE_READ/WRITE, or on kernels without them (before 5.14)
 * a read or an in-place atomic rewrite of a byte of each page. The caller
 * has checked the access, since touching faults where madvise would fail
 * (including SIGBUS on a file truncated under the range). 0 or -EFAULT.
 */
int pfn_populate(u64 addr, u64 len, bool write);
/* Tests: touch pages even when the kernel has MADV_POPULATE_*. */
void pfn_populate_force_touch(bool on);

/* Copy @len bytes between @data and the page at @page_addr + @offset. */
void pfn_copy_page(u64 page_addr, size_t offset, void *data, size_t len,
		   bool write);
/*
 * The same in the memory of another process (process_vm_readv/writev).
 * -EFAULT when it is gone or the page is not there; a read then gives
 * zeroes.
 */
int pfn_copy_page_pid(pid_t pid, u64 page_addr, size_t offset, void *data,
		      size_t len, bool write);

/* Pin and identify arguments: 0, or -EINVAL outside [0, src->npages). */
int pfn_source_check_range(const struct pfn_source *src, u64 index,
			   u64 npages);
/* 0 in the process the memory belongs to, else -EFAULT with why. */
int pfn_source_check_pid(const struct pfn_source *src);
/*
 * 0 when the process the memory belongs to is alive (this one, or another
 * such as the parent of a forked child), else -EFAULT with why.
 */
int pfn_source_check_alive(const struct pfn_source *src);

#endif
