// SPDX-License-Identifier: MIT
/*
 * IOAS objects and the commands on them: alloc, allow IOVAs, IOVA ranges,
 * map, copy, unmap, and the per-IOAS option.
 */
#include <errno.h>
#include <linux/capability.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/mem.h"
#include "base/process.h"
#include "base/warn.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/user_copy.h"
#include "iopt/accounting.h"
#include "uiommufd/iommufd_test_uapi.h"

struct iommufd_ioas *iommufd_ioas_alloc(struct uiommufd_ctx *ctx)
{
	struct iommufd_ioas *ioas;

	ioas = iommufd_object_alloc(ctx, ioas, obj, IOMMUFD_OBJ_IOAS);
	if (IS_ERR(ioas))
		return ioas;
	iopt_init_table(&ioas->iopt);
	ioas->iopt.memlock_limit = iommufd_memlock_limit(ctx);
	pthread_mutex_init(&ioas->mutex, NULL);
	return ioas;
}

void iommufd_ioas_destroy(struct iommufd_object *obj)
{
	struct iommufd_ioas *ioas = container_of(obj, struct iommufd_ioas, obj);

	/* Nothing depends on it: no domain, no access. Areas go with it. */
	WARN_ON(ioas->hwpt_list);
	WARN_ON(iopt_unmap_all(&ioas->iopt, NULL));
	iopt_destroy_table(&ioas->iopt);
	pthread_mutex_destroy(&ioas->mutex);
}

int iommufd_ioas_alloc_ioctl(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_alloc *cmd = ucmd->cmd;
	struct iommufd_ioas *ioas;
	int rc;

	if (cmd->flags)
		return err_reason(-EOPNOTSUPP, "unknown flags %#x", cmd->flags);
	ioas = iommufd_ioas_alloc(ucmd->ctx);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);
	cmd->out_ioas_id = ioas->obj.id;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc) {
		iommufd_object_abort_and_destroy(ucmd->ctx, &ioas->obj);
		return rc;
	}
	iommufd_object_finalize(ucmd->ctx, &ioas->obj);
	return 0;
}

int iommufd_ioas_iova_ranges(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_iova_ranges *cmd = ucmd->cmd;
	struct iova_range *ranges = NULL;
	struct iommu_iova_range out;
	struct iommufd_ioas *ioas;
	size_t nr, filled;
	u32 max_iovas = cmd->num_iovas;
	int rc;

	if (cmd->__reserved)
		return err_reason(-EOPNOTSUPP, "__reserved is not zero");
	ioas = iommufd_get_ioas(ucmd->ctx, cmd->ioas_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);

	/*
	 * Snapshot under the engine's lock, copy out with no lock held; with
	 * nowhere to copy to, only the count is needed.
	 */
	if (!max_iovas) {
		nr = iopt_usable_ranges(&ioas->iopt, NULL, 0);
	} else {
		ranges = iopt_usable_ranges_copy(&ioas->iopt, &nr);
		if (IS_ERR(ranges)) {
			rc = PTR_ERR(ranges);
			goto out_put;
		}
	}
	cmd->out_iova_alignment = iopt_iova_alignment(&ioas->iopt);
	filled = min((size_t)max_iovas, nr);
	for (size_t i = 0; i != filled; i++) {
		out.start = ranges[i].start;
		out.last = ranges[i].last;
		rc = copy_to_user(cmd->allowed_iovas + i * sizeof(out), &out,
				  sizeof(out), "allowed_iovas");
		if (rc)
			goto out_free;
	}
	cmd->num_iovas = nr;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
	if (rc)
		goto out_free;
	if (nr > max_iovas)
		rc = err_reason(-EMSGSIZE,
				"%zu ranges do not fit the %u entries given",
				nr, max_iovas);
out_free:
	mem_free(ranges);
out_put:
	iommufd_put_object(ucmd->ctx, &ioas->obj);
	return rc;
}

/* Free the nodes of a tree of struct interval_tree_node allocations. */
static void free_range_tree(struct rb_root_cached *tree)
{
	struct interval_tree_node *node;

	while ((node = interval_tree_iter_first(tree, 0, U64_MAX))) {
		interval_tree_remove(node, tree);
		mem_free(node);
	}
}

