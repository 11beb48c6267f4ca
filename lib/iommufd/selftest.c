// SPDX-License-Identifier: MIT
/*
 * The test-command module, IOMMU_TEST_CMD: mock devices and domains,
 * reserved ranges, checks of what a mock domain maps and what is pinned,
 * accesses behind descriptors of their own, and the temporary memory
 * limit. It is part of the system, as in the kernel's test builds.
 */
#include <errno.h>
#include <string.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/mem.h"
#include "base/warn.h"
#include "domains/mock_domain.h"
#include "iommufd/fd_table.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/user_copy.h"
#include "iopt/pfn_batch.h"
#include "iopt/pfn_identity.h"
#include "iopt/pin_count.h"
#include "uiommufd/iommufd_test_uapi.h"

/* Checks walk the user range this many pages at a time. */
#define CHECK_CHUNK_PAGES 256
/* The kernel's bound on what ACCESS_PAGES and ACCESS_RW will take. */
#define ACCESS_MAX_LENGTH (16ULL * 1024 * 1024)

/*
 * Identify up to @n readable pages at @addr, as get_user_pages() would
 * look at them one by one: returns how many were identified, all of them
 * or those before the first that cannot be (whose error goes in *err).
 * So a check can report what is wrong with an earlier page before the
 * EFAULT of a later one, as the kernel's page-at-a-time checks do.
 */
static u64 identify_prefix(u64 addr, u64 n, u64 *pfns, int *err)
{
	*err = pfn_identify_range(addr, n, pfns, PFN_IDENTIFY_READABLE);
	if (!*err)
		return n;
	for (u64 i = 0; i != n; i++) {
		*err = pfn_identify_range(addr + i * PAGE_SIZE, 1, pfns + i,
					  PFN_IDENTIFY_READABLE);
		if (*err)
			return i;
	}
	return n;
}

/* ---- ADD_RESERVED ---- */

static int test_add_reserved(struct iommufd_ucmd *ucmd, u32 ioas_id, u64 start,
			     u64 length)
{
	struct iommufd_ioas *ioas;
	u64 last;
	int rc;

	rc = iopt_check_iova_range(start, length, &last);
	if (rc)
		return rc;
	ioas = iommufd_get_ioas(ucmd->ctx, ioas_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	/* No owner: it stays for the life of the IOAS. */
	rc = iopt_reserve_iova(&ioas->iopt, start, last, NULL);
	iommufd_put_object(ucmd->ctx, &ioas->obj);
	return rc;
}

/* ---- MOCK_DOMAIN: the selftest device object ---- */

struct selftest_device {
	struct iommufd_object obj;
	struct iommufd_device *idev;
};

void iommufd_selftest_destroy(struct iommufd_object *obj)
{
	struct selftest_device *stdev =
		container_of(obj, struct selftest_device, obj);

	iommufd_device_unbind(stdev->idev);
}

static int test_mock_domain(struct iommufd_ucmd *ucmd,
			    struct iommu_test_cmd *cmd)
{
	struct selftest_device *stdev;
	struct iommufd_device *idev;
	unsigned int flags = 0;
	u32 pt_id = cmd->id;
	int rc;

	stdev = iommufd_object_alloc(ucmd->ctx, stdev, obj,
				     IOMMUFD_OBJ_SELFTEST);
	if (IS_ERR(stdev))
		return PTR_ERR(stdev);
	/* 6.2's selftest object was the device: no ID of its own. */
	idev = iommufd_device_bind(ucmd->ctx,
				   iommufd_release_new(iommufd_release(ucmd->ctx),
						       IOMMUFD_NEW_MOCK_DOMAIN_AUTO_HWPT) ?
					   0 : IOMMUFD_BIND_NO_ID);
	if (IS_ERR(idev)) {
		rc = PTR_ERR(idev);
		goto out_abort;
	}
	/*
	 * Under Linux 6.2 the device gets a HW pagetable of its own, which
	 * the caller destroys after the device; later releases share an
	 * auto one that goes with its last device.
	 */
	if (!iommufd_release_new(iommufd_release(ucmd->ctx),
				 IOMMUFD_NEW_MOCK_DOMAIN_AUTO_HWPT))
		flags |= IOMMUFD_ATTACH_NEW_HWPT;
	if (!iommufd_release_new(iommufd_release(ucmd->ctx),
				 IOMMUFD_NEW_MOCK_DOMAIN_ON_HWPT))
		flags |= IOMMUFD_ATTACH_IOAS_ONLY;
	rc = iommufd_device_attach(idev, &pt_id, flags);
	if (rc == -ENOENT && (flags & IOMMUFD_ATTACH_IOAS_ONLY))
		err_reason(rc, "no IOAS with ID %u (Linux %s's MOCK_DOMAIN takes an IOAS, not a HW pagetable)",
			   cmd->id, iommufd_release(ucmd->ctx)->name);
	if (rc)
		goto out_unbind;
	stdev->idev = idev;
	cmd->mock_domain.out_stdev_id = stdev->obj.id;
	cmd->mock_domain.out_hwpt_id = pt_id;
	/* 6.2's layout had no out_idev_id: the caller's bytes stay. */
	if (!(flags & IOMMUFD_ATTACH_NEW_HWPT))
		cmd->mock_domain.out_idev_id = idev->obj.id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc) {
		iommufd_object_abort_and_destroy(ucmd->ctx, &stdev->obj);
		/*
		 * Nobody learnt the ID of its own HW pagetable: it goes too,
		 * unless another command found it meanwhile.
		 */
		if ((flags & IOMMUFD_ATTACH_NEW_HWPT) && pt_id != cmd->id)
			iommufd_object_destroy_user(ucmd->ctx, pt_id,
						    IOMMUFD_OBJ_HWPT_PAGING);
		return rc;
	}
	iommufd_object_finalize(ucmd->ctx, &stdev->obj);
	return 0;

out_unbind:
	iommufd_device_unbind(idev);
out_abort:
	iommufd_object_abort(ucmd->ctx, &stdev->obj);
	return rc;
}

