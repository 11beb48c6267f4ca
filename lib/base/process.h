/* SPDX-License-Identifier: MIT */
/*
 * The calling process's pid without a system call: cached, and refreshed
 * in the child of every fork() (through pthread_atfork). A raw clone() or
 * vfork() that bypasses the libc fork handlers is not seen.
 */
#ifndef UIOMMUFD_BASE_PROCESS_H
#define UIOMMUFD_BASE_PROCESS_H

#include <sys/types.h>

#include "base/common.h"

pid_t process_self(void);

/*
 * The process whose memory the calling thread's command names: this one,
 * unless a process running commands for others (a broker) says another
 * with process_user_set() for the command's duration. User copies, user
 * memory mapped into an IOAS and the test module's looks at user pages
 * go there.
 */
pid_t process_user(void);
/* Make @pid (0: this process) the user; returns the one before. */
pid_t process_user_set(pid_t pid);
/*
 * A descriptor the user named: @fd itself when the user is this process
 * or no process_user_fd_set() is in force; else the one this process was
 * given for the user's number @fd (the broker receives it with the
 * command), or -1.
 */
int process_user_fd(int fd);
/*
 * For the calling thread's command: the user's @number (-1: none) is our
 * @local, and the user has no other descriptor here; until the reset.
 */
void process_user_fd_set(int number, int local);
void process_user_fd_reset(void);
/*
 * A descriptor of ours handed to the user (the command's result): noted
 * for a process running commands for another (a broker), which gives the
 * other process a descriptor of its own for it. process_user_fd_taken()
 * returns and forgets the last one noted (-1: none).
 */
void process_user_fd_out(int local);
int process_user_fd_taken(void);

/*
 * The user's memory at [addr, addr + len) is file @fd at @offset: the
 * memory a client moved into a file of its own sends it along with a
 * command (a broker's, docs/design.md 8.1), so that what the command pins
 * outlives the client. For the calling thread's command, until set again
 * with @n 0; the array stays the caller's.
 */
struct process_mem {
	u64 addr;
	u64 len;
	u64 offset;
	int fd;
};

void process_user_mem_set(const struct process_mem *mem, unsigned int n);
/* The pieces of [addr, addr + len) given, in @out (at most @max): how many. */
unsigned int process_user_mem_find(u64 addr, u64 len, struct process_mem *out,
				   unsigned int max);

#endif
