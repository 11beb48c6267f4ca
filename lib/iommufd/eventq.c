// SPDX-License-Identifier: MIT
/*
 * Fault queues: IO page faults of devices attached to a HW pagetable
 * allocated with IOMMU_HWPT_FAULT_ID_VALID are queued on its fault object
 * and delivered through the object's descriptor (read() gives struct
 * iommu_hwpt_pgfault records, write() takes struct
 * iommu_hwpt_page_response answers by cookie).
 *
 * The descriptor is a pipe reopened O_RDWR through /proc, so the program
 * gets a real descriptor that poll, select and epoll (edge or level
 * triggered) watch natively. The library keeps one byte in the pipe
 * exactly while a fault group waits to be read, and writes a byte for
 * every fault raised so that each wakes edge-triggered waiters as the
 * kernel's wake_up does. read() and write() of the descriptor come to
 * the library (uiommufd_fd_read/write, or the shim), never to the pipe.
 *
 * A group is queued on @deliver until read, then kept under its cookie
 * in @response until answered. Both are dropped (answered INVALID) when
 * the attachment the fault came through goes, when the descriptor is
 * closed and when the object is destroyed.
 *
 * Lock order: a device's lock, then fault->mutex.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/mem.h"
#include "base/warn.h"
#include "iommufd/fd_table.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/user_copy.h"

/*
 * One fault group. The test module raises each fault as the last of its
 * group, so a group holds one record; reads still move whole groups.
 */
struct iommufd_fault_group {
	struct iommufd_fault_group *prev, *next;	/* on fault->deliver */
	/* The attachment it came through: a device's RID or PASID. */
	struct iommufd_device *idev;
	u32 handle_pasid;
	u32 cookie;		/* 0 until read */
	u32 fault_count;
	struct iommu_hwpt_pgfault rec;
};

struct iommufd_fault {
	struct iommufd_object obj;
	struct iommufd_file file;
	struct uiommufd_ctx *ctx;
	pthread_mutex_t mutex;
	/* Guarded by mutex. */
	struct iommufd_fault_group deliver;	/* list head */
	struct index_store response;	/* cookie -> group */
	bool closed;			/* the descriptor was released */
	bool ready;			/* the pipe holds its byte */
	int wake_fd;		/* ours: the same pipe, O_NONBLOCK */
};

static void group_unlink(struct iommufd_fault_group *group)
{
	group->prev->next = group->next;
	group->next->prev = group->prev;
	group->prev = group->next = group;
}

static void group_insert(struct iommufd_fault_group *group,
			 struct iommufd_fault_group *prev)
{
	group->next = prev->next;
	group->prev = prev;
	prev->next->prev = group;
	prev->next = group;
}

static bool deliver_empty(struct iommufd_fault *fault)
{
	return fault->deliver.next == &fault->deliver;
}

/*
 * One byte into the pipe, and every byte out of it. Neither blocks
 * (wake_fd is non-blocking), and while this process alone uses the pipe
 * it holds at most one byte. After fork() the other process's queue
 * shares the pipe, so bytes may be missing or extra: emptying it whole
 * and refilling it at each raise keeps that to readiness, and heals it.
 */
static void wake_put(struct iommufd_fault *fault)
{
	char byte = 0;

	if (write(fault->wake_fd, &byte, 1) != 1)
		return;
}

static void wake_drain(struct iommufd_fault *fault)
{
	char bytes[16];

	while (read(fault->wake_fd, bytes, sizeof(bytes)) > 0)
		;
}

/*
 * Make the pipe readable exactly while a group waits; @raised: a fault
 * was just queued, so wake every waiter (edge-triggered ones too) with a
 * fresh byte even if one was there. With fault->mutex held.
 */
static void fault_update_ready(struct iommufd_fault *fault, bool raised)
{
	bool want = !deliver_empty(fault);

	if (want && (raised || !fault->ready)) {
		wake_drain(fault);
		wake_put(fault);
		fault->ready = true;
	} else if (!want && fault->ready) {
		wake_drain(fault);
		fault->ready = false;
	}
}

/* The device side has its answer (INVALID or SUCCESS): nothing waits. */
static void group_respond_free(struct iommufd_fault_group *group)
{
	mem_free(group);
}

/*
 * Drop every group (of attachment @idev/@pasid, or all with @idev NULL),
 * queued or awaiting its answer; with fault->mutex held. Cannot fail.
 */
static void fault_drop_locked(struct iommufd_fault *fault,
			      struct iommufd_device *idev, u32 pasid)
{
	struct iommufd_fault_group *group, *next;
	u64 cookie;

