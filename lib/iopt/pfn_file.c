// SPDX-License-Identifier: MIT
/*
 * The file source: pages of a file, the IOMMU_IOAS_MAP_FILE case. The
 * kernel holds the struct file; here the source maps the file range
 * MAP_SHARED once (the window), which keeps the file and its pages
 * reachable after the caller closes its fd or unmaps its own mapping. Pins
 * populate the window; rw copies through it.
 *
 * The file is named by the (device, inode) /proc/self/maps gives the
 * window, so a user mapping of the same file, which is named the same way,
 * gets the same PFNs (stat's st_dev can differ, btrfs subvolumes say).
 * Without a kernel pin, a file truncated under a pin can still lose pages:
 * rw on them then faults, as MAP_SHARED access past the end does.
 *
 * hugetlbfs maps whole huge pages only, so there the window covers the
 * huge pages around the range.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "base/process.h"
#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/fault_inject.h"
#include "base/mem.h"
#include "base/overflow.h"
#include "base/warn.h"
#include "iopt/pfn_identity.h"
#include "iopt/proc_maps.h"

/* statfs(2)'s f_type of the file systems the kernel pins files of. */
#define PFN_TMPFS_MAGIC 0x01021994
#define PFN_HUGETLBFS_MAGIC 0x958458f6

struct pfn_file_source {
	struct pfn_source src;
	/* The file's pages [pgoff, pgoff + src.npages), mapped MAP_SHARED. */
	char *window;
	u64 pgoff;
	/* The mapping holding the window: more on hugetlbfs. */
	char *map_base;
	u64 map_len;
	/* Held for the source's lifetime. */
	u32 file_id;
};

static struct pfn_file_source *to_file(struct pfn_source *src)
{
	return container_of(src, struct pfn_file_source, src);
}

static u64 window_addr(struct pfn_source *src, u64 index)
{
	return (uintptr_t)to_file(src)->window + (index << PAGE_SHIFT);
}

static void file_pfns(struct pfn_source *src, u64 index, u64 npages,
		      u64 *pfns)
{
	struct pfn_file_source *fsrc = to_file(src);
	u64 i;

	for (i = 0; i != npages; i++)
		pfns[i] = pfn_make_file(fsrc->file_id, fsrc->pgoff + index + i);
}

static int file_pin(struct pfn_source *src, u64 index, u64 npages, bool write,
		    u64 *pfns)
{
	u64 pgoff = to_file(src)->pgoff + index;
	int rc;

	rc = pfn_source_check_range(src, index, npages);
	if (rc || !npages)
		return rc;
	rc = pfn_source_check_pid(src);
	if (rc)
		return rc;
	if (fault_should_fail())
		return err_reason(-EFAULT,
				  "injected pin failure at file page %#llx",
				  (unsigned long long)pgoff);
	if (write && !src->writable)
		return err_reason(-EFAULT,
				  "the file source is read-only, cannot pin it for writing");
	/* Fails if the file was truncated under the range meanwhile. */
	rc = pfn_populate(window_addr(src, index), npages << PAGE_SHIFT, write);
	if (rc)
		return rc;
	pfn_file_id_hold(to_file(src)->file_id, npages);
	file_pfns(src, index, npages, pfns);
	return 0;
}

static void file_unpin(struct pfn_source *src, u64 pfn, u64 npages)
{
	pfn_put_run(pfn, npages);
}

static int file_identify(struct pfn_source *src, u64 index, u64 npages,
			 u64 *pfns)
{
	int rc;

	rc = pfn_source_check_range(src, index, npages);
	if (rc)
		return rc;
	file_pfns(src, index, npages, pfns);
	return 0;
}

static void file_rw(struct pfn_source *src, u64 index, size_t offset,
		    void *data, size_t len, bool write)
{
	pfn_copy_page(window_addr(src, index), offset, data, len, write);
}

