/* SPDX-License-Identifier: MIT */
/*
 * Per-user locked pages counted across the processes of one session: the
 * program uiommufd-run started, its children, their brokers and the images
 * they exec (UIOMMUFD_ACCOUNT_FD names the session's file, which they
 * inherit). The kernel counts a user's locked pages across every process;
 * the processes of a session do the same among themselves, so a limit
 * holds for a user whose pins are spread over a program, its children and
 * the brokers of their shared contexts. A process outside a session
 * counts its own (the caller keeps that count).
 */
#ifndef UIOMMUFD_BASE_USER_LOCKED_H
#define UIOMMUFD_BASE_USER_LOCKED_H

#include <sys/types.h>

#include "base/common.h"

/* Whether this process is in a session. */
bool user_locked_shared(void);
/*
 * Charge @npages to @uid against @limit pages: 0, -ENOMEM over the limit
 * (*total: what the user's pages would have come to), -ENOENT outside a
 * session.
 */
int user_locked_charge(uid_t uid, u64 npages, u64 limit, u64 *total);
void user_locked_uncharge(uid_t uid, u64 npages);
/*
 * Take over @npages another process charged and will refund (a broker,
 * for the pages of the context it was forked to serve): no limit check.
 */
void user_locked_adopt(uid_t uid, u64 npages);
/* The user's pages, every live process of the session's. */
u64 user_locked_total(uid_t uid);

/* A new session's file (for uiommufd-run): a descriptor, or -errno. */
int user_locked_session_create(void);

#endif
