/* SPDX-License-Identifier: MIT */
/*
 * The iommufd layer: what one open /dev/iommu is (a context), the objects
 * it holds and the commands that make and use them.
 *
 * Objects live in the context's table under IDs from 1. Two counts keep
 * them alive:
 *  - users: 1 for the table plus one per long-term dependent (a HW
 *    pagetable on its IOAS, a device on its HW pagetable, an owner on what
 *    it owns). Destroy answers EBUSY while anything depends on an object.
 *  - shortterm: commands using the object right now. Destroy takes the
 *    object out of reach first, then waits for these to finish. A command
 *    takes long-term references only on objects it holds short-term, so
 *    once the short-term users are gone the users count cannot grow.
 *
 * Lock order: ctx->lock is innermost (it guards the table and the counts'
 * wait), an IOAS's mutex is taken before any io_pagetable lock.
 */
#ifndef UIOMMUFD_IOMMUFD_PRIVATE_H
#define UIOMMUFD_IOMMUFD_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>

#include "base/err_ptr.h"
#include "base/index_store.h"
#include "iopt/access.h"
#include "iopt/io_pagetable.h"
#include "iommufd/release.h"
#include "iopt/pages.h"
#include "uiommufd/iommufd_test_uapi.h"
#include "uiommufd/iommufd_uapi.h"
#include "uiommufd/uiommufd.h"

enum iommufd_object_type {
	IOMMUFD_OBJ_NONE,
	IOMMUFD_OBJ_ANY = IOMMUFD_OBJ_NONE,
	IOMMUFD_OBJ_DEVICE,
	IOMMUFD_OBJ_HWPT_PAGING,
	IOMMUFD_OBJ_HWPT_NESTED,
	IOMMUFD_OBJ_IOAS,
	IOMMUFD_OBJ_ACCESS,
	IOMMUFD_OBJ_SELFTEST,
	IOMMUFD_OBJ_VIOMMU,
	IOMMUFD_OBJ_VDEVICE,
	IOMMUFD_OBJ_HW_QUEUE,
	IOMMUFD_OBJ_FAULT,
	IOMMUFD_OBJ_VEVENTQ,
	IOMMUFD_OBJ_MAX,
};

struct iommufd_object {
	enum iommufd_object_type type;
	u32 id;
	atomic_uint users;
	atomic_uint shortterm;
};

/*
 * What a context answers as: a kernel release, the capabilities its
 * callers hold and the memlock limit its pinned pages charge against.
 * Fixed when the context opens (ctx_attr.c).
 */
struct iommufd_host {
	const struct iommufd_release *release;
	bool caps_given;	/* else the opener's effective set */
	u64 caps;		/* held by the callers of its commands */
	bool memlock_given;	/* else the process's RLIMIT_MEMLOCK */
	u64 memlock;		/* bytes; UIOMMUFD_MEMLOCK_UNLIMITED */
};

struct uiommufd_ctx {
	/* The open handle and every access keep the context alive. */
	atomic_uint refs;
	bool vfio_compat;	/* opened as /dev/vfio/vfio */
	struct iommufd_host host;
	pthread_mutex_t lock;
	pthread_cond_t destroy_cond;
	atomic_uint destroy_waiters;
	struct index_store objects;
	/* Guarded by lock. */
	struct iommufd_ioas *vfio_ioas;
	enum iopt_account_mode account_mode;
	/* Regions mmap() reaches, by page offset (mmap.c; guarded by lock). */
	struct index_store mmaps;
	/* On the process's list of contexts (main.c's contexts_lock). */
	struct uiommufd_ctx *all_prev, *all_next;
};

/*
 * In a broker (share.c): every context of the process but @keep is a copy
 * of the program's, which the broker does not serve; forget them, and
 * every mapping of a region, so that pin counts and accounting are
 * @keep's alone. Single-threaded, with nothing else holding them.
 */
void iommufd_ctx_forget_others(struct uiommufd_ctx *keep);
/* Drop every mapping record of a region (each releases its owner). */
void iommufd_mmap_forget_all(void);

/*
 * Every public entry point runs inside api_enter()/api_exit(); fork()
 * (through pthread_atfork) waits until no other thread is inside the
 * library and keeps new calls out meanwhile, so the child's copy of every
 * library lock is free. Calls nest (an access's unmap callback may call
 * back in); a callback should not fork.
 */
