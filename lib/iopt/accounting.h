/* SPDX-License-Identifier: MIT */
/*
 * Pinned-page accounting, process wide, as the kernel keeps it: pinned_vm
 * counts every pinned page; in USER mode pages are also charged to the
 * user's locked_vm, in MM mode (VFIO compatibility) to the process's, both
 * against RLIMIT_MEMLOCK or the limit given. NONE charges nothing
 * (the caller decides: the kernel exempts CAP_IPC_LOCK holders).
 */
#ifndef UIOMMUFD_IOPT_ACCOUNTING_H
#define UIOMMUFD_IOPT_ACCOUNTING_H

#include <sys/types.h>

#include "iopt/pages.h"

/*
 * Charge @npages pinned for process @pid against @limit pages
 * (IOPT_MEMLOCK_RLIMIT: @pid's RLIMIT_MEMLOCK); -ENOMEM (with a reason)
 * when over the limit.
 */
int iopt_account_charge(enum iopt_account_mode mode, uid_t user, pid_t pid,
			u64 npages, u64 limit);
/* Return a charge. Cannot fail. */
void iopt_account_uncharge(enum iopt_account_mode mode, uid_t user, pid_t pid,
			   u64 npages);

u64 iopt_account_user_locked(uid_t user);
/* MM mode's charge and the pinned pages of @pid, or of this process. */
u64 iopt_account_process_locked_of(pid_t pid);
u64 iopt_account_process_pinned_of(pid_t pid);
u64 iopt_account_process_locked(void);
/* Pinned pages, every process's. */
u64 iopt_account_pinned(void);

/*
 * IOMMU_IOAS_CHANGE_PROCESS's move: the calling process (process_user())
 * and @user take the charges of the @n distinct @list pages (against
 * @limit pages, as iopt_account_charge()) and become their source; the
 * old charges are refunded. The caller keeps every pin still (holds
 * every IOAS's iova lock). All or nothing: 0, or -ENOMEM with nothing
 * changed.
 */
int iopt_account_move_pages(struct iopt_pages **list, size_t n, uid_t user,
			    u64 limit);

#endif