/* ---- MD_CHECK_MAP and MD_CHECK_REFS ---- */

static int test_md_check_map(struct iommufd_ucmd *ucmd, u32 hwpt_id, u64 iova,
			     u64 length, u64 uptr)
{
	struct iommufd_hwpt_paging *hwpt;
	struct iommufd_object *obj;
	u64 pfns[CHECK_CHUNK_PAGES];
	u64 end;
	int rc = 0;

	if (iova % MOCK_PAGE_SIZE || length % MOCK_PAGE_SIZE ||
	    uptr % MOCK_PAGE_SIZE || __builtin_add_overflow(uptr, length, &end))
		return err_reason(-EINVAL,
				  "iova, length and uptr must be multiples of %#llx and not wrap",
				  (unsigned long long)MOCK_PAGE_SIZE);
	obj = iommufd_get_object(ucmd->ctx, hwpt_id, IOMMUFD_OBJ_HWPT_PAGING);
	if (IS_ERR(obj))
		return PTR_ERR(obj);
	hwpt = container_of(obj, struct iommufd_hwpt_paging, obj);
	if (!is_mock_domain(hwpt->domain)) {
		rc = err_reason(-EINVAL, "HW pagetable %u is not a mock domain",
				hwpt_id);
		goto out_put;
	}
	while (length) {
		u64 page = uptr & PAGE_MASK;
		u64 npages = min((u64)CHECK_CHUNK_PAGES,
				 (uptr + length - 1) / PAGE_SIZE -
					 uptr / PAGE_SIZE + 1);
		u64 got_pages = identify_prefix(page, npages, pfns, &rc);
		u64 chunk_end = page + got_pages * PAGE_SIZE;

		for (; length && uptr < chunk_end; iova += MOCK_PAGE_SIZE,
		       uptr += MOCK_PAGE_SIZE, length -= MOCK_PAGE_SIZE) {
			u64 pfn = pfns[(uptr - page) / PAGE_SIZE];
			u64 want = PFN_PHYS(pfn) + uptr % PAGE_SIZE;
			u64 got = mock_domain_lookup(hwpt->domain, iova, NULL);

			if (got != want) {
				rc = err_reason(-EINVAL,
						"iova %#llx maps %#llx, not the memory at %#llx",
						(unsigned long long)iova,
						(unsigned long long)got,
						(unsigned long long)uptr);
				goto out_put;
			}
		}
		if (rc)
			goto out_put;
	}
out_put:
	iommufd_put_object(ucmd->ctx, obj);
	return rc;
}

