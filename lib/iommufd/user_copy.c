// SPDX-License-Identifier: MIT
/*
 * Fault-safe copies from and to the caller's memory (see user_copy.h).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/err_reason.h"
#include "base/overflow.h"
#include "base/process.h"
#include "iommufd/user_copy.h"

static bool use_syscall;
static struct sigaction old_segv, old_bus;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* Set only while this thread is inside a guarded copy. */
static __thread sigjmp_buf *volatile fault_env;

static void chain(int sig, siginfo_t *info, void *uc)
{
	const struct sigaction *old = sig == SIGBUS ? &old_bus : &old_segv;

	if (old->sa_flags & SA_SIGINFO) {
		old->sa_sigaction(sig, info, uc);
		return;
	}
	if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
		return;
	}
	/*
	 * Nobody else handles it: the default action. A real fault happens
	 * again on return and now kills the process with the right signal;
	 * a signal sent with kill() is raised again.
	 */
	signal(sig, SIG_DFL);
	if (info->si_code <= 0)
		raise(sig);
}

static void fault_handler(int sig, siginfo_t *info, void *uc)
{
	sigjmp_buf *env = fault_env;

	if (env && info->si_code > 0) {
		sigset_t unblock;

		fault_env = NULL;
		/*
		 * The jump does not restore the signal mask. SA_NODEFER keeps
		 * the kernel from blocking the signal, but a wrapper that
		 * called us (a sanitizer's) may have: unblock it, paying only
		 * on the fault path.
		 */
		sigemptyset(&unblock);
		sigaddset(&unblock, SIGSEGV);
		sigaddset(&unblock, SIGBUS);
		pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
		siglongjmp(*env, 1);
	}
	chain(sig, info, uc);
}

static void install(void)
{
	const char *how = getenv("UIOMMUFD_USER_COPY");
	const char *preload = getenv("LD_PRELOAD");
	struct sigaction sa;

	if (how && !strcmp(how, "syscall"))
		use_syscall = true;
	else if (!how && preload && strstr(preload, "vgpreload"))
		use_syscall = true;	/* under valgrind */
	if (use_syscall)
		return;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = fault_handler;
	/*
	 * SA_NODEFER: the jump out of the handler does not restore the signal
	 * mask (that would cost a system call per copy), so the signal must
	 * not be blocked while the handler runs.
	 */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
}

void user_copy_init(void)
{
	pthread_once(&init_once, install);
}

/*
 * The copy itself. Not instrumented: a wild pointer is the caller's
 * mistake, answered with -EFAULT, not a sanitizer report.
 */
__attribute__((noinline, no_sanitize_address))
#if defined(__clang__)
__attribute__((no_sanitize("thread", "undefined")))
#elif __GNUC__ >= 8
__attribute__((no_sanitize("thread"), no_sanitize_undefined))
#endif
static void copy_bytes(void *dst, const void *src, size_t len)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (len >= sizeof(u64)) {
		u64 v;

		__builtin_memcpy(&v, s, sizeof(v));
		__builtin_memcpy(d, &v, sizeof(v));
		/* Keeps the compiler from turning the loop into memcpy(). */
		__asm__ volatile("" ::: "memory");
		s += sizeof(v);
		d += sizeof(v);
		len -= sizeof(v);
	}
	while (len--) {
		*d++ = *s++;
		__asm__ volatile("" ::: "memory");
	}
}

static int guarded_copy(void *dst, const void *src, size_t len)
{
	/* Nothing the jump could leave stale is used after it. */
	void *volatile vdst = dst;
	const void *volatile vsrc = src;
	volatile size_t vlen = len;
	sigjmp_buf env;

	if (sigsetjmp(env, 0))
		return -EFAULT;
	fault_env = &env;
	copy_bytes(vdst, vsrc, vlen);
	fault_env = NULL;
	return 0;
}

/* Through the kernel, in process @pid's memory (this one's, or another's). */
static int syscall_copy(pid_t pid, void *dst, u64 uptr, size_t len,
			bool to_user)
{
	struct iovec local = { .iov_base = dst, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)uptr,
				.iov_len = len };
	ssize_t done;

	if (!to_user) {
		done = process_vm_readv(pid, &local, 1, &remote, 1, 0);
		return done == (ssize_t)len ? 0 : -EFAULT;
	}
	done = process_vm_writev(pid, &local, 1, &remote, 1, 0);
	if (done != (ssize_t)len)
		return -EFAULT;
	if (pid != process_self())
		return 0;
	/*
	 * The kernel wrote the bytes, but a tool watching our memory
	 * (valgrind) cannot see that; now that the range is known good,
	 * write them again where it can.
	 */
	memcpy(remote.iov_base, dst, len);
	return 0;
}

/* Either direction: @kbuf is the library's side, @uptr the caller's. */
static int user_copy(void *kbuf, u64 uptr, size_t len, bool to_user,
		     const char *what)
{
	void *uaddr = (void *)(uintptr_t)uptr;
	pid_t pid = process_user();
	u64 last;
	int rc;

	if (!len)
		return 0;
	user_copy_init();
	if (check_range_last(uptr, len, &last))
		rc = -EFAULT;
	else if (use_syscall || pid != process_self())
		rc = syscall_copy(pid, kbuf, uptr, len, to_user);
	else if (to_user)
		rc = guarded_copy(uaddr, kbuf, len);
	else
		rc = guarded_copy(kbuf, uaddr, len);
	if (rc)
		return err_reason(rc, "cannot %s %zu bytes of %s at %#llx",
				  to_user ? "write" : "read", len, what,
				  (unsigned long long)uptr);
	return 0;
}

int copy_from_user(void *dst, u64 uptr, size_t len, const char *what)
{
	return user_copy(dst, uptr, len, false, what);
}

int copy_to_user(u64 uptr, const void *src, size_t len, const char *what)
{
	return user_copy((void *)src, uptr, len, true, what);
}

int check_zeroed_user(u64 uptr, size_t len)
{
	unsigned char buf[64];

	while (len) {
		size_t n = min(len, sizeof(buf));
		int rc = copy_from_user(buf, uptr, n, "the command's tail");

		if (rc)
			return rc;
		for (size_t i = 0; i != n; i++)
			if (buf[i])
				return 1;
		uptr += n;
		len -= n;
	}
	return 0;
}

int copy_struct_from_user(void *dst, size_t ksize, u64 uptr, size_t usize,
			  const char *what)
{
	size_t n = min(ksize, usize);
	int rc;

	if (usize > ksize) {
		rc = check_zeroed_user(uptr + ksize, usize - ksize);
		if (rc < 0)
			return rc;
		if (rc)
			return err_reason(-E2BIG,
					  "%s: bytes past the %zu the library knows are not zero",
					  what, ksize);
	}
	/* A shorter struct reads as zero past its end. */
	memset((char *)dst + n, 0, ksize - n);
	return copy_from_user(dst, uptr, n, what);
}

int clear_user(u64 uptr, size_t len, const char *what)
{
	static const unsigned char zeroes[256];

	while (len) {
		size_t n = min(len, sizeof(zeroes));
		int rc = copy_to_user(uptr, zeroes, n, what);

		if (rc)
			return rc;
		uptr += n;
		len -= n;
	}
	return 0;
}