void api_enter(void);
void api_exit(void);

/* ---- what a context answers as (ctx_attr.c) ---- */

/*
 * @attr (may be NULL) over the environment over the defaults: 0, or
 * -EINVAL with a reason.
 */
int iommufd_host_resolve(const struct uiommufd_ctx_attr *attr,
			 struct iommufd_host *out);

/*
 * Whether the caller of a command on @ctx holds capability @cap: every
 * capability check of the library is this one.
 */
bool iommufd_capable(struct uiommufd_ctx *ctx, int cap);

/* The memlock limit, in pages, of pages mapped through @ctx. */
u64 iommufd_memlock_limit(struct uiommufd_ctx *ctx);

static inline const struct iommufd_release *
iommufd_release(struct uiommufd_ctx *ctx)
{
	return ctx->host.release;
}

/*
 * -EOPNOTSUPP for bits of @flags that @set does not have in the context's
 * release (unknown there, as the kernel answers unknown flags); else 0.
 */
int iommufd_check_flags(struct uiommufd_ctx *ctx, u32 flags,
			enum iommufd_flag_set set);

/* One command in flight: the caller's struct and the library's copy. */
struct iommufd_ucmd {
	struct uiommufd_ctx *ctx;
	u64 ubuffer;
	u32 user_size;
	u32 release_size;	/* sizeof the struct in the context's release */
	void *cmd;
};

/* Write the command struct back to the caller, up to the caller's size. */
int iommufd_ucmd_respond(struct iommufd_ucmd *ucmd, size_t cmd_len);

/* ---- objects (main.c) ---- */

/*
 * A new object of @size bytes (the struct starts with its iommufd_object)
 * with a reserved ID: not reachable by ID until finalized. ERR_PTR.
 */
struct iommufd_object *_iommufd_object_alloc(struct uiommufd_ctx *ctx,
					     size_t size,
					     enum iommufd_object_type type);
#define iommufd_object_alloc(ctx, ptr, member, type)                        \
	container_of(_iommufd_object_alloc(ctx, sizeof(*(ptr)), type),      \
		     __typeof__(*(ptr)), member)
/* Publish: the ID now finds the object. Cannot fail. */
void iommufd_object_finalize(struct uiommufd_ctx *ctx,
			     struct iommufd_object *obj);
/* Undo an alloc that was never finalized (no destroy callback). */
void iommufd_object_abort(struct uiommufd_ctx *ctx, struct iommufd_object *obj);
/* Undo a finalize-less object that did get set up: runs its destroy. */
void iommufd_object_abort_and_destroy(struct uiommufd_ctx *ctx,
				      struct iommufd_object *obj);

/*
 * A short-term reference on object @id of @type (IOMMUFD_OBJ_ANY for any):
 * ERR_PTR(-ENOENT), with a reason, when there is none of that type.
 */
struct iommufd_object *iommufd_get_object(struct uiommufd_ctx *ctx, u32 id,
					  enum iommufd_object_type type);
void iommufd_put_object(struct uiommufd_ctx *ctx, struct iommufd_object *obj);

static inline void iommufd_object_hold_users(struct iommufd_object *obj)
{
	atomic_fetch_add(&obj->users, 1);
}

static inline void iommufd_object_drop_users(struct iommufd_object *obj)
{
	atomic_fetch_sub(&obj->users, 1);
}

/*
 * Destroy @obj on behalf of its owner, which holds one users reference
 * (a device's on its auto HW pagetable, a selftest device's on its
 * device, a creator's on its access). The owner's reference is counted
 * until the object is out of the table, so an IOMMU_DESTROY racing with
 * it gets EBUSY or ENOENT, never the object (pitfall 5). Nothing else may
 * depend on it. Cannot fail.
 */
void iommufd_object_destroy_owned(struct uiommufd_ctx *ctx,
				  struct iommufd_object *obj);
/*
 * Claim @obj for iommufd_object_tombstone() if it is in the table (not
 * being destroyed): a users reference, and its ID finds nothing from now
 * on, so a racing IOMMU_DESTROY answers ENOENT as the kernel's. True if
 * claimed.
 */