	for (group = fault->deliver.next; group != &fault->deliver;
	     group = next) {
		next = group->next;
		if (idev && (group->idev != idev ||
			     group->handle_pasid != pasid))
			continue;
		group_unlink(group);
		group_respond_free(group);
	}
	index_store_for_each(&fault->response, cookie, group) {
		if (idev && (group->idev != idev ||
			     group->handle_pasid != pasid))
			continue;
		index_store_erase(&fault->response, cookie);
		group_respond_free(group);
	}
	if (!idev)
		index_store_destroy(&fault->response);
	fault_update_ready(fault, false);
}

void iommufd_fault_auto_response(struct iommufd_hw_pagetable *hwpt,
				 struct iommufd_device *idev, u32 pasid)
{
	struct iommufd_fault *fault = hwpt ? hwpt->fault : NULL;

	if (!fault)
		return;
	pthread_mutex_lock(&fault->mutex);
	fault_drop_locked(fault, idev, pasid);
	pthread_mutex_unlock(&fault->mutex);
}

int iommufd_fault_raise(struct iommufd_hw_pagetable *hwpt,
			struct iommufd_device *idev, u32 handle_pasid,
			const struct iommu_hwpt_pgfault *rec)
{
	struct iommufd_fault *fault = hwpt->fault;
	struct iommufd_fault_group *group;

	group = mem_zalloc(sizeof(*group));
	if (!group)
		return err_reason(-ENOMEM, "no memory for the fault group");
	group->idev = idev;
	group->handle_pasid = handle_pasid;
	group->fault_count = 1;
	group->rec = *rec;
	group->prev = group->next = group;

	pthread_mutex_lock(&fault->mutex);
	if (fault->closed) {
		/* Nobody can read it any more: answered at once. */
		pthread_mutex_unlock(&fault->mutex);
		group_respond_free(group);
		return 0;
	}
	group_insert(group, fault->deliver.prev);
	fault_update_ready(fault, true);
	pthread_mutex_unlock(&fault->mutex);
	return 0;
}

/* ---- the descriptor ---- */

static struct iommufd_fault *file_to_fault(struct iommufd_file *file)
{
	return container_of(file, struct iommufd_fault, file);
}

static ssize_t fault_fops_read(struct iommufd_file *file, void *buf,
			       size_t count)
{
	const size_t fault_size = sizeof(struct iommu_hwpt_pgfault);
	struct iommufd_fault *fault = file_to_fault(file);
	u64 ubuf = (u64)(uintptr_t)buf;
	size_t done = 0;
	int rc = 0;

	if (count % fault_size)
		return err_reason(-ESPIPE,
				  "a fault queue reads whole %zu-byte records, not %zu bytes",
				  fault_size, count);
	pthread_mutex_lock(&fault->mutex);
	while (!deliver_empty(fault)) {
		struct iommufd_fault_group *group = fault->deliver.next;
		u64 cookie;

		if (done >= count ||
		    group->fault_count * fault_size > count - done) {
			/* A group is never split. */
			if (!done)
				rc = err_reason(-EINVAL,
						"%zu bytes cannot hold the first fault group (%u record%s)",
						count, group->fault_count,
						group->fault_count == 1 ? "" : "s");
			break;
		}
		rc = index_store_alloc(&fault->response, &cookie, 1, U32_MAX,
				       group);
		if (rc)
			break;
		group->cookie = cookie;
		group->rec.cookie = cookie;
		rc = copy_to_user(ubuf + done, &group->rec, fault_size,
				  "the read buffer");
		if (rc) {
			index_store_erase(&fault->response, cookie);
			group->cookie = 0;
			break;
		}
		group_unlink(group);
		done += group->fault_count * fault_size;
	}
	fault_update_ready(fault, false);
	pthread_mutex_unlock(&fault->mutex);
	return done ? (ssize_t)done : rc;
}

static ssize_t fault_fops_write(struct iommufd_file *file, const void *buf,
				size_t count)
{
	const size_t response_size = sizeof(struct iommu_hwpt_page_response);
	struct iommufd_fault *fault = file_to_fault(file);
	u64 ubuf = (u64)(uintptr_t)buf;
	struct iommu_hwpt_page_response response;
	struct iommufd_fault_group *group;
	size_t done = 0;
	int rc = 0;

	if (count % response_size)
		return err_reason(-ESPIPE,
				  "a fault queue takes whole %zu-byte responses, not %zu bytes",
				  response_size, count);
	pthread_mutex_lock(&fault->mutex);
	while (count > done) {
		rc = copy_from_user(&response, ubuf + done, response_size,
				    "the write buffer");
		if (rc)
			break;
		if (response.code != IOMMUFD_PAGE_RESP_SUCCESS &&
		    response.code != IOMMUFD_PAGE_RESP_INVALID) {
			rc = err_reason(-EINVAL,
					"response %zu: code %u is neither SUCCESS nor INVALID",
					done / response_size, response.code);
			break;
		}
		group = index_store_erase(&fault->response, response.cookie);
		if (!group) {
			rc = err_reason(-EINVAL,
					"response %zu: no fault read awaits cookie %u",
					done / response_size, response.cookie);
			break;
		}
		group_respond_free(group);
		done += response_size;
	}
	pthread_mutex_unlock(&fault->mutex);
	return done ? (ssize_t)done : rc;
}

