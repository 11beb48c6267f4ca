// SPDX-License-Identifier: MIT
/*
 * Event queues: objects whose descriptor delivers what devices raise.
 *
 * - A fault queue takes the IO page faults of devices attached to a HW
 *   pagetable allocated with IOMMU_HWPT_FAULT_ID_VALID: read() gives
 *   struct iommu_hwpt_pgfault records, write() takes struct
 *   iommu_hwpt_page_response answers by cookie.
 * - A vEVENTQ takes the events of one type a vIOMMU reports for its
 *   vdevices: read() gives a struct iommufd_vevent_header and the
 *   event's payload per event, at most @depth of them queued, with a
 *   LOST_EVENTS header standing for what overflowed.
 *
 * The descriptor is a pipe reopened through /proc (O_RDWR for a fault
 * queue, which polls writable as the kernel's; O_RDONLY for a vEVENTQ,
 * which does not), so the program gets a real descriptor that poll,
 * select and epoll (edge or level triggered) watch natively. The library
 * keeps one byte in the pipe exactly while something waits to be read,
 * and writes a fresh byte for every raise so that each wakes
 * edge-triggered waiters as the kernel's wake_up does. read() and
 * write() of the descriptor come to the library (uiommufd_fd_read/write,
 * or the shim), never to the pipe.
 *
 * A fault group is queued on @deliver until read, then kept under its
 * cookie in @response until answered. Both are dropped (answered
 * INVALID) when the attachment the fault came through goes, when the
 * descriptor is closed and when the object is destroyed.
 *
 * Lock order: a device's lock, then a vIOMMU's lock, then eventq->mutex.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/mem.h"
#include "base/private_fd.h"
#include "base/warn.h"
#include "iommufd/fd_table.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/user_copy.h"

/* ---- what both kinds share: the object, its descriptor, readiness ---- */

struct iommufd_eventq {
	struct iommufd_object obj;
	struct iommufd_file file;
	struct uiommufd_ctx *ctx;
	pthread_mutex_t mutex;
	/* Guarded by mutex. */
	bool closed;		/* the descriptor was released */
	bool ready;		/* the pipe holds its byte */
	/* Ours: the same pipe, O_NONBLOCK (private_fd.h: it may move). */
	atomic_int wake_fd;
};

static int eventq_init(struct iommufd_eventq *eventq, struct uiommufd_ctx *ctx)
{
	eventq->ctx = ctx;
	atomic_init(&eventq->wake_fd, -1);
	return -pthread_mutex_init(&eventq->mutex, NULL);
}

/* What destroy leaves after the kind's own teardown. Cannot fail. */
static void eventq_fini(struct iommufd_eventq *eventq)
{
	private_fd_close(&eventq->wake_fd);
	pthread_mutex_destroy(&eventq->mutex);
}

/*
 * One byte into the pipe, and every byte out of it. Neither blocks
 * (wake_fd is non-blocking), and while this process alone uses the pipe
 * it holds at most one byte. After fork() the other process's queue
 * shares the pipe, so bytes may be missing or extra: emptying it whole
 * and refilling it at each raise keeps that to readiness, and heals it.
 */
static void wake_put(struct iommufd_eventq *eventq)
{
	char byte = 0;

	if (write(private_fd_get(&eventq->wake_fd), &byte, 1) != 1) {
		/* A full pipe (shared after fork) is readable already. */
	}
	private_fd_put();
}

static void wake_drain(struct iommufd_eventq *eventq)
{
	int fd = private_fd_get(&eventq->wake_fd);
	char bytes[16];

	while (read(fd, bytes, sizeof(bytes)) > 0)
		;
	private_fd_put();
}

/*
 * Make the pipe readable exactly while @want (something waits to be
 * read); @raised: something was just queued, so wake every waiter
 * (edge-triggered ones too) with a fresh byte even if one was there.
 * With eventq->mutex held.
 */
static void eventq_update_ready(struct iommufd_eventq *eventq, bool want,
				bool raised)
{
	if (want && (raised || !eventq->ready)) {
		wake_drain(eventq);
		wake_put(eventq);
		eventq->ready = true;
	} else if (!want && eventq->ready) {
		wake_drain(eventq);
		eventq->ready = false;
	}
}

/*
 * A pipe opened again through /proc with @mode: O_RDWR makes one
 * descriptor that is both ends, so it polls readable while it holds a
 * byte and always writable; O_RDONLY only readable. Either has an inode
 * of its own. A second one, read-write and non-blocking, stays ours: it
 * is also the writer that keeps a read-only one from seeing a hang-up.
 */
