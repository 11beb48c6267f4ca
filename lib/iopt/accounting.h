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
 * Charge @npages against @limit pages (IOPT_MEMLOCK_RLIMIT: the process's
 * RLIMIT_MEMLOCK); -ENOMEM (with a reason) when over the limit.
 */
int iopt_account_charge(enum iopt_account_mode mode, uid_t user, u64 npages,
			u64 limit);
/* Return a charge. Cannot fail. */
void iopt_account_uncharge(enum iopt_account_mode mode, uid_t user,
			   u64 npages);

u64 iopt_account_user_locked(uid_t user);
u64 iopt_account_process_locked(void);
u64 iopt_account_pinned(void);

#endif
