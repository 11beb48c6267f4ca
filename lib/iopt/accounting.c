// SPDX-License-Identifier: MIT
#include "iopt/accounting.h"

#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/err_reason.h"
#include "base/fault_inject.h"
#include "base/mem.h"
#include "base/process.h"
#include "base/user_locked.h"
#include "base/warn.h"

struct user_locked {
	uid_t user;
	u64 locked;
	struct user_locked *next;
};

/*
 * What one process is charged: its locked memory (MM mode) and its
 * pinned pages (every mode but NONE), as the kernel's mm->locked_vm and
 * mm->pinned_vm. A process other than this one is a client of a broker.
 */
struct process_locked {
	pid_t pid;
	u64 locked;
	u64 pinned;
	struct process_locked *next;
};

static pthread_mutex_t acct_lock = PTHREAD_MUTEX_INITIALIZER;
static struct user_locked *users;
static struct process_locked *processes;
static u64 pinned;

/* @pid's RLIMIT_MEMLOCK in pages (our own when @pid's cannot be read). */
static u64 memlock_limit_pages(u64 limit, pid_t pid)
{
	struct rlimit rl;

	if (limit != IOPT_MEMLOCK_RLIMIT)
		return limit;
	if (pid == process_self() || prlimit(pid, RLIMIT_MEMLOCK, NULL, &rl))
		if (getrlimit(RLIMIT_MEMLOCK, &rl))
			return U64_MAX;
	if (rl.rlim_cur == RLIM_INFINITY)
		return U64_MAX;
	return rl.rlim_cur >> PAGE_SHIFT;
}

static struct process_locked *find_process(pid_t pid)
{
	for (struct process_locked *p = processes; p; p = p->next)
		if (p->pid == pid)
			return p;
	return NULL;
}

/* Unlink and free @pid's entry once nothing is charged to it. */
static void process_maybe_free(pid_t pid)
{
	struct process_locked *p, **link;

	for (link = &processes; (p = *link); link = &p->next) {
		if (p->pid != pid)
			continue;
		if (!p->locked && !p->pinned) {
			*link = p->next;
			mem_free(p);
		}
		return;
	}
}

static struct user_locked *find_user(uid_t user)
{
	for (struct user_locked *u = users; u; u = u->next)
		if (u->user == user)
			return u;
	return NULL;
}

static int charge_locked(u64 *locked, u64 npages, u64 limit, pid_t pid,
			 const char *whose)
{
	u64 total;

	limit = memlock_limit_pages(limit, pid);

	if (__builtin_add_overflow(*locked, npages, &total) || total > limit)
		return err_reason(-ENOMEM,
				  "pinning %llu more pages would put the %s's locked memory at %llu pages, over its memlock limit (%llu pages)",
				  (unsigned long long)npages, whose,
				  (unsigned long long)total,
				  (unsigned long long)limit);
	*locked = total;
	return 0;
}

int iopt_account_charge(enum iopt_account_mode mode, uid_t user, pid_t pid,
			u64 npages, u64 limit)
{
	struct process_locked *p = NULL;
	struct user_locked *u;
	int rc = 0;

	if (mode == IOPT_PAGES_ACCOUNT_NONE) {
		pthread_mutex_lock(&acct_lock);
		pinned += npages;
		pthread_mutex_unlock(&acct_lock);
		return 0;
	}
	pthread_mutex_lock(&acct_lock);
	p = find_process(pid);
	if (!p) {
		p = mem_zalloc(sizeof(*p));
		if (!p) {
			rc = -ENOMEM;
			goto out;
		}
		p->pid = pid;
		p->next = processes;
		processes = p;
	}
	switch (mode) {
	case IOPT_PAGES_ACCOUNT_NONE:
		break;
	case IOPT_PAGES_ACCOUNT_USER:
		if (user_locked_shared()) {
			u64 total, lim = memlock_limit_pages(limit, pid);

			rc = user_locked_charge(user, npages, lim, &total);
			if (rc == -ENOMEM)
				rc = err_reason(-ENOMEM,
						"pinning %llu more pages would put the user's locked memory at %llu pages (every process of the session), over its memlock limit (%llu pages)",
						(unsigned long long)npages,
						(unsigned long long)total,
						(unsigned long long)lim);
			break;
		}
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
		rc = charge_locked(&u->locked, npages, limit, pid, "user");
		if (rc && !u->locked) {
			/* Do not keep an entry this call created. */
			users = u->next;
			mem_free(u);
		}
		break;
	case IOPT_PAGES_ACCOUNT_MM:
		rc = charge_locked(&p->locked, npages, limit, pid, "process");
		break;
	}
	if (!rc) {
		p->pinned += npages;
		pinned += npages;
	} else {
		process_maybe_free(pid);
	}
out:
	pthread_mutex_unlock(&acct_lock);
	return rc;
}