static int eventq_make_fd(struct iommufd_eventq *eventq, int mode)
{
	int pipefd[2], fd, rc;
	char path[64];

	if (pipe2(pipefd, O_CLOEXEC))
		return err_reason(-errno, "cannot create a pipe: %m");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", pipefd[0]);
	fd = open(path, mode | O_CLOEXEC);
	if (fd < 0) {
		rc = err_reason(-errno, "cannot open %s again: %m", path);
		goto out_close;
	}
	rc = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (rc < 0) {
		rc = err_reason(-errno, "cannot open %s read-write: %m", path);
		close(fd);
		goto out_close;
	}
	atomic_store(&eventq->wake_fd, rc);
	rc = private_fd_register(&eventq->wake_fd);
	if (rc) {
		close(atomic_exchange(&eventq->wake_fd, -1));
		close(fd);
		goto out_close;
	}
	rc = fd;
out_close:
	close(pipefd[0]);
	close(pipefd[1]);
	return rc;
}

/*
 * The descriptor is answered; make the object and its descriptor live.
 * Pitfall 21: visible only once nothing can fail.
 */
static void eventq_publish(struct iommufd_eventq *eventq)
{
	/* The descriptor's references, dropped at its release. */
	iommufd_object_hold_users(&eventq->obj);
	iommufd_ctx_get(eventq->ctx);
	iommufd_file_install(&eventq->file);
	iommufd_object_finalize(eventq->ctx, &eventq->obj);
}

/* The last descriptor is gone: drop what it held. With no lock held. */
static void eventq_release(struct iommufd_eventq *eventq)
{
	struct uiommufd_ctx *ctx = eventq->ctx;

	iommufd_object_drop_users(&eventq->obj);
	/* May destroy the object, and the file in it, with the context. */
	iommufd_ctx_put(ctx);
}

/* ---- fault queues ---- */

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
	struct iommufd_eventq common;
	/* Guarded by common.mutex. */
	struct iommufd_fault_group deliver;	/* list head */
	struct index_store response;	/* cookie -> group */
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

static void fault_update_ready(struct iommufd_fault *fault, bool raised)
{
	eventq_update_ready(&fault->common, !deliver_empty(fault), raised);
}

/* The device side has its answer (INVALID or SUCCESS): nothing waits. */
static void group_respond_free(struct iommufd_fault_group *group)
{
	mem_free(group);
}

/*
 * Drop every group (of attachment @idev/@pasid, or all with @idev NULL),
 * queued or awaiting its answer; with fault->common.mutex held. Cannot fail.
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
	pthread_mutex_lock(&fault->common.mutex);
	fault_drop_locked(fault, idev, pasid);
	pthread_mutex_unlock(&fault->common.mutex);
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

	pthread_mutex_lock(&fault->common.mutex);
	if (fault->common.closed) {
		/* Nobody can read it any more: answered at once. */
		pthread_mutex_unlock(&fault->common.mutex);
		group_respond_free(group);
		return 0;
	}
	group_insert(group, fault->deliver.prev);
	fault_update_ready(fault, true);
	pthread_mutex_unlock(&fault->common.mutex);
	return 0;
}

/* The fault queue's descriptor */

static struct iommufd_fault *file_to_fault(struct iommufd_file *file)
{
	return container_of(file, struct iommufd_fault, common.file);
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
	pthread_mutex_lock(&fault->common.mutex);
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
	pthread_mutex_unlock(&fault->common.mutex);
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
	pthread_mutex_lock(&fault->common.mutex);
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
	pthread_mutex_unlock(&fault->common.mutex);
	return done ? (ssize_t)done : rc;
}

/*
 * The last descriptor is gone: nobody can answer what is pending, so it
 * is answered INVALID now, and what is raised from now on at once.
 */
static void fault_fops_release(struct iommufd_file *file)
{
	struct iommufd_fault *fault = file_to_fault(file);

	pthread_mutex_lock(&fault->common.mutex);
	fault->common.closed = true;
	fault_drop_locked(fault, NULL, 0);
	pthread_mutex_unlock(&fault->common.mutex);
	eventq_release(&fault->common);
}

static int fault_fops_make_fd(struct iommufd_file *file)
{
	return eventq_make_fd(&file_to_fault(file)->common, O_RDWR);
}

static const struct iommufd_file_ops fault_fops = {
	.name = "iommufd-pgfault",
	.make_fd = fault_fops_make_fd,
	.read = fault_fops_read,
	.write = fault_fops_write,
	.release = fault_fops_release,
};

