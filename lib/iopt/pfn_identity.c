// SPDX-License-Identifier: MIT
/*
 * The file-id registry is an rbtree by (dev, ino) for lookups and an index
 * store by id for allocation and puts, both under one mutex. Pins take
 * references a VMA at a time, so the lock is taken per VMA, not per page.
 */
#include "iopt/pfn_identity.h"

#include <errno.h>
#include <sys/uio.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/process.h"
#include "base/err_reason.h"
#include "base/index_store.h"
#include "base/mem.h"
#include "base/overflow.h"
#include "base/rbtree.h"
#include "base/warn.h"
#include "iopt/proc_maps.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Pages of a file PFN's offset field, and the end of user addresses. */
#define PFN_FILE_PGOFF_LIMIT (1ULL << PFN_FILE_PGOFF_BITS)
#define USER_ADDR_LIMIT PFN_PHYS(PFN_FILE_BIT)

struct file_ident {
	struct rb_node node;
	dev_t dev;
	ino_t ino;
	u32 id;
	u64 refs;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rb_root by_inode;
static struct index_store by_id;
static unsigned int nr_ids;

/* The tree carries no summary; rebalancing needs no callbacks. */
static void noop_propagate(struct rb_node *node, struct rb_node *stop)
{
}

static void noop_copy(struct rb_node *from, struct rb_node *to)
{
}

static void noop_rotate(struct rb_node *old_top, struct rb_node *new_top)
{
}

static const struct rb_augment_callbacks noop_callbacks = {
	.propagate = noop_propagate,
	.copy = noop_copy,
	.rotate = noop_rotate,
};

static int ident_cmp(dev_t dev, ino_t ino, const struct file_ident *ident)
{
	if (dev != ident->dev)
		return dev < ident->dev ? -1 : 1;
	if (ino != ident->ino)
		return ino < ident->ino ? -1 : 1;
	return 0;
}

/* The entry for (dev, ino), or NULL with *parent and *link where it goes. */
static struct file_ident *ident_lookup(dev_t dev, ino_t ino,
				       struct rb_node **parent,
				       struct rb_node ***link)
{
	struct rb_node **cur = &by_inode.node, *up = NULL;

	while (*cur) {
		struct file_ident *ident =
			container_of(*cur, struct file_ident, node);
		int cmp = ident_cmp(dev, ino, ident);

		if (!cmp)
			return ident;
		up = *cur;
		cur = cmp < 0 ? &up->left : &up->right;
	}
	*parent = up;
	*link = cur;
	return NULL;
}

static struct file_ident *ident_create(dev_t dev, ino_t ino,
				       struct rb_node *parent,
				       struct rb_node **link, int *err)
{
	struct file_ident *ident;
	u64 id;
	int rc;