static int test_md_check_refs(u64 uptr, u64 length, u32 refs)
{
	u64 pfns[CHECK_CHUNK_PAGES], counts[CHECK_CHUNK_PAGES];
	u64 end;
	int rc, err;

	if (length % PAGE_SIZE || uptr % PAGE_SIZE ||
	    __builtin_add_overflow(uptr, length, &end))
		return err_reason(-EINVAL,
				  "uptr and length must be page multiples and not wrap");
	while (length) {
		u64 n = min(length / PAGE_SIZE, (u64)CHECK_CHUNK_PAGES);
		u64 got = identify_prefix(uptr, n, pfns, &err);

		rc = iopt_pin_counts(pfns, got, counts);
		if (rc)
			return rc;
		for (u64 i = 0; i != got; i++)
			if (counts[i] != refs)
				return err_reason(-EIO,
						  "page %#llx is pinned %llu times, not %u",
						  (unsigned long long)(uptr + i * PAGE_SIZE),
						  (unsigned long long)counts[i],
						  refs);
		if (err)
			return err;
		uptr += n * PAGE_SIZE;
		length -= n * PAGE_SIZE;
	}
	return 0;
}

/* ---- accesses behind descriptors ---- */

struct selftest_access_item {
	struct selftest_access_item *next;
	u64 iova;
	u64 length;
	u32 id;
};

struct selftest_access {
	struct iommufd_file file;
	struct uiommufd_access *access;
	bool needs_pin;
	pthread_mutex_t lock;
	struct selftest_access_item *items;
	u32 next_id;
};

static void staccess_release(struct iommufd_file *file);

static const struct iommufd_file_ops staccess_fops = {
	.name = "iommufd-selftest-access",
	.release = staccess_release,
};

static struct selftest_access *staccess_get(int fd)
{
	struct iommufd_file *file = iommufd_file_get(fd, &staccess_fops);

	if (IS_ERR(file))
		return ERR_CAST(file);
	return container_of(file, struct selftest_access, file);
}

static void staccess_put(struct selftest_access *staccess)
{
	iommufd_file_put(&staccess->file);
}

/* The unmap callback: drop every pin of ours that the range touches. */
static void staccess_unmap(void *data, u64 iova, u64 length)
{
	struct selftest_access *staccess = data;
	struct selftest_access_item **pos = &staccess->items;
	u64 last = iova + length - 1;

	pthread_mutex_lock(&staccess->lock);
	while (*pos) {
		struct selftest_access_item *item = *pos;

		if (iova > item->iova + item->length - 1 || last < item->iova) {
			pos = &item->next;
			continue;
		}
		*pos = item->next;
		WARN_ON(iopt_access_unpin_pages(staccess->access->iopt_access,
						item->iova, item->length));
		mem_free(item);
	}
	pthread_mutex_unlock(&staccess->lock);
}

static void staccess_destroy(struct selftest_access *staccess)
{
	if (staccess->access) {
		staccess_unmap(staccess, 0, U64_MAX);
		uiommufd_access_destroy(staccess->access);
	}
	pthread_mutex_destroy(&staccess->lock);
	mem_free(staccess);
}

static void staccess_release(struct iommufd_file *file)
{
	staccess_destroy(container_of(file, struct selftest_access, file));
}