static void file_destroy(struct pfn_source *src)
{
	struct pfn_file_source *fsrc = to_file(src);

	munmap(fsrc->map_base, fsrc->map_len);
	pfn_file_id_put(fsrc->file_id, 1);
	mem_free(fsrc);
}

/* The source's own mapping of the file: reachable in any process. */
static void *file_page_ptr(struct pfn_source *src, u64 index)
{
	return (void *)(uintptr_t)window_addr(src, index);
}

static const struct pfn_source_ops pfn_file_ops = {
	.pin = file_pin,
	.unpin = file_unpin,
	.identify = file_identify,
	.rw = file_rw,
	.page_ptr = file_page_ptr,
	.destroy = file_destroy,
};

/* The access mode the source needs from the fd. */
static int check_fd_access(int fd, bool writable)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0)
		return err_reason(-EBADF, "fd %d: %s", fd, strerror(errno));
	if ((flags & O_ACCMODE) == O_WRONLY)
		return err_reason(-EPERM, "fd %d is not open for reading", fd);
	if (writable && (flags & O_ACCMODE) == O_RDONLY)
		return err_reason(-EPERM,
				  "fd %d is open read-only, the map is writable",
				  fd);
	return 0;
}

static int check_file(int fd, u64 start, u64 length, bool writable)
{
	struct stat st;
	u64 last;

	if (fstat(fd, &st))
		return err_reason(-EBADF, "fd %d: %s", fd, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_reason(-EINVAL, "fd %d is not a regular file", fd);
	if (!length)
		return err_reason(-EINVAL, "zero length at file offset %#llx",
				  (unsigned long long)start);
	if (check_range_last(start, length, &last))
		return err_reason(-EINVAL, "file range %#llx + %#llx wraps",
				  (unsigned long long)start,
				  (unsigned long long)length);
	if (last >= (u64)st.st_size)
		return err_reason(-EINVAL,
				  "file range [%#llx, %#llx] runs past the end of the file (%#llx bytes)",
				  (unsigned long long)start,
				  (unsigned long long)last,
				  (unsigned long long)st.st_size);
	if (PHYS_PFN(last) >> PFN_FILE_PGOFF_BITS)
		return err_reason(-EINVAL,
				  "file offset %#llx is past the 16 TiB a PFN can name",
				  (unsigned long long)last);
	return check_fd_access(fd, writable);
}

static int mmap_errno(int err)
{
	switch (err) {
	case EACCES:
	case EPERM:
		return -EPERM;
	case ENOMEM:
		return -ENOMEM;
	case EBADF:
		return -EBADF;
	default:
		return -EINVAL;
	}
}

/* What a mapping of the file must be aligned to: a huge page on hugetlbfs. */
static u64 map_alignment(int fd)
{
	struct statfs sfs;
	struct stat st;

	if (fstatfs(fd, &sfs) ||
	    (unsigned long)sfs.f_type != PFN_HUGETLBFS_MAGIC ||
	    fstat(fd, &st) || st.st_blksize <= (blksize_t)PAGE_SIZE ||
	    !is_power_of_2(st.st_blksize))
		return PAGE_SIZE;
	return st.st_blksize;
}

static int map_window(struct pfn_file_source *fsrc, int fd, bool writable)
{
	u64 align = map_alignment(fd), first = fsrc->pgoff << PAGE_SHIFT;
	u64 off = align_down(first, align);
	u64 end = first + (fsrc->src.npages << PAGE_SHIFT);
	int prot = PROT_READ | (writable ? PROT_WRITE : 0);
	void *base;

	/* Offsets stop at 16 TiB (checked), so this cannot wrap. */
	if (WARN_ON(check_align_up_overflow(end, align, &end)))
		return -EINVAL;
	base = mmap(NULL, end - off, prot, MAP_SHARED, fd, (off_t)off);
	if (base == MAP_FAILED)
		return err_reason(mmap_errno(errno), "cannot map fd %d: %s", fd,
				  strerror(errno));
	fsrc->map_base = base;
	fsrc->map_len = end - off;
	fsrc->window = (char *)base + (first - off);
	return 0;
}

/* The file's id, by the name /proc/self/maps gives the window. */
static int take_file_id(struct pfn_file_source *fsrc)
{
	struct proc_maps_vma vma;
	int rc;

	rc = proc_maps_find((uintptr_t)fsrc->window, &vma);
	if (rc)
		return rc;
	if (!vma.shared || !vma.ino)
		return err_reason(-EINVAL,
				  "the file's mapping has no inode to name it by");
	return pfn_file_id_get(vma.dev, vma.ino, 1, &fsrc->file_id);
}

struct pfn_source *pfn_source_file_create(int fd, u64 start, u64 length,
					  bool writable)
{
	struct pfn_file_source *fsrc;
	u64 first_page;
	int rc;

	rc = check_file(fd, start, length, writable);
	if (rc)
		return ERR_PTR(rc);
	if (sysconf(_SC_PAGESIZE) != PAGE_SIZE)
		return ERR_PTR(err_reason(-EINVAL,
					  "CPU page size %ld is not the %llu uiommufd is built for",
					  sysconf(_SC_PAGESIZE), PAGE_SIZE));

	fsrc = mem_zalloc(sizeof(*fsrc));
	if (!fsrc)
		return ERR_PTR(-ENOMEM);
	first_page = align_down(start, PAGE_SIZE);
	fsrc->pgoff = PHYS_PFN(first_page);
	fsrc->src.ops = &pfn_file_ops;
	fsrc->src.npages = PHYS_PFN(start + length - 1 - first_page) + 1;
	fsrc->src.first_offset = start - first_page;
	fsrc->src.pid = process_self();
	fsrc->src.writable = writable;

	rc = map_window(fsrc, fd, writable);
	if (rc)
		goto err_free;
	rc = take_file_id(fsrc);
	if (rc)
		goto err_unmap;
	return &fsrc->src;

err_unmap:
	munmap(fsrc->map_base, fsrc->map_len);
err_free:
	mem_free(fsrc);
	return ERR_PTR(rc);
}

/*
 * What memfd_pin_folios(), behind the kernel's IOMMU_IOAS_MAP_FILE, pins:
 * a regular shmem or hugetlbfs file, and only whole pages inside it (the
 * end of the range's last page must lie before the end of the file).
 */
int pfn_source_file_pinnable(int fd, u64 start, u64 length)
{
	int flags = fd < 0 ? -1 : fcntl(fd, F_GETFL);
	struct statfs sfs;
	struct stat st;
	u64 last;

	if (flags < 0 || (flags & O_PATH))
		return err_reason(-EBADF, "fd %d is not an open descriptor%s",
				  fd, flags < 0 ? "" : " (O_PATH)");
	if (fstat(fd, &st) || fstatfs(fd, &sfs))
		return err_reason(-EBADF, "fd %d: %s", fd, strerror(errno));
	if (!S_ISREG(st.st_mode) ||
	    ((unsigned long)sfs.f_type != PFN_TMPFS_MAGIC &&
	     (unsigned long)sfs.f_type != PFN_HUGETLBFS_MAGIC))
		return err_reason(-EINVAL,
				  "fd %d is not a memfd, shmem or hugetlbfs file, the only files the kernel maps",
				  fd);
	if (!length || check_range_last(start, length, &last))
		return err_reason(-EINVAL, "bad file range %#llx + %#llx",
				  (unsigned long long)start,
				  (unsigned long long)length);
	last = align_down(last, PAGE_SIZE) + PAGE_SIZE - 1;
	if (last >= (u64)st.st_size)
		return err_reason(-EINVAL,
				  "the file's %#llx bytes end before %#llx, the last byte of the range's last page (the kernel pins whole pages)",
				  (unsigned long long)st.st_size,
				  (unsigned long long)last);
	return 0;
}