int iommufd_ioas_allow_iovas(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_allow_iovas *cmd = ucmd->cmd;
	struct rb_root_cached tree = RB_ROOT_CACHED_INIT;
	struct iova_range *ranges = NULL;
	struct interval_tree_node *node;
	struct iommufd_ioas *ioas;
	size_t nr = 0;
	int rc = 0;

	if (cmd->__reserved)
		return err_reason(-EOPNOTSUPP, "__reserved is not zero");
	ioas = iommufd_get_ioas(ucmd->ctx, cmd->ioas_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);

	/*
	 * Range by range, as the kernel reads them: a bad pointer is EFAULT
	 * however many ranges it claims.
	 */
	for (u32 i = 0; i != cmd->num_iovas; i++) {
		struct iommu_iova_range range;

		rc = copy_from_user(&range,
				    cmd->allowed_iovas + (u64)i * sizeof(range),
				    sizeof(range), "allowed_iovas");
		if (rc)
			goto out_free;
		/* As the kernel: a range is at least two bytes long. */
		if (range.start >= range.last) {
			rc = err_reason(-EINVAL,
					"allowed range %u [%#llx, %#llx] has start >= last",
					i, (unsigned long long)range.start,
					(unsigned long long)range.last);
			goto out_free;
		}
		if (interval_tree_iter_first(&tree, range.start, range.last)) {
			rc = err_reason(-EINVAL,
					"allowed range %u [%#llx, %#llx] overlaps an earlier one",
					i, (unsigned long long)range.start,
					(unsigned long long)range.last);
			goto out_free;
		}
		node = mem_zalloc(sizeof(*node));
		if (!node) {
			rc = -ENOMEM;
			goto out_free;
		}
		node->start = range.start;
		node->last = range.last;
		interval_tree_insert(node, &tree);
	}
	if (cmd->num_iovas) {
		ranges = mem_calloc(cmd->num_iovas, sizeof(*ranges));
		if (!ranges) {
			rc = -ENOMEM;
			goto out_free;
		}
		for (node = interval_tree_iter_first(&tree, 0, U64_MAX); node;
		     node = interval_tree_iter_next(node, 0, U64_MAX)) {
			ranges[nr].start = node->start;
			ranges[nr].last = node->last;
			nr++;
		}
	}
	rc = iopt_set_allow_iova(&ioas->iopt, ranges, nr);
out_free:
	mem_free(ranges);
	free_range_tree(&tree);
	iommufd_put_object(ucmd->ctx, &ioas->obj);
	return rc;
}

static int conv_iommu_prot(u32 map_flags)
{
	int prot = 0;

	/* Every mapping is coherent here; the kernel adds IOMMU_CACHE. */
	if (map_flags & IOMMU_IOAS_MAP_WRITEABLE)
		prot |= IOMMU_WRITE;
	if (map_flags & IOMMU_IOAS_MAP_READABLE)
		prot |= IOMMU_READ;
	return prot;
}

/*
 * How pages pinned through this context are charged, as the kernel
 * decides at each map: nothing for a caller holding CAP_IPC_LOCK;
 * otherwise the user, or the process when the context says so
 * (RLIMIT_MODE 1, or a context opened as /dev/vfio/vfio).
 */
enum iopt_account_mode iommufd_ctx_account_mode(struct uiommufd_ctx *ctx)
{
	if (iommufd_capable(ctx, CAP_IPC_LOCK))
		return IOPT_PAGES_ACCOUNT_NONE;
	if (ctx->account_mode == IOPT_PAGES_ACCOUNT_MM)
		return IOPT_PAGES_ACCOUNT_MM;
	return IOPT_PAGES_ACCOUNT_USER;
}

/*
 * Linux 6.2 made an area with no protection at all, if asked; a command
 * newer than the rule (@always) has it under every release.
 */
static int check_map_prot(struct uiommufd_ctx *ctx, u32 flags, bool always)
{
	if (!always && !iommufd_release_new(iommufd_release(ctx),
					    IOMMUFD_NEW_MAP_NEEDS_PROT))
		return 0;
	if (!(flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE)))
		return err_reason(-EINVAL,
				  "flags %#x have neither READABLE nor WRITEABLE (Linux %s)",
				  flags, iommufd_release(ctx)->name);
	return 0;
}

/* The kernel refuses these up front: ULONG_MAX is never a valid value. */
static int check_u64_args(u64 a, u64 b, u64 c)
{
	if (a == U64_MAX || b == U64_MAX || c == U64_MAX)
		return err_reason(-EOVERFLOW,
				  "an address or length of U64_MAX is out of range");
	return 0;
}

/*
 * What IOAS_MAP and IOAS_MAP_FILE check before the IOAS, in the kernel's
 * order: the flags, __reserved (MAP_FILE has none: 0), the addresses,
 * the protection (@prot_always: see check_map_prot()).
 */
