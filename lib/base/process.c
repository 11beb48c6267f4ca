// SPDX-License-Identifier: MIT
#include "base/process.h"

#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

static pid_t cached_pid;
static pthread_once_t cached_once = PTHREAD_ONCE_INIT;

static void refresh(void)
{
	__atomic_store_n(&cached_pid, getpid(), __ATOMIC_RELAXED);
}

static void cache_init(void)
{
	refresh();
	pthread_atfork(NULL, NULL, refresh);
}

pid_t process_self(void)
{
	pthread_once(&cached_once, cache_init);
	return __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
}

/* 0: this process (so a forked child's thread needs no update). */
static __thread pid_t user_pid;
static __thread int user_fd_number = -1, user_fd_local = -1;
static __thread bool user_fd_known;
static __thread int user_fd_given = -1;

pid_t process_user(void)
{
	return user_pid ? user_pid : process_self();
}

pid_t process_user_set(pid_t pid)
{
	pid_t old = user_pid;

	user_pid = pid == process_self() ? 0 : pid;
	return old;
}

int process_user_fd(int fd)
{
	if (!user_pid || !user_fd_known)
		return fd;
	return fd >= 0 && fd == user_fd_number ? user_fd_local : -1;
}

void process_user_fd_set(int number, int local)
{
	user_fd_number = number;
	user_fd_local = local;
	user_fd_known = true;
}

void process_user_fd_reset(void)
{
	user_fd_known = false;
	user_fd_number = -1;
	user_fd_local = -1;
}

void process_user_fd_out(int local)
{
	if (user_pid)
		user_fd_given = local;
}

int process_user_fd_taken(void)
{
	int fd = user_fd_given;

	user_fd_given = -1;
	return fd;
}

static __thread const struct process_mem *user_mem;
static __thread unsigned int user_mem_n;

void process_user_mem_set(const struct process_mem *mem, unsigned int n)
{
	user_mem = n ? mem : NULL;
	user_mem_n = n;
}

unsigned int process_user_mem_find(u64 addr, u64 len, struct process_mem *out,
				   unsigned int max)
{
	unsigned int n = 0;

	if (!user_pid)
		return 0;
	for (unsigned int i = 0; i != user_mem_n && n != max; i++) {
		const struct process_mem *m = &user_mem[i];

		if (m->addr < addr + len && addr < m->addr + m->len)
			out[n++] = *m;
	}
	return n;
}
