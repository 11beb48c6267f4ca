// SPDX-License-Identifier: MIT
/*
 * The libc functions behind the shim, found with dlsym(RTLD_NEXT) so every
 * call the shim does not answer behaves exactly as without it.
 */
#include <dlfcn.h>
#include <pthread.h>

#include "preload/shim.h"

struct real_libc real;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

#define RESOLVE(name) (*(void **)&real.name = dlsym(RTLD_NEXT, #name))

static void resolve(void)
{
	RESOLVE(open);
	RESOLVE(open64);
	RESOLVE(openat);
	RESOLVE(openat64);
	RESOLVE(__open_2);
	RESOLVE(__open64_2);
	RESOLVE(__openat_2);
	RESOLVE(__openat64_2);
	RESOLVE(ioctl);
	RESOLVE(close);
	RESOLVE(close_range);
	RESOLVE(closefrom);
	RESOLVE(dup);
	RESOLVE(dup2);
	RESOLVE(dup3);
	RESOLVE(fcntl);
	RESOLVE(fcntl64);
	RESOLVE(read);
	RESOLVE(write);
	RESOLVE(pread);
	RESOLVE(pwrite);
	RESOLVE(pread64);
	RESOLVE(pwrite64);
}

void real_init(void)
{
	pthread_once(&real_once, resolve);
}
