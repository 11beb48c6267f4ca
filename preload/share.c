// SPDX-License-Identifier: MIT
/*
 * Contexts shared between processes, the shim's side (docs/design.md,
 * section 8.1). A context is promoted (uiommufd_ctx_share(): a broker
 * serves it from then on) before a descriptor of it can reach another
 * process: before fork() returns, before an exec or posix_spawn that
 * keeps one open, before sendmsg() carries one. The numbers naming it
 * become the program's end of the broker's socket pair, so what crosses
 * is a real descriptor that leads to the broker. A process given such a
 * descriptor (the new image after exec, a receiver of SCM_RIGHTS) takes
 * it up at its first command on it (shim_adopt()).
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "preload/shim.h"

#define SHIM_EXPORT __attribute__((visibility("default")))

/* Set while the library forks a broker: that fork is not the program's. */
static __thread bool forking_broker;

bool shim_forking_broker(void)
{
	return forking_broker;
}

/*
 * Promote @file's context: every number naming it here becomes the
 * program's end of the broker's socket pair (a child inherits those). A
 * context that cannot be shared yet (it holds descriptors or mappings)
 * stays this process's, and a child gets a copy of it, as before.
 */
static void share_file(struct shim_file *file)
{
	struct uiommufd_ctx *ctx;
	unsigned int limit;
	sigset_t old;
	int sv[2], rc;

	pthread_rwlock_wrlock(&file->share_lock);
	if (file->shared)
		goto out_unlock;
	/* One that ran no command yet is one context all the same. */
	ctx = shim_file_ctx(file);
	if (!ctx)
		goto out_unlock;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		goto out_unlock;
	shim_block_signals(&old);
	forking_broker = true;
	rc = uiommufd_ctx_share(ctx, sv[1]);
	forking_broker = false;
	if (rc) {
		shim_restore_signals(&old);
		real.close(sv[0]);
		goto out_unlock;
	}
	shim_restore_signals(&old);
	/* Under the table's lock: no close or dup of ours runs meanwhile. */
	shim_lock(&old);
	limit = fd_map_limit();
	for (unsigned int fd = 0; fd != limit; fd++) {
		struct shim_file *f = fd_map_peek(fd);
		int flags;

		if (f != file)
			continue;
		flags = real.fcntl(fd, F_GETFD);
		real.dup3(sv[0], fd, flags > 0 && (flags & FD_CLOEXEC) ?
					     O_CLOEXEC : 0);
	}
	file->shared = true;
	atomic_store(&file->ctx, NULL);
	shim_unlock(&old);
	real.close(sv[0]);
	shim_block_signals(&old);
	uiommufd_ctx_close(ctx);
	shim_restore_signals(&old);
out_unlock:
	pthread_rwlock_unlock(&file->share_lock);
}

#define SHARE_MAX 64

/*
 * Promote every context of this process one of whose numbers @want
 * (NULL: all of them). Past SHARE_MAX contexts, the rest stay this
 * process's.
 */
static void share_files(bool (*want)(int fd, const void *data),
			const void *data)
{
	struct shim_file *files[SHARE_MAX];
	unsigned int n = 0, limit;
	sigset_t old;

	shim_lock(&old);
	limit = fd_map_limit();
	for (unsigned int fd = 0; fd != limit && n != SHARE_MAX; fd++) {
		struct shim_file *f = fd_map_peek(fd);
		bool seen = false;

		if (!f || f->kind != SHIM_IOMMUFD || f->shared)
			continue;
		if (want && !want(fd, data))
			continue;
		for (unsigned int i = 0; i != n; i++)
			seen |= files[i] == f;
		if (seen)
			continue;
		atomic_fetch_add(&f->refs, 1);
		files[n++] = f;
	}
	shim_unlock(&old);
	for (unsigned int i = 0; i != n; i++) {
		share_file(files[i]);
		shim_file_put(files[i]);
	}
}

/* ---- fork ---- */

SHIM_EXPORT pid_t fork(void)
{
	real_init();
	if (!forking_broker)
		share_files(NULL, NULL);
	return real.fork();
}