	ident = mem_zalloc(sizeof(*ident));
	if (!ident) {
		*err = -ENOMEM;
		return NULL;
	}
	rc = index_store_alloc(&by_id, &id, 1, PFN_FILE_ID_MAX, ident);
	if (rc) {
		mem_free(ident);
		if (rc == -EBUSY)
			rc = err_reason(-ENOSPC,
					"all %u file ids are in use: too many files have pages pinned",
					PFN_FILE_ID_MAX);
		*err = rc;
		return NULL;
	}
	ident->dev = dev;
	ident->ino = ino;
	ident->id = id;
	rb_link_node(&ident->node, parent, link);
	rb_insert_color_augmented(&ident->node, &by_inode, &noop_callbacks);
	nr_ids++;
	return ident;
}

int pfn_file_id_get(dev_t dev, ino_t ino, u64 refs, u32 *id)
{
	struct file_ident *ident;
	struct rb_node *parent, **link;
	int rc = 0;

	/* An id without references would never be freed. */
	if (WARN_ON(!refs))
		return err_reason(-EINVAL, "file id taken without a reference");
	pthread_mutex_lock(&registry_lock);
	ident = ident_lookup(dev, ino, &parent, &link);
	if (!ident)
		ident = ident_create(dev, ino, parent, link, &rc);
	if (ident) {
		ident->refs += refs;
		*id = ident->id;
	}
	pthread_mutex_unlock(&registry_lock);
	return rc;
}

void pfn_file_id_hold(u32 id, u64 refs)
{
	struct file_ident *ident;

	pthread_mutex_lock(&registry_lock);
	ident = index_store_load(&by_id, id);
	if (!WARN_ON(!ident))
		ident->refs += refs;
	pthread_mutex_unlock(&registry_lock);
}

void pfn_file_id_put(u32 id, u64 refs)
{
	struct file_ident *ident, *dead = NULL;

	pthread_mutex_lock(&registry_lock);
	ident = index_store_load(&by_id, id);
	if (WARN_ON(!ident || ident->refs < refs))
		goto out_unlock;
	ident->refs -= refs;
	if (!ident->refs) {
		index_store_erase(&by_id, id);
		rb_erase_augmented(&ident->node, &by_inode, &noop_callbacks);
		nr_ids--;
		dead = ident;
	}
out_unlock:
	pthread_mutex_unlock(&registry_lock);
	mem_free(dead);
}

int pfn_file_id_find(dev_t dev, ino_t ino, u32 *id)
{
	struct file_ident *ident;
	struct rb_node *parent, **link;

	pthread_mutex_lock(&registry_lock);
	ident = ident_lookup(dev, ino, &parent, &link);
	if (ident)
		*id = ident->id;
	pthread_mutex_unlock(&registry_lock);
	return ident ? 0 : -ENOENT;
}

u64 pfn_file_id_refs(u32 id)
{
	struct file_ident *ident;
	u64 refs;

	pthread_mutex_lock(&registry_lock);
	ident = index_store_load(&by_id, id);
	refs = ident ? ident->refs : 0;
	pthread_mutex_unlock(&registry_lock);
	return refs;
}

unsigned int pfn_file_ids_live(void)
{
	unsigned int n;

	pthread_mutex_lock(&registry_lock);
	n = nr_ids;
	pthread_mutex_unlock(&registry_lock);
	return n;
}

void pfn_put_pfns(const u64 *pfns, u64 n)
{
	u64 i = 0, j;
	u32 id;

	while (i < n) {
		if (!pfn_is_file(pfns[i])) {
			i++;
			continue;
		}
		/* One put per run of pages of the same file. */
		id = pfn_file_id(pfns[i]);
		for (j = i + 1; j < n && pfn_is_file(pfns[j]) &&
				pfn_file_id(pfns[j]) == id;
		     j++)
			;
		pfn_file_id_put(id, j - i);
		i = j;
	}
}

void pfn_put_run(u64 pfn, u64 npages)
{
	u64 n;

	if (!pfn_is_file(pfn))
		return;
	/* A run may carry from the last offset of one id into the next id. */
	while (npages) {
		n = min(npages, PFN_FILE_PGOFF_LIMIT - pfn_file_pgoff(pfn));
		pfn_file_id_put(pfn_file_id(pfn), n);
		pfn += n;
		npages -= n;
	}
}

static int check_vma_access(const struct proc_maps_vma *vma, u64 addr,
			    enum pfn_identify_mode mode)
{
	if (mode == PFN_IDENTIFY)
		return 0;
	if (!(vma->prot & PROT_READ))
		return err_reason(-EFAULT, "address %#llx is not readable",
				  (unsigned long long)addr);
	if (mode == PFN_IDENTIFY_PIN_WRITE && !(vma->prot & PROT_WRITE))
		return err_reason(-EFAULT,
				  "address %#llx is read-only, cannot pin it for writing",
				  (unsigned long long)addr);
	return 0;
}

static bool mode_pins(enum pfn_identify_mode mode)
{
	return mode == PFN_IDENTIFY_PIN_READ || mode == PFN_IDENTIFY_PIN_WRITE;
}

/* The file id for @n pages of @vma: taken for pins, looked up otherwise. */
static int vma_file_id(const struct proc_maps_vma *vma, u64 n,
		       enum pfn_identify_mode mode, u32 *id)
{
	if (mode_pins(mode))
		return pfn_file_id_get(vma->dev, vma->ino, n, id);
	if (pfn_file_id_find(vma->dev, vma->ino, id))
		*id = PFN_FILE_ID_NONE;
	return 0;
}

/* PFNs of @n pages from @addr, all inside @vma. */
static int identify_vma(const struct proc_maps_vma *vma, u64 addr, u64 n,
			u64 *pfns, enum pfn_identify_mode mode)
{
	u64 pgoff, i;
	u32 id;
	int rc;

	rc = check_vma_access(vma, addr, mode);
	if (rc)
		return rc;
	/* Private pages (even of a file) are this process's own. */
	if (!vma->shared || !vma->ino) {
		for (i = 0; i != n; i++)
			pfns[i] = PHYS_PFN(addr) + i;
		return 0;
	}
	pgoff = (vma->offset >> PAGE_SHIFT) + PHYS_PFN(addr - vma->start);
	if (pgoff >= PFN_FILE_PGOFF_LIMIT || n > PFN_FILE_PGOFF_LIMIT - pgoff)
		return err_reason(-EFAULT,
				  "address %#llx maps a file page past the 16 TiB a PFN can name",
				  (unsigned long long)addr);
	rc = vma_file_id(vma, n, mode, &id);
	if (rc)
		return rc;
	for (i = 0; i != n; i++)
		pfns[i] = pfn_make_file(id, pgoff + i);
	return 0;
}

/* Walk the VMAs of [addr, last], which the caller has bounded. */
static int identify_walk(struct proc_maps_iter *it, u64 addr, u64 npages,
			 u64 *pfns, enum pfn_identify_mode mode, u64 *done)
{
	struct proc_maps_vma vma;
	u64 cur = addr, n;
	int rc;

	while (*done != npages) {
		rc = proc_maps_next(it, &vma);
		if (rc < 0)
			return rc;
		if (!rc || vma.start > cur)
			return err_reason(-EFAULT, "address %#llx is not mapped",
					  (unsigned long long)cur);
		/* Only if the map changed between reads; lines still ascend. */
		if (vma.end <= cur)
			continue;
		n = min(npages - *done, PHYS_PFN(vma.end - cur));
		rc = identify_vma(&vma, cur, n, pfns + *done, mode);
		if (rc)
			return rc;
		*done += n;
		cur += n << PAGE_SHIFT;
	}
	return 0;
}

int pfn_identify_range(u64 addr, u64 npages, u64 *pfns,
		       enum pfn_identify_mode mode)
{
	return pfn_identify_range_pid(process_self(), addr, npages, pfns,
				      mode);
}

int pfn_identify_range_pid(pid_t pid, u64 addr, u64 npages, u64 *pfns,
			   enum pfn_identify_mode mode)
{
	struct proc_maps_iter it;
	u64 len, last, done = 0;
	int rc;