void iommufd_fault_destroy(struct iommufd_object *obj)
{
	struct iommufd_fault *fault =
		container_of(obj, struct iommufd_fault, common.obj);

	/* Nothing else can reach it: no lock needed, but it is free. */
	pthread_mutex_lock(&fault->common.mutex);
	fault_drop_locked(fault, NULL, 0);
	pthread_mutex_unlock(&fault->common.mutex);
	eventq_fini(&fault->common);
}

struct iommufd_fault *iommufd_get_fault(struct uiommufd_ctx *ctx, u32 id)
{
	struct iommufd_object *obj =
		iommufd_get_object(ctx, id, IOMMUFD_OBJ_FAULT);

	if (IS_ERR(obj))
		return ERR_CAST(obj);
	return container_of(obj, struct iommufd_fault, common.obj);
}

struct iommufd_object *iommufd_fault_obj(struct iommufd_fault *fault)
{
	return &fault->common.obj;
}

int iommufd_fault_alloc(struct iommufd_ucmd *ucmd)
{
	struct iommu_fault_alloc *cmd = ucmd->cmd;
	struct iommufd_fault *fault;
	int rc;

	if (cmd->flags)
		return err_reason(-EOPNOTSUPP, "unknown flags %#x",
				  cmd->flags);
	fault = iommufd_object_alloc(ucmd->ctx, fault, common.obj,
				     IOMMUFD_OBJ_FAULT);
	if (IS_ERR(fault))
		return PTR_ERR(fault);
	fault->deliver.prev = fault->deliver.next = &fault->deliver;
	index_store_init(&fault->response);
	rc = eventq_init(&fault->common, ucmd->ctx);
	if (rc) {
		iommufd_object_abort(ucmd->ctx, &fault->common.obj);
		return err_reason(rc, "cannot create the fault queue's lock");
	}

	rc = iommufd_file_open(&fault->common.file, &fault_fops);
	if (rc)
		goto out_destroy;
	cmd->out_fault_id = fault->common.obj.id;
	cmd->out_fault_fd = fault->common.file.fd;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		goto out_abort_file;
	eventq_publish(&fault->common);
	return 0;

out_abort_file:
	iommufd_file_abort(&fault->common.file);
out_destroy:
	iommufd_object_abort_and_destroy(ucmd->ctx, &fault->common.obj);
	return rc;
}

/* ---- vEVENTQs ---- */

/* A queue's list links; the LOST_EVENTS header is one without an event. */
struct vevent_node {
	struct vevent_node *prev, *next;
};

struct iommufd_vevent {
	struct vevent_node node;	/* on veventq->deliver */
	struct iommufd_vevent_header header;
	u32 data_len;
	u8 data[];
};

struct iommufd_veventq {
	struct iommufd_eventq common;
	struct iommufd_viommu *viommu;	/* holds a users reference */
	struct iommufd_veventq *next;	/* on viommu->veventqs (its lock) */
	u32 type;
	u32 depth;
	/* Guarded by common.mutex. */
	struct vevent_node deliver;	/* list head */
	u32 num_events;			/* events on deliver, not the header */
	u32 sequence;			/* the next raise's */
	/* The LOST_EVENTS header: on deliver (only ever last) or not. */
	struct vevent_node lost_node;
	struct iommufd_vevent_header lost;
};

#define VEVENTQ_MAX_DEPTH (1u << 19)	/* the kernel's bound */

static void node_unlink(struct vevent_node *node)
{
	node->prev->next = node->next;
	node->next->prev = node->prev;
	node->prev = node->next = node;
}

static void node_append(struct vevent_node *head, struct vevent_node *node)
{
	node->next = head;
	node->prev = head->prev;
	head->prev->next = node;
	head->prev = node;
}

static bool veventq_empty(struct iommufd_veventq *veventq)
{
	return veventq->deliver.next == &veventq->deliver;
}

/*
 * Queue @vevent, or the LOST_EVENTS header for NULL; with common.mutex
 * held. Each takes the next sequence number, so a header moved to the
 * tail again shows how far the loss went, and a header taken away for a
 * new event leaves its gap in the numbers.
 */
static void veventq_queue(struct iommufd_veventq *veventq,
			  struct iommufd_vevent *vevent)
{
	struct vevent_node *node = vevent ? &vevent->node : &veventq->lost_node;

	/* The header is only ever last: an event comes after it, or it moves. */
	if (veventq->deliver.prev == &veventq->lost_node)
		node_unlink(&veventq->lost_node);
	WARN_ON(veventq->lost_node.next != &veventq->lost_node);
	node_append(&veventq->deliver, node);
	if (vevent)
		vevent->header.sequence = veventq->sequence;
	else
		veventq->lost.sequence = veventq->sequence;
	veventq->sequence = (veventq->sequence + 1) & INT32_MAX;
	eventq_update_ready(&veventq->common, true, true);
}