bool iommufd_object_claim(struct uiommufd_ctx *ctx, struct iommufd_object *obj);
/*
 * As iommufd_object_destroy_owned(), leaving the ID a tombstone: never
 * found, never reused until the context goes.
 */
void iommufd_object_tombstone(struct uiommufd_ctx *ctx,
			      struct iommufd_object *obj);

/*
 * IOMMU_DESTROY of object @id of @type (ANY for any): 0, -ENOENT, or
 * -EBUSY while something depends on it.
 */
int iommufd_object_destroy_user(struct uiommufd_ctx *ctx, u32 id,
				enum iommufd_object_type type);

void iommufd_ctx_get(struct uiommufd_ctx *ctx);
void iommufd_ctx_put(struct uiommufd_ctx *ctx);

/* ---- IOAS (ioas.c) ---- */

struct iommufd_ioas {
	struct iommufd_object obj;
	struct io_pagetable iopt;
	/* Serialises attach and detach; guards hwpt_list. */
	pthread_mutex_t mutex;
	struct iommufd_hwpt_paging *hwpt_list;
};

struct iommufd_ioas *iommufd_ioas_alloc(struct uiommufd_ctx *ctx);
void iommufd_ioas_destroy(struct iommufd_object *obj);

static inline struct iommufd_ioas *iommufd_get_ioas(struct uiommufd_ctx *ctx,
						    u32 id)
{
	struct iommufd_object *obj =
		iommufd_get_object(ctx, id, IOMMUFD_OBJ_IOAS);

	if (IS_ERR(obj))
		return ERR_CAST(obj);
	return container_of(obj, struct iommufd_ioas, obj);
}

/* The accounting mode for pages pinned through @ctx. */
enum iopt_account_mode iommufd_ctx_account_mode(struct uiommufd_ctx *ctx);

int iommufd_ioas_alloc_ioctl(struct iommufd_ucmd *ucmd);
int iommufd_ioas_allow_iovas(struct iommufd_ucmd *ucmd);
int iommufd_ioas_copy(struct iommufd_ucmd *ucmd);
int iommufd_ioas_iova_ranges(struct iommufd_ucmd *ucmd);
int iommufd_ioas_map(struct iommufd_ucmd *ucmd);
int iommufd_ioas_map_file(struct iommufd_ucmd *ucmd);
int iommufd_ioas_change_process(struct iommufd_ucmd *ucmd);
/*
 * Call @fn for the pages of every area of every IOAS of @ctx (a pages
 * object in several areas comes once per area), each IOAS's iova lock
 * held for reading. Nothing is called without memory for the IOAS list.
 */
void iommufd_ctx_for_each_pages(struct uiommufd_ctx *ctx,
				void (*fn)(struct iopt_pages *pages, void *arg),
				void *arg);
int iommufd_ioas_unmap(struct iommufd_ucmd *ucmd);
int iommufd_ioas_option(struct iommufd_ucmd *ucmd);
int iommufd_option(struct iommufd_ucmd *ucmd);
int iommufd_vfio_ioas(struct iommufd_ucmd *ucmd);

/* ---- HW pagetables (hw_pagetable.c) ---- */

/*
 * What devices attach to: a paging HW pagetable (an IO page table kept
 * mirroring one IOAS) or a nested one (a first stage the device's IOMMU
 * walks on top of a paging parent's translation).
 */
struct iommufd_hw_pagetable {
	struct iommufd_object obj;
	/* IOMMU_HWPT_ALLOC_PASID: PASIDs of its devices may attach too. */
	bool pasid_compat;
	/* IOMMU_HWPT_FAULT_ID_VALID: its faults go here (users reference). */
	struct iommufd_fault *fault;
	/*
	 * Devices attached; guarded by the IOAS's mutex for a paging one
	 * (an auto one goes with its last device), atomic for any.
	 */
	atomic_uint num_devices;
};

struct iommufd_hwpt_paging {
	struct iommufd_hw_pagetable common;
	struct iommufd_ioas *ioas;
	struct iommu_domain *domain;
	/* Created for a device attached to an IOAS; goes with its last one. */
	bool auto_domain;
	/* IOMMU_HWPT_ALLOC_NEST_PARENT: nested HW pagetables may sit on it. */
	bool nest_parent;
	/* IOMMU_HWPT_ALLOC_DIRTY_TRACKING: its domain tracks dirty IOVA. */
	bool dirty_tracking;
	/* Guarded by ioas->mutex: on ioas->hwpt_list. */
	bool linked;
	struct iommufd_hwpt_paging *next;	/* in ioas->hwpt_list */
};

