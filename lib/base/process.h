/* SPDX-License-Identifier: MIT */
/*
 * The calling process's pid without a system call: cached, and refreshed
 * in the child of every fork() (through pthread_atfork). A raw clone() or
 * vfork() that bypasses the libc fork handlers is not seen.
 */
#ifndef UIOMMUFD_BASE_PROCESS_H
#define UIOMMUFD_BASE_PROCESS_H

#include <sys/types.h>

pid_t process_self(void);

#endif
