// SPDX-License-Identifier: MIT
/*
 * Directory streams of the emulated debugfs (debugfs.c): opendir and
 * fdopendir of one of its directories give a DIR of ours, and readdir,
 * readdir64, readdir_r, dirfd, telldir, seekdir, rewinddir and closedir
 * know it from glibc's own. The stream lists ".", ".." and the
 * directory's entries, with their inode numbers and types, as getdents
 * would. Streams are rare: while none is open, telling a glibc stream
 * from ours is one atomic load.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "preload/shim.h"

_Static_assert(sizeof(struct dirent) == sizeof(struct dirent64) &&
	       offsetof(struct dirent, d_name) ==
		       offsetof(struct dirent64, d_name),
	       "struct dirent is struct dirent64 (64-bit targets)");

struct debugfs_dir {
	struct debugfs_dir *next;	/* in the list of ours */
	int fd;			/* the stream's descriptor, closed with it */
	unsigned int node;
	bool readable;		/* not an O_PATH descriptor */
	long pos;		/* 0 ".", 1 "..", then the entries */
	pthread_mutex_t lock;
	union {
		struct dirent ent;
		struct dirent64 ent64;
	};
};

/* Ours, under shim_lock(); nr_dirs lets a glibc stream pass unlocked. */
static struct debugfs_dir *dirs;
static atomic_uint nr_dirs;

static DIR *dir_new(int fd, unsigned int node, int flags)
{
	struct debugfs_dir *d = calloc(1, sizeof(*d));
	sigset_t old;

	if (!d) {
		errno = ENOMEM;
		return NULL;
	}
	d->fd = fd;
	d->node = node;
	d->readable = !(flags & O_PATH);
	pthread_mutex_init(&d->lock, NULL);
	shim_lock(&old);
	d->next = dirs;
	dirs = d;
	atomic_fetch_add(&nr_dirs, 1);
	shim_unlock(&old);
	return (DIR *)d;
}

bool debugfs_opendir(const char *path, DIR **dir)
{
	int fd, flags = 0, node;

	/* Opened as glibc's opendir opens a directory. */
	if (!debugfs_open(AT_FDCWD, path,
			  O_RDONLY | O_NDELAY | O_DIRECTORY | O_CLOEXEC, 0, &fd))
		return false;
	*dir = NULL;
	if (fd < 0)
		return true;
	node = debugfs_node_of(fd, &flags);
	*dir = dir_new(fd, node, flags);
	if (!*dir) {
		int err = errno;

		shim_close(fd);
		errno = err;
	}
	return true;
}

bool debugfs_fdopendir(int fd, DIR **dir)
{
	int flags = 0, node = debugfs_node_of(fd, &flags);

	if (node < 0)
		return false;
	*dir = NULL;
	if (!debugfs_node_is_dir(node))
		errno = ENOTDIR;
	else
		*dir = dir_new(fd, node, flags);
	return true;
}

void debugfs_dir_fork_child(void)
{
	for (struct debugfs_dir *d = dirs; d; d = d->next)
		pthread_mutex_init(&d->lock, NULL);
}

struct debugfs_dir *debugfs_dir_of(DIR *dir)
{
	struct debugfs_dir *d;
	sigset_t old;

	if (!atomic_load(&nr_dirs) || !dir)
		return NULL;
	shim_lock(&old);
	for (d = dirs; d && (DIR *)d != dir; d = d->next)
		;
	shim_unlock(&old);
	return d;
}

static void dir_lock(struct debugfs_dir *d, sigset_t *old)
{
	shim_block_signals(old);
	pthread_mutex_lock(&d->lock);
}

static void dir_unlock(struct debugfs_dir *d, const sigset_t *old)
{
	pthread_mutex_unlock(&d->lock);
	shim_restore_signals(old);
}

/*
 * The entry at the stream's position, into d->ent, and on to the next:
 * 0 at the end, or an errno.
 */
static int next_entry(struct debugfs_dir *d, struct dirent *ent)
{
	unsigned int child = d->node;
	const char *name;
	size_t len;

	if (!d->readable)
		return EBADF;	/* getdents on an O_PATH descriptor */
	if (d->pos < 0)
		return ENOENT;
	if (d->pos == 0) {
		name = ".";
		ent->d_ino = debugfs_ino(d->node);
	} else if (d->pos == 1) {
		name = "..";
		ent->d_ino = debugfs_parent_ino(d->node);
	} else if (debugfs_child(d->node, d->pos - 2, &name, &child)) {
		ent->d_ino = debugfs_ino(child);
	} else {
		return ENOENT;
	}
	len = strlen(name);
	ent->d_off = ++d->pos;
	ent->d_type = debugfs_node_is_dir(child) ? DT_DIR : DT_REG;
	ent->d_reclen = (offsetof(struct dirent, d_name) + len + 1 + 7) & ~7;
	memcpy(ent->d_name, name, len + 1);
	return 0;
}

struct dirent *debugfs_readdir(struct debugfs_dir *d)
{
	struct dirent *ent = &d->ent;
	sigset_t old;
	int err;

	dir_lock(d, &old);
	err = next_entry(d, ent);
	dir_unlock(d, &old);
	if (err == ENOENT)
		return NULL;	/* the end: errno as it was */
	if (err) {
		errno = err;
		return NULL;
	}
	return ent;
}

struct dirent64 *debugfs_readdir64(struct debugfs_dir *d)
{
	return (struct dirent64 *)debugfs_readdir(d);
}

int debugfs_readdir_r(struct debugfs_dir *d, struct dirent *entry,
		      struct dirent **result)
{
	struct dirent ent, *found = entry;
	sigset_t old;
	int err;

	memset(&ent, 0, sizeof(ent));
	dir_lock(d, &old);
	err = next_entry(d, &ent);
	dir_unlock(d, &old);
	if (err == ENOENT) {
		found = NULL;
		err = 0;
	} else if (!err && debugfs_copy_out(entry, &ent, ent.d_reclen)) {
		err = EFAULT;
	}
	if (err)
		found = NULL;
	if (debugfs_copy_out(result, &found, sizeof(found)))
		err = EFAULT;
	return err;
}

int debugfs_dirfd(struct debugfs_dir *d)
{
	return d->fd;
}

long debugfs_telldir(struct debugfs_dir *d)
{
	sigset_t old;
	long pos;

	dir_lock(d, &old);
	pos = d->pos;
	dir_unlock(d, &old);
	return pos;
}

void debugfs_seekdir(struct debugfs_dir *d, long pos)
{
	sigset_t old;

	dir_lock(d, &old);
	d->pos = pos;
	dir_unlock(d, &old);
}

int debugfs_closedir(struct debugfs_dir *d)
{
	struct debugfs_dir **p;
	sigset_t old;
	int rc, err;

	shim_lock(&old);
	for (p = &dirs; *p && *p != d; p = &(*p)->next)
		;
	if (*p) {
		*p = d->next;
		atomic_fetch_sub(&nr_dirs, 1);
	}
	shim_unlock(&old);
	rc = shim_close(d->fd);
	err = errno;
	pthread_mutex_destroy(&d->lock);
	free(d);
	errno = err;
	return rc;
}