struct iommufd_viommu;

struct iommufd_hwpt_nested {
	struct iommufd_hw_pagetable common;
	/* Holds a users reference, unless it sits on viommu (viommu's). */
	struct iommufd_hwpt_paging *parent;
	struct iommufd_viommu *viommu;	/* holds a users reference */
	struct mock_nested_domain *domain;
};

static inline struct iommufd_hwpt_paging *
to_hwpt_paging(struct iommufd_hw_pagetable *hwpt)
{
	if (hwpt->obj.type != IOMMUFD_OBJ_HWPT_PAGING)
		return NULL;
	return container_of(hwpt, struct iommufd_hwpt_paging, common);
}

static inline struct iommufd_hwpt_nested *
to_hwpt_nested(struct iommufd_hw_pagetable *hwpt)
{
	if (hwpt->obj.type != IOMMUFD_OBJ_HWPT_NESTED)
		return NULL;
	return container_of(hwpt, struct iommufd_hwpt_nested, common);
}

/* A short-term reference on paging HW pagetable @id: ERR_PTR(-ENOENT). */
static inline struct iommufd_hwpt_paging *
iommufd_get_hwpt_paging(struct uiommufd_ctx *ctx, u32 id)
{
	struct iommufd_object *obj =
		iommufd_get_object(ctx, id, IOMMUFD_OBJ_HWPT_PAGING);

	if (IS_ERR(obj))
		return ERR_CAST(obj);
	return container_of(obj, struct iommufd_hwpt_paging, common.obj);
}

struct iommufd_device;

/*
 * A paging HW pagetable on @ioas for @idev (IOMMU_HWPT_ALLOC_* @flags,
 * @user_cfg the selftest data or NULL) whose domain mirrors the IOAS;
 * called with ioas->mutex held until it is finalized or aborted. ERR_PTR.
 */
struct iommufd_hwpt_paging *
iommufd_hwpt_paging_alloc(struct uiommufd_ctx *ctx, struct iommufd_ioas *ioas,
			  struct iommufd_device *idev, u32 flags,
			  const struct iommu_hwpt_selftest *user_cfg);
/* Stop mirroring the IOAS; with ioas->mutex held. Idempotent. */
void iommufd_hwpt_paging_unlink(struct iommufd_hwpt_paging *hwpt);
void iommufd_hwpt_paging_destroy(struct iommufd_object *obj);
void iommufd_hwpt_nested_destroy(struct iommufd_object *obj);

int iommufd_hwpt_alloc(struct iommufd_ucmd *ucmd);
int iommufd_hwpt_invalidate(struct iommufd_ucmd *ucmd);
/*
 * Entry @i of an invalidation's array into @dst (@size bytes) with the
 * extensible-struct rules, when the data type is @type and entry_len at
 * least @min_size: 0, or -EINVAL/-E2BIG/-EFAULT with a reason.
 */
int iommufd_copy_invalidate_entry(const struct iommu_hwpt_invalidate *cmd,
				  u32 i, u32 type, void *dst, size_t size,
				  size_t min_size);

/* ---- event queues: fault queues and vEVENTQs (eventq.c) ---- */

struct iommufd_fault;

int iommufd_fault_alloc(struct iommufd_ucmd *ucmd);
void iommufd_fault_destroy(struct iommufd_object *obj);
/* A short-term reference on fault queue @id: ERR_PTR(-ENOENT). */
struct iommufd_fault *iommufd_get_fault(struct uiommufd_ctx *ctx, u32 id);
/* The fault queue's object. */
struct iommufd_object *iommufd_fault_obj(struct iommufd_fault *fault);
/*
 * Queue fault @rec of attachment @idev/@handle_pasid on @hwpt's fault
 * queue (hwpt->fault set), waking its waiters; with idev->lock held.
 * 0 or -ENOMEM.
 */
