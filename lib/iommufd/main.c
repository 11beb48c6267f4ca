// SPDX-License-Identifier: MIT
/*
 * Contexts, the object table, IOMMU_DESTROY and the command dispatcher.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/mem.h"
#include "base/warn.h"
#include "iommufd/fd_table.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/user_copy.h"
#include "uiommufd/iommufd_test_uapi.h"

struct iommufd_object_ops {
	const char *name;
	void (*destroy)(struct iommufd_object *obj);
};

static const struct iommufd_object_ops object_ops[IOMMUFD_OBJ_MAX] = {
	[IOMMUFD_OBJ_DEVICE] = { "device", iommufd_device_destroy },
	[IOMMUFD_OBJ_HWPT_PAGING] = { "paging HW pagetable",
				      iommufd_hwpt_paging_destroy },
	[IOMMUFD_OBJ_HWPT_NESTED] = { "nested HW pagetable",
				      iommufd_hwpt_nested_destroy },
	[IOMMUFD_OBJ_IOAS] = { "IOAS", iommufd_ioas_destroy },
	[IOMMUFD_OBJ_ACCESS] = { "access", iommufd_access_destroy_object },
	[IOMMUFD_OBJ_SELFTEST] = { "selftest device",
				   iommufd_selftest_destroy },
	[IOMMUFD_OBJ_VIOMMU] = { "vIOMMU", iommufd_viommu_destroy },
	[IOMMUFD_OBJ_VDEVICE] = { "vdevice", iommufd_vdevice_destroy },
	[IOMMUFD_OBJ_HW_QUEUE] = { "HW queue", iommufd_hw_queue_destroy },
	[IOMMUFD_OBJ_FAULT] = { "fault queue", iommufd_fault_destroy },
	[IOMMUFD_OBJ_VEVENTQ] = { "vEVENTQ", iommufd_veventq_destroy },
};

static const char *type_name(enum iommufd_object_type type)
{
	return type == IOMMUFD_OBJ_ANY ? "object" : object_ops[type].name;
}

/* ---- the fork lock ---- */

/*
 * Calls in the library now, and whether a fork waits for them to finish.
 * A thread counts once however deeply its calls nest (an unmap callback
 * calling back in), so a nested call never waits for a fork that waits
 * for it. Atomics, not a lock, so the child needs no unlock: its thread
 * has a new id, which a lock's owner check would not recognise.
 */
static atomic_uint api_active;
static atomic_bool api_forking;
static __thread unsigned int api_depth;
static pthread_once_t api_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
	/* A fork from inside a call (a callback) counts itself. */
	unsigned int own = api_depth ? 1 : 0;

	atomic_store(&api_forking, true);
	while (atomic_load(&api_active) > own)
		sched_yield();
}

static void fork_parent(void)
{
	atomic_store(&api_forking, false);
}

static void fork_child(void)
{
	atomic_store(&api_active, api_depth ? 1 : 0);
	atomic_store(&api_forking, false);
}