/* With viommu->lock held. */
static struct iommufd_veventq *find_veventq(struct iommufd_viommu *viommu,
					    u32 type)
{
	struct iommufd_veventq *veventq;

	for (veventq = viommu->veventqs; veventq; veventq = veventq->next)
		if (veventq->type == type)
			return veventq;
	return NULL;
}

int iommufd_viommu_report_event(struct iommufd_viommu *viommu, u32 type,
				const void *data, u32 data_len)
{
	struct iommufd_veventq *veventq;
	struct iommufd_vevent *vevent;
	int rc = 0;

	pthread_mutex_lock(&viommu->lock);
	veventq = find_veventq(viommu, type);
	if (!veventq) {
		rc = err_reason(-EOPNOTSUPP,
				"vIOMMU %u has no vEVENTQ of type %#x",
				viommu->obj.id, type);
		goto out_unlock_viommu;
	}
	vevent = mem_zalloc(sizeof(*vevent) + data_len);
	/*
	 * As the kernel: a raise that cannot be recorded still counts, as a
	 * loss the reader sees, and the caller learns ENOMEM.
	 */
	if (!vevent)
		rc = err_reason(-ENOMEM,
				"no memory for the event: queued as lost");
	pthread_mutex_lock(&veventq->common.mutex);
	if (vevent && veventq->num_events == veventq->depth) {
		mem_free(vevent);
		vevent = NULL;
	}
	if (vevent) {
		vevent->data_len = data_len;
		memcpy(vevent->data, data, data_len);
		veventq->num_events++;
	}
	veventq_queue(veventq, vevent);
	pthread_mutex_unlock(&veventq->common.mutex);
out_unlock_viommu:
	pthread_mutex_unlock(&viommu->lock);
	return rc;
}

static struct iommufd_veventq *file_to_veventq(struct iommufd_file *file)
{
	return container_of(file, struct iommufd_veventq, common.file);
}

/*
 * Whole events only, in order, each its header then its payload; a
 * LOST_EVENTS header is a header alone. What does not fit stays queued,
 * and only a first event that cannot fit at all is an error.
 */
static ssize_t veventq_fops_read(struct iommufd_file *file, void *buf,
				 size_t count)
{
	const size_t hdr_size = sizeof(struct iommufd_vevent_header);
	struct iommufd_veventq *veventq = file_to_veventq(file);
	u64 ubuf = (u64)(uintptr_t)buf;
	size_t done = 0;
	int rc = 0;

	if (count < hdr_size)
		return err_reason(-EINVAL,
				  "%zu bytes cannot hold a %zu-byte vEVENT header",
				  count, hdr_size);
	pthread_mutex_lock(&veventq->common.mutex);
	while (!veventq_empty(veventq)) {
		struct vevent_node *node = veventq->deliver.next;
		struct iommufd_vevent *vevent = NULL;
		const struct iommufd_vevent_header *hdr = &veventq->lost;
		size_t len = hdr_size;

		if (node != &veventq->lost_node) {
			vevent = container_of(node, struct iommufd_vevent,
					      node);
			hdr = &vevent->header;
			len += vevent->data_len;
		}
		if (count - done < hdr_size)
			break;
		if (count - done < len) {
			if (!done)
				rc = err_reason(-EINVAL,
						"%zu bytes cannot hold the first vEVENT (%zu bytes)",
						count, len);
			break;
		}
		rc = copy_to_user(ubuf + done, hdr, hdr_size,
				  "the read buffer");
		if (!rc && vevent && vevent->data_len)
			rc = copy_to_user(ubuf + done + hdr_size, vevent->data,
					  vevent->data_len, "the read buffer");
		if (rc)
			break;
		node_unlink(node);
		if (vevent) {
			veventq->num_events--;
			mem_free(vevent);
		}
		done += len;
	}
	eventq_update_ready(&veventq->common, !veventq_empty(veventq), false);
	pthread_mutex_unlock(&veventq->common.mutex);
	return done ? (ssize_t)done : rc;
}

/* Events keep coming (up to the depth) until the object goes. */
static void veventq_fops_release(struct iommufd_file *file)
{
	eventq_release(&file_to_veventq(file)->common);
}

static int veventq_fops_make_fd(struct iommufd_file *file)
{
	return eventq_make_fd(&file_to_veventq(file)->common, O_RDONLY);
}

