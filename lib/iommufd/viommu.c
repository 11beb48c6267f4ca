// SPDX-License-Identifier: MIT
/*
 * vIOMMUs, vdevices and HW queues, with the mock vIOMMU as their driver.
 *
 * A vIOMMU is a VM's instance of the (one, mock) IOMMU on a nesting parent
 * paging HW pagetable. Nested HW pagetables may sit on it (hw_pagetable.c);
 * a vdevice gives a device behind it the ID the VM knows it by (virt_id),
 * which the vIOMMU's cache invalidation names; a HW queue is guest memory
 * in the parent's IOAS the IOMMU reads directly, pinned while it lives.
 *
 * References: a vIOMMU holds its parent, a vdevice and a HW queue hold the
 * vIOMMU, a HW queue holds the one with the index below its own (the mock's
 * ordering). A vdevice holds its device only short-term: a device that goes
 * first destroys its vdevice and leaves the ID a tombstone.
 *
 * Lock order: a device's lock, then a vIOMMU's lock, then ctx->lock.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/fault_inject.h"
#include "base/mem.h"
#include "base/overflow.h"
#include "base/private_fd.h"
#include "base/warn.h"
#include "domains/iommu_domain.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/user_copy.h"

/* The one mock IOMMU every mock device sits behind. */
static const int mock_iommu_dev;

const void *iommufd_device_iommu_dev(struct iommufd_device *idev)
{
	(void)idev;
	return &mock_iommu_dev;
}

/* ---- the mock vIOMMU's page pair ---- */

/* Its size: two pages, as the kernel's mock allocates. */
#define MOCK_VIOMMU_MMAP_LENGTH (2 * PAGE_SIZE)

/* The pages the caller may mmap(): a memfd the library maps too. */
static int mock_viommu_pages_alloc(struct iommufd_viommu *viommu)
{
	void *page;
	int fd;

	if (fault_should_fail())
		return err_reason(-ENOMEM, "no pages for the vIOMMU");
	fd = memfd_create("uiommufd-viommu", MFD_CLOEXEC);
	if (fd < 0)
		return err_reason(-errno, "cannot make the vIOMMU's pages: %m");
	if (ftruncate(fd, MOCK_VIOMMU_MMAP_LENGTH)) {
		close(fd);
		return err_reason(-ENOMEM, "cannot size the vIOMMU's pages: %m");
	}
	page = mmap(NULL, MOCK_VIOMMU_MMAP_LENGTH, PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0);
	if (page == MAP_FAILED) {
		close(fd);
		return err_reason(-ENOMEM, "cannot map the vIOMMU's pages: %m");
	}
	atomic_init(&viommu->mmap_fd, fd);
	if (private_fd_register(&viommu->mmap_fd)) {
		munmap(page, MOCK_VIOMMU_MMAP_LENGTH);
		close(fd);
		return -ENOMEM;
	}
	viommu->page = page;
	return 0;
}

static void mock_viommu_pages_free(struct iommufd_viommu *viommu)
{
	munmap(viommu->page, MOCK_VIOMMU_MMAP_LENGTH);
	private_fd_close(&viommu->mmap_fd);
	viommu->page = NULL;
}

/*
 * The mock's init with its data: in_data goes to the first word of the
 * pages and back in out_data, with where mmap() finds the pages.
 */