int iommufd_fault_raise(struct iommufd_hw_pagetable *hwpt,
			struct iommufd_device *idev, u32 handle_pasid,
			const struct iommu_hwpt_pgfault *rec);
/*
 * Attachment @idev/@pasid of @hwpt is going: answer INVALID and drop its
 * faults, read or not; with idev->lock held. Cannot fail.
 */
void iommufd_fault_auto_response(struct iommufd_hw_pagetable *hwpt,
				 struct iommufd_device *idev, u32 pasid);

struct iommufd_veventq;

int iommufd_veventq_alloc(struct iommufd_ucmd *ucmd);
void iommufd_veventq_destroy(struct iommufd_object *obj);
/*
 * An event of @type on @viommu: @data_len bytes of payload for its
 * vEVENTQ of that type, waking its waiters. EOPNOTSUPP without one;
 * ENOMEM when it could only be recorded as lost (as the kernel's).
 */
int iommufd_viommu_report_event(struct iommufd_viommu *viommu, u32 type,
				const void *data, u32 data_len);

/* ---- dirty tracking (hwpt_dirty.c) ---- */

int iommufd_hwpt_set_dirty_tracking(struct iommufd_ucmd *ucmd);
int iommufd_hwpt_get_dirty_bitmap(struct iommufd_ucmd *ucmd);

/* ---- devices (device.c) ---- */

/*
 * What a mock device is, as the test module made it: its flags and the
 * cache entries a vIOMMU invalidation clears.
 */
struct iommufd_mock_dev {
	u32 flags;		/* MOCK_FLAGS_DEVICE_* */
	atomic_uint cache[MOCK_DEV_CACHE_NUM];
	/* The next attach of IOMMU_TEST_PASID_RESERVED fails (idev->lock). */
	bool reserved_armed;
	/*
	 * The vIOMMU of the nested HW pagetable the RID was last attached
	 * to and its virt_id there, for TRIGGER_VEVENT (idev->lock). The
	 * attachment holds the vIOMMU; a vdevice destroyed meanwhile leaves
	 * the virt_id, as in the kernel's mock.
	 */
	struct iommufd_viommu *viommu;
	u64 vdev_id;
};

struct iommufd_device {
	struct iommufd_object obj;
	struct uiommufd_ctx *ctx;
	struct iommufd_mock_dev mock;
	/* Serialises attach, replace and detach; taken before any IOAS's. */
	pthread_mutex_t lock;
	/* What the RID is attached to (guarded by lock). */
	struct iommufd_hw_pagetable *hwpt;
	/* PASID -> struct iommufd_hw_pagetable * (guarded by lock). */
	struct index_store pasids;
	bool no_id;		/* IOMMUFD_BIND_NO_ID */
	/* Its vdevice, and whether it is going away (guarded by lock). */
	struct iommufd_vdevice *vdev;
	bool destroying;
};

static inline struct iommufd_device *iommufd_get_device(struct uiommufd_ctx *ctx,
							 u32 id)
{
	struct iommufd_object *obj =
		iommufd_get_object(ctx, id, IOMMUFD_OBJ_DEVICE);

	if (IS_ERR(obj))
		return ERR_CAST(obj);
	return container_of(obj, struct iommufd_device, obj);
}

/* Whether the device's IOMMU can track dirty IOVA (not NO_DIRTY). */
static inline bool iommufd_device_dirty_capable(struct iommufd_device *idev)
{
	return !(idev->mock.flags & MOCK_FLAGS_DEVICE_NO_DIRTY);
}

/* The PASID that names a device's RID, as the kernel's. */
#define IOMMU_NO_PASID 0u

/* PASIDs the device has: 2^MOCK_PASID_WIDTH with MOCK_FLAGS_DEVICE_PASID. */
static inline u32 iommufd_device_max_pasids(struct iommufd_device *idev)
{
	return idev->mock.flags & MOCK_FLAGS_DEVICE_PASID ?
		       1u << MOCK_PASID_WIDTH : 0;
}

/* iommufd_device_bind() flags */
#define IOMMUFD_BIND_NO_ID (1u << 0)	/* no object ID: Linux 6.2's mock
					   device was not an object of its own */

/* iommufd_device_attach() flags */
#define IOMMUFD_ATTACH_NEW_HWPT (1u << 0) /* on an IOAS: a HW pagetable of
					     its own, kept until destroyed */