/* No write: EINVAL, as the kernel's file without one. */
static const struct iommufd_file_ops veventq_fops = {
	.name = "iommufd-viommu-event",
	.make_fd = veventq_fops_make_fd,
	.read = veventq_fops_read,
	.release = veventq_fops_release,
};

/* Free what is queued, and the queue's own parts. Cannot fail. */
static void veventq_free_events(struct iommufd_veventq *veventq)
{
	while (!veventq_empty(veventq)) {
		struct vevent_node *node = veventq->deliver.next;

		node_unlink(node);
		if (node != &veventq->lost_node)
			mem_free(container_of(node, struct iommufd_vevent,
					      node));
	}
	eventq_fini(&veventq->common);
}

void iommufd_veventq_destroy(struct iommufd_object *obj)
{
	struct iommufd_veventq *veventq =
		container_of(obj, struct iommufd_veventq, common.obj);
	struct iommufd_viommu *viommu = veventq->viommu;
	struct iommufd_veventq **pos;

	pthread_mutex_lock(&viommu->lock);
	for (pos = &viommu->veventqs; *pos; pos = &(*pos)->next) {
		if (*pos == veventq) {
			*pos = veventq->next;
			break;
		}
	}
	pthread_mutex_unlock(&viommu->lock);
	veventq_free_events(veventq);
	iommufd_object_drop_users(&viommu->obj);
}

int iommufd_veventq_alloc(struct iommufd_ucmd *ucmd)
{
	struct iommu_veventq_alloc *cmd = ucmd->cmd;
	struct iommufd_veventq *veventq;
	struct iommufd_viommu *viommu;
	int rc;

	if (cmd->flags || cmd->__reserved ||
	    cmd->type == IOMMU_VEVENTQ_TYPE_DEFAULT)
		return err_reason(-EOPNOTSUPP,
				  "flags %#x, __reserved %#x, type %u: no flags, and a type other than DEFAULT",
				  cmd->flags, cmd->__reserved, cmd->type);
	if (!cmd->veventq_depth || cmd->veventq_depth > VEVENTQ_MAX_DEPTH)
		return err_reason(-EINVAL,
				  "veventq_depth %u is not from 1 to %u",
				  cmd->veventq_depth, VEVENTQ_MAX_DEPTH);
	viommu = iommufd_get_viommu(ucmd->ctx, cmd->viommu_id);
	if (IS_ERR(viommu))
		return PTR_ERR(viommu);

	/* Held until it is on the list, so one per type. */
	pthread_mutex_lock(&viommu->lock);
	if (find_veventq(viommu, cmd->type)) {
		rc = err_reason(-EEXIST,
				"vIOMMU %u already has a vEVENTQ of type %#x",
				cmd->viommu_id, cmd->type);
		goto out_unlock;
	}
	veventq = iommufd_object_alloc(ucmd->ctx, veventq, common.obj,
				       IOMMUFD_OBJ_VEVENTQ);
	if (IS_ERR(veventq)) {
		rc = PTR_ERR(veventq);
		goto out_unlock;
	}
	veventq->viommu = viommu;
	veventq->type = cmd->type;
	veventq->depth = cmd->veventq_depth;
	veventq->deliver.prev = veventq->deliver.next = &veventq->deliver;
	veventq->lost_node.prev = veventq->lost_node.next = &veventq->lost_node;
	veventq->lost.flags = IOMMU_VEVENTQ_FLAG_LOST_EVENTS;
	rc = eventq_init(&veventq->common, ucmd->ctx);
	if (rc) {
		rc = err_reason(rc, "cannot create the vEVENTQ's lock");
		goto out_abort;
	}
	rc = iommufd_file_open(&veventq->common.file, &veventq_fops);
	if (rc)
		goto out_fini;
	cmd->out_veventq_id = veventq->common.obj.id;
	cmd->out_veventq_fd = veventq->common.file.fd;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		goto out_abort_file;

	iommufd_object_hold_users(&viommu->obj);
	veventq->next = viommu->veventqs;
	viommu->veventqs = veventq;
	eventq_publish(&veventq->common);
	goto out_unlock;

out_abort_file:
	iommufd_file_abort(&veventq->common.file);
out_fini:
	eventq_fini(&veventq->common);
out_abort:
	/* Never on the list nor holding the vIOMMU: no destroy to run. */
	iommufd_object_abort(ucmd->ctx, &veventq->common.obj);
out_unlock:
	pthread_mutex_unlock(&viommu->lock);
	iommufd_put_object(ucmd->ctx, &viommu->obj);
	return rc;
}
