// SPDX-License-Identifier: MIT
#include "iopt/pin_count.h"

#include <errno.h>
#include <stdlib.h>

#include "base/err_ptr.h"
#include "base/mem.h"
#include "iopt/pages.h"

struct pfn_slot {
	u64 pfn;
	u64 pos;
};

struct count_ctx {
	struct pfn_slot *slots;
	u64 n;
	u64 *counts;
};

static int cmp_slot(const void *a, const void *b)
{
	const struct pfn_slot *x = a, *y = b;

	return x->pfn < y->pfn ? -1 : x->pfn > y->pfn;
}

/* Count one held PFN against every query slot naming it. */
static void count_pfn(struct count_ctx *ctx, u64 pfn)
{
	u64 lo = 0, hi = ctx->n;

	while (lo < hi) {
		u64 mid = lo + (hi - lo) / 2;

		if (ctx->slots[mid].pfn < pfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo != ctx->n && ctx->slots[lo].pfn == pfn; lo++)
		ctx->counts[ctx->slots[lo].pos]++;
}

static void count_index_store(struct count_ctx *ctx, struct iopt_pages *pages,
			      u64 first, u64 last)
{
	for (u64 i = first; i <= last; i++)
		count_pfn(ctx, index_store_value(
				       index_store_load(&pages->pinned_pfns, i)));
}

static void count_domains(struct count_ctx *ctx, struct iopt_pages *pages,
			  u64 first, u64 last)
{
	while (first <= last) {
		struct interval_tree_node *node = interval_tree_iter_first(
			&pages->domains_itree, first, first);
		struct iopt_area *area;
		u64 upto;

		if (!node)
			return;
		area = container_of(node, struct iopt_area, pages_node);
		upto = min(node->last, last);
		while (first <= upto) {
			u64 pfn, n;

			n = iopt_area_domain_pfn_run(area->storage_domain, area,
						     first, upto, &pfn);
			for (u64 i = 0; i != n; i++)
				count_pfn(ctx, pfn + i);
			first += n;
		}
	}
}

/* Each pinned index of @pages counts once, from whichever tier holds it. */
static void count_pages(struct iopt_pages *pages, void *arg)
{
	struct interval_tree_double_span_iter span;
	struct count_ctx *ctx = arg;

	pthread_mutex_lock(&pages->mutex);
	/* A dma-buf's memory is mapped, never pinned. */
	if (pages->npages && !pages->dmabuf)
		interval_tree_for_each_double_span(&span,
						   &pages->access_itree,
						   &pages->domains_itree, 0,
						   pages->npages - 1) {
			if (span.is_used == 1)
				count_index_store(ctx, pages, span.start,
						  span.last);
			else if (span.is_used == 2)
				count_domains(ctx, pages, span.start,
					      span.last);
		}
	pthread_mutex_unlock(&pages->mutex);
}

int iopt_pin_counts(const u64 *pfns, u64 n, u64 *counts)
{
	struct count_ctx ctx = { .n = n, .counts = counts };

	ctx.slots = mem_calloc(n ? n : 1, sizeof(*ctx.slots));
	if (!ctx.slots)
		return -ENOMEM;
	for (u64 i = 0; i != n; i++) {
		ctx.slots[i].pfn = pfns[i];
		ctx.slots[i].pos = i;
		counts[i] = 0;
	}
	qsort(ctx.slots, n, sizeof(*ctx.slots), cmp_slot);
	iopt_pages_for_each_live(count_pages, &ctx);
	mem_free(ctx.slots);
	return 0;
}

int iopt_pin_counts_user(u64 uptr, u64 length, u64 *counts)
{
	struct pfn_source *src = pfn_source_user_create(uptr, length);
	u64 *pfns;
	int rc;

	if (IS_ERR(src))
		return PTR_ERR(src);
	pfns = mem_calloc(src->npages, sizeof(*pfns));
	if (!pfns) {
		rc = -ENOMEM;
		goto out_src;
	}
	rc = src->ops->identify(src, 0, src->npages, pfns);
	if (!rc)
		rc = iopt_pin_counts(pfns, src->npages, counts);
	mem_free(pfns);
out_src:
	pfn_source_destroy(src);
	return rc;
}
