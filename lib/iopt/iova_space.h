/* SPDX-License-Identifier: MIT */
/*
 * The IOVA space policy of an io_pagetable, for the engine's own use: all
 * of these expect iova_rwsem held (for writing where they change things).
 */
#ifndef UIOMMUFD_IOPT_IOVA_SPACE_H
#define UIOMMUFD_IOPT_IOVA_SPACE_H

#include "iopt/io_pagetable.h"

/* Largest alignment automatic allocation asks for: a huge page. */
#define IOPT_MAX_AUTO_ALIGNMENT (2ULL << 20)

/*
 * Choose an IOVA for @length bytes whose first byte is at user address
 * @addr (0 when there is none): -ENOSPC, -EINVAL (the address cannot meet
 * the IOAS alignment), -EOVERFLOW.
 */
int iopt_alloc_iova(struct io_pagetable *iopt, u64 *iova, u64 addr,
		    u64 length);
/* A fixed IOVA: -EINVAL (alignment, reserved), -EEXIST (an area). */
int iopt_check_iova(struct io_pagetable *iopt, u64 iova, u64 length);

/* Locked forms of the public calls; domains_rwsem and iova_rwsem held. */
int iopt_reserve_iova_locked(struct io_pagetable *iopt, u64 start, u64 last,
			     void *owner);
void iopt_remove_reserved_iova_locked(struct io_pagetable *iopt, void *owner);

/*
 * -EADDRINUSE unless every area's IOVA, length and sub-page offset are
 * multiples of @align.
 */
int iopt_check_iova_alignment(struct io_pagetable *iopt, u64 align);
/*
 * Recompute the alignment from the domains, the accesses and the large
 * page setting; a rise that existing areas would violate fails.
 */
int iopt_calculate_iova_alignment(struct io_pagetable *iopt, u64 extra);

#endif