	if (check_mul_overflow(npages, PAGE_SIZE, &len) ||
	    check_range_last(addr, len, &last) || last >= USER_ADDR_LIMIT)
		return err_reason(-EFAULT,
				  "%llu pages at %#llx run past user memory",
				  (unsigned long long)npages,
				  (unsigned long long)addr);
	rc = proc_maps_open_pid(&it, pid, addr, last);
	if (rc)
		return rc;
	rc = identify_walk(&it, addr, npages, pfns, mode, &done);
	proc_maps_close(&it);
	if (rc && mode_pins(mode))
		pfn_put_pfns(pfns, done);
	return rc;
}

static pthread_once_t populate_once = PTHREAD_ONCE_INIT;
static bool populate_has_madvise;
static bool populate_touch_forced;

/* MADV_POPULATE_* came in 5.14; older kernels refuse them with EINVAL. */
static void populate_probe(void)
{
	void *p;

	p = mmap(NULL, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		 0);
	if (p == MAP_FAILED) {
		populate_has_madvise = true;
		return;
	}
	populate_has_madvise = !madvise(p, PAGE_SIZE, MADV_POPULATE_READ) ||
			       errno != EINVAL;
	munmap(p, PAGE_SIZE);
}

void pfn_populate_force_touch(bool on)
{
	__atomic_store_n(&populate_touch_forced, on, __ATOMIC_RELAXED);
}

static void touch_pages(u64 addr, u64 len, bool write)
{
	volatile u8 *p;
	u8 old;
	u64 off;

	for (off = 0; off < len; off += PAGE_SIZE) {
		p = (volatile u8 *)(uintptr_t)(addr + off);
		old = __atomic_load_n(p, __ATOMIC_RELAXED);
		if (!write)
			continue;
		/*
		 * Storing the value that is there faults the page in for
		 * writing; the exchange keeps a concurrent store intact.
		 */
		while (!__atomic_compare_exchange_n(p, &old, old, false,
						    __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED))
			;
	}
}

int pfn_populate(u64 addr, u64 len, bool write)
{
	int advice = write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ;
	int rc;

	pthread_once(&populate_once, populate_probe);
	if (!populate_has_madvise ||
	    __atomic_load_n(&populate_touch_forced, __ATOMIC_RELAXED)) {
		touch_pages(addr, len, write);
		return 0;
	}
	do {
		rc = madvise((void *)(uintptr_t)addr, len, advice);
	} while (rc && errno == EINTR);
	if (rc)
		return err_reason(-EFAULT,
				  "cannot fault in [%#llx, %#llx] for %s: %s",
				  (unsigned long long)addr,
				  (unsigned long long)(addr + len - 1),
				  write ? "writing" : "reading",
				  strerror(errno));
	return 0;
}

int pfn_source_check_range(const struct pfn_source *src, u64 index,
			   u64 npages)
{
	if (index > src->npages || npages > src->npages - index)
		return err_reason(-EINVAL,
				  "pages [%llu, +%llu) are outside the source's %llu pages",
				  (unsigned long long)index,
				  (unsigned long long)npages,
				  (unsigned long long)src->npages);
	return 0;
}

int pfn_source_check_pid(const struct pfn_source *src)
{
	int rc = pfn_source_check_alive(src);

	if (rc || likely(src->pid == process_self()))
		return rc;
	return err_reason(-EFAULT,
			  "the memory belongs to process %d, which is not this one (%d)",
			  (int)src->pid, (int)process_self());
}

int pfn_source_check_alive(const struct pfn_source *src)
{
	if (likely(src->pid == process_self()))
		return 0;
	if (kill(src->pid, 0) && errno == ESRCH)
		return err_reason(-EFAULT,
				  "the memory belongs to process %d, which has exited",
				  (int)src->pid);
	return 0;
}

int pfn_copy_page_pid(pid_t pid, u64 page_addr, size_t offset, void *data,
		      size_t len, bool write)
{
	struct iovec local = { .iov_base = data, .iov_len = len };
	struct iovec remote = {
		.iov_base = (void *)(uintptr_t)(page_addr + offset),
		.iov_len = len,
	};
	ssize_t done;

	if (write)
		done = process_vm_writev(pid, &local, 1, &remote, 1, 0);
	else
		done = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (done == (ssize_t)len)
		return 0;
	if (!write)
		memset(data, 0, len);
	return err_reason(-EFAULT, "cannot %s the memory of process %d at %#llx",
			  write ? "write" : "read", (int)pid,
			  (unsigned long long)(page_addr + offset));
}

void pfn_copy_page(u64 page_addr, size_t offset, void *data, size_t len,
		   bool write)
{
	char *page = (char *)(uintptr_t)page_addr;

	if (write)
		memcpy(page + offset, data, len);
	else
		memcpy(data, page + offset, len);
}
