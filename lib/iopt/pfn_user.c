// SPDX-License-Identifier: MIT
/*
 * The user source: memory of this process at a user address, the
 * IOMMU_IOAS_MAP case. The kernel pins with GUP under the mmap lock; here
 * the VMAs come from /proc/self/maps and pages are made present with
 * MADV_POPULATE_*. Nothing stops the caller from unmapping pinned memory,
 * so the contract is that it keeps it mapped (as DPDK or SPDK users do).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "base/private_fd.h"
#include "base/process.h"
#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/fault_inject.h"
#include "base/mem.h"
#include "base/overflow.h"
#include "iopt/pfn_identity.h"

/* At most this many files back one mapping of another process's memory. */
#define USER_FILES_MAX 16

struct pfn_user_source {
	struct pfn_source src;
	/* Address of page 0: uptr rounded down to a page. */
	u64 base;
	/*
	 * Another process's memory that it moved into files of its own
	 * (process_user_mem_find()): our descriptors of them (the library's
	 * own, private_fd.h), so that pages pinned stay readable and
	 * writable after it exits.
	 */
	struct process_mem files[USER_FILES_MAX];
	atomic_int file_fd[USER_FILES_MAX];
	unsigned int nfiles;
};

static struct pfn_user_source *to_user(struct pfn_source *src)
{
	return container_of(src, struct pfn_user_source, src);
}

static u64 page_addr(struct pfn_source *src, u64 index)
{
	return to_user(src)->base + (index << PAGE_SHIFT);
}

static int user_pin(struct pfn_source *src, u64 index, u64 npages, bool write,
		    u64 *pfns)
{
	u64 addr;
	int rc;

	rc = pfn_source_check_range(src, index, npages);
	if (rc || !npages)
		return rc;
	/*
	 * Memory of another live process (a forked child working on its
	 * copy of mappings its parent made) is named as that process maps
	 * it, as the kernel pins from the source mm.
	 */
	rc = pfn_source_check_alive(src);
	if (rc)
		return rc;
	addr = page_addr(src, index);
	/* Where the kernel's GUP can fail. */
	if (fault_should_fail())
		return err_reason(-EFAULT, "injected pin failure at %#llx",
				  (unsigned long long)addr);
	rc = pfn_identify_range_pid(src->pid, addr, npages, pfns,
				    write ? PFN_IDENTIFY_PIN_WRITE :
					    PFN_IDENTIFY_PIN_READ);
	if (rc)
		return rc;
	/* Another process's pages are reached with process_vm_*(). */
	if (src->pid != process_self())
		return 0;
	rc = pfn_populate(addr, npages << PAGE_SHIFT, write);
	if (rc)
		pfn_put_pfns(pfns, npages);
	return rc;
}

static void user_unpin(struct pfn_source *src, u64 pfn, u64 npages)
{
	/* Address PFNs hold nothing; file PFNs hold their id. */
	pfn_put_run(pfn, npages);
}

static int user_identify(struct pfn_source *src, u64 index, u64 npages,
			 u64 *pfns)
{
	int rc;

	rc = pfn_source_check_range(src, index, npages);
	if (rc || !npages)
		return rc;
	rc = pfn_source_check_alive(src);
	if (rc)
		return rc;
	return pfn_identify_range_pid(src->pid, page_addr(src, index), npages,
				      pfns, PFN_IDENTIFY);
}

/* Through the file that holds page @addr of another process, if one does. */
static bool user_rw_file(struct pfn_user_source *usrc, u64 addr,
			 size_t offset, void *data, size_t len, bool write)
{
	for (unsigned int i = 0; i != usrc->nfiles; i++) {
		const struct process_mem *f = &usrc->files[i];
		off_t at;
		ssize_t n;
		int fd;

		if (addr < f->addr || addr - f->addr >= f->len)
			continue;
		at = f->offset + (addr - f->addr) + offset;
		fd = private_fd_get(&usrc->file_fd[i]);
		n = write ? pwrite(fd, data, len, at) : pread(fd, data, len, at);
		private_fd_put();
		return n == (ssize_t)len;
	}
	return false;
}

