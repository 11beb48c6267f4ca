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
	RESOLVE(fork);
	RESOLVE(execve);
	RESOLVE(execveat);
	RESOLVE(fexecve);
	RESOLVE(execv);
	RESOLVE(execvp);
	RESOLVE(execvpe);
	RESOLVE(posix_spawn);
	RESOLVE(posix_spawnp);
	RESOLVE(sendmsg);
	RESOLVE(sendmmsg);
	RESOLVE(fcntl);
	RESOLVE(fcntl64);
	RESOLVE(read);
	RESOLVE(write);
	RESOLVE(readv);
	RESOLVE(writev);
	RESOLVE(pread);
	RESOLVE(pwrite);
	RESOLVE(pread64);
	RESOLVE(pwrite64);
	RESOLVE(__read_chk);
	RESOLVE(__pread_chk);
	RESOLVE(__pread64_chk);
	RESOLVE(stat);
	RESOLVE(stat64);
	RESOLVE(lstat);
	RESOLVE(lstat64);
	RESOLVE(fstat);
	RESOLVE(fstat64);
	RESOLVE(fstatat);
	RESOLVE(fstatat64);
	RESOLVE(statx);
	RESOLVE(__xstat);
	RESOLVE(__xstat64);
	RESOLVE(__lxstat);
	RESOLVE(__lxstat64);
	RESOLVE(__fxstat);
	RESOLVE(__fxstat64);
	RESOLVE(__fxstatat);
	RESOLVE(__fxstatat64);
	RESOLVE(access);
	RESOLVE(faccessat);
	RESOLVE(euidaccess);
	RESOLVE(eaccess);
	RESOLVE(statfs);
	RESOLVE(statfs64);
	RESOLVE(fstatfs);
	RESOLVE(fstatfs64);
	RESOLVE(opendir);
	RESOLVE(fdopendir);
	RESOLVE(readdir);
	RESOLVE(readdir64);
	RESOLVE(readdir_r);
	RESOLVE(readdir64_r);
	RESOLVE(closedir);
	RESOLVE(dirfd);
	RESOLVE(rewinddir);
	RESOLVE(telldir);
	RESOLVE(seekdir);
}

void real_init(void)
{
	pthread_once(&real_once, resolve);
}
