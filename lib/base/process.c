// SPDX-License-Identifier: MIT
#include "base/process.h"

#include <linux/capability.h>
#include <pthread.h>
#include <sys/syscall.h>
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

bool process_capable(int cap)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};

	if (cap < 0 || cap >= 32 * _LINUX_CAPABILITY_U32S_3 ||
	    syscall(SYS_capget, &hdr, data))
		return false;
	return data[cap / 32].effective & (1u << (cap % 32));
}

pid_t process_self(void)
{
	pthread_once(&cached_once, cache_init);
	return __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
}
