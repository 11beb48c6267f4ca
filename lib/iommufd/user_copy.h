/* SPDX-License-Identifier: MIT */
/*
 * Copying to and from the caller's memory the way copy_from_user and
 * copy_to_user do: a pointer the caller got wrong gives -EFAULT, never a
 * crash.
 *
 * Two ways to get there. The default catches the fault: a SIGSEGV/SIGBUS
 * handler, installed once and chained to whatever was there before, jumps
 * back out of a copy that faulted; a copy costs a function call. The other
 * asks the kernel to do the copy (process_vm_readv/writev on this
 * process): one system call per copy, used under valgrind (which reports
 * the faulting read before delivering the signal) or when
 * UIOMMUFD_USER_COPY=syscall is set in the environment.
 *
 * Never call these with a lock held that the rest of the library takes:
 * a fault leaves the copy by a jump.
 */
#ifndef UIOMMUFD_IOMMUFD_USER_COPY_H
#define UIOMMUFD_IOMMUFD_USER_COPY_H

#include "base/common.h"

/* Install the fault handler if that is the way chosen. Idempotent. */
void user_copy_init(void);

/* 0, or -EFAULT (with a reason naming @what) if any byte is unreachable. */
int copy_from_user(void *dst, u64 uptr, size_t len, const char *what);
int copy_to_user(u64 uptr, const void *src, size_t len, const char *what);

/*
 * Whether [uptr, uptr + len) is all zero: 0 yes, 1 no, -EFAULT. For the
 * tail of a struct longer than the library knows.
 */
int check_zeroed_user(u64 uptr, size_t len);

/*
 * The extensible-struct rules of the kernel's copy_struct_from_user():
 * @usize bytes at @uptr into a @ksize-byte @dst. A longer user struct
 * must be zero past @ksize (else -E2BIG); a shorter one reads as zero
 * past its end. 0, -E2BIG or -EFAULT, with a reason naming @what.
 */
int copy_struct_from_user(void *dst, size_t ksize, u64 uptr, size_t usize,
			  const char *what);

/* Zero @len bytes at @uptr, as clear_user(): 0 or -EFAULT. */
int clear_user(u64 uptr, size_t len, const char *what);

#endif