static int test_create_access(struct iommufd_ucmd *ucmd, u32 ioas_id,
			      u32 flags, struct iommu_test_cmd *cmd)
{
	struct uiommufd_access_ops ops = { .unmap = staccess_unmap };
	struct selftest_access *staccess;
	int rc;

	rc = iommufd_check_flags(ucmd->ctx, flags,
			      IOMMUFD_FLAGS_TEST_CREATE_ACCESS);
	if (rc)
		return rc;
	if (flags & MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES)
		ops.flags = UIOMMUFD_ACCESS_NEEDS_PIN_PAGES;
	staccess = mem_zalloc(sizeof(*staccess));
	if (!staccess)
		return -ENOMEM;
	pthread_mutex_init(&staccess->lock, NULL);
	staccess->needs_pin = flags & MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES;

	rc = iommufd_file_open(&staccess->file, &staccess_fops);
	if (rc)
		goto out_free;
	staccess->access = uiommufd_access_create(ucmd->ctx, ioas_id, &ops,
						  staccess, NULL);
	if (!staccess->access) {
		rc = -errno;
		goto out_abort_file;
	}
	cmd->create_access.out_access_fd = staccess->file.fd;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		goto out_abort_file;
	/* Pitfall 21: visible only once nothing can fail. */
	iommufd_file_install(&staccess->file);
	return 0;

out_abort_file:
	iommufd_file_abort(&staccess->file);
out_free:
	staccess_destroy(staccess);
	return rc;
}

static int test_destroy_access_pages(int fd, u32 item_id)
{
	struct selftest_access *staccess = staccess_get(fd);
	struct selftest_access_item **pos;
	int rc = -ENOENT;

	if (IS_ERR(staccess))
		return PTR_ERR(staccess);
	pthread_mutex_lock(&staccess->lock);
	for (pos = &staccess->items; *pos; pos = &(*pos)->next) {
		struct selftest_access_item *item = *pos;

		if (item->id != item_id)
			continue;
		*pos = item->next;
		WARN_ON(iopt_access_unpin_pages(staccess->access->iopt_access,
						item->iova, item->length));
		mem_free(item);
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&staccess->lock);
	staccess_put(staccess);
	if (rc)
		return err_reason(rc, "no access pages item %u", item_id);
	return 0;
}

/*
 * MOCK_FLAGS_ACCESS_SYZ: the IOVA is {u32 nth_area, u32 offset}, an
 * offset into the nth area of the access's IOAS (0 if there is none).
 */
static u64 syz_conv_iopt(struct io_pagetable *iopt, u64 iova)
{
	u32 nth = (u32)iova, offset = iova >> 32;
	struct iopt_area *area;
	u64 out = 0;

	pthread_rwlock_rdlock(&iopt->iova_rwsem);
	for (area = iopt_area_iter_first(iopt, 0, U64_MAX); area;
	     area = iopt_area_iter_next(area, 0, U64_MAX)) {
		if (!nth--) {
			out = iopt_area_iova(area) + offset;
			break;
		}
	}
	pthread_rwlock_unlock(&iopt->iova_rwsem);
	return out;
}

static u64 syz_conv_iova(struct selftest_access *staccess, u64 iova)
{
	return syz_conv_iopt(&staccess->access->ioas->iopt, iova);
}

void iommufd_test_syz_conv_iova_id(struct uiommufd_ctx *ctx, u32 ioas_id,
				   u64 *iova, u32 *flags)
{
	struct iommufd_ioas *ioas;

	*flags &= ~(u32)MOCK_FLAGS_ACCESS_SYZ;
	/* A wrong ID is left for the command itself to refuse. */
	ioas = iommufd_get_ioas(ctx, ioas_id);
	if (IS_ERR(ioas)) {
		err_reason_clear();
		return;
	}
	*iova = syz_conv_iopt(&ioas->iopt, *iova);
	iommufd_put_object(ctx, &ioas->obj);
}