static int mock_viommu_init(struct iommufd_viommu *viommu,
			    const struct iommu_viommu_alloc *cmd)
{
	struct iommu_viommu_selftest data;
	int rc;

	if (!cmd->data_len)
		return 0;
	if (cmd->data_len < offsetof(struct iommu_viommu_selftest, out_data) +
			    sizeof(u32))
		return err_reason(-EINVAL,
				  "data_len %u is shorter than struct iommu_viommu_selftest's out_data",
				  cmd->data_len);
	rc = copy_struct_from_user(&data, sizeof(data), cmd->data_uptr,
				   cmd->data_len, "struct iommu_viommu_selftest");
	if (rc)
		return rc;
	rc = mock_viommu_pages_alloc(viommu);
	if (rc)
		return rc;
	rc = iommufd_mmap_alloc(viommu->ctx, &viommu->obj, &viommu->mmap_fd,
				MOCK_VIOMMU_MMAP_LENGTH, &viommu->mmap_offset);
	if (rc)
		goto out_free;
	/* For loopback tests of both the page and out_data. */
	*viommu->page = data.in_data;
	data.out_data = data.in_data;
	data.out_mmap_length = MOCK_VIOMMU_MMAP_LENGTH;
	data.out_mmap_offset = viommu->mmap_offset;
	/* As copy_struct_to_user(): a longer struct gets zeroes. */
	rc = copy_to_user(cmd->data_uptr, &data,
			  min((size_t)cmd->data_len, sizeof(data)),
			  "struct iommu_viommu_selftest");
	if (!rc && cmd->data_len > sizeof(data))
		rc = clear_user(cmd->data_uptr + sizeof(data),
				cmd->data_len - sizeof(data),
				"struct iommu_viommu_selftest");
	if (rc)
		goto out_mmap;
	viommu->has_mmap = true;
	return 0;

out_mmap:
	iommufd_mmap_destroy(viommu->ctx, viommu->mmap_offset);
out_free:
	mock_viommu_pages_free(viommu);
	return rc;
}

/* ---- IOMMU_VIOMMU_ALLOC ---- */

void iommufd_viommu_destroy(struct iommufd_object *obj)
{
	struct iommufd_viommu *viommu =
		container_of(obj, struct iommufd_viommu, obj);

	/* Vdevices and HW queues hold it: none is left. */
	WARN_ON(!index_store_empty(&viommu->vdevs));
	if (viommu->has_mmap) {
		iommufd_mmap_destroy(viommu->ctx, viommu->mmap_offset);
		mock_viommu_pages_free(viommu);
	}
	index_store_destroy(&viommu->vdevs);
	pthread_mutex_destroy(&viommu->lock);
	iommufd_object_drop_users(&viommu->hwpt->common.obj);
}

int iommufd_viommu_alloc_ioctl(struct iommufd_ucmd *ucmd)
{
	struct iommu_viommu_alloc *cmd = ucmd->cmd;
	struct iommufd_hwpt_paging *hwpt;
	struct iommufd_viommu *viommu;
	struct iommufd_device *idev;
	int rc;

	/* __reserved is not looked at, as the kernel. */
	if (cmd->flags || cmd->type == IOMMU_VIOMMU_TYPE_DEFAULT)
		return err_reason(-EOPNOTSUPP,
				  "flags %#x and type %u: no flags, and a type other than DEFAULT",
				  cmd->flags, cmd->type);
	idev = iommufd_get_device(ucmd->ctx, cmd->dev_id);
	if (IS_ERR(idev))
		return PTR_ERR(idev);
	if (cmd->type != IOMMU_VIOMMU_TYPE_SELFTEST) {
		rc = err_reason(-EOPNOTSUPP,
				"the mock IOMMU has only IOMMU_VIOMMU_TYPE_SELFTEST vIOMMUs, not type %u",
				cmd->type);
		goto out_put_idev;
	}
	hwpt = iommufd_get_hwpt_paging(ucmd->ctx, cmd->hwpt_id);
	if (IS_ERR(hwpt)) {
		rc = PTR_ERR(hwpt);
		goto out_put_idev;
	}
	if (!hwpt->nest_parent) {
		rc = err_reason(-EINVAL,
				"HW pagetable %u was not allocated with NEST_PARENT",
				cmd->hwpt_id);
		goto out_put_hwpt;
	}

	viommu = iommufd_object_alloc(ucmd->ctx, viommu, obj,
				      IOMMUFD_OBJ_VIOMMU);
	if (IS_ERR(viommu)) {
		rc = PTR_ERR(viommu);
		goto out_put_hwpt;
	}
	viommu->ctx = ucmd->ctx;
	viommu->type = cmd->type;
	viommu->hwpt = hwpt;
	viommu->iommu_dev = iommufd_device_iommu_dev(idev);
	pthread_mutex_init(&viommu->lock, NULL);
	index_store_init(&viommu->vdevs);
	iommufd_object_hold_users(&hwpt->common.obj);

	rc = mock_viommu_init(viommu, cmd);
	if (rc)
		goto out_abort;
	cmd->out_viommu_id = viommu->obj.id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		goto out_abort;
	iommufd_object_finalize(ucmd->ctx, &viommu->obj);
	goto out_put_hwpt;

out_abort:
	iommufd_object_abort_and_destroy(ucmd->ctx, &viommu->obj);
out_put_hwpt:
	iommufd_put_object(ucmd->ctx, &hwpt->common.obj);
out_put_idev:
	iommufd_put_object(ucmd->ctx, &idev->obj);
	return rc;
}