#define IOMMUFD_ATTACH_IOAS_ONLY (1u << 1) /* *pt_id must be an IOAS */

/*
 * A bound mock device with MOCK_FLAGS_DEVICE_* @dev_flags, published
 * unless NO_ID, owned by the caller (which holds a users reference).
 * ERR_PTR.
 */
struct iommufd_device *iommufd_device_bind(struct uiommufd_ctx *ctx,
					   unsigned int flags, u32 dev_flags);
/* Unbind: detach if attached, then destroy. Cannot fail. */
void iommufd_device_unbind(struct iommufd_device *idev);
/*
 * Attach @pasid of the device (IOMMU_NO_PASID: its RID) to *pt_id: an
 * IOAS (a compatible auto HW pagetable is found or made) or a HW
 * pagetable, paging or nested; *pt_id becomes the HW pagetable's ID.
 * EBUSY when already attached.
 */
int iommufd_device_attach(struct iommufd_device *idev, u32 pasid, u32 *pt_id,
			  unsigned int flags);
/*
 * Move an attached @pasid to *pt_id (as attach) with no moment detached:
 * on failure it stays where it was. The old HW pagetable loses the
 * device (an auto one goes with its last device).
 */
int iommufd_device_replace(struct iommufd_device *idev, u32 pasid,
			   u32 *pt_id);
/* Detach @pasid if attached. Cannot fail. */
void iommufd_device_detach(struct iommufd_device *idev, u32 pasid);
/* Detach every PASID, then the RID. Cannot fail. */
void iommufd_device_detach_all(struct iommufd_device *idev);
/*
 * What @pasid is attached to now (NULL: nothing); only as a value to
 * compare, the reference is not the caller's.
 */
struct iommufd_hw_pagetable *
iommufd_device_attached(struct iommufd_device *idev, u32 pasid);
void iommufd_device_destroy(struct iommufd_object *obj);

int iommufd_get_hw_info(struct iommufd_ucmd *ucmd);

/* ---- accesses (access.c) ---- */

struct uiommufd_access {
	struct iommufd_object obj;
	struct uiommufd_ctx *ctx;
	/*
	 * Read-held by pin, unpin and rw; written by a move to another IOAS
	 * around (never across) its unmap callback, which unpins.
	 */
	pthread_rwlock_t lock;
	struct iommufd_ioas *ioas;
	/* Pins and rw go here; NULL while a move is under way. */
	struct iopt_access *iopt_access;
	/* Unpins go here: the old IOAS's until a move completes. */
	struct iopt_access *iopt_unpin;
	bool moving;
	struct uiommufd_access_ops ops;
	struct iopt_access_ops iopt_ops;
	void *data;
};

void iommufd_access_destroy_object(struct iommufd_object *obj);
/* Move @access to IOAS @ioas_id (uiommufd_access_replace()). */
int iommufd_access_replace(struct uiommufd_access *access, u32 ioas_id);
/* As uiommufd_access_unpin_pages(), keeping the caller's reason. */
int iommufd_access_unpin_pages(struct uiommufd_access *access, u64 iova,
			       u64 length);
/* As uiommufd_access_rw() with the engine's IOMMUFD_ACCESS_RW_* flags. */
int iommufd_access_rw(struct uiommufd_access *access, u64 iova, void *data,
		      u64 length, unsigned int iopt_flags);

/* ---- test module (selftest.c) ---- */

int iommufd_test(struct iommufd_ucmd *ucmd);
/*
 * MOCK_FLAGS_ACCESS_SYZ in @flags: *iova is {u32 nth area, u32 offset}
 * in IOAS @ioas_id, made an IOVA (0 if there is no such area); the flag
 * is taken out, as the kernel's test module does for fuzzers.
 */
void iommufd_test_syz_conv_iova_id(struct uiommufd_ctx *ctx, u32 ioas_id,
				   u64 *iova, u32 *flags);
void iommufd_selftest_destroy(struct iommufd_object *obj);

/* ---- vIOMMUs, vdevices and HW queues (viommu.c) ---- */

/*
 * A virtual IOMMU: a VM's view of the one mock IOMMU, on a nesting parent
 * paging HW pagetable it holds. Nested HW pagetables may sit on it, its
 * vdevices name the devices behind it, and HW queues read guest memory
 * through its parent's IOAS.
 */