/* The pinned pages are the ones backing user memory at @uptr. */
static int check_pages(u64 uptr, const u64 *pinned, u64 npages)
{
	u64 pfns[CHECK_CHUNK_PAGES];

	for (u64 done = 0; done != npages;) {
		u64 n = min(npages - done, (u64)CHECK_CHUNK_PAGES);
		int err;
		u64 got = identify_prefix(uptr + done * PAGE_SIZE, n, pfns,
					  &err);

		for (u64 i = 0; i != got; i++)
			if (pfns[i] != pinned[done + i])
				return err_reason(-EBADE,
						  "pinned page %llu is not the page at %#llx",
						  (unsigned long long)(done + i),
						  (unsigned long long)(uptr + (done + i) * PAGE_SIZE));
		if (err)
			return err;
		done += n;
	}
	return 0;
}

static int test_access_pages(struct iommufd_ucmd *ucmd, int fd,
			     struct iommu_test_cmd *cmd)
{
	u32 flags = cmd->access_pages.flags;
	u64 iova = cmd->access_pages.iova;
	u64 length = cmd->access_pages.length;
	u64 uptr = cmd->access_pages.uptr;
	struct selftest_access_item *item;
	struct selftest_access *staccess;
	u64 npages, *pfns = NULL;
	int rc;

	/* The kernel's order: the length, the flags, the descriptor. */
	if (length > ACCESS_MAX_LENGTH)
		return err_reason(-ENOMEM, "length %#llx is over 16 MiB",
				  (unsigned long long)length);
	rc = iommufd_check_flags(ucmd->ctx, flags,
			      IOMMUFD_FLAGS_TEST_ACCESS_PAGES);
	if (rc)
		return rc;
	staccess = staccess_get(fd);
	if (IS_ERR(staccess))
		return PTR_ERR(staccess);
	if (!staccess->needs_pin) {
		rc = err_reason(-EOPNOTSUPP,
				"the access was created without NEEDS_PIN_PAGES");
		goto out_put;
	}
	if (flags & MOCK_FLAGS_ACCESS_SYZ)
		iova = syz_conv_iova(staccess, iova);
	/* Every page the range touches (length is bounded: no overflow). */
	npages = (iova % PAGE_SIZE + length + PAGE_SIZE - 1) / PAGE_SIZE;
	pfns = mem_calloc(max(npages, (u64)1), sizeof(*pfns));
	item = mem_zalloc(sizeof(*item));
	if (!pfns || !item) {
		mem_free(item);
		rc = -ENOMEM;
		goto out_free;
	}

	/* Held across the pin so the unmap callback finds the item. */
	pthread_mutex_lock(&staccess->lock);
	rc = uiommufd_access_pin_pages(staccess->access, iova, length, pfns,
				       NULL, flags & MOCK_FLAGS_ACCESS_WRITE ?
					       UIOMMUFD_ACCESS_RW_WRITE : 0);
	if (rc)
		goto out_unlock;
	/* uptr 0 skips the check, for fuzzers. */
	if (uptr) {
		rc = check_pages(uptr - iova % PAGE_SIZE, pfns,
				 npages);
		if (rc)
			goto out_unpin;
	}
	item->iova = iova;
	item->length = length;
	item->id = staccess->next_id++;
	cmd->access_pages.out_access_pages_id = item->id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		goto out_unpin;
	item->next = staccess->items;
	staccess->items = item;
	item = NULL;
	goto out_unlock;

out_unpin:
	WARN_ON(iopt_access_unpin_pages(staccess->access->iopt_access, iova,
					length));
out_unlock:
	pthread_mutex_unlock(&staccess->lock);
	mem_free(item);
out_free:
	mem_free(pfns);
out_put:
	staccess_put(staccess);
	return rc;
}

static int test_access_rw(struct iommufd_ucmd *ucmd, int fd,
			  struct iommu_test_cmd *cmd)
{
	u32 flags = cmd->access_rw.flags;
	u64 iova = cmd->access_rw.iova;
	u64 length = cmd->access_rw.length;
	u64 uptr = cmd->access_rw.uptr;
	struct selftest_access *staccess;
	unsigned int rw_flags = 0;
	void *tmp;
	int rc;