/* ---- IOMMU_VDEVICE_ALLOC ---- */

void iommufd_vdevice_destroy(struct iommufd_object *obj)
{
	struct iommufd_vdevice *vdev =
		container_of(obj, struct iommufd_vdevice, obj);
	struct iommufd_viommu *viommu = vdev->viommu;
	struct iommufd_device *idev = vdev->idev;

	pthread_mutex_lock(&idev->lock);
	pthread_mutex_lock(&viommu->lock);
	if (index_store_load(&viommu->vdevs, vdev->virt_id) == vdev)
		index_store_erase(&viommu->vdevs, vdev->virt_id);
	pthread_mutex_unlock(&viommu->lock);
	idev->vdev = NULL;
	pthread_mutex_unlock(&idev->lock);
	iommufd_object_drop_users(&viommu->obj);
	/* Lets a device's destroy waiting for its vdevice go on. */
	iommufd_put_object(viommu->ctx, &idev->obj);
}

int iommufd_vdevice_alloc_ioctl(struct iommufd_ucmd *ucmd)
{
	struct iommu_vdevice_alloc *cmd = ucmd->cmd;
	struct iommufd_viommu *viommu;
	struct iommufd_vdevice *vdev;
	struct iommufd_device *idev;
	int rc;

	/* virt_id fits the index store whole: no ULONG_MAX check needed. */
	viommu = iommufd_get_viommu(ucmd->ctx, cmd->viommu_id);
	if (IS_ERR(viommu))
		return PTR_ERR(viommu);
	idev = iommufd_get_device(ucmd->ctx, cmd->dev_id);
	if (IS_ERR(idev)) {
		rc = PTR_ERR(idev);
		goto out_put_viommu;
	}
	if (viommu->iommu_dev != iommufd_device_iommu_dev(idev)) {
		rc = err_reason(-EINVAL,
				"device %u is not behind vIOMMU %u's IOMMU",
				cmd->dev_id, cmd->viommu_id);
		goto out_put_idev;
	}

	pthread_mutex_lock(&idev->lock);
	if (idev->destroying) {
		rc = err_reason(-ENOENT, "device %u is going away",
				cmd->dev_id);
		goto out_unlock_idev;
	}
	if (idev->vdev) {
		rc = err_reason(-EEXIST, "device %u already has vdevice %u",
				cmd->dev_id, idev->vdev->obj.id);
		goto out_unlock_idev;
	}
	vdev = iommufd_object_alloc(ucmd->ctx, vdev, obj, IOMMUFD_OBJ_VDEVICE);
	if (IS_ERR(vdev)) {
		rc = PTR_ERR(vdev);
		goto out_unlock_idev;
	}
	vdev->virt_id = cmd->virt_id;
	vdev->viommu = viommu;
	vdev->idev = idev;

	pthread_mutex_lock(&viommu->lock);
	if (index_store_load(&viommu->vdevs, cmd->virt_id))
		rc = err_reason(-EEXIST,
				"vIOMMU %u already has a vdevice with virt_id %#llx",
				cmd->viommu_id,
				(unsigned long long)cmd->virt_id);
	else
		rc = index_store_store(&viommu->vdevs, cmd->virt_id, vdev);
	pthread_mutex_unlock(&viommu->lock);
	if (rc) {
		/* No destroy callback ran: nothing was taken yet. */
		iommufd_object_abort(ucmd->ctx, &vdev->obj);
		goto out_unlock_idev;
	}
	idev->vdev = vdev;
	iommufd_object_hold_users(&viommu->obj);

	cmd->out_vdevice_id = vdev->obj.id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc) {
		/* Its destroy takes the device's lock and lets the device go. */
		pthread_mutex_unlock(&idev->lock);
		iommufd_object_abort_and_destroy(ucmd->ctx, &vdev->obj);
		goto out_put_viommu;
	}
	iommufd_object_finalize(ucmd->ctx, &vdev->obj);
	pthread_mutex_unlock(&idev->lock);
	/* The device's short-term reference stays with the vdevice. */
	goto out_put_viommu;