static int check_map_args(struct uiommufd_ctx *ctx, u32 flags, u32 reserved,
			  u64 iova, u64 length, bool prot_always)
{
	int rc;

	rc = iommufd_check_flags(ctx, flags, IOMMUFD_FLAGS_IOAS_MAP);
	if (rc)
		return rc;
	if (reserved)
		return err_reason(-EOPNOTSUPP, "__reserved is not zero");
	rc = check_u64_args(iova, length, 0);
	if (rc)
		return rc;
	return check_map_prot(ctx, flags, prot_always);
}

/*
 * Write back the command of a map that made [iova, iova + length): a
 * caller that cannot learn the IOVA gets nothing mapped.
 */
static int respond_mapped(struct iommufd_ucmd *ucmd, size_t cmd_len,
			  struct iommufd_ioas *ioas, u64 iova, u64 length)
{
	int rc = iommufd_ucmd_respond(ucmd, cmd_len);

	if (rc)
		iopt_unmap_iova(&ioas->iopt, iova, length, NULL);
	return rc;
}

int iommufd_ioas_map(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_map *cmd = ucmd->cmd;
	unsigned int flags = 0;
	struct iommufd_ioas *ioas;
	u64 iova = cmd->iova;
	int rc;

	rc = check_map_args(ucmd->ctx, cmd->flags, cmd->__reserved, cmd->iova,
			    cmd->length, false);
	if (rc)
		return rc;
	ioas = iommufd_get_ioas(ucmd->ctx, cmd->ioas_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);

	if (!(cmd->flags & IOMMU_IOAS_MAP_FIXED_IOVA))
		flags = IOPT_ALLOC_IOVA;
	rc = iopt_map_user_pages(&ioas->iopt, &iova, cmd->user_va, cmd->length,
				 conv_iommu_prot(cmd->flags), flags,
				 iommufd_ctx_account_mode(ucmd->ctx));
	if (rc)
		goto out_put;
	cmd->iova = iova;
	rc = respond_mapped(ucmd, sizeof(*cmd), ioas, iova, cmd->length);
out_put:
	iommufd_put_object(ucmd->ctx, &ioas->obj);
	return rc;
}

int iommufd_ioas_copy(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_copy *cmd = ucmd->cmd;
	struct iommufd_ioas *src_ioas, *dst_ioas;
	unsigned int flags = 0;
	u64 iova = cmd->dst_iova;
	int rc;

	rc = iommufd_check_flags(ucmd->ctx, cmd->flags, IOMMUFD_FLAGS_IOAS_COPY);
	if (rc)
		return rc;
	if (cmd->flags & MOCK_FLAGS_ACCESS_SYZ) {
		u64 src_iova = cmd->src_iova;

		iommufd_test_syz_conv_iova_id(ucmd->ctx, cmd->src_ioas_id,
					      &src_iova, &cmd->flags);
		cmd->src_iova = src_iova;
	}
	rc = check_u64_args(cmd->length, cmd->src_iova, cmd->dst_iova);
	if (rc)
		return rc;
	rc = check_map_prot(ucmd->ctx, cmd->flags, false);
	if (rc)
		return rc;
	src_ioas = iommufd_get_ioas(ucmd->ctx, cmd->src_ioas_id);
	if (IS_ERR(src_ioas))
		return PTR_ERR(src_ioas);
	dst_ioas = iommufd_get_ioas(ucmd->ctx, cmd->dst_ioas_id);
	if (IS_ERR(dst_ioas)) {
		rc = PTR_ERR(dst_ioas);
		goto out_put_src;
	}
	if (!(cmd->flags & IOMMU_IOAS_MAP_FIXED_IOVA))
		flags = IOPT_ALLOC_IOVA;
	rc = iopt_copy_iova(&dst_ioas->iopt, &iova, &src_ioas->iopt,
			    cmd->src_iova, cmd->length,
			    conv_iommu_prot(cmd->flags), flags);
	if (rc)
		goto out_put_dst;
	cmd->dst_iova = iova;
	rc = respond_mapped(ucmd, sizeof(*cmd), dst_ioas, iova, cmd->length);
out_put_dst:
	iommufd_put_object(ucmd->ctx, &dst_ioas->obj);
out_put_src:
	iommufd_put_object(ucmd->ctx, &src_ioas->obj);
	return rc;
}