/*
 * The last descriptor is gone: nobody can answer what is pending, so it
 * is answered INVALID now, and what is raised from now on at once.
 */
static void fault_fops_release(struct iommufd_file *file)
{
	struct iommufd_fault *fault = file_to_fault(file);
	struct uiommufd_ctx *ctx = fault->ctx;

	pthread_mutex_lock(&fault->mutex);
	fault->closed = true;
	fault_drop_locked(fault, NULL, 0);
	pthread_mutex_unlock(&fault->mutex);
	iommufd_object_drop_users(&fault->obj);
	/* May destroy the object, and the file in it, with the context. */
	iommufd_ctx_put(ctx);
}

/*
 * A pipe opened again O_RDWR through /proc: one descriptor that is both
 * ends, so it polls readable while it holds a byte and always writable,
 * with an inode of its own. A second one, non-blocking, stays ours.
 */
static int fault_fops_make_fd(struct iommufd_file *file)
{
	struct iommufd_fault *fault = file_to_fault(file);
	int pipefd[2], fd, rc;
	char path[64];

	if (pipe2(pipefd, O_CLOEXEC))
		return err_reason(-errno, "cannot create a pipe: %m");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", pipefd[0]);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		rc = err_reason(-errno, "cannot open %s read-write: %m", path);
		goto out_close;
	}
	fault->wake_fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fault->wake_fd < 0) {
		rc = err_reason(-errno, "cannot open %s read-write: %m", path);
		close(fd);
		fault->wake_fd = -1;
		goto out_close;
	}
	rc = fd;
out_close:
	close(pipefd[0]);
	close(pipefd[1]);
	return rc;
}

static const struct iommufd_file_ops fault_fops = {
	.name = "iommufd-pgfault",
	.make_fd = fault_fops_make_fd,
	.read = fault_fops_read,
	.write = fault_fops_write,
	.release = fault_fops_release,
};

/* ---- the object ---- */

void iommufd_fault_destroy(struct iommufd_object *obj)
{
	struct iommufd_fault *fault =
		container_of(obj, struct iommufd_fault, obj);

	/* Nothing else can reach it: no lock needed, but it is free. */
	pthread_mutex_lock(&fault->mutex);
	fault_drop_locked(fault, NULL, 0);
	pthread_mutex_unlock(&fault->mutex);
	if (fault->wake_fd >= 0)
		close(fault->wake_fd);
	pthread_mutex_destroy(&fault->mutex);
}

struct iommufd_fault *iommufd_get_fault(struct uiommufd_ctx *ctx, u32 id)
{
	struct iommufd_object *obj =
		iommufd_get_object(ctx, id, IOMMUFD_OBJ_FAULT);

	if (IS_ERR(obj))
		return ERR_CAST(obj);
	return container_of(obj, struct iommufd_fault, obj);
}

int iommufd_fault_alloc(struct iommufd_ucmd *ucmd)
{
	struct iommu_fault_alloc *cmd = ucmd->cmd;
	struct iommufd_fault *fault;
	int rc;

	if (cmd->flags)
		return err_reason(-EOPNOTSUPP, "unknown flags %#x",
				  cmd->flags);
	fault = iommufd_object_alloc(ucmd->ctx, fault, obj, IOMMUFD_OBJ_FAULT);
	if (IS_ERR(fault))
		return PTR_ERR(fault);
	fault->ctx = ucmd->ctx;
	fault->wake_fd = -1;
	fault->deliver.prev = fault->deliver.next = &fault->deliver;
	index_store_init(&fault->response);
	rc = -pthread_mutex_init(&fault->mutex, NULL);
	if (rc) {
		iommufd_object_abort(ucmd->ctx, &fault->obj);
		return err_reason(rc, "cannot create the fault queue's lock");
	}

	rc = iommufd_file_open(&fault->file, &fault_fops);
	if (rc)
		goto out_destroy;
	cmd->out_fault_id = fault->obj.id;
	cmd->out_fault_fd = fault->file.fd;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		goto out_abort_file;

	/* The descriptor's references, dropped at its release. */
	iommufd_object_hold_users(&fault->obj);
	iommufd_ctx_get(ucmd->ctx);
	/* Pitfall 21: visible only once nothing can fail. */
	iommufd_file_install(&fault->file);
	iommufd_object_finalize(ucmd->ctx, &fault->obj);
	return 0;

out_abort_file:
	iommufd_file_abort(&fault->file);
out_destroy:
	iommufd_object_abort_and_destroy(ucmd->ctx, &fault->obj);
	return rc;
}
