/* SPDX-License-Identifier: MIT */
/*
 * Descriptors the library keeps for itself: an event queue's readiness
 * pipe, a vIOMMU's pages. The kernel's equivalents are no descriptors at
 * all, so a program cannot close them; ours are numbers in the program's
 * table, which a close, close_range, closefrom or dup2 aimed at a number
 * the program never got would hit. They are registered here, so that a
 * layer that follows descriptors (the shim) can leave them out of a
 * close and move one aside before a dup2 takes its number.
 *
 * The owner keeps the number in an atomic_int slot; a move rewrites the
 * slot. Every use of the number is bracketed by private_fd_get() and
 * private_fd_put(), so no move happens in between.
 */
#ifndef UIOMMUFD_BASE_PRIVATE_FD_H
#define UIOMMUFD_BASE_PRIVATE_FD_H

#include <stdatomic.h>

/*
 * Register the descriptor in *@slot (O_CLOEXEC, opened by the caller).
 * 0, or -ENOMEM (the descriptor then stays the caller's to close).
 */
int private_fd_register(atomic_int *slot);
/* Unregister and close the descriptor in *@slot; *@slot becomes -1. */
void private_fd_close(atomic_int *slot);
/* The number in *@slot, held still until private_fd_put(). */
int private_fd_get(atomic_int *slot);
void private_fd_put(void);
/* The lowest registered descriptor at or above @fd, or -1. */
int private_fd_next(int fd);
/*
 * If @fd is registered, move it to another number (its owner's slot is
 * rewritten) and close @fd: 0, or -errno with nothing changed.
 */
int private_fd_move(int fd);

#endif