out_unlock_idev:
	pthread_mutex_unlock(&idev->lock);
out_put_idev:
	iommufd_put_object(ucmd->ctx, &idev->obj);
out_put_viommu:
	iommufd_put_object(ucmd->ctx, &viommu->obj);
	return rc;
}

void iommufd_device_remove_vdev(struct iommufd_device *idev)
{
	struct iommufd_vdevice *vdev;
	bool held;

	pthread_mutex_lock(&idev->lock);
	/* No new vdevice from here on. */
	idev->destroying = true;
	vdev = idev->vdev;
	/*
	 * One being destroyed now (out of the table) lets the device go
	 * when it is done; a live one is taken so no destroy races ours.
	 */
	held = vdev && iommufd_object_claim(idev->ctx, &vdev->obj);
	pthread_mutex_unlock(&idev->lock);
	if (held)
		iommufd_object_tombstone(idev->ctx, &vdev->obj);
}

/* ---- IOMMU_HWPT_INVALIDATE on a vIOMMU ---- */

/* The mock vIOMMU's cache invalidation of one entry; viommu->lock held. */
static int mock_viommu_invalidate_one(struct iommufd_viommu *viommu,
				      const struct iommu_viommu_invalidate_selftest *inv)
{
	struct iommufd_vdevice *vdev;
	struct iommufd_mock_dev *mock;

	if (inv->flags & ~IOMMU_TEST_INVALIDATE_FLAG_ALL)
		return err_reason(-EOPNOTSUPP, "unknown flags %#x",
				  inv->flags);
	if (inv->cache_id > MOCK_DEV_CACHE_ID_MAX)
		return err_reason(-EINVAL, "cache_id %u is past %u",
				  inv->cache_id, MOCK_DEV_CACHE_ID_MAX);
	vdev = index_store_load(&viommu->vdevs, inv->vdev_id);
	if (!vdev)
		return err_reason(-EINVAL, "vIOMMU %u has no vdevice %u",
				  viommu->obj.id, inv->vdev_id);
	mock = &vdev->idev->mock;
	if (inv->flags & IOMMU_TEST_INVALIDATE_FLAG_ALL) {
		/* Every entry; cache_id is ignored. */
		for (int i = 0; i < MOCK_DEV_CACHE_NUM; i++)
			atomic_store(&mock->cache[i], 0);
	} else {
		atomic_store(&mock->cache[inv->cache_id], 0);
	}
	return 0;
}

int iommufd_viommu_invalidate(struct iommufd_viommu *viommu,
			      const struct iommu_hwpt_invalidate *cmd,
			      u32 *done)
{
	struct iommu_viommu_invalidate_selftest *invs;
	int rc = 0;

	*done = 0;
	/* No entries: the call only checks the data type. */
	if (!cmd->entry_num) {
		if (cmd->data_type != IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST)
			return err_reason(-EINVAL,
					  "invalidation data type %#x is not the mock vIOMMU's",
					  cmd->data_type);
		return 0;
	}
	/* The whole array first: one entry that cannot be read, none done. */
	invs = mem_calloc(cmd->entry_num, sizeof(*invs));
	if (!invs)
		return -ENOMEM;
	for (u32 i = 0; i != cmd->entry_num && !rc; i++)
		rc = iommufd_copy_invalidate_entry(cmd, i,
						   IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
						   &invs[i], sizeof(invs[i]), 1);
	if (rc)
		goto out_free;

	pthread_mutex_lock(&viommu->lock);
	for (; *done != cmd->entry_num; (*done)++) {
		rc = mock_viommu_invalidate_one(viommu, &invs[*done]);
		if (rc)
			break;
	}
	pthread_mutex_unlock(&viommu->lock);
	if (rc) {
		char why[128];

		snprintf(why, sizeof(why), "%s",
			 err_reason_get() ? err_reason_get() : "failed");
		rc = err_reason(rc, "invalidation entry %u: %s", *done, why);
	}
out_free:
	mem_free(invs);
	return rc;
}

/* ---- IOMMU_HW_QUEUE_ALLOC ---- */

