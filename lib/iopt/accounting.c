// SPDX-License-Identifier: MIT
#include "iopt/accounting.h"

#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/err_reason.h"
#include "base/mem.h"
#include "base/warn.h"

struct user_locked {
	uid_t user;
	u64 locked;
	struct user_locked *next;
};

static pthread_mutex_t acct_lock = PTHREAD_MUTEX_INITIALIZER;
static struct user_locked *users;
static u64 process_locked;
static u64 pinned;

static u64 memlock_limit_pages(u64 limit)
{
	struct rlimit rl;

	if (limit != IOPT_MEMLOCK_RLIMIT)
		return limit;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return U64_MAX;
	return rl.rlim_cur >> PAGE_SHIFT;
}

static struct user_locked *find_user(uid_t user)
{
	for (struct user_locked *u = users; u; u = u->next)
		if (u->user == user)
			return u;
	return NULL;
}

static int charge_locked(u64 *locked, u64 npages, u64 limit,
			 const char *whose)
{
	u64 total;

	limit = memlock_limit_pages(limit);

	if (__builtin_add_overflow(*locked, npages, &total) || total > limit)
		return err_reason(-ENOMEM,
				  "pinning %llu more pages would put the %s's locked memory at %llu pages, over its memlock limit (%llu pages)",
				  (unsigned long long)npages, whose,
				  (unsigned long long)total,
				  (unsigned long long)limit);
	*locked = total;
	return 0;
}

int iopt_account_charge(enum iopt_account_mode mode, uid_t user, u64 npages,
			u64 limit)
{
	struct user_locked *u;
	int rc = 0;

	pthread_mutex_lock(&acct_lock);
	switch (mode) {
	case IOPT_PAGES_ACCOUNT_NONE:
		break;
	case IOPT_PAGES_ACCOUNT_USER:
		u = find_user(user);
		if (!u) {
			u = mem_zalloc(sizeof(*u));
			if (!u) {
				rc = -ENOMEM;
				break;
			}
			u->user = user;
			u->next = users;
			users = u;
		}
		rc = charge_locked(&u->locked, npages, limit, "user");
		if (rc && !u->locked) {
			/* Do not keep an entry this call created. */
			users = u->next;
			mem_free(u);
		}
		break;
	case IOPT_PAGES_ACCOUNT_MM:
		rc = charge_locked(&process_locked, npages, limit, "process");
		break;
	}
	if (!rc)
		pinned += npages;
	pthread_mutex_unlock(&acct_lock);
	return rc;
}

void iopt_account_uncharge(enum iopt_account_mode mode, uid_t user,
			   u64 npages)
{
	struct user_locked *u, **link;

	pthread_mutex_lock(&acct_lock);
	switch (mode) {
	case IOPT_PAGES_ACCOUNT_NONE:
		break;
	case IOPT_PAGES_ACCOUNT_USER:
		for (link = &users; (u = *link); link = &u->next)
			if (u->user == user)
				break;
		if (WARN_ON(!u || u->locked < npages))
			break;
		u->locked -= npages;
		if (!u->locked) {
			*link = u->next;
			mem_free(u);
		}
		break;
	case IOPT_PAGES_ACCOUNT_MM:
		if (!WARN_ON(process_locked < npages))
			process_locked -= npages;
		break;
	}
	if (!WARN_ON(pinned < npages))
		pinned -= npages;
	pthread_mutex_unlock(&acct_lock);
}

u64 iopt_account_user_locked(uid_t user)
{
	struct user_locked *u;
	u64 locked;

	pthread_mutex_lock(&acct_lock);
	u = find_user(user);
	locked = u ? u->locked : 0;
	pthread_mutex_unlock(&acct_lock);
	return locked;
}

u64 iopt_account_process_locked(void)
{
	u64 locked;

	pthread_mutex_lock(&acct_lock);
	locked = process_locked;
	pthread_mutex_unlock(&acct_lock);
	return locked;
}

u64 iopt_account_pinned(void)
{
	u64 n;

	pthread_mutex_lock(&acct_lock);
	n = pinned;
	pthread_mutex_unlock(&acct_lock);
	return n;
}
