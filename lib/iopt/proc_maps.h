/* SPDX-License-Identifier: MIT */
/*
 * A reader of /proc/self/maps: the VMAs of this process that intersect a
 * byte range, in address order. Where the kernel has it (Linux 6.11 on)
 * each VMA is asked for with the PROCMAP_QUERY ioctl, which costs about as
 * much as one system call; elsewhere the text is parsed, which costs in
 * proportion to every mapping below the range. It allocates nothing; the
 * iterator holds a fixed buffer (put it on the stack). Lines longer than
 * the buffer (long path names) are fine: the fields come first and the
 * path is not needed.
 */
#ifndef UIOMMUFD_IOPT_PROC_MAPS_H
#define UIOMMUFD_IOPT_PROC_MAPS_H

#include <sys/types.h>

#include "base/common.h"

#define PROC_MAPS_BUF_SIZE 1024

struct proc_maps_vma {
	u64 start;	/* first byte */
	u64 end;	/* one past the last byte */
	u64 offset;	/* file offset of @start */
	dev_t dev;
	ino_t ino;	/* 0: not backed by a file */
	int prot;	/* PROT_READ | PROT_WRITE | PROT_EXEC */
	bool shared;	/* 's': writes reach the file or other mappings */
};

struct proc_maps_iter {
	int fd;
	pid_t pid;	/* whose maps: this process's when 0 */
	bool own_fd;	/* opened for this walk (text), else the shared one */
	u64 start;
	u64 last;
	/* Asking the kernel per address (PROCMAP_QUERY), from next_addr on. */
	bool query;
	u64 next_addr;
	/* buf[head, tail) is read but not yet parsed */
	unsigned int head;
	unsigned int tail;
	bool eof;
	/* in the middle of a line longer than buf */
	bool skipping;
	char buf[PROC_MAPS_BUF_SIZE];
};

/*
 * Start a walk over the VMAs that intersect [start, last]. 0 or -EFAULT
 * (with a reason) when /proc/self/maps cannot be opened.
 */
int proc_maps_open(struct proc_maps_iter *it, u64 start, u64 last);
/* The same over another process's maps (its text, read afresh). */
int proc_maps_open_pid(struct proc_maps_iter *it, pid_t pid, u64 start,
		       u64 last);

/*
 * The next VMA that intersects the range: 1 with *vma filled in, 0 when
 * there are no more, or -EFAULT (with a reason) on a read error or a line
 * that does not parse.
 */
int proc_maps_next(struct proc_maps_iter *it, struct proc_maps_vma *vma);

void proc_maps_close(struct proc_maps_iter *it);

/* Tests: parse the text even where PROCMAP_QUERY exists. */
void proc_maps_force_text(bool on);

/* The VMA that holds @addr: 0, or -EFAULT when @addr is not mapped. */
int proc_maps_find(u64 addr, struct proc_maps_vma *vma);

#endif