struct iommufd_viommu {
	struct iommufd_object obj;
	struct uiommufd_ctx *ctx;
	const void *iommu_dev;		/* the physical IOMMU behind it */
	struct iommufd_hwpt_paging *hwpt;	/* holds a users reference */
	u32 type;
	/* Guards vdevs, hw_queue[] and veventqs; after a device's lock. */
	pthread_mutex_t lock;
	struct index_store vdevs;	/* virt_id -> struct iommufd_vdevice */
	struct iommufd_hw_queue *hw_queue[IOMMU_TEST_HW_QUEUE_MAX];
	/* Its vEVENTQs, one per type, each holding it (guarded by lock). */
	struct iommufd_veventq *veventqs;
	/* The mock's page pair the caller may mmap(), when data was given. */
	bool has_mmap;
	u64 mmap_offset;
	atomic_int mmap_fd;	/* registered in private_fd.h */
	u32 *page;
};

/* A device as a VM knows it behind a vIOMMU: virt_id. */
struct iommufd_vdevice {
	struct iommufd_object obj;
	struct iommufd_viommu *viommu;	/* holds a users reference */
	/* Not a reference: the device tombstones its vdevice first. */
	struct iommufd_device *idev;
	u64 virt_id;
};

/* A queue the IOMMU reads from guest memory pinned in the parent's IOAS. */
struct iommufd_hw_queue {
	struct iommufd_object obj;
	struct iommufd_viommu *viommu;	/* holds a users reference */
	struct iopt_access *access;	/* pins [base_addr, +length) */
	u64 base_addr;
	u64 length;
	u32 type;
	u32 index;
	/* The queue it depends on (holds a users reference), or NULL. */
	struct iommufd_hw_queue *prev;
};

static inline struct iommufd_viommu *iommufd_get_viommu(struct uiommufd_ctx *ctx,
							 u32 id)
{
	struct iommufd_object *obj =
		iommufd_get_object(ctx, id, IOMMUFD_OBJ_VIOMMU);

	if (IS_ERR(obj))
		return ERR_CAST(obj);
	return container_of(obj, struct iommufd_viommu, obj);
}

/* The physical IOMMU instance behind a device: there is one mock IOMMU. */
const void *iommufd_device_iommu_dev(struct iommufd_device *idev);

int iommufd_viommu_alloc_ioctl(struct iommufd_ucmd *ucmd);
void iommufd_viommu_destroy(struct iommufd_object *obj);
int iommufd_vdevice_alloc_ioctl(struct iommufd_ucmd *ucmd);
void iommufd_vdevice_destroy(struct iommufd_object *obj);
int iommufd_hw_queue_alloc_ioctl(struct iommufd_ucmd *ucmd);
void iommufd_hw_queue_destroy(struct iommufd_object *obj);
/*
 * IOMMU_HWPT_INVALIDATE on a vIOMMU: entries handled go in *done (none
 * when one cannot be read), as the mock vIOMMU's cache invalidation.
 */
int iommufd_viommu_invalidate(struct iommufd_viommu *viommu,
			      const struct iommu_hwpt_invalidate *cmd,
			      u32 *done);
/*
 * Before a device goes: its vdevice, if any, is destroyed and its ID
 * left a tombstone (never found, never reused). Cannot fail.
 */
void iommufd_device_remove_vdev(struct iommufd_device *idev);

/* ---- mmap() of a context (mmap.c) ---- */

/*
 * A region of @length bytes of the library's descriptor in *@fd (from
 * offset 0; private_fd.h) that mmap() of the
 * context reaches at the returned *offset, the lowest free from the
 * second page on; each mapping holds a users reference on @owner.
 */
int iommufd_mmap_alloc(struct uiommufd_ctx *ctx, struct iommufd_object *owner,
		       atomic_int *fd, u64 length, u64 *offset);
void iommufd_mmap_destroy(struct uiommufd_ctx *ctx, u64 offset);

/* ---- VFIO type1 compatibility (vfio_compat.c) ---- */

int iommufd_vfio_ioctl(struct uiommufd_ctx *ctx, unsigned long cmd, u64 arg);

#endif