int iommufd_ioas_unmap(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_unmap *cmd = ucmd->cmd;
	struct iommufd_ioas *ioas;
	u64 unmapped = 0;
	int rc;

	ioas = iommufd_get_ioas(ucmd->ctx, cmd->ioas_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);

	if (cmd->iova == 0 && cmd->length == U64_MAX) {
		rc = iopt_unmap_all(&ioas->iopt, &unmapped);
	} else {
		rc = check_u64_args(cmd->iova, cmd->length, 0);
		if (!rc)
			rc = iopt_unmap_iova(&ioas->iopt, cmd->iova,
					     cmd->length, &unmapped);
	}
	if (rc)
		goto out_put;
	cmd->length = unmapped;
	rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
out_put:
	iommufd_put_object(ucmd->ctx, &ioas->obj);
	return rc;
}

int iommufd_ioas_option(struct iommufd_ucmd *ucmd)
{
	struct iommu_option *cmd = ucmd->cmd;
	struct iommufd_ioas *ioas;
	int rc = 0;

	if (cmd->__reserved)
		return err_reason(-EOPNOTSUPP, "__reserved is not zero");
	ioas = iommufd_get_ioas(ucmd->ctx, cmd->object_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);

	switch (cmd->op) {
	case IOMMU_OPTION_OP_GET:
		pthread_rwlock_rdlock(&ioas->iopt.iova_rwsem);
		cmd->val64 = !ioas->iopt.disable_large_pages;
		pthread_rwlock_unlock(&ioas->iopt.iova_rwsem);
		break;
	case IOMMU_OPTION_OP_SET:
		if (cmd->val64 == 0)
			rc = iopt_disable_large_pages(&ioas->iopt);
		else if (cmd->val64 == 1)
			iopt_enable_large_pages(&ioas->iopt);
		else
			rc = err_reason(-EINVAL,
					"HUGE_PAGES is 0 or 1, not %llu",
					(unsigned long long)cmd->val64);
		break;
	default:
		rc = err_reason(-EOPNOTSUPP, "unknown option op %u", cmd->op);
	}
	iommufd_put_object(ucmd->ctx, &ioas->obj);
	return rc;
}

/*
 * The kernel's order: flags, then U64_MAX values (start is not one of
 * them), then the protection, which MAP_FILE always needs, then the IOAS.
 */
int iommufd_ioas_map_file(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_map_file *cmd = ucmd->cmd;
	unsigned int flags = 0;
	struct iommufd_ioas *ioas;
	u64 iova = cmd->iova;
	int rc, fd;

	rc = check_map_args(ucmd->ctx, cmd->flags, 0, cmd->iova, cmd->length,
			    true);
	if (rc)
		return rc;
	ioas = iommufd_get_ioas(ucmd->ctx, cmd->ioas_id);
	if (IS_ERR(ioas))
		return PTR_ERR(ioas);

	if (!(cmd->flags & IOMMU_IOAS_MAP_FIXED_IOVA))
		flags = IOPT_ALLOC_IOVA;
	/*
	 * The caller's number, which may be another process's: none here
	 * (-1) fails as a bad descriptor, in the kernel's order.
	 */
	fd = process_user_fd(cmd->fd);
	rc = iopt_map_file_pages(&ioas->iopt, &iova, fd, cmd->start,
				 cmd->length, conv_iommu_prot(cmd->flags),
				 flags, iommufd_ctx_account_mode(ucmd->ctx));
	if (rc)
		goto out_put;
	cmd->iova = iova;
	rc = respond_mapped(ucmd, sizeof(*cmd), ioas, iova, cmd->length);
out_put:
	iommufd_put_object(ucmd->ctx, &ioas->obj);
	return rc;
}

/* An array of @n elements of @size bytes with room for @more: NULL if not. */
static void *grow_array(void *arr, size_t n, size_t more, size_t size)
{
	void *bigger = mem_calloc(more, size);

	if (bigger && n)
		memcpy(bigger, arr, n * size);
	if (bigger)
		mem_free(arr);
	return bigger;
}

/* The IOASes of @ctx, each held, in ID order: how many, or -ENOMEM. */
static int hold_all_ioas(struct uiommufd_ctx *ctx, struct iommufd_ioas ***out)
{
	struct iommufd_ioas **list = NULL;
	struct iommufd_object *obj;
	size_t n = 0, room = 0;
	u64 index;

	pthread_mutex_lock(&ctx->lock);
	index_store_for_each(&ctx->objects, index, obj) {
		if (obj == INDEX_STORE_RESERVED || obj->type != IOMMUFD_OBJ_IOAS)
			continue;
		if (n == room) {
			size_t more = room ? 2 * room : 8;
			void *bigger = grow_array(list, n, more,
						  sizeof(*list));

			if (!bigger) {
				pthread_mutex_unlock(&ctx->lock);
				while (n)
					iommufd_put_object(ctx,
							   &list[--n]->obj);
				mem_free(list);
				return -ENOMEM;
			}
			list = bigger;
			room = more;
		}
		atomic_fetch_add(&obj->shortterm, 1);
		list[n++] = container_of(obj, struct iommufd_ioas, obj);
	}
	pthread_mutex_unlock(&ctx->lock);
	*out = list;
	return n;
}

