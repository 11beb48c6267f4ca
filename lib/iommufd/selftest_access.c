// SPDX-License-Identifier: MIT
/*
 * The test module's accesses: each behind a descriptor of its own, with
 * the pages it pinned (ACCESS_PAGES items) and reads and writes through
 * IOVA (ACCESS_RW), moved between IOASes by ACCESS_REPLACE_IOAS.
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
#include "iommufd/selftest.h"

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
		WARN_ON(iommufd_access_unpin_pages(staccess->access,
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
		WARN_ON(iommufd_access_unpin_pages(staccess->access,
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

static u64 syz_conv_iova(struct selftest_access *staccess, u64 iova)
{
	struct uiommufd_access *access = staccess->access;

	/* The lock keeps the IOAS from moving (and going) meanwhile. */
	pthread_rwlock_rdlock(&access->lock);
	iova = iommufd_test_syz_conv_iopt(&access->ioas->iopt, iova);
	pthread_rwlock_unlock(&access->lock);
	return iova;
}

/* The pinned pages are the ones backing user memory at @uptr. */
static int check_pages(u64 uptr, const u64 *pinned, u64 npages)
{
	u64 pfns[CHECK_CHUNK_PAGES];

	for (u64 done = 0; done != npages;) {
		u64 n = min(npages - done, (u64)CHECK_CHUNK_PAGES);
		int err;
		u64 got = iommufd_test_identify_prefix(uptr + done * PAGE_SIZE, n, pfns,
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
	WARN_ON(iommufd_access_unpin_pages(staccess->access, iova, length));
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
	rc = iommufd_access_rw(staccess->access, iova, tmp, length, rw_flags);
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


/* ---- ACCESS_REPLACE_IOAS ---- */

static int test_access_replace_ioas(int fd, u32 ioas_id)
{
	struct selftest_access *staccess = staccess_get(fd);
	int rc;

	if (IS_ERR(staccess))
		return PTR_ERR(staccess);
	rc = iommufd_access_replace(staccess->access, ioas_id);
	staccess_put(staccess);
	return rc;
}

/* ---- the ops ---- */

int iommufd_test_create_access(struct iommufd_ucmd *ucmd,
			       struct iommu_test_cmd *cmd)
{
	return test_create_access(ucmd, cmd->id, cmd->create_access.flags, cmd);
}

int iommufd_test_destroy_access_pages(struct iommufd_ucmd *ucmd,
				      struct iommu_test_cmd *cmd)
{
	return test_destroy_access_pages(cmd->id,
					 cmd->destroy_access_pages.access_pages_id);
}

int iommufd_test_access_pages(struct iommufd_ucmd *ucmd,
			      struct iommu_test_cmd *cmd)
{
	return test_access_pages(ucmd, cmd->id, cmd);
}

int iommufd_test_access_rw(struct iommufd_ucmd *ucmd,
			   struct iommu_test_cmd *cmd)
{
	return test_access_rw(ucmd, cmd->id, cmd);
}

int iommufd_test_access_replace_ioas(struct iommufd_ucmd *ucmd,
				     struct iommu_test_cmd *cmd)
{
	return test_access_replace_ioas(cmd->id,
					cmd->access_replace_ioas.ioas_id);
}