	if (length > ACCESS_MAX_LENGTH)
		return err_reason(-ENOMEM, "length %#llx is over 16 MiB",
				  (unsigned long long)length);
	rc = iommufd_check_flags(ucmd->ctx, flags, IOMMUFD_FLAGS_TEST_ACCESS_RW);
	if (rc)
		return rc;
	staccess = staccess_get(fd);
	if (IS_ERR(staccess))
		return PTR_ERR(staccess);
	tmp = mem_zalloc(max(length, (u64)1));
	if (!tmp) {
		rc = -ENOMEM;
		goto out_put;
	}
	if (flags & MOCK_ACCESS_RW_WRITE) {
		rc = copy_from_user(tmp, uptr, length, "the access buffer");
		if (rc)
			goto out_free;
		rw_flags |= IOMMUFD_ACCESS_RW_WRITE;
	}
	if (flags & MOCK_ACCESS_RW_SLOW_PATH)
		rw_flags |= IOMMUFD_ACCESS_RW_SLOW_PATH;
	if (flags & MOCK_FLAGS_ACCESS_SYZ)
		iova = syz_conv_iova(staccess, iova);
	rc = iopt_access_rw(staccess->access->iopt_access, iova, tmp, length,
			    rw_flags);
	if (rc)
		goto out_free;
	if (!(flags & MOCK_ACCESS_RW_WRITE))
		rc = copy_to_user(uptr, tmp, length, "the access buffer");
out_free:
	mem_free(tmp);
out_put:
	staccess_put(staccess);
	return rc;
}

/* ---- the command ---- */

int iommufd_test(struct iommufd_ucmd *ucmd)
{
	struct iommu_test_cmd *cmd = ucmd->cmd;

	if (!iommufd_release_has_test_op(iommufd_release(ucmd->ctx), cmd->op)) {
		if (iommufd_release_has_test_op(iommufd_release_newest(),
						cmd->op))
			return err_reason(-EOPNOTSUPP,
					  "no test op %u in Linux %s", cmd->op,
					  iommufd_release(ucmd->ctx)->name);
		return err_reason(-EOPNOTSUPP,
				  "test op %u: not one uiommufd answers (yet), as Linux %s or any release",
				  cmd->op, iommufd_release(ucmd->ctx)->name);
	}
	switch (cmd->op) {
	case IOMMU_TEST_OP_ADD_RESERVED:
		return test_add_reserved(ucmd, cmd->id, cmd->add_reserved.start,
					 cmd->add_reserved.length);
	case IOMMU_TEST_OP_MOCK_DOMAIN:
		return test_mock_domain(ucmd, cmd);
	case IOMMU_TEST_OP_MD_CHECK_MAP:
		return test_md_check_map(ucmd, cmd->id, cmd->check_map.iova,
					 cmd->check_map.length,
					 cmd->check_map.uptr);
	case IOMMU_TEST_OP_MD_CHECK_REFS:
		return test_md_check_refs(cmd->check_refs.uptr,
					  cmd->check_refs.length,
					  cmd->check_refs.refs);
	case IOMMU_TEST_OP_CREATE_ACCESS:
		return test_create_access(ucmd, cmd->id,
					  cmd->create_access.flags, cmd);
	case IOMMU_TEST_OP_DESTROY_ACCESS_PAGES:
		return test_destroy_access_pages(
			cmd->id, cmd->destroy_access_pages.access_pages_id);
	case IOMMU_TEST_OP_ACCESS_PAGES:
		return test_access_pages(ucmd, cmd->id, cmd);
	case IOMMU_TEST_OP_ACCESS_RW:
		return test_access_rw(ucmd, cmd->id, cmd);
	case IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT:
		/* The batch needs room for one run and its carry. */
		if (cmd->memory_limit.limit < 12)
			return err_reason(-EINVAL,
					  "a temporary memory limit below 12 bytes cannot hold a batch");
		iopt_set_temp_memory_limit(cmd->memory_limit.limit);
		return 0;
	default:
		return err_reason(-EOPNOTSUPP, "unknown test op %u", cmd->op);
	}
}