/*
 * A vfork() child shares our memory but not our descriptor table: a
 * promotion there (before its exec) would change our state for its
 * table. POSIX allows vfork() to be fork(), and this one is.
 */
SHIM_EXPORT pid_t vfork(void)
{
	return fork();
}

/* ---- exec and spawn: what the new image inherits ---- */

static bool inherited(int fd, const void *data)
{
	int flags = real.fcntl(fd, F_GETFD);

	return flags >= 0 && !(flags & FD_CLOEXEC);
}

/* Before an exec: the contexts the new image keeps. */
static void share_for_exec(void)
{
	real_init();
	share_files(inherited, NULL);
}

SHIM_EXPORT int execve(const char *path, char *const argv[],
		       char *const envp[])
{
	share_for_exec();
	return real.execve(path, argv, envp);
}

SHIM_EXPORT int execveat(int dirfd, const char *path, char *const argv[],
			 char *const envp[], int flags)
{
	share_for_exec();
	return real.execveat(dirfd, path, argv, envp, flags);
}

SHIM_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	share_for_exec();
	return real.fexecve(fd, argv, envp);
}

SHIM_EXPORT int execv(const char *path, char *const argv[])
{
	share_for_exec();
	return real.execv(path, argv);
}

SHIM_EXPORT int execvp(const char *file, char *const argv[])
{
	share_for_exec();
	return real.execvp(file, argv);
}

SHIM_EXPORT int execvpe(const char *file, char *const argv[],
			char *const envp[])
{
	share_for_exec();
	return real.execvpe(file, argv, envp);
}

/*
 * The list forms: the arguments into an array of their own. Not malloc:
 * a forked child of a threaded program may exec, where only
 * async-signal-safe calls are allowed. An exec that fails returns, and
 * the array goes.
 */
static char **list_args(const char *arg0, va_list ap, size_t *bytes,
			char ***envp)
{
	va_list count;
	char **argv;
	size_t n = 1;

	va_copy(count, ap);
	while (va_arg(count, const char *))
		n++;
	va_end(count);
	*bytes = (n + 1) * sizeof(char *);
	argv = (char **)syscall(SYS_mmap, NULL, *bytes,
				PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (argv == MAP_FAILED) {
		errno = E2BIG;
		return NULL;
	}
	argv[0] = (char *)arg0;
	for (size_t i = 1; i <= n; i++)
		argv[i] = va_arg(ap, char *);
	if (envp)
		*envp = va_arg(ap, char **);
	return argv;
}

static int list_done(char **argv, size_t bytes, int rc)
{
	int err = errno;

	syscall(SYS_munmap, argv, bytes);
	errno = err;
	return rc;
}

/* Which exec a list form stands for. */
enum exec_list {
	EXEC_L,		/* execl: execv */
	EXEC_LP,	/* execlp: execvp */
	EXEC_LE,	/* execle: execve, the environment after the NULL */
};

static int exec_list(enum exec_list kind, const char *file, const char *arg,
		     va_list ap)
{
	char **argv, **envp = NULL;
	size_t bytes;
	int rc;

	argv = list_args(arg, ap, &bytes, kind == EXEC_LE ? &envp : NULL);
	if (!argv)
		return -1;
	switch (kind) {
	case EXEC_L:
		rc = execv(file, argv);
		break;
	case EXEC_LP:
		rc = execvp(file, argv);
		break;
	default:
		rc = execve(file, argv, envp);
		break;
	}
	return list_done(argv, bytes, rc);
}

SHIM_EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	int rc;

	va_start(ap, arg);
	rc = exec_list(EXEC_L, path, arg, ap);
	va_end(ap);
	return rc;
}

SHIM_EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	int rc;

	va_start(ap, arg);
	rc = exec_list(EXEC_LP, file, arg, ap);
	va_end(ap);
	return rc;
}

SHIM_EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	int rc;

	va_start(ap, arg);
	rc = exec_list(EXEC_LE, path, arg, ap);
	va_end(ap);
	return rc;
}