static const struct iopt_access_ops hw_queue_access_ops = {
	.needs_pin_pages = true,
	.locks_areas = true,
};

/*
 * Unpin and drop the queue's access; the pinned range is the whole pages
 * under [base_addr, base_addr + length).
 */
static void hw_queue_destroy_access(struct iopt_access *access, u64 base,
				    u64 length)
{
	u64 aligned = align_down(base, PAGE_SIZE);

	WARN_ON(iopt_access_unpin_pages(access, aligned,
					align_down(base - aligned + length +
							   PAGE_SIZE - 1,
						   PAGE_SIZE)));
	iopt_access_destroy(access);
}

void iommufd_hw_queue_destroy(struct iommufd_object *obj)
{
	struct iommufd_hw_queue *hw_queue =
		container_of(obj, struct iommufd_hw_queue, obj);
	struct iommufd_viommu *viommu = hw_queue->viommu;

	/* One the mock never took (an aborted one) holds no index. */
	pthread_mutex_lock(&viommu->lock);
	if (viommu->hw_queue[hw_queue->index] == hw_queue)
		viommu->hw_queue[hw_queue->index] = NULL;
	pthread_mutex_unlock(&viommu->lock);
	if (hw_queue->prev)
		iommufd_object_drop_users(&hw_queue->prev->obj);
	hw_queue_destroy_access(hw_queue->access, hw_queue->base_addr,
				hw_queue->length);
	iommufd_object_drop_users(&viommu->obj);
}

/*
 * Pin the queue's memory through an access of the parent's IOAS that
 * locks it there: the pages must be physically contiguous, as the IOMMU
 * reads them by address. The address of base goes in *base_pa.
 */
static struct iopt_access *hw_queue_alloc_phys(struct iommufd_viommu *viommu,
					       const struct iommu_hw_queue_alloc *cmd,
					       u64 *base_pa)
{
	u64 aligned = align_down(cmd->nesting_parent_iova, PAGE_SIZE);
	u64 offset = cmd->nesting_parent_iova - aligned;
	struct iopt_access *access;
	u64 length, npages, *pfns;
	int rc;

	if (check_add_overflow(offset, cmd->length, &length) ||
	    check_align_up_overflow(length, PAGE_SIZE, &length))
		return ERR_PTR(err_reason(-ERANGE,
					  "the queue's pages pass the end of the IOVA space"));
	npages = length / PAGE_SIZE;
	pfns = npages <= SIZE_MAX / sizeof(*pfns) ?
		       mem_calloc(npages, sizeof(*pfns)) : NULL;
	if (!pfns)
		return ERR_PTR(-ENOMEM);
	access = iopt_access_create(&viommu->hwpt->ioas->iopt,
				    &hw_queue_access_ops, NULL);
	if (IS_ERR(access)) {
		rc = PTR_ERR(access);
		goto out_free;
	}
	rc = iopt_access_pin_pages(access, aligned, length, pfns, NULL, 0);
	if (rc)
		goto out_destroy;
	for (u64 i = 1; i < npages; i++) {
		if (pfns[i] == pfns[i - 1] + 1)
			continue;
		rc = err_reason(-EFAULT,
				"the queue's memory is not contiguous at iova %#llx",
				(unsigned long long)(aligned + i * PAGE_SIZE));
		goto out_unpin;
	}
	*base_pa = (pfns[0] << PAGE_SHIFT) + offset;
	mem_free(pfns);
	return access;

out_unpin:
	WARN_ON(iopt_access_unpin_pages(access, aligned, length));
out_destroy:
	iopt_access_destroy(access);
out_free:
	mem_free(pfns);
	return ERR_PTR(rc);
}

/*
 * The mock's init: index below IOMMU_TEST_HW_QUEUE_MAX, free, and the
 * one below it in place, which the new queue then holds.
 */