/* Add @pages to @list unless it is there already: 0 or -ENOMEM. */
static int add_pages_once(struct iopt_pages ***list, size_t *n, size_t *room,
			  struct iopt_pages *pages)
{
	for (size_t i = 0; i != *n; i++)
		if ((*list)[i] == pages)
			return 0;
	if (*n == *room) {
		size_t more = *room ? 2 * *room : 16;
		void *bigger = grow_array(*list, *n, more, sizeof(**list));

		if (!bigger)
			return -ENOMEM;
		*list = bigger;
		*room = more;
	}
	(*list)[(*n)++] = pages;
	return 0;
}

/*
 * As the kernel: every IOAS is frozen (its iova lock held for writing, in
 * ID order), every mapping must be of a file (IOAS_MAP_FILE), and the
 * calling process takes every charge, all or nothing.
 */
int iommufd_ioas_change_process(struct iommufd_ucmd *ucmd)
{
	struct iommu_ioas_change_process *cmd = ucmd->cmd;
	struct uiommufd_ctx *ctx = ucmd->ctx;
	struct iopt_pages **pages = NULL;
	size_t npages = 0, room = 0;
	struct iommufd_ioas **ioas;
	struct iopt_area *area;
	int n, rc = 0;

	if (cmd->__reserved)
		return err_reason(-EOPNOTSUPP, "__reserved is %u, not 0",
				  cmd->__reserved);
	n = hold_all_ioas(ctx, &ioas);
	if (n < 0)
		return n;
	for (int i = 0; i != n; i++)
		pthread_rwlock_wrlock(&ioas[i]->iopt.iova_rwsem);

	for (int i = 0; i != n && !rc; i++) {
		struct io_pagetable *iopt = &ioas[i]->iopt;

		for (area = iopt_area_iter_first(iopt, 0, U64_MAX); area;
		     area = iopt_area_iter_next(area, 0, U64_MAX)) {
			if (!area->pages) {
				rc = err_reason(-EBUSY,
						"IOAS %u: a mapping at %#llx is being changed",
						ioas[i]->obj.id,
						(unsigned long long)iopt_area_iova(area));
				break;
			}
			if (area->pages->type != IOPT_ADDRESS_FILE) {
				rc = err_reason(-EINVAL,
						"IOAS %u: the mapping at %#llx is not of a file (IOMMU_IOAS_MAP_FILE)",
						ioas[i]->obj.id,
						(unsigned long long)iopt_area_iova(area));
				break;
			}
			rc = add_pages_once(&pages, &npages, &room,
					    area->pages);
			if (rc)
				break;
		}
	}
	if (!rc && npages)
		rc = iopt_account_move_pages(pages, npages, getuid(),
					     iommufd_memlock_limit(ctx));

	for (int i = n; i--;) {
		pthread_rwlock_unlock(&ioas[i]->iopt.iova_rwsem);
		iommufd_put_object(ctx, &ioas[i]->obj);
	}
	mem_free(ioas);
	mem_free(pages);
	return rc;
}

void iommufd_ctx_for_each_pages(struct uiommufd_ctx *ctx,
				void (*fn)(struct iopt_pages *pages, void *arg),
				void *arg)
{
	struct iommufd_ioas **ioas = NULL;
	struct iopt_area *area;
	int n = hold_all_ioas(ctx, &ioas);

	for (int i = 0; i < n; i++) {
		struct io_pagetable *iopt = &ioas[i]->iopt;

		pthread_rwlock_rdlock(&iopt->iova_rwsem);
		for (area = iopt_area_iter_first(iopt, 0, U64_MAX); area;
		     area = iopt_area_iter_next(area, 0, U64_MAX))
			if (area->pages)
				fn(area->pages, arg);
		pthread_rwlock_unlock(&iopt->iova_rwsem);
		iommufd_put_object(ctx, &ioas[i]->obj);
	}
	if (n > 0)
		mem_free(ioas);
}