/*
 * posix_spawn() starts the child with its own exec, which the shim does
 * not see: contexts without close-on-exec are promoted first. A context
 * the file actions dup onto an inherited number is not seen (left out).
 */
SHIM_EXPORT int posix_spawn(pid_t *pid, const char *path,
			    const posix_spawn_file_actions_t *actions,
			    const posix_spawnattr_t *attr, char *const argv[],
			    char *const envp[])
{
	share_for_exec();
	return real.posix_spawn(pid, path, actions, attr, argv, envp);
}

SHIM_EXPORT int posix_spawnp(pid_t *pid, const char *file,
			     const posix_spawn_file_actions_t *actions,
			     const posix_spawnattr_t *attr, char *const argv[],
			     char *const envp[])
{
	share_for_exec();
	return real.posix_spawnp(pid, file, actions, attr, argv, envp);
}

/* ---- descriptors sent over a socket ---- */

/* Copy @n bytes of the program's memory at @src; false if unreadable. */
static bool peek_user(void *dst, const void *src, size_t n)
{
	struct iovec local = { dst, n }, remote = { (void *)src, n };

	return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) ==
	       (ssize_t)n;
}

struct sent_fds {
	int fd[SHARE_MAX];
	unsigned int n;
};

static bool is_sent(int fd, const void *data)
{
	const struct sent_fds *sent = data;

	for (unsigned int i = 0; i != sent->n; i++)
		if (sent->fd[i] == fd)
			return true;
	return false;
}

/*
 * Note the descriptors of ours among those @msg carries in SCM_RIGHTS.
 * What cannot be read is left to the kernel to refuse.
 */
static void note_sent(const struct msghdr *umsg, struct sent_fds *sent)
{
	union {
		char buf[4096];
		struct cmsghdr align;
	} u;
	struct msghdr msg;
	struct cmsghdr *c;

	if (!peek_user(&msg, umsg, sizeof(msg)) || !msg.msg_control ||
	    msg.msg_controllen < sizeof(struct cmsghdr))
		return;
	if (msg.msg_controllen > sizeof(u.buf))
		msg.msg_controllen = sizeof(u.buf);
	if (!peek_user(u.buf, msg.msg_control, msg.msg_controllen))
		return;
	msg.msg_control = u.buf;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		size_t nfds;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i != nfds && sent->n != SHARE_MAX; i++) {
			struct shim_file *f;
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			f = fd_map_peek(fd);
			if (f && f->kind == SHIM_IOMMUFD && !f->shared)
				sent->fd[sent->n++] = fd;
		}
	}
}

SHIM_EXPORT ssize_t sendmsg(int sockfd, const struct msghdr *msg, int flags)
{
	struct sent_fds sent = { .n = 0 };

	real_init();
	note_sent(msg, &sent);
	if (sent.n)
		share_files(is_sent, &sent);
	return real.sendmsg(sockfd, msg, flags);
}

SHIM_EXPORT int sendmmsg(int sockfd, struct mmsghdr *msgvec,
			 unsigned int vlen, int flags)
{
	struct sent_fds sent = { .n = 0 };

	real_init();
	/* The kernel sends at most UIO_MAXIOV of them. */
	for (unsigned int i = 0; i != vlen && i != UIO_MAXIOV; i++)
		note_sent(&msgvec[i].msg_hdr, &sent);
	if (sent.n)
		share_files(is_sent, &sent);
	return real.sendmmsg(sockfd, msgvec, vlen, flags);
}

/* ---- descriptors given to this process ---- */

struct shim_file *shim_adopt(int fd)
{
	struct shim_file *file;
	int err = errno;

	real_init();
	if (!uiommufd_remote_is_context(fd)) {
		errno = err;
		return NULL;
	}
	file = shim_file_new(SHIM_IOMMUFD);
	if (!file) {
		errno = err;
		return NULL;
	}
	atomic_store(&file->shared, true);
	if (fd_map_install(fd, file)) {
		shim_file_put(file);
		errno = err;
		return NULL;
	}
	errno = err;
	/* The table's reference stays; the caller gets one of its own. */
	return file;
}