static void user_rw(struct pfn_source *src, u64 index, size_t offset,
		    void *data, size_t len, bool write)
{
	struct pfn_user_source *usrc = to_user(src);
	u64 addr = page_addr(src, index);

	if (likely(src->pid == process_self()))
		pfn_copy_page(addr, offset, data, len, write);
	else if (!usrc->nfiles ||
		 !user_rw_file(usrc, addr, offset, data, len, write))
		/* A pinned page of a process that has since gone reads 0. */
		pfn_copy_page_pid(src->pid, addr, offset, data, len, write);
}

static void user_destroy(struct pfn_source *src)
{
	struct pfn_user_source *usrc = to_user(src);

	for (unsigned int i = 0; i != usrc->nfiles; i++)
		private_fd_close(&usrc->file_fd[i]);
	mem_free(usrc);
}

/* Keep a descriptor of each file of @mem (@n pieces) not kept yet. */
static int user_keep_files(struct pfn_user_source *usrc,
			   const struct process_mem *mem, unsigned int n)
{
	for (unsigned int i = 0; i != n; i++) {
		unsigned int k = usrc->nfiles;
		bool known = false;
		int fd, rc;

		for (unsigned int j = 0; j != k; j++)
			known |= usrc->files[j].addr == mem[i].addr &&
				 usrc->files[j].len == mem[i].len;
		if (known)
			continue;
		if (k == USER_FILES_MAX)
			return 0;	/* the rest reached while it lives */
		fd = fcntl(mem[i].fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return err_reason(-ENOMEM,
					  "cannot keep the file of the memory at %#llx: %m",
					  (unsigned long long)mem[i].addr);
		atomic_init(&usrc->file_fd[k], fd);
		rc = private_fd_register(&usrc->file_fd[k]);
		if (rc) {
			close(fd);
			return rc;
		}
		usrc->files[k] = mem[i];
		usrc->files[k].fd = -1;
		usrc->nfiles = k + 1;
	}
	return 0;
}


static void *user_page_ptr(struct pfn_source *src, u64 index)
{
	if (src->pid != process_self())
		return NULL;
	return (void *)(uintptr_t)page_addr(src, index);
}

static const struct pfn_source_ops pfn_user_ops = {
	.pin = user_pin,
	.unpin = user_unpin,
	.identify = user_identify,
	.rw = user_rw,
	.page_ptr = user_page_ptr,
	.destroy = user_destroy,
};

struct pfn_source *pfn_source_user_create(u64 uptr, u64 length)
{
	struct pfn_user_source *usrc;
	u64 last;

	/* Before anything else: a wrapping range must never be touched. */
	if (!length)
		return ERR_PTR(err_reason(-EINVAL, "zero length at %#llx",
					  (unsigned long long)uptr));
	/* As the kernel: the length must leave room to round up a page. */
	if (length > SIZE_MAX - PAGE_SIZE)
		return ERR_PTR(err_reason(-EINVAL, "length %#llx is too large",
					  (unsigned long long)length));
	/* The end (exclusive) must not wrap either: pitfall 1. */
	if (check_range_last(uptr, length, &last) || last == U64_MAX)
		return ERR_PTR(err_reason(-EOVERFLOW,
					  "%#llx + %#llx wraps past the end of the address space",
					  (unsigned long long)uptr,
					  (unsigned long long)length));
	if (sysconf(_SC_PAGESIZE) != PAGE_SIZE)
		return ERR_PTR(err_reason(-EINVAL,
					  "CPU page size %ld is not the %llu uiommufd is built for",
					  sysconf(_SC_PAGESIZE), PAGE_SIZE));

	usrc = mem_zalloc(sizeof(*usrc));
	if (!usrc)
		return ERR_PTR(-ENOMEM);
	usrc->base = align_down(uptr, PAGE_SIZE);
	usrc->src.ops = &pfn_user_ops;
	usrc->src.npages =
		PHYS_PFN(align_down(last, PAGE_SIZE) - usrc->base) + 1;
	usrc->src.first_offset = uptr - usrc->base;
	usrc->src.pid = process_user();
	/* The VMAs decide what may be written, at pin time. */
	usrc->src.writable = true;
	if (usrc->src.pid != process_self()) {
		struct process_mem mem[USER_FILES_MAX];
		unsigned int n = process_user_mem_find(
			usrc->base, usrc->src.npages << PAGE_SHIFT, mem,
			USER_FILES_MAX);
		int rc = user_keep_files(usrc, mem, n);

		if (rc) {
			user_destroy(&usrc->src);
			return ERR_PTR(rc);
		}
	}
	return &usrc->src;
}