void iopt_account_uncharge(enum iopt_account_mode mode, uid_t user, pid_t pid,
			   u64 npages)
{
	struct process_locked *p;
	struct user_locked *u, **link;

	pthread_mutex_lock(&acct_lock);
	if (!WARN_ON(pinned < npages))
		pinned -= npages;
	if (mode == IOPT_PAGES_ACCOUNT_NONE)
		goto out;
	p = find_process(pid);
	if (WARN_ON(!p || p->pinned < npages))
		goto out;
	p->pinned -= npages;
	switch (mode) {
	case IOPT_PAGES_ACCOUNT_NONE:
		break;
	case IOPT_PAGES_ACCOUNT_USER:
		if (user_locked_shared()) {
			user_locked_uncharge(user, npages);
			break;
		}
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
		if (!WARN_ON(p->locked < npages))
			p->locked -= npages;
		break;
	}
	process_maybe_free(pid);
out:
	pthread_mutex_unlock(&acct_lock);
}

u64 iopt_account_user_locked(uid_t user)
{
	struct user_locked *u;
	u64 locked;

	if (user_locked_shared())
		return user_locked_total(user);
	pthread_mutex_lock(&acct_lock);
	u = find_user(user);
	locked = u ? u->locked : 0;
	pthread_mutex_unlock(&acct_lock);
	return locked;
}

/* What @pid is charged now (zeros when nothing). */
static struct process_locked process_charges(pid_t pid)
{
	struct process_locked none = { .pid = pid }, *p;

	pthread_mutex_lock(&acct_lock);
	p = find_process(pid);
	if (p)
		none = *p;
	pthread_mutex_unlock(&acct_lock);
	return none;
}

u64 iopt_account_process_locked_of(pid_t pid)
{
	return process_charges(pid).locked;
}

u64 iopt_account_process_pinned_of(pid_t pid)
{
	return process_charges(pid).pinned;
}

u64 iopt_account_process_locked(void)
{
	return iopt_account_process_locked_of(process_self());
}

u64 iopt_account_pinned(void)
{
	u64 n;

	pthread_mutex_lock(&acct_lock);
	n = pinned;
	pthread_mutex_unlock(&acct_lock);
	return n;
}

/* Whether @pages is charged to another than @pid and @user. */
static bool charged_elsewhere(const struct iopt_pages *pages, pid_t pid,
			      uid_t user)
{
	switch (pages->account_mode) {
	case IOPT_PAGES_ACCOUNT_NONE:
		return false;
	case IOPT_PAGES_ACCOUNT_MM:
		return pages->source_pid != pid;
	case IOPT_PAGES_ACCOUNT_USER:
		/* The process's pinned count moves as well as the user's. */
		return pages->source_pid != pid ||
		       (pages->source_user_known && pages->source_user != user);
	}
	return true;
}

int iopt_account_move_pages(struct iopt_pages **list, size_t n, uid_t user,
			    u64 limit)
{
	u64 npinned[IOPT_PAGES_ACCOUNT_MM + 1] = { 0 };
	pid_t pid = process_user();
	int mode, rc = 0;

	for (size_t i = 0; i != n; i++) {
		struct iopt_pages *pages = list[i];

		pthread_mutex_lock(&pages->mutex);
		WARN_ON(pages->npinned != pages->last_npinned);
		if (charged_elsewhere(pages, pid, user))
			npinned[pages->account_mode] += pages->last_npinned;
		pthread_mutex_unlock(&pages->mutex);
	}
	if (fault_should_fail())
		return err_reason(-ENOMEM,
				  "injected failure charging the calling process");
	for (mode = IOPT_PAGES_ACCOUNT_USER; mode <= IOPT_PAGES_ACCOUNT_MM;
	     mode++) {
		if (!npinned[mode])
			continue;
		rc = iopt_account_charge(mode, user, pid, npinned[mode], limit);
		if (rc)
			break;
	}
	if (rc) {
		while (--mode >= IOPT_PAGES_ACCOUNT_USER)
			if (npinned[mode])
				iopt_account_uncharge(mode, user, pid,
						      npinned[mode]);
		return rc;
	}
	/* Refund the old charges, and make the caller the source. */
	for (size_t i = 0; i != n; i++) {
		struct iopt_pages *pages = list[i];

		pthread_mutex_lock(&pages->mutex);
		if (charged_elsewhere(pages, pid, user) && pages->last_npinned)
			iopt_account_uncharge(pages->account_mode,
					      pages->source_user,
					      pages->source_pid,
					      pages->last_npinned);
		pages->source_pid = pid;
		pages->source_user = user;
		pages->source_user_known = true;
		pthread_mutex_unlock(&pages->mutex);
	}
	return 0;
}