static int mock_hw_queue_init_phys(struct iommufd_hw_queue *hw_queue,
				   u32 index, u64 base_pa)
{
	struct iommufd_viommu *viommu = hw_queue->viommu;
	struct iommufd_hw_queue *prev = NULL;
	int rc = 0;

	if (index >= IOMMU_TEST_HW_QUEUE_MAX)
		return err_reason(-EINVAL, "index %u is past the mock's %u",
				  index, IOMMU_TEST_HW_QUEUE_MAX);
	pthread_mutex_lock(&viommu->lock);
	if (viommu->hw_queue[index]) {
		rc = err_reason(-EEXIST, "vIOMMU %u has HW queue %u at index %u",
				viommu->obj.id,
				viommu->hw_queue[index]->obj.id, index);
		goto out_unlock;
	}
	if (index) {
		prev = viommu->hw_queue[index - 1];
		if (!prev) {
			rc = err_reason(-EIO,
					"vIOMMU %u has no HW queue at index %u, which index %u depends on",
					viommu->obj.id, index - 1, index);
			goto out_unlock;
		}
	}
	/* The core's translation of the address, as the mock checks it. */
	if (base_pa != iommu_iova_to_phys(viommu->hwpt->domain,
					  hw_queue->base_addr)) {
		rc = err_reason(-EFAULT,
				"the queue's address does not translate to its pages");
		goto out_unlock;
	}
	if (prev)
		iommufd_object_hold_users(&prev->obj);
	hw_queue->prev = prev;
	hw_queue->index = index;
	viommu->hw_queue[index] = hw_queue;
out_unlock:
	pthread_mutex_unlock(&viommu->lock);
	return rc;
}

int iommufd_hw_queue_alloc_ioctl(struct iommufd_ucmd *ucmd)
{
	struct iommu_hw_queue_alloc *cmd = ucmd->cmd;
	struct iommufd_hw_queue *hw_queue;
	struct iommufd_viommu *viommu;
	struct iopt_access *access;
	u64 base_pa = 0, last;
	int rc;

	if (cmd->flags || cmd->type == IOMMU_HW_QUEUE_TYPE_DEFAULT)
		return err_reason(-EOPNOTSUPP,
				  "flags %#x and type %u: no flags, and a type other than DEFAULT",
				  cmd->flags, cmd->type);
	if (!cmd->length)
		return err_reason(-EINVAL, "length is 0");
	if (check_add_overflow(cmd->nesting_parent_iova, cmd->length - 1,
			       &last))
		return err_reason(-EOVERFLOW,
				  "iova %#llx with length %#llx wraps",
				  (unsigned long long)cmd->nesting_parent_iova,
				  (unsigned long long)cmd->length);
	viommu = iommufd_get_viommu(ucmd->ctx, cmd->viommu_id);
	if (IS_ERR(viommu))
		return PTR_ERR(viommu);
	if (cmd->type != IOMMU_HW_QUEUE_TYPE_SELFTEST) {
		rc = err_reason(-EOPNOTSUPP,
				"the mock vIOMMU has only IOMMU_HW_QUEUE_TYPE_SELFTEST queues, not type %u",
				cmd->type);
		goto out_put_viommu;
	}
	hw_queue = iommufd_object_alloc(ucmd->ctx, hw_queue, obj,
					IOMMUFD_OBJ_HW_QUEUE);
	if (IS_ERR(hw_queue)) {
		rc = PTR_ERR(hw_queue);
		goto out_put_viommu;
	}
	access = hw_queue_alloc_phys(viommu, cmd, &base_pa);
	if (IS_ERR(access)) {
		rc = PTR_ERR(access);
		iommufd_object_abort(ucmd->ctx, &hw_queue->obj);
		goto out_put_viommu;
	}
	hw_queue->viommu = viommu;
	iommufd_object_hold_users(&viommu->obj);
	hw_queue->access = access;
	hw_queue->type = cmd->type;
	hw_queue->length = cmd->length;
	hw_queue->base_addr = cmd->nesting_parent_iova;
	/* Until the mock takes it, the destroy leaves every index alone. */
	hw_queue->index = 0;

	rc = mock_hw_queue_init_phys(hw_queue, cmd->index, base_pa);
	if (rc)
		goto out_abort;
	cmd->out_hw_queue_id = hw_queue->obj.id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		goto out_abort;
	iommufd_object_finalize(ucmd->ctx, &hw_queue->obj);
	goto out_put_viommu;

out_abort:
	iommufd_object_abort_and_destroy(ucmd->ctx, &hw_queue->obj);
out_put_viommu:
	iommufd_put_object(ucmd->ctx, &viommu->obj);
	return rc;
}