static void api_init(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void api_enter(void)
{
	pthread_once(&api_once, api_init);
	if (api_depth++)
		return;
	for (;;) {
		atomic_fetch_add(&api_active, 1);
		if (likely(!atomic_load(&api_forking)))
			return;
		/* A fork is waiting for the library to be idle: let it. */
		atomic_fetch_sub(&api_active, 1);
		while (atomic_load(&api_forking))
			sched_yield();
	}
}

void api_exit(void)
{
	if (--api_depth)
		return;
	atomic_fetch_sub(&api_active, 1);
}

/* ---- objects ---- */

struct iommufd_object *_iommufd_object_alloc(struct uiommufd_ctx *ctx,
					     size_t size,
					     enum iommufd_object_type type)
{
	struct iommufd_object *obj;
	u64 id;
	int rc;

	obj = mem_zalloc(size);
	if (!obj)
		return ERR_PTR(-ENOMEM);
	obj->type = type;
	atomic_init(&obj->users, 1);
	atomic_init(&obj->shortterm, 0);

	/* The ID is taken now but finds nothing until finalize. */
	pthread_mutex_lock(&ctx->lock);
	rc = index_store_alloc(&ctx->objects, &id, 1, U32_MAX,
			       INDEX_STORE_RESERVED);
	pthread_mutex_unlock(&ctx->lock);
	if (rc) {
		mem_free(obj);
		if (rc == -EBUSY)
			return ERR_PTR(err_reason(-ENOSPC,
						  "every object ID is in use"));
		return ERR_PTR(rc);
	}
	obj->id = id;
	return obj;
}

void iommufd_object_finalize(struct uiommufd_ctx *ctx,
			     struct iommufd_object *obj)
{
	pthread_mutex_lock(&ctx->lock);
	/* Replaces the reserved slot: no allocation, so no failure. */
	WARN_ON(index_store_store(&ctx->objects, obj->id, obj));
	pthread_mutex_unlock(&ctx->lock);
}

void iommufd_object_abort(struct uiommufd_ctx *ctx, struct iommufd_object *obj)
{
	pthread_mutex_lock(&ctx->lock);
	index_store_erase(&ctx->objects, obj->id);
	pthread_mutex_unlock(&ctx->lock);
	mem_free(obj);
}

void iommufd_object_abort_and_destroy(struct uiommufd_ctx *ctx,
				      struct iommufd_object *obj)
{
	struct err_reason_saved saved;

	/* Undoing a failed command keeps the failure's reason. */
	err_reason_save(&saved);
	object_ops[obj->type].destroy(obj);
	iommufd_object_abort(ctx, obj);
	err_reason_restore(&saved);
}

struct iommufd_object *iommufd_get_object(struct uiommufd_ctx *ctx, u32 id,
					  enum iommufd_object_type type)
{
	struct iommufd_object *obj;

	pthread_mutex_lock(&ctx->lock);
	obj = index_store_load(&ctx->objects, id);
	if (obj == INDEX_STORE_RESERVED ||
	    (obj && type != IOMMUFD_OBJ_ANY && obj->type != type))
		obj = NULL;
	if (obj)
		atomic_fetch_add(&obj->shortterm, 1);
	pthread_mutex_unlock(&ctx->lock);
	if (!obj)
		return ERR_PTR(err_reason(-ENOENT, "no %s with ID %u",
					  type_name(type), id));
	return obj;
}

void iommufd_put_object(struct uiommufd_ctx *ctx, struct iommufd_object *obj)
{
	/*
	 * A destroy waiting for this object counts itself in destroy_waiters
	 * before it reads shortterm; we drop shortterm before we read the
	 * waiters, so one of us sees the other (both sequentially
	 * consistent), and the usual case costs no lock.
	 */
	if (atomic_fetch_sub(&obj->shortterm, 1) == 1 &&
	    atomic_load(&ctx->destroy_waiters)) {
		pthread_mutex_lock(&ctx->lock);
		pthread_cond_broadcast(&ctx->destroy_cond);
		pthread_mutex_unlock(&ctx->lock);
	}
}

/*
 * Take @obj out of the table if nothing else depends on it: 0, -EBUSY.
 * @extra_users are the long-term references the caller itself holds.
 * Waits for the commands using it to finish. A @tombstone ID stays
 * reserved: never found, never reused. Called with ctx->lock held.
 */
static int remove_object_locked(struct uiommufd_ctx *ctx,
				struct iommufd_object *obj,
				unsigned int extra_users, bool tombstone)
{
	if (atomic_load(&obj->users) != 1 + extra_users)
		return -EBUSY;
	/* Unreachable from here on; the ID stays taken while we wait. */
	WARN_ON(index_store_store(&ctx->objects, obj->id,
				  INDEX_STORE_RESERVED));
	atomic_fetch_add(&ctx->destroy_waiters, 1);
	while (atomic_load(&obj->shortterm))
		pthread_cond_wait(&ctx->destroy_cond, &ctx->lock);
	atomic_fetch_sub(&ctx->destroy_waiters, 1);
	/* A command that held it may have made something depend on it. */
	if (atomic_load(&obj->users) != 1 + extra_users) {
		WARN_ON(index_store_store(&ctx->objects, obj->id, obj));
		return -EBUSY;
	}
	if (!tombstone)
		index_store_erase(&ctx->objects, obj->id);
	return 0;
}

static void destroy_removed(struct iommufd_object *obj)
{
	object_ops[obj->type].destroy(obj);
	mem_free(obj);
}

/* Destroy @obj for its owner, who holds one users reference. */
static void destroy_owned(struct uiommufd_ctx *ctx, struct iommufd_object *obj,
			  bool tombstone)
{
	int rc;

	pthread_mutex_lock(&ctx->lock);
	rc = remove_object_locked(ctx, obj, 1, tombstone);
	pthread_mutex_unlock(&ctx->lock);
	if (WARN_ON(rc))
		return;
	iommufd_object_drop_users(obj);
	destroy_removed(obj);
}

void iommufd_object_destroy_owned(struct uiommufd_ctx *ctx,
				  struct iommufd_object *obj)
{
	destroy_owned(ctx, obj, false);
}

bool iommufd_object_claim(struct uiommufd_ctx *ctx, struct iommufd_object *obj)
{
	bool live;

	pthread_mutex_lock(&ctx->lock);
	live = index_store_load(&ctx->objects, obj->id) == obj;
	if (live) {
		iommufd_object_hold_users(obj);
		/* A racing IOMMU_DESTROY finds nothing (ENOENT), not EBUSY. */
		WARN_ON(index_store_store(&ctx->objects, obj->id,
					  INDEX_STORE_RESERVED));
	}
	pthread_mutex_unlock(&ctx->lock);
	return live;
}

void iommufd_object_tombstone(struct uiommufd_ctx *ctx,
			      struct iommufd_object *obj)
{
	destroy_owned(ctx, obj, true);
}

int iommufd_object_destroy_user(struct uiommufd_ctx *ctx, u32 id,
				enum iommufd_object_type type)
{
	struct iommufd_object *obj;
	int rc;

	pthread_mutex_lock(&ctx->lock);
	obj = index_store_load(&ctx->objects, id);
	if (!obj || obj == INDEX_STORE_RESERVED ||
	    (type != IOMMUFD_OBJ_ANY && obj->type != type)) {
		pthread_mutex_unlock(&ctx->lock);
		return err_reason(-ENOENT, "no %s with ID %u", type_name(type),
				  id);
	}
	rc = remove_object_locked(ctx, obj, 0, false);
	if (rc)
		/* Still in the table: read it before letting go of the lock. */
		err_reason(rc, "%s %u is in use: %u other object%s depend%s on it",
			   type_name(obj->type), id,
			   atomic_load(&obj->users) - 1,
			   atomic_load(&obj->users) == 2 ? "" : "s",
			   atomic_load(&obj->users) == 2 ? "s" : "");
	else if (ctx->vfio_ioas && &ctx->vfio_ioas->obj == obj)
		ctx->vfio_ioas = NULL;
	pthread_mutex_unlock(&ctx->lock);
	if (rc)
		return rc;
	destroy_removed(obj);
	return 0;
}

static int iommufd_destroy(struct iommufd_ucmd *ucmd)
{
	struct iommu_destroy *cmd = ucmd->cmd;

	return iommufd_object_destroy_user(ucmd->ctx, cmd->id,
					   IOMMUFD_OBJ_ANY);
}

/* ---- contexts ---- */

/*
 * @user's attributes, of @user->size bytes, with the extensible-struct
 * rules: a shorter struct reads as zero past its end; a longer one must
 * be zero past ours.
 */
static int ctx_attr_copy(const struct uiommufd_ctx_attr *user,
			 struct uiommufd_ctx_attr *attr)
{
	memset(attr, 0, sizeof(*attr));
	if (!user)
		return 0;
	if (user->size < offsetof(struct uiommufd_ctx_attr, set))
		return err_reason(-EINVAL,
				  "attr->size %u is too small (sizeof is %zu)",
				  user->size, sizeof(*attr));
	for (size_t i = sizeof(*attr); i < user->size; i++)
		if (((const u8 *)user)[i])
			return err_reason(-E2BIG,
					  "attribute bytes past %zu (the size this library knows) are not zero",
					  sizeof(*attr));
	memcpy(attr, user, min((size_t)user->size, sizeof(*attr)));
	attr->size = sizeof(*attr);
	if (attr->flags & ~UIOMMUFD_CTX_VFIO)
		return err_reason(-EINVAL, "unknown context flags %#x",
				  attr->flags);
	if (attr->set & ~(UIOMMUFD_ATTR_KERNEL | UIOMMUFD_ATTR_CAPS |
			  UIOMMUFD_ATTR_MEMLOCK))
		return err_reason(-EINVAL, "unknown attributes %#x in set",
				  attr->set);
	return 0;
}

/* Every context of the process, for a broker to forget the others. */
static pthread_mutex_t contexts_lock = PTHREAD_MUTEX_INITIALIZER;
static struct uiommufd_ctx contexts = { .all_prev = &contexts,
					.all_next = &contexts };

static void contexts_add(struct uiommufd_ctx *ctx)
{
	pthread_mutex_lock(&contexts_lock);
	ctx->all_next = &contexts;
	ctx->all_prev = contexts.all_prev;
	contexts.all_prev->all_next = ctx;
	contexts.all_prev = ctx;
	pthread_mutex_unlock(&contexts_lock);
}

static void contexts_del(struct uiommufd_ctx *ctx)
{
	pthread_mutex_lock(&contexts_lock);
	ctx->all_prev->all_next = ctx->all_next;
	ctx->all_next->all_prev = ctx->all_prev;
	pthread_mutex_unlock(&contexts_lock);
}

UIOMMUFD_EXPORT struct uiommufd_ctx *
uiommufd_ctx_open_attr(const struct uiommufd_ctx_attr *user_attr)
{
	struct uiommufd_ctx_attr attr;
	struct iommufd_host host;
	struct uiommufd_ctx *ctx;
	int rc;

	err_reason_clear();
	rc = ctx_attr_copy(user_attr, &attr);
	if (!rc)
		rc = iommufd_host_resolve(&attr, &host);
	if (rc) {
		errno = -rc;
		return NULL;
	}
	user_copy_init();
	api_enter();
	ctx = mem_zalloc(sizeof(*ctx));
	if (!ctx) {
		api_exit();
		errno = ENOMEM;
		return NULL;
	}
	atomic_init(&ctx->refs, 1);
	atomic_init(&ctx->destroy_waiters, 0);
	ctx->vfio_compat = attr.flags & UIOMMUFD_CTX_VFIO;
	ctx->host = host;
	pthread_mutex_init(&ctx->lock, NULL);
	pthread_cond_init(&ctx->destroy_cond, NULL);
	index_store_init(&ctx->objects);
	index_store_init(&ctx->mmaps);
	/* /dev/vfio/vfio charges pinned pages per process, as VFIO does. */
	ctx->account_mode = ctx->vfio_compat ? IOPT_PAGES_ACCOUNT_MM :
					       IOPT_PAGES_ACCOUNT_USER;
	contexts_add(ctx);
	api_exit();
	return ctx;
}

UIOMMUFD_EXPORT struct uiommufd_ctx *uiommufd_ctx_open(unsigned int flags)
{
	struct uiommufd_ctx_attr attr = {
		.size = sizeof(attr),
		.flags = flags,
	};

	return uiommufd_ctx_open_attr(&attr);
}

/*
 * Destroy every object, dependents first: each pass destroys what nothing
 * depends on, which frees what those held. Objects owned by another
 * object (a device bound by a selftest device) go with their owner.
 */
static void destroy_all(struct uiommufd_ctx *ctx)
{
	bool progress = true;

	while (progress && !index_store_empty(&ctx->objects)) {
		struct iommufd_object *obj;
		u64 id;

		progress = false;
		index_store_for_each(&ctx->objects, id, obj) {
			int rc;

			if (obj == INDEX_STORE_RESERVED)
				continue;
			pthread_mutex_lock(&ctx->lock);
			rc = remove_object_locked(ctx, obj, 0, false);
			pthread_mutex_unlock(&ctx->lock);
			if (rc)
				continue;
			ctx->vfio_ioas = NULL;
			destroy_removed(obj);
			progress = true;
		}
	}
	/* What is left are tombstones (a vdevice whose device went). */
	{
		struct iommufd_object *obj;
		u64 id = 0;

		index_store_for_each(&ctx->objects, id, obj)
			WARN_ON(obj != INDEX_STORE_RESERVED);
	}
}

void iommufd_ctx_get(struct uiommufd_ctx *ctx)
{
	atomic_fetch_add(&ctx->refs, 1);
}

void iommufd_ctx_put(struct uiommufd_ctx *ctx)
{
	if (atomic_fetch_sub(&ctx->refs, 1) != 1)
		return;
	contexts_del(ctx);
	destroy_all(ctx);
	index_store_destroy(&ctx->objects);
	/* Their owners took them down. */
	WARN_ON(!index_store_empty(&ctx->mmaps));
	index_store_destroy(&ctx->mmaps);
	pthread_cond_destroy(&ctx->destroy_cond);
	pthread_mutex_destroy(&ctx->lock);
	mem_free(ctx);
}

void iommufd_ctx_forget_others(struct uiommufd_ctx *keep)
{
	struct uiommufd_ctx *ctx;

	iommufd_mmap_forget_all();
	for (;;) {
		pthread_mutex_lock(&contexts_lock);
		ctx = contexts.all_next;
		while (ctx == keep)
			ctx = ctx->all_next;
		pthread_mutex_unlock(&contexts_lock);
		if (ctx == &contexts)
			return;
		/* Whatever held it is not in this process any more. */
		atomic_store(&ctx->refs, 1);
		iommufd_ctx_put(ctx);
	}
}

UIOMMUFD_EXPORT void uiommufd_ctx_close(struct uiommufd_ctx *ctx)
{
	if (!ctx)
		return;
	api_enter();
	/* Access descriptors closed behind our back hold contexts too. */
	iommufd_files_sweep_stale();
	iommufd_ctx_put(ctx);
	api_exit();
}

/* ---- the dispatcher ---- */

int iommufd_ucmd_respond(struct iommufd_ucmd *ucmd, size_t cmd_len)
{
	/* No further than the struct as the release knew it. */
	return copy_to_user(ucmd->ubuffer, ucmd->cmd,
			    min(min((size_t)ucmd->user_size, cmd_len),
				(size_t)ucmd->release_size),
			    "the command's result");
}

union ucmd_buffer {
	struct iommu_destroy destroy;
	struct iommu_fault_alloc fault;
	struct iommu_hw_info info;
	struct iommu_hwpt_alloc hwpt;
	struct iommu_hwpt_get_dirty_bitmap get_dirty_bitmap;
	struct iommu_hwpt_invalidate cache;
	struct iommu_hwpt_set_dirty_tracking set_dirty_tracking;
	struct iommu_ioas_alloc alloc;
	struct iommu_ioas_map_file map_file;
	struct iommu_ioas_change_process change_process;
	struct iommu_ioas_allow_iovas allow_iovas;
	struct iommu_ioas_copy ioas_copy;
	struct iommu_ioas_iova_ranges iova_ranges;
	struct iommu_ioas_map map;
	struct iommu_ioas_unmap unmap;
	struct iommu_option option;
	struct iommu_vfio_ioas vfio_ioas;
	struct iommu_viommu_alloc viommu;
	struct iommu_vdevice_alloc vdev;
	struct iommu_hw_queue_alloc hw_queue;
	struct iommu_veventq_alloc veventq;
	struct iommu_test_cmd test;
};

struct iommufd_ioctl_op {
	unsigned int size;
	unsigned int min_size;
	unsigned long ioctl_num;
	const char *name;
	int (*execute)(struct iommufd_ucmd *ucmd);
};

#define IOCTL_OP(_ioctl, _fn, _struct, _last)                              \
	[_IOC_NR(_ioctl) - IOMMUFD_CMD_BASE] = {                           \
		.size = sizeof(_struct),                                   \
		.min_size = offsetof(_struct, _last) +                     \
			    sizeof(((_struct *)0)->_last),                 \
		.ioctl_num = _ioctl,                                       \
		.name = #_ioctl,                                           \
		.execute = _fn,                                            \
	}
/* Pitfall 23: the buffer holds every command struct. */
#define ASSERT_FITS(_struct)                                               \
	_Static_assert(sizeof(_struct) <= sizeof(union ucmd_buffer),       \
		       #_struct " does not fit the command buffer")
ASSERT_FITS(struct iommu_destroy);
ASSERT_FITS(struct iommu_fault_alloc);
ASSERT_FITS(struct iommu_hw_info);
ASSERT_FITS(struct iommu_hwpt_alloc);
ASSERT_FITS(struct iommu_hwpt_get_dirty_bitmap);
ASSERT_FITS(struct iommu_hwpt_invalidate);
ASSERT_FITS(struct iommu_hwpt_set_dirty_tracking);
ASSERT_FITS(struct iommu_ioas_map_file);
ASSERT_FITS(struct iommu_ioas_change_process);
ASSERT_FITS(struct iommu_ioas_alloc);
ASSERT_FITS(struct iommu_ioas_allow_iovas);
ASSERT_FITS(struct iommu_ioas_copy);
ASSERT_FITS(struct iommu_ioas_iova_ranges);
ASSERT_FITS(struct iommu_ioas_map);
ASSERT_FITS(struct iommu_ioas_unmap);
ASSERT_FITS(struct iommu_option);
ASSERT_FITS(struct iommu_vfio_ioas);
ASSERT_FITS(struct iommu_viommu_alloc);
ASSERT_FITS(struct iommu_vdevice_alloc);
ASSERT_FITS(struct iommu_hw_queue_alloc);
ASSERT_FITS(struct iommu_veventq_alloc);
ASSERT_FITS(struct iommu_test_cmd);

static const struct iommufd_ioctl_op ioctl_ops[] = {
	IOCTL_OP(IOMMU_DESTROY, iommufd_destroy, struct iommu_destroy, id),
	IOCTL_OP(IOMMU_FAULT_QUEUE_ALLOC, iommufd_fault_alloc,
		 struct iommu_fault_alloc, out_fault_fd),
	IOCTL_OP(IOMMU_GET_HW_INFO, iommufd_get_hw_info, struct iommu_hw_info,
		 __reserved),
	IOCTL_OP(IOMMU_HWPT_ALLOC, iommufd_hwpt_alloc, struct iommu_hwpt_alloc,
		 __reserved),
	IOCTL_OP(IOMMU_HWPT_GET_DIRTY_BITMAP, iommufd_hwpt_get_dirty_bitmap,
		 struct iommu_hwpt_get_dirty_bitmap, data),
	IOCTL_OP(IOMMU_HWPT_INVALIDATE, iommufd_hwpt_invalidate,
		 struct iommu_hwpt_invalidate, __reserved),
	IOCTL_OP(IOMMU_HWPT_SET_DIRTY_TRACKING, iommufd_hwpt_set_dirty_tracking,
		 struct iommu_hwpt_set_dirty_tracking, __reserved),
	IOCTL_OP(IOMMU_IOAS_ALLOC, iommufd_ioas_alloc_ioctl,
		 struct iommu_ioas_alloc, out_ioas_id),
	IOCTL_OP(IOMMU_IOAS_ALLOW_IOVAS, iommufd_ioas_allow_iovas,
		 struct iommu_ioas_allow_iovas, allowed_iovas),
	IOCTL_OP(IOMMU_IOAS_CHANGE_PROCESS, iommufd_ioas_change_process,
		 struct iommu_ioas_change_process, __reserved),
	IOCTL_OP(IOMMU_IOAS_COPY, iommufd_ioas_copy, struct iommu_ioas_copy,
		 src_iova),
	IOCTL_OP(IOMMU_IOAS_IOVA_RANGES, iommufd_ioas_iova_ranges,
		 struct iommu_ioas_iova_ranges, out_iova_alignment),
	IOCTL_OP(IOMMU_IOAS_MAP, iommufd_ioas_map, struct iommu_ioas_map,
		 iova),
	IOCTL_OP(IOMMU_IOAS_MAP_FILE, iommufd_ioas_map_file,
		 struct iommu_ioas_map_file, iova),
	IOCTL_OP(IOMMU_IOAS_UNMAP, iommufd_ioas_unmap,
		 struct iommu_ioas_unmap, length),
	IOCTL_OP(IOMMU_OPTION, iommufd_option, struct iommu_option, val64),
	IOCTL_OP(IOMMU_VFIO_IOAS, iommufd_vfio_ioas, struct iommu_vfio_ioas,
		 __reserved),
	IOCTL_OP(IOMMU_VIOMMU_ALLOC, iommufd_viommu_alloc_ioctl,
		 struct iommu_viommu_alloc, out_viommu_id),
	IOCTL_OP(IOMMU_VDEVICE_ALLOC, iommufd_vdevice_alloc_ioctl,
		 struct iommu_vdevice_alloc, virt_id),
	IOCTL_OP(IOMMU_VEVENTQ_ALLOC, iommufd_veventq_alloc,
		 struct iommu_veventq_alloc, out_veventq_fd),
	IOCTL_OP(IOMMU_HW_QUEUE_ALLOC, iommufd_hw_queue_alloc_ioctl,
		 struct iommu_hw_queue_alloc, length),
	/* Linux 6.2's 56-byte layout is a row of the release table. */
	IOCTL_OP(IOMMU_TEST_CMD, iommufd_test, struct iommu_test_cmd, last),
};
_Static_assert(ARRAY_SIZE(ioctl_ops) == IOMMUFD_CMD_SLOTS,
	       "the release table spans the dispatcher's");

static long dispatch(struct uiommufd_ctx *ctx, unsigned long request, u64 arg)
{
	const struct iommufd_release *release = iommufd_release(ctx);
	const struct iommufd_ioctl_op *op;
	union ucmd_buffer buf;
	struct iommufd_ucmd ucmd = { .ctx = ctx, .ubuffer = arg, .cmd = &buf };
	unsigned int nr = _IOC_NR(request), size, min_size;
	int rc;

	if (nr < IOMMUFD_CMD_BASE ||
	    nr - IOMMUFD_CMD_BASE >= ARRAY_SIZE(ioctl_ops))
		return iommufd_vfio_ioctl(ctx, request, arg);

	rc = copy_from_user(&ucmd.user_size, arg, sizeof(ucmd.user_size),
			    "the command's size");
	if (rc)
		return rc;
	op = &ioctl_ops[nr - IOMMUFD_CMD_BASE];
	if (!op->ioctl_num && request == (unsigned long)_IO(IOMMUFD_TYPE, nr))
		return err_reason(-ENOTTY,
				  "IOMMUFD command %#x: not one uiommufd answers (yet), as Linux %s or any release",
				  nr, release->name);
	if (op->ioctl_num != request)
		return err_reason(-ENOTTY, "unknown request %#lx", request);
	if (!iommufd_release_has_cmd(release, nr - IOMMUFD_CMD_BASE))
		return err_reason(-ENOTTY, "%s came after Linux %s", op->name,
				  release->name);
	/* The struct as the release knew it. */
	size = op->size;
	min_size = op->min_size;
	if (release->layout[nr - IOMMUFD_CMD_BASE].size) {
		size = release->layout[nr - IOMMUFD_CMD_BASE].size;
		min_size = release->layout[nr - IOMMUFD_CMD_BASE].min_size;
	}
	if (ucmd.user_size < min_size)
		return err_reason(-EINVAL,
				  "%s: size %u is below the minimum %u (Linux %s)",
				  op->name, ucmd.user_size, min_size,
				  release->name);

	/* The extensible-struct rules, as copy_struct_from_user. */
	if (ucmd.user_size > size) {
		rc = check_zeroed_user(arg + size, ucmd.user_size - size);
		if (rc < 0)
			return rc;
		if (rc)
			return err_reason(-E2BIG,
					  "%s: bytes past %u (its size in Linux %s) are not zero",
					  op->name, size, release->name);
	}
	/* Zeroed whole: a shorter layout reads as zero past its end. */
	memset(&buf, 0, op->size);
	ucmd.release_size = size;
	rc = copy_from_user(&buf, arg, min(ucmd.user_size, size),
			    "the command");
	if (rc)
		return rc;
	return op->execute(&ucmd);
}

UIOMMUFD_EXPORT int uiommufd_ioctl(struct uiommufd_ctx *ctx,
				   unsigned long request, void *arg)
{
	long rc;

	err_reason_clear();
	if (unlikely(!ctx)) {
		rc = err_reason(-EBADF, "no context");
	} else {
		api_enter();
		/* ioctl(2) hands the kernel a 32-bit request. */
		rc = dispatch(ctx, (u32)request, (u64)(uintptr_t)arg);
		api_exit();
	}
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return rc;
}
