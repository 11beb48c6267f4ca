// SPDX-License-Identifier: MIT
/*
 * The fault-injection files of debugfs, as the shim answers them where
 * the real debugfs is not mounted (or not writable): what the kernel's
 * iommufd fail_nth selftest does before it arms fail-nth must work step
 * by step; /sys/kernel/debug lists failslab and fail_page_alloc with
 * their attribute files, at the kernel's defaults, in the kernel's
 * formats; writes parse as debugfs parses them (EINVAL, ERANGE); every
 * libc path to the files (the open family, fortified ones included,
 * openat relative to a directory descriptor, the stat family, access,
 * statfs, directory streams) sees one consistent tree; descriptors are
 * real and nothing reaches the disk. With the files prepared, a fail-nth
 * sweep over IOMMU_IOAS_MAP leaves the state as it was at every failure.
 *
 * The emulation is chosen at the first call that reaches the tree
 * (UIOMMUFD_DEBUGFS=emulate|host|auto): each test runs in a child of its
 * own, so each picks its mode with setenv() before it starts.
 *
 * test_shim_debugfs_fortify.c builds this file again with
 * _FORTIFY_SOURCE=2, where opens with flags the compiler cannot see and
 * reads of a buffer of known size take glibc's checking entry points.
 */
#ifndef DEBUGFS_TEST_FORTIFIED
#undef _FORTIFY_SOURCE
#endif

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include "e2e/e2e_utils.h"

#define DEBUGFS "/sys/kernel/debug"
#define DEBUGFS_MAGIC 0x64626720
#define BUF_LEN (16 * PAGE_SZ)
#define MAX_NTH 5000

/* glibc's entry points that no public header declares in every build. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
ssize_t __read_chk(int fd, void *buf, size_t count, size_t room);
ssize_t __pread_chk(int fd, void *buf, size_t count, off_t offset,
		    size_t room);
int __xstat(int ver, const char *path, struct stat *st);
int __lxstat(int ver, const char *path, struct stat *st);
int __fxstat(int ver, int fd, struct stat *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st,
	       int flags);

/* Values the compiler cannot see: flags that take fortified paths. */
static volatile int rdonly_flags = O_RDONLY;
static volatile int wronly_flags = O_WRONLY;
static volatile size_t read_len = 32;

/* A pointer to nothing the program may touch: a PROT_NONE page. */
static void *bad_ptr(void)
{
	static void *hole;

	if (!hole)
		hole = mmap(NULL, PAGE_SZ, PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return hole == MAP_FAILED ? NULL : hole;
}

/* The emulation, whatever the host has (never the host's real files). */
static void emulated(void)
{
	ASSERT_EQ(0, setenv("UIOMMUFD_DEBUGFS", "emulate", 1));
}

/* ---- the kernel's fail_nth selftest, as it is written ---- */

static int writeat(int dfd, const char *fn, const char *val)
{
	size_t val_len = strlen(val);
	ssize_t res;
	int fd;

	fd = openat(dfd, fn, O_WRONLY);
	if (fd == -1)
		return -1;
	res = write(fd, val, val_len);
	if (res != (ssize_t)val_len) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Its setup_fault_injection(), each step checked. */
static void kernel_prelude(void)
{
	struct dirent *dent;
	char fn[300];
	int dfd, verbose = 0;
	DIR *d;

	d = opendir("/sys/kernel/debug/");
	ASSERT_NONNULL(d);
	dfd = dirfd(d);
	ASSERT_LE(0, dfd);
	ASSERT_EQ(0, writeat(dfd, "failslab/ignore-gfp-wait", "N"));
	ASSERT_EQ(0, writeat(dfd, "fail_page_alloc/ignore-gfp-wait", "N"));
	ASSERT_EQ(0, writeat(dfd, "fail_page_alloc/ignore-gfp-highmem", "N"));
	while ((dent = readdir(d))) {
		if (strncmp(dent->d_name, "fail", 4))
			continue;
		snprintf(fn, sizeof(fn), "%s/verbose", dent->d_name);
		ASSERT_EQ(0, writeat(dfd, fn, "0"));
		verbose++;
	}
	ASSERT_EQ(2, verbose);
	ASSERT_EQ(0, closedir(d));
	/* The directory's descriptor went with the stream. */
	ASSERT_FALSE(fd_is_open(dfd));
}

/* The text a file reads from offset 0; "" on error. */
static void read_file(const char *path, char *text, size_t room)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : pread(fd, text, room - 1, 0);

	text[n > 0 ? n : 0] = 0;
	if (fd >= 0)
		close(fd);
}

#define ASSERT_READS(expected, path)                                       \
	do {                                                               \
		char _text[64];                                            \
		read_file(path, _text, sizeof(_text));                     \
		ASSERT_STREQ(expected, _text);                             \
	} while (0)

/* Write @text to @path through a fresh open: what write() returns. */
static ssize_t write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int err;

	if (fd < 0)
		return -2;
	n = write(fd, text, strlen(text));
	err = errno;
	close(fd);
	errno = err;
	return n;
}

TEST(kernel_fail_nth_prelude_succeeds)
{
	emulated();
	kernel_prelude();
	ASSERT_READS("N\n", DEBUGFS "/failslab/ignore-gfp-wait");
	ASSERT_READS("N\n", DEBUGFS "/fail_page_alloc/ignore-gfp-wait");
	ASSERT_READS("N\n", DEBUGFS "/fail_page_alloc/ignore-gfp-highmem");
	ASSERT_READS("0\n", DEBUGFS "/failslab/verbose");
	ASSERT_READS("0\n", DEBUGFS "/fail_page_alloc/verbose");
	/* Twice is as good as once. */
	kernel_prelude();
}

/* ---- the tree ---- */

struct attr {
	const char *name, *def;
};

#define COMMON_ATTRS                                                       \
	{ "probability", "0\n" },                                          \
	{ "interval", "1\n" },                                             \
	{ "times", "1\n" },                                                \
	{ "space", "0\n" },                                                \
	{ "verbose", "2\n" },                                              \
	{ "verbose_ratelimit_interval_ms", "0\n" },                        \
	{ "verbose_ratelimit_burst", "10\n" },                             \
	{ "task-filter", "N\n" },                                          \
	{ "stacktrace-depth", "32\n" },                                    \
	{ "require-start", "0x0000000000000000\n" },                       \
	{ "require-end", "0xffffffffffffffff\n" },                         \
	{ "reject-start", "0x0000000000000000\n" },                        \
	{ "reject-end", "0x0000000000000000\n" }

static const struct attr failslab_attrs[] = {
	COMMON_ATTRS,
	{ "ignore-gfp-wait", "Y\n" },
	{ "cache-filter", "N\n" },
	{ NULL, NULL },
};

static const struct attr page_alloc_attrs[] = {
	COMMON_ATTRS,
	{ "ignore-gfp-wait", "Y\n" },
	{ "ignore-gfp-highmem", "Y\n" },
	{ "min-order", "1\n" },
	{ NULL, NULL },
};

static const struct {
	const char *name;
	const struct attr *attrs;
} dirs[] = {
	{ "failslab", failslab_attrs },
	{ "fail_page_alloc", page_alloc_attrs },
};

#define NR_DIRS (sizeof(dirs) / sizeof(dirs[0]))

static unsigned int nr_attrs(const struct attr *attrs)
{
	unsigned int n = 0;

	while (attrs[n].name)
		n++;
	return n;
}

/* Call @fn(dir, attr, path) on every attribute file. */
#define FOR_EACH_ATTR(d, a, path)                                          \
	for (unsigned int d = 0; d != NR_DIRS; d++)                        \
		for (const struct attr *a = dirs[d].attrs; a->name; a++)   \
			if (snprintf(path, sizeof(path), DEBUGFS "/%s/%s", \
				     dirs[d].name, a->name) > 0)

struct listing {
	char names[32][64];
	unsigned char types[32];
	ino_t inos[32];
	unsigned int n;
};

static void list_stream(DIR *d, struct listing *l)
{
	struct dirent *dent;

	memset(l, 0, sizeof(*l));
	errno = 0;
	while ((dent = readdir(d)) && l->n != 32) {
		snprintf(l->names[l->n], 64, "%.63s", dent->d_name);
		l->types[l->n] = dent->d_type;
		l->inos[l->n] = dent->d_ino;
		l->n++;
	}
	/* The end of a stream leaves errno alone. */
	ASSERT_EQ(0, errno);
}

static int find(const struct listing *l, const char *name)
{
	for (unsigned int i = 0; i != l->n; i++)
		if (!strcmp(l->names[i], name))
			return i;
	return -1;
}

TEST(root_lists_the_fault_injection_directories)
{
	struct listing l, again;
	struct stat st;
	int i;
	DIR *d;

	emulated();
	d = opendir(DEBUGFS);
	ASSERT_NONNULL(d);
	list_stream(d, &l);
	ASSERT_EQ(2 + NR_DIRS, l.n);
	ASSERT_EQ(0, strcmp(l.names[0], "."));
	ASSERT_EQ(0, strcmp(l.names[1], ".."));
	for (unsigned int n = 0; n != NR_DIRS; n++) {
		char path[128];

		i = find(&l, dirs[n].name);
		ASSERT_LE(0, i);
		ASSERT_EQ(DT_DIR, l.types[i]);
		/* The entry's inode is the directory's own. */
		snprintf(path, sizeof(path), DEBUGFS "/%s", dirs[n].name);
		ASSERT_EQ(0, stat(path, &st));
		ASSERT_EQ(l.inos[i], st.st_ino);
	}
	/* "." is the root itself; so is its "..", the root of a mount. */
	ASSERT_EQ(0, stat(DEBUGFS, &st));
	ASSERT_EQ(st.st_ino, l.inos[0]);
	ASSERT_EQ(st.st_ino, l.inos[1]);
	ASSERT_EQ(DT_DIR, l.types[0]);
	/* At the end it stays at the end; rewinddir starts again. */
	ASSERT_NULL(readdir(d));
	rewinddir(d);
	list_stream(d, &again);
	ASSERT_EQ(0, memcmp(&l, &again, sizeof(l)));
	ASSERT_EQ(0, closedir(d));
}

TEST(directories_list_their_attribute_files)
{
	struct listing l;
	struct stat root;
	int dfd, sub;
	DIR *d;

	emulated();
	ASSERT_EQ(0, stat(DEBUGFS "/", &root));
	dfd = open(DEBUGFS, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, dfd);
	for (unsigned int n = 0; n != NR_DIRS; n++) {
		sub = openat(dfd, dirs[n].name,
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ASSERT_LE(0, sub);
		d = fdopendir(sub);
		ASSERT_NONNULL(d);
		ASSERT_EQ(sub, dirfd(d));
		list_stream(d, &l);
		ASSERT_EQ(2 + nr_attrs(dirs[n].attrs), l.n);
		ASSERT_EQ(0, strcmp(l.names[0], "."));
		ASSERT_EQ(0, strcmp(l.names[1], ".."));
		ASSERT_EQ(root.st_ino, l.inos[1]);
		for (const struct attr *a = dirs[n].attrs; a->name; a++) {
			int i = find(&l, a->name);

			if (i < 0)
				TH_LOG("%s/%s is not listed", dirs[n].name,
				       a->name);
			ASSERT_LE(0, i);
			ASSERT_EQ(DT_REG, l.types[i]);
		}
		ASSERT_EQ(0, closedir(d));
		ASSERT_FALSE(fd_is_open(sub));
	}
	ASSERT_EQ(0, close(dfd));
}

TEST(streams_tell_seek_and_readdir_r)
{
	struct dirent ent, *res = NULL;
	struct dirent64 *ent64;
	long at;
	DIR *d;

	emulated();
	d = opendir(DEBUGFS "/failslab");
	ASSERT_NONNULL(d);
	ASSERT_NONNULL(readdir(d));
	ASSERT_NONNULL(readdir(d));
	at = telldir(d);
	ent64 = readdir64(d);
	ASSERT_NONNULL(ent64);
	ASSERT_STREQ("probability", ent64->d_name);
	ASSERT_NONNULL(readdir(d));
	seekdir(d, at);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	ASSERT_EQ(0, readdir_r(d, &ent, &res));
	ASSERT_TRUE(res == &ent);
	ASSERT_STREQ("probability", ent.d_name);
	ASSERT_EQ(DT_REG, ent.d_type);
	while (res)
		ASSERT_EQ(0, readdir_r(d, &ent, &res));
	/* A bad buffer is EFAULT, not a crash. */
	rewinddir(d);
	ASSERT_EQ(EFAULT, readdir_r(d, bad_ptr(), &res));
#pragma GCC diagnostic pop
	ASSERT_EQ(0, closedir(d));
}

TEST(opendir_errors)
{
	DIR *d;
	int fd;

	emulated();
	errno = 0;
	ASSERT_NULL(opendir(DEBUGFS "/failslab/verbose"));
	ASSERT_EQ(ENOTDIR, errno);
	ASSERT_NULL(opendir(DEBUGFS "/fail_nothing"));
	ASSERT_EQ(ENOENT, errno);
	ASSERT_NULL(opendir(DEBUGFS "/failslab/verbose/"));
	ASSERT_EQ(ENOTDIR, errno);
	fd = open(DEBUGFS "/failslab/times", O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_NULL(fdopendir(fd));
	ASSERT_EQ(ENOTDIR, errno);
	ASSERT_EQ(0, close(fd));
	/* Spellings of the same directory. */
	d = opendir("//sys/kernel/./debug/failslab/../fail_page_alloc/");
	ASSERT_NONNULL(d);
	ASSERT_EQ(0, closedir(d));
	/* glibc's streams are untouched while ours are open. */
	d = opendir(DEBUGFS);
	ASSERT_NONNULL(d);
	{
		DIR *proc = opendir("/proc/self/fd");
		struct listing l;

		ASSERT_NONNULL(proc);
		list_stream(proc, &l);
		ASSERT_LE(0, find(&l, "0"));
		ASSERT_LE(0, dirfd(proc));
		ASSERT_EQ(0, closedir(proc));
	}
	ASSERT_EQ(0, closedir(d));
}

/* ---- values ---- */

TEST(every_file_reads_the_kernel_default)
{
	char path[160], text[64];

	emulated();
	FOR_EACH_ATTR(d, a, path) {
		read_file(path, text, sizeof(text));
		if (strcmp(a->def, text))
			TH_LOG("%s reads \"%s\"", path, text);
		ASSERT_STREQ(a->def, text);
	}
}

struct parse_case {
	const char *file, *in, *out;
};

/* What the kernel reads back after each write (debugfs's parsing). */
static const struct parse_case parses[] = {
	{ "failslab/probability", "100", "100\n" },
	{ "failslab/probability", "0x10\n", "16\n" },
	{ "failslab/probability", "010", "8\n" },
	{ "failslab/probability", "+5", "5\n" },
	{ "failslab/probability", "0", "0\n" },
	{ "failslab/interval", "18446744073709551615", "18446744073709551615\n" },
	{ "failslab/times", "-1", "-1\n" },
	{ "failslab/times", "-1\n", "-1\n" },
	{ "failslab/times", "4294967295", "-1\n" },	/* an int */
	{ "failslab/times", "7", "7\n" },
	{ "failslab/space", "0x7fffffff", "2147483647\n" },
	{ "failslab/verbose_ratelimit_burst", "4294967296", "0\n" },	/* u32 */
	{ "failslab/verbose_ratelimit_interval_ms", "4294967295",
	  "4294967295\n" },
	{ "failslab/stacktrace-depth", "100", "32\n" },
	{ "failslab/stacktrace-depth", "5", "5\n" },
	{ "failslab/require-start", "4096", "0x0000000000001000\n" },
	{ "failslab/reject-end", "0xffffffffffffffff", "0xffffffffffffffff\n" },
	{ "failslab/task-filter", "Y", "Y\n" },
	{ "failslab/task-filter", "n\n", "N\n" },
	{ "failslab/task-filter", "1", "Y\n" },
	{ "failslab/task-filter", "0", "N\n" },
	{ "failslab/task-filter", "on", "Y\n" },
	{ "failslab/task-filter", "off", "N\n" },
	{ "failslab/task-filter", "yes please", "Y\n" },	/* 3 bytes read */
	{ "failslab/cache-filter", "true", "Y\n" },
	{ "fail_page_alloc/min-order", "0", "0\n" },
	{ "fail_page_alloc/ignore-gfp-highmem", "N", "N\n" },
	/* debugfs reads 23 bytes: the rest is not looked at. */
	{ "fail_page_alloc/probability", "000000000000000000000000000009",
	  "0\n" },
};

TEST(writes_read_back_in_the_kernel_format)
{
	char path[160];

	emulated();
	for (unsigned int i = 0; i != sizeof(parses) / sizeof(parses[0]);
	     i++) {
		const struct parse_case *c = &parses[i];
		char text[64];

		snprintf(path, sizeof(path), DEBUGFS "/%s", c->file);
		ASSERT_EQ((ssize_t)strlen(c->in), write_file(path, c->in));
		read_file(path, text, sizeof(text));
		if (strcmp(c->out, text))
			TH_LOG("%s: \"%s\" reads \"%s\"", c->file, c->in, text);
		ASSERT_STREQ(c->out, text);
	}
}

struct bad_case {
	const char *file, *in;
	int err;
};

static const struct bad_case bads[] = {
	{ "failslab/probability", "", EINVAL },
	{ "failslab/probability", "x", EINVAL },
	{ "failslab/probability", "-1", EINVAL },
	{ "failslab/probability", "1x", EINVAL },
	{ "failslab/probability", " 1", EINVAL },
	{ "failslab/probability", "1 ", EINVAL },
	{ "failslab/probability", "1\n\n", EINVAL },
	{ "failslab/probability", "0x", EINVAL },
	{ "failslab/probability", "08", EINVAL },
	{ "failslab/probability", "++1", EINVAL },
	{ "failslab/probability", "18446744073709551616", ERANGE },
	{ "failslab/probability", "99999999999999999999x", ERANGE },
	{ "failslab/times", "9223372036854775808", ERANGE },
	{ "failslab/times", "-9223372036854775809", ERANGE },
	{ "failslab/times", "--1", EINVAL },
	{ "failslab/require-end", "-1", EINVAL },
	{ "failslab/ignore-gfp-wait", "", EINVAL },
	{ "failslab/ignore-gfp-wait", "x", EINVAL },
	{ "failslab/ignore-gfp-wait", "o", EINVAL },
	{ "failslab/ignore-gfp-wait", "2", EINVAL },
	{ "failslab/ignore-gfp-wait", " Y", EINVAL },
	{ "fail_page_alloc/min-order", "-1", EINVAL },
};

TEST(bad_values_are_refused_and_change_nothing)
{
	char path[160], before[64], after[64];

	emulated();
	for (unsigned int i = 0; i != sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad_case *c = &bads[i];
		ssize_t n;

		snprintf(path, sizeof(path), DEBUGFS "/%s", c->file);
		read_file(path, before, sizeof(before));
		errno = 0;
		n = write_file(path, c->in);
		if (n != -1 || errno != c->err)
			TH_LOG("%s: \"%s\" gives %zd, errno %d", c->file,
			       c->in, n, errno);
		ASSERT_EQ(-1, n);
		ASSERT_EQ(c->err, errno);
		read_file(path, after, sizeof(after));
		ASSERT_STREQ(before, after);
	}
}

TEST(files_read_like_files)
{
	char text[64] = {};
	int fd, fd2;

	emulated();
	fd = open(DEBUGFS "/failslab/require-end", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	/* Sequential reads move along, then reach the end. */
	ASSERT_EQ(2, read(fd, text, 2));
	ASSERT_EQ(17, read(fd, text + 2, sizeof(text) - 3));
	ASSERT_STREQ("0xffffffffffffffff\n", text);
	ASSERT_EQ(0, read(fd, text, sizeof(text)));
	/* A write does not move the position; lseek does. */
	ASSERT_EQ(3, write(fd, "255", 3));
	ASSERT_EQ(0, read(fd, text, sizeof(text)));
	ASSERT_EQ(0, lseek(fd, 0, SEEK_SET));
	memset(text, 0, sizeof(text));
	ASSERT_EQ(19, read(fd, text, sizeof(text)));
	ASSERT_STREQ("0x00000000000000ff\n", text);
	/* pread leaves the position alone. */
	memset(text, 0, sizeof(text));
	ASSERT_EQ(3, pread(fd, text, sizeof(text), 16));
	ASSERT_STREQ("ff\n", text);
	ASSERT_EQ(0, pread(fd, text, sizeof(text), 19));
	ASSERT_ERRNO(EINVAL, pread(fd, text, sizeof(text), -1));
	/* Every open file description of a file sees the one value. */
	fd2 = open(DEBUGFS "/failslab/require-end", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(3, pwrite(fd, "0x1", 3, 0));
	memset(text, 0, sizeof(text));
	ASSERT_EQ(19, read(fd2, text, sizeof(text)));
	ASSERT_STREQ("0x0000000000000001\n", text);
	/* No ioctls. */
	ASSERT_ERRNO(ENOTTY, ioctl(fd, IOMMU_IOAS_ALLOC, text));
	ASSERT_EQ(0, close(fd2));
	ASSERT_EQ(0, close(fd));
}

/* The memfd holds the text: reads the shim never sees read the value. */
TEST(reads_past_the_shim_read_the_value)
{
	char line[64], raw[64] = {};
	FILE *f;
	int fd;

	emulated();
	ASSERT_EQ(2, write_file(DEBUGFS "/fail_page_alloc/times", "42"));
	fd = open(DEBUGFS "/fail_page_alloc/times", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(3, syscall(SYS_pread64, fd, raw, sizeof(raw), 0));
	ASSERT_STREQ("42\n", raw);
	f = fdopen(fd, "r");
	ASSERT_NONNULL(f);
	ASSERT_NONNULL(fgets(line, sizeof(line), f));
	ASSERT_STREQ("42\n", line);
	ASSERT_EQ(0, fclose(f));
}

/* _FORTIFY_SOURCE reads: __read_chk and __pread_chk are answered too. */
TEST(checked_reads)
{
	char text[32] = {};
	size_t len = read_len;
	int fd;

	emulated();
	fd = open(DEBUGFS "/failslab/verbose", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	/* Fortified, this is __read_chk: the size of text is known. */
	ASSERT_EQ(2, read(fd, text, len - 1));
	ASSERT_STREQ("2\n", text);
	memset(text, 0, sizeof(text));
	ASSERT_EQ(2, pread(fd, text, len - 1, 0));
	ASSERT_STREQ("2\n", text);
	memset(text, 0, sizeof(text));
	ASSERT_EQ(0, lseek(fd, 0, SEEK_SET));
	ASSERT_EQ(2, __read_chk(fd, text, 8, sizeof(text)));
	ASSERT_EQ(0, __read_chk(fd, text, 8, sizeof(text)));
	ASSERT_EQ(1, __pread_chk(fd, text, 8, 1, sizeof(text)));
	ASSERT_STREQ("\n\n", text);
	ASSERT_EQ(0, close(fd));
}

/* ---- every way to open ---- */

/* @fd is a file of ours holding "2\n" (a verbose file at its default). */
static int is_verbose(int fd)
{
	char text[8] = {};
	struct stat st;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    pread(fd, text, sizeof(text) - 1, 0) != 2 || strcmp(text, "2\n")) {
		close(fd);
		return -1;
	}
	return close(fd);
}

TEST(every_open_entry_point)
{
	const char *path = DEBUGFS "/fail_page_alloc/verbose";
	int flags = rdonly_flags, dfd, sub;

#if !defined(__USE_FORTIFY_LEVEL) || __USE_FORTIFY_LEVEL < 1
	TH_LOG("not built fortified: the plain entry points");
#endif
	emulated();
	dfd = open(DEBUGFS, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, dfd);
	sub = openat(dfd, "fail_page_alloc", O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, sub);
	/* Fortified, variable flags take __open_2 and __openat_2. */
	ASSERT_EQ(0, is_verbose(open(path, flags)));
	ASSERT_EQ(0, is_verbose(open64(path, flags)));
	ASSERT_EQ(0, is_verbose(openat(AT_FDCWD, path, flags)));
	ASSERT_EQ(0, is_verbose(openat64(AT_FDCWD, path, flags)));
	ASSERT_EQ(0, is_verbose(openat(dfd, "fail_page_alloc/verbose", flags)));
	ASSERT_EQ(0, is_verbose(openat64(sub, "verbose", flags)));
	ASSERT_EQ(0, is_verbose(openat(sub, path, flags)));	/* absolute */
	/* Constant flags: the plain entry points, fortified or not. */
	ASSERT_EQ(0, is_verbose(open(path, O_RDONLY)));
	ASSERT_EQ(0, is_verbose(openat(sub, "verbose", O_RDONLY)));
	/* The fortified entry points by name. */
	ASSERT_EQ(0, is_verbose(__open_2(path, O_RDONLY)));
	ASSERT_EQ(0, is_verbose(__open64_2(path, O_RDONLY)));
	ASSERT_EQ(0, is_verbose(__openat_2(dfd, "fail_page_alloc/verbose",
					   O_RDONLY)));
	ASSERT_EQ(0, is_verbose(__openat64_2(sub, "./verbose", O_RDONLY)));
	/* A mode where none is needed is harmless. */
	ASSERT_EQ(0, is_verbose(open(path, O_RDONLY, 0600)));
	ASSERT_EQ(0, close(sub));
	ASSERT_EQ(0, close(dfd));
}

/* @fd is one of the shim's: a directory or a file of the tree. */
static void assert_ours(int fd, bool dir)
{
	struct stat st;
	struct statfs sfs;

	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ(dir, S_ISDIR(st.st_mode));
	ASSERT_EQ(0, fstatfs(fd, &sfs));
	ASSERT_EQ(DEBUGFS_MAGIC, sfs.f_type);
}

TEST(openat_relative_to_directories)
{
	int dfd, sub, fd, flags = wronly_flags;
	struct stat st, real_st;

	emulated();
	dfd = open(DEBUGFS "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, dfd);
	sub = openat(dfd, "failslab", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, sub);
	/* The kernel prelude's way, through a fortified open too. */
	fd = openat(dfd, "failslab/probability", flags);
	ASSERT_LE(0, fd);
	ASSERT_EQ(2, write(fd, "50", 2));
	ASSERT_EQ(0, close(fd));
	ASSERT_READS("50\n", DEBUGFS "/failslab/probability");
	fd = openat(sub, "../fail_page_alloc//min-order", O_WRONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(2, write(fd, "3\n", 2));
	ASSERT_EQ(0, close(fd));
	ASSERT_READS("3\n", DEBUGFS "/fail_page_alloc/min-order");
	/* A directory descriptor opens its own directory again. */
	fd = openat(sub, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_TRUE(S_ISDIR(st.st_mode));
	ASSERT_EQ(0, close(fd));
	/* What the kernel says for names that cannot be opened. */
	ASSERT_ERRNO(ENOENT, openat(sub, "nothing", O_RDONLY));
	ASSERT_ERRNO(ENOENT, openat(dfd, "nothing/verbose", O_RDONLY));
	ASSERT_ERRNO(ENOTDIR, openat(sub, "verbose/x", O_RDONLY));
	ASSERT_ERRNO(ENOTDIR, openat(sub, "verbose/", O_RDONLY));
	ASSERT_ERRNO(ENOTDIR, openat(sub, "verbose/..", O_RDONLY));
	ASSERT_ERRNO(ENOTDIR, openat(sub, "verbose", O_RDONLY | O_DIRECTORY));
	ASSERT_ERRNO(EACCES, openat(sub, "new", O_WRONLY | O_CREAT, 0600));
	ASSERT_ERRNO(ENOENT, openat(sub, "no/new", O_WRONLY | O_CREAT, 0600));
	ASSERT_ERRNO(EEXIST, openat(sub, "verbose",
				    O_WRONLY | O_CREAT | O_EXCL, 0600));
	ASSERT_ERRNO(EINVAL, openat(sub, "x", O_RDONLY | O_CREAT | O_DIRECTORY,
				    0600));
	ASSERT_ERRNO(EISDIR, openat(dfd, "failslab", O_WRONLY));
	ASSERT_ERRNO(EISDIR, openat(dfd, "failslab", O_RDWR));
	ASSERT_ERRNO(EISDIR, openat(dfd, ".", O_RDONLY | O_CREAT, 0600));
	ASSERT_ERRNO(EOPNOTSUPP, openat(dfd, "failslab", O_TMPFILE | O_RDWR,
					0600));
	ASSERT_ERRNO(ENOENT, openat(dfd, "", O_RDONLY));
	/* A file is no directory to start from. */
	fd = openat(sub, "times", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_ERRNO(ENOTDIR, openat(fd, "x", O_RDONLY));
	ASSERT_EQ(0, close(fd));
	/* Out of the tree by "..": the real file system, as the kernel has. */
	fd = openat(dfd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (syscall(SYS_newfstatat, AT_FDCWD, "/sys/kernel", &real_st, 0)) {
		ASSERT_EQ(-1, fd);
	} else {
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, fstat(fd, &st));
		ASSERT_EQ(real_st.st_dev, st.st_dev);
		ASSERT_EQ(real_st.st_ino, st.st_ino);
		ASSERT_EQ(0, close(fd));
	}
	/* And back in by its name. */
	fd = openat(sub, "../../debug/failslab/times", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	assert_ours(fd, false);
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, stat("/sys/kernel/x/../debug/failslab/", &st));
	ASSERT_TRUE(S_ISDIR(st.st_mode));
	ASSERT_EQ(0755, st.st_mode & 0777);
	ASSERT_ERRNO(ENOENT, stat("/sys/kernel/debugx/failslab", &st));
	ASSERT_EQ(0, fstatat(sub, "../../..", &st, 0));
	ASSERT_EQ(0, syscall(SYS_newfstatat, AT_FDCWD, "/sys", &real_st, 0));
	ASSERT_EQ(real_st.st_ino, st.st_ino);
	ASSERT_EQ(0, close(sub));
	ASSERT_EQ(0, close(dfd));
}

TEST(descriptors_are_real_and_keep_their_modes)
{
	char text[16];
	int fd, wfd, pfd, dfd, dup_fd;

	emulated();
	fd = open(DEBUGFS "/failslab/space", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD));
	ASSERT_ERRNO(EBADF, write(fd, "1", 1));
	wfd = open(DEBUGFS "/failslab/space", O_WRONLY);
	ASSERT_LE(0, wfd);
	ASSERT_EQ(0, fcntl(wfd, F_GETFD));
	ASSERT_ERRNO(EBADF, read(wfd, text, sizeof(text)));
	pfd = open(DEBUGFS "/failslab/space", O_PATH | O_CLOEXEC);
	ASSERT_LE(0, pfd);
	ASSERT_ERRNO(EBADF, read(pfd, text, sizeof(text)));
	ASSERT_ERRNO(EBADF, write(pfd, "1", 1));
	dfd = open(DEBUGFS "/failslab", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, dfd);
	ASSERT_ERRNO(EISDIR, read(dfd, text, sizeof(text)));
	ASSERT_ERRNO(EBADF, write(dfd, "1", 1));
	/* A dup is the same open file: same value, same position. */
	dup_fd = dup(fd);
	ASSERT_LE(0, dup_fd);
	ASSERT_EQ(1, write(wfd, "9", 1));
	ASSERT_EQ(2, read(dup_fd, text, sizeof(text)));
	ASSERT_EQ(0, read(fd, text, sizeof(text)));
	ASSERT_EQ(0, close(dup_fd));
	/* A dup2 over one of ours closes it. */
	ASSERT_EQ(wfd, dup2(fd, wfd));
	ASSERT_ERRNO(EBADF, write(wfd, "1", 1));
	ASSERT_EQ(0, close(wfd));
	ASSERT_EQ(0, close(pfd));
	ASSERT_EQ(0, close(dfd));
	ASSERT_EQ(0, close(fd));
	ASSERT_ERRNO(EBADF, close(fd));
}

/* ---- stat, access, statfs ---- */

static void check_stat(const struct stat *st, bool dir, bool root)
{
	ASSERT_EQ(dir, S_ISDIR(st->st_mode));
	ASSERT_EQ(!dir, S_ISREG(st->st_mode));
	ASSERT_EQ(root ? 0700 : dir ? 0755 : 0600, st->st_mode & 07777);
	ASSERT_EQ(0, st->st_size);
	ASSERT_EQ(dir ? (root ? 4 : 2) : 1, st->st_nlink);
	ASSERT_EQ(geteuid(), st->st_uid);
}

/* Every stat call on @path (and on @rel from @dfd) agrees. */
static void stat_everyway(const char *path, int dfd, const char *rel,
			  bool dir, bool root)
{
	struct stat st, st2;
	struct stat64 st64;
	struct statx stx;
	int fd;

	ASSERT_EQ(0, stat(path, &st));
	check_stat(&st, dir, root);
	ASSERT_EQ(0, lstat(path, &st2));
	ASSERT_EQ(0, memcmp(&st, &st2, sizeof(st)));
	ASSERT_EQ(0, stat64(path, &st64));
	ASSERT_EQ(0, memcmp(&st, &st64, sizeof(st)));
	ASSERT_EQ(0, lstat64(path, &st64));
	ASSERT_EQ(0, memcmp(&st, &st64, sizeof(st)));
	ASSERT_EQ(0, fstatat(AT_FDCWD, path, &st2, AT_SYMLINK_NOFOLLOW));
	ASSERT_EQ(0, memcmp(&st, &st2, sizeof(st)));
	ASSERT_EQ(0, fstatat64(dfd, rel, &st64, 0));
	ASSERT_EQ(0, memcmp(&st, &st64, sizeof(st)));
	ASSERT_EQ(0, __xstat(1, path, &st2));
	ASSERT_EQ(0, memcmp(&st, &st2, sizeof(st)));
	ASSERT_EQ(0, __lxstat(1, path, &st2));
	ASSERT_EQ(0, memcmp(&st, &st2, sizeof(st)));
	ASSERT_EQ(0, __fxstatat(1, dfd, rel, &st2, 0));
	ASSERT_EQ(0, memcmp(&st, &st2, sizeof(st)));
	ASSERT_EQ(0, statx(dfd, rel, 0, STATX_BASIC_STATS, &stx));
	ASSERT_EQ(st.st_ino, stx.stx_ino);
	ASSERT_EQ(st.st_mode, stx.stx_mode);
	ASSERT_EQ(st.st_nlink, stx.stx_nlink);
	ASSERT_EQ(major(st.st_dev), stx.stx_dev_major);
	ASSERT_EQ(minor(st.st_dev), stx.stx_dev_minor);
	ASSERT_EQ(STATX_BASIC_STATS, stx.stx_mask & STATX_BASIC_STATS);
	/* And on a descriptor. */
	fd = open(path, O_PATH | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fstat(fd, &st2));
	ASSERT_EQ(0, memcmp(&st, &st2, sizeof(st)));
	ASSERT_EQ(0, fstat64(fd, &st64));
	ASSERT_EQ(0, memcmp(&st, &st64, sizeof(st)));
	ASSERT_EQ(0, __fxstat(1, fd, &st2));
	ASSERT_EQ(0, memcmp(&st, &st2, sizeof(st)));
	ASSERT_EQ(0, fstatat(fd, "", &st2, AT_EMPTY_PATH));
	ASSERT_EQ(0, memcmp(&st, &st2, sizeof(st)));
	ASSERT_EQ(0, statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx));
	ASSERT_EQ(st.st_ino, stx.stx_ino);
	ASSERT_EQ(0, close(fd));
	/* Access: the files are the caller's, read-write, not executable. */
	ASSERT_EQ(0, access(path, F_OK));
	ASSERT_EQ(0, access(path, R_OK | W_OK));
	ASSERT_EQ(0, faccessat(dfd, rel, W_OK, 0));
	ASSERT_EQ(0, faccessat(dfd, rel, R_OK, AT_EACCESS));
	ASSERT_EQ(0, euidaccess(path, W_OK));
	ASSERT_EQ(0, eaccess(path, R_OK));
	if (dir) {
		ASSERT_EQ(0, access(path, X_OK));
	} else {
		ASSERT_ERRNO(EACCES, access(path, X_OK));
		ASSERT_ERRNO(EACCES, faccessat(dfd, rel, R_OK | X_OK, 0));
	}
}

TEST(stat_and_access_every_file)
{
	char path[160], rel[160];
	ino_t inos[64];
	unsigned int n = 0;
	struct stat st;
	int dfd;

	emulated();
	dfd = open(DEBUGFS, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, dfd);
	stat_everyway(DEBUGFS, dfd, ".", true, true);
	for (unsigned int d = 0; d != NR_DIRS; d++) {
		snprintf(path, sizeof(path), DEBUGFS "/%s", dirs[d].name);
		stat_everyway(path, dfd, dirs[d].name, true, false);
	}
	FOR_EACH_ATTR(d, a, path) {
		snprintf(rel, sizeof(rel), "%s/%s", dirs[d].name, a->name);
		stat_everyway(path, dfd, rel, false, false);
		/* Each file is an inode of its own. */
		ASSERT_EQ(0, stat(path, &st));
		for (unsigned int i = 0; i != n; i++)
			ASSERT_NE(inos[i], st.st_ino);
		inos[n++] = st.st_ino;
	}
	/* Errors, as for open. */
	ASSERT_ERRNO(ENOENT, stat(DEBUGFS "/failslab/nothing", &st));
	ASSERT_ERRNO(ENOTDIR, stat(DEBUGFS "/failslab/times/", &st));
	ASSERT_ERRNO(ENOENT, access(DEBUGFS "/nothing", F_OK));
	ASSERT_ERRNO(EINVAL, access(DEBUGFS, 0100));
	ASSERT_ERRNO(EINVAL, fstatat(dfd, "failslab", &st, 0x10000000));
	ASSERT_ERRNO(ENOENT, fstatat(dfd, "", &st, 0));
	ASSERT_ERRNO(EFAULT, stat(DEBUGFS "/failslab", bad_ptr()));
	ASSERT_ERRNO(EFAULT, fstat(dfd, bad_ptr()));
	ASSERT_ERRNO(EFAULT, statx(dfd, "failslab", 0, STATX_BASIC_STATS,
				   bad_ptr()));
	ASSERT_EQ(0, close(dfd));
}

TEST(statfs_says_debugfs)
{
	struct statfs sfs;
	struct statfs64 sfs64;
	int fd;

	emulated();
	ASSERT_EQ(0, statfs(DEBUGFS, &sfs));
	ASSERT_EQ(DEBUGFS_MAGIC, sfs.f_type);
	ASSERT_EQ(0, statfs64(DEBUGFS "/failslab/times", &sfs64));
	ASSERT_EQ(DEBUGFS_MAGIC, sfs64.f_type);
	fd = open(DEBUGFS "/fail_page_alloc", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fstatfs(fd, &sfs));
	ASSERT_EQ(DEBUGFS_MAGIC, sfs.f_type);
	ASSERT_EQ(0, fstatfs64(fd, &sfs64));
	ASSERT_EQ(DEBUGFS_MAGIC, sfs64.f_type);
	ASSERT_EQ(0, close(fd));
	ASSERT_ERRNO(ENOENT, statfs(DEBUGFS "/nothing", &sfs));
	ASSERT_ERRNO(EFAULT, statfs(DEBUGFS, bad_ptr()));
	/* Other file systems are what they are. */
	ASSERT_EQ(0, statfs("/proc", &sfs));
	ASSERT_NE(DEBUGFS_MAGIC, sfs.f_type);
}

TEST(bad_buffers_are_efault)
{
	int fd;

	emulated();
	fd = open(DEBUGFS "/failslab/times", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_ERRNO(EFAULT, write(fd, bad_ptr(), 1));
	ASSERT_ERRNO(EFAULT, read(fd, bad_ptr(), 8));
	ASSERT_ERRNO(EFAULT, pread(fd, bad_ptr(), 8, 0));
	ASSERT_READS("1\n", DEBUGFS "/failslab/times");
	ASSERT_EQ(0, close(fd));
}

/* ---- nothing on disk, one state per process ---- */

/* The real directory @path, through system calls the shim cannot see. */
static int raw_listing(const char *path, char *names, size_t room)
{
	char buf[4096];
	int fd = syscall(SYS_openat, AT_FDCWD, path,
			 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t len = 0;
	long n;

	names[0] = 0;
	if (fd < 0)
		return -errno;
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			/* struct linux_dirent64: ino, off, reclen, type, name */
			unsigned short reclen;
			const char *name = buf + off + 19;

			memcpy(&reclen, buf + off + 16, sizeof(reclen));
			len += snprintf(names + len, room - len, "%s/", name);
			if (len >= room)
				len = room - 1;
			off += reclen;
		}
	}
	syscall(SYS_close, fd);
	return 0;
}

/* Every descriptor of ours is a memfd: it names no file on disk. */
static void assert_memfd(int fd)
{
	char link[64], target[256];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	ASSERT_LT(0, n);
	target[n] = 0;
	if (strncmp(target, "/memfd:", 7))
		TH_LOG("descriptor %d is %s", fd, target);
	ASSERT_EQ(0, strncmp(target, "/memfd:", 7));
}

TEST(nothing_reaches_the_disk)
{
	static char before[8192], after[8192];
	int rc_before, fds[4];
	pid_t pid;
	DIR *d;

	emulated();
	rc_before = raw_listing(DEBUGFS, before, sizeof(before));
	d = opendir(DEBUGFS);
	ASSERT_NONNULL(d);
	fds[0] = dirfd(d);
	fds[1] = openat(fds[0], "failslab", O_RDONLY | O_DIRECTORY);
	fds[2] = openat(fds[1], "probability", O_RDWR);
	fds[3] = open(DEBUGFS "/fail_page_alloc/times", O_PATH);
	for (int i = 0; i != 4; i++) {
		ASSERT_LE(0, fds[i]);
		assert_memfd(fds[i]);
	}
	ASSERT_EQ(2, write(fds[2], "10", 2));
	/* A child killed while it holds the files leaves nothing either. */
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid) {
		if (write(fds[2], "77", 2) != 2)
			_exit(2);
		close(open(DEBUGFS "/failslab/interval", O_RDONLY));
		raise(SIGKILL);
		_exit(1);
	}
	ASSERT_EQ(-SIGKILL, wait_child(pid, 30));
	/* The child had its own copy of the values. */
	ASSERT_READS("10\n", DEBUGFS "/failslab/probability");
	for (int i = 1; i != 4; i++)
		ASSERT_EQ(0, close(fds[i]));
	ASSERT_EQ(0, closedir(d));
	ASSERT_EQ(rc_before, raw_listing(DEBUGFS, after, sizeof(after)));
	ASSERT_STREQ(before, after);
}

TEST(a_child_gets_a_copy)
{
	pid_t pid;

	emulated();
	ASSERT_EQ(1, write_file(DEBUGFS "/failslab/space", "5"));
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid) {
		char text[16];

		read_file(DEBUGFS "/failslab/space", text, sizeof(text));
		if (strcmp(text, "5\n"))
			_exit(2);
		_exit(write_file(DEBUGFS "/failslab/space", "6") == 1 ? 0 : 3);
	}
	ASSERT_EQ(0, wait_child(pid, 30));
	ASSERT_READS("5\n", DEBUGFS "/failslab/space");
}

/* ---- the choice between the host's debugfs and the emulation ---- */

/* Same result and errno from the shim and from the system call itself. */
#define ASSERT_SAME(shim_call, raw_call)                                   \
	do {                                                               \
		long _a, _b;                                               \
		int _ea, _eb;                                              \
		errno = 0;                                                 \
		_a = (shim_call);                                          \
		_ea = errno;                                               \
		errno = 0;                                                 \
		_b = (raw_call);                                           \
		_eb = errno;                                               \
		ASSERT_EQ(_b < 0 ? -1 : 0, _a < 0 ? -1 : 0);               \
		if (_b < 0)                                                \
			ASSERT_EQ(_eb, _ea);                               \
	} while (0)

/* Nothing is emulated: every call is the kernel's own. */
static void assert_host(void)
{
	const char *path = DEBUGFS "/failslab/verbose";
	struct stat st, raw_st;
	int fd;

	ASSERT_SAME(fd = open(path, O_RDONLY | O_CLOEXEC),
		    syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC));
	if (fd >= 0)
		close(fd);
	ASSERT_SAME(stat(path, &st),
		    syscall(SYS_newfstatat, AT_FDCWD, path, &raw_st, 0));
	ASSERT_SAME(stat(DEBUGFS, &st),
		    syscall(SYS_newfstatat, AT_FDCWD, DEBUGFS, &raw_st, 0));
	if (!stat(DEBUGFS, &st))
		ASSERT_EQ(raw_st.st_ino, st.st_ino);
	ASSERT_SAME(access(path, F_OK),
		    syscall(SYS_faccessat, AT_FDCWD, path, F_OK));
}

TEST(host_mode_passes_everything_through)
{
	ASSERT_EQ(0, setenv("UIOMMUFD_DEBUGFS", "host", 1));
	assert_host();
}

/* Auto: the kernel's debugfs where it is mounted and writable. */
TEST(auto_mode_follows_the_host)
{
	struct statfs sfs;
	bool host;
	DIR *d;

	ASSERT_EQ(0, setenv("UIOMMUFD_DEBUGFS", "auto", 1));
	host = !syscall(SYS_statfs, DEBUGFS, &sfs) &&
	       sfs.f_type == DEBUGFS_MAGIC &&
	       !syscall(SYS_faccessat, AT_FDCWD, DEBUGFS "/failslab", W_OK);
	TH_LOG("the host's debugfs is %s", host ? "writable" : "not there");
	if (host) {
		assert_host();
		return;
	}
	d = opendir(DEBUGFS);
	ASSERT_NONNULL(d);
	ASSERT_EQ(0, closedir(d));
	ASSERT_READS("1\n", DEBUGFS "/failslab/interval");
}

/* ---- threads ---- */

struct writer {
	pthread_t thread;
	char value[8];
	int bad;
};

static void *writer_thread(void *arg)
{
	struct writer *w = arg;
	const char *path = DEBUGFS "/fail_page_alloc/probability";

	for (int i = 0; i != 200; i++) {
		char text[32] = {};
		int fd = open(path, O_RDWR | O_CLOEXEC);

		if (fd < 0 || write(fd, w->value, strlen(w->value)) < 0 ||
		    pread(fd, text, sizeof(text) - 1, 0) < 2)
			w->bad++;
		/* Whatever value won, it is one of the values written. */
		else if (strcmp(text, "11\n") && strcmp(text, "22\n") &&
			 strcmp(text, "33\n") && strcmp(text, "44\n"))
			w->bad++;
		close(fd);
	}
	return NULL;
}

TEST(threads_read_and_write_at_once)
{
	struct writer w[4] = {};

	emulated();
	for (int i = 0; i != 4; i++) {
		snprintf(w[i].value, sizeof(w[i].value), "%d", 11 * (i + 1));
		ASSERT_EQ(0, pthread_create(&w[i].thread, NULL, writer_thread,
					    &w[i]));
	}
	for (int i = 0; i != 4; i++) {
		ASSERT_EQ(0, pthread_join(w[i].thread, NULL));
		ASSERT_EQ(0, w[i].bad);
	}
}

/*
 * A fork while another thread is inside a read of an emulated file: the
 * child's copy of the file must not keep that thread's lock (it would
 * hang at its first read, with every signal blocked).
 */
struct reader {
	pthread_t thread;
	int fd;
	atomic_bool stop;
};

static void *reader_thread(void *arg)
{
	struct reader *r = arg;
	char buf[32];

	while (!atomic_load(&r->stop))
		if (pread(r->fd, buf, sizeof(buf), 0) <= 0)
			break;
	return NULL;
}

TEST(fork_while_another_thread_reads)
{
	struct reader r = {};

	emulated();
	r.fd = open("/sys/kernel/debug/failslab/times", O_RDONLY);
	ASSERT_LE(0, r.fd);
	ASSERT_EQ(0, pthread_create(&r.thread, NULL, reader_thread, &r));
	for (int i = 0; i != 40; i++) {
		pid_t pid = fork_child();
		char buf[32];

		ASSERT_LE(0, pid);
		if (!pid)
			_exit(pread(r.fd, buf, sizeof(buf), 0) == 2 &&
				      !memcmp(buf, "1\n", 2) ?
				      0 :
				      1);
		ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
		test_progress();
	}
	atomic_store(&r.stop, true);
	ASSERT_EQ(0, pthread_join(r.thread, NULL));
	ASSERT_EQ(0, close(r.fd));
}

/* ---- with the files prepared, fail-nth the kernel's way ---- */

struct state {
	uint32_t next_id;
	int next_fd;
	bool mapped;
	int pins;
	uint32_t nranges;
	struct iommu_iova_range ranges[4];
};

static int pins_of(int fd, const void *buf)
{
	for (unsigned int refs = 0; refs != 4; refs++)
		if (!check_refs(fd, buf, BUF_LEN, refs))
			return refs;
	return -1;
}

/* What the ABI shows, taken with fail-nth disarmed. */
static void state_take(int fd, uint32_t ioas, uint32_t hwpt, void *buf,
		       struct state *s)
{
	memset(s, 0, sizeof(*s));
	ASSERT_EQ(0, ioas_alloc(fd, &s->next_id));
	ASSERT_EQ(0, destroy(fd, s->next_id));
	s->next_fd = dup(0);
	ASSERT_LE(0, s->next_fd);
	ASSERT_EQ(0, close(s->next_fd));
	s->mapped = !check_map(fd, hwpt, MOCK_APERTURE_START, buf, BUF_LEN);
	s->pins = pins_of(fd, buf);
	s->nranges = 4;
	ASSERT_EQ(0, iova_ranges(fd, ioas, s->ranges, &s->nranges, NULL));
}

TEST_TIMEOUT(fail_nth_sweep_of_a_map_after_the_prelude, 120)
{
	struct state before, after;
	uint32_t ioas = 0, stdev = 0, hwpt = 0;
	unsigned int nth;
	int fd, nfd;
	char *buf;

	emulated();
	kernel_prelude();
	fd = open_iommu();
	ASSERT_LE(0, fd);
	nfd = failnth_open(e2e_gettid());
	ASSERT_LE(0, nfd);
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(0, mock_domain(fd, ioas, &stdev, &hwpt));
	buf = e2e_buffer(BUF_LEN);
	ASSERT_NONNULL(buf);
	/* A first map makes what the library keeps for later (a maps fd). */
	ASSERT_EQ(0, ioas_map(fd, ioas, buf, BUF_LEN, NULL, MAP_RW));
	ASSERT_EQ(0, ioas_unmap(fd, ioas, 0, UINT64_MAX, NULL));
	state_take(fd, ioas, hwpt, buf, &before);
	ASSERT_FALSE(before.mapped);
	ASSERT_EQ(0, before.pins);
	for (nth = 1; nth != MAX_NTH; nth++) {
		uint64_t iova = MOCK_APERTURE_START;
		int rc, err;

		ASSERT_EQ(0, failnth_arm(nfd, nth));
		rc = ioas_map(fd, ioas, buf, BUF_LEN, &iova, MAP_FIXED_RW);
		err = errno;
		if (!rc)
			break;
		/* The injected failure, and only it: the counter is spent. */
		ASSERT_EQ(0, failnth_read(nfd));
		if (err != ENOMEM)
			ASSERT_EQ(EFAULT, err);
		state_take(fd, ioas, hwpt, buf, &after);
		if (memcmp(&before, &after, sizeof(before)))
			TH_LOG("state changed by the map failed at %u", nth);
		ASSERT_EQ(0, memcmp(&before, &after, sizeof(before)));
	}
	ASSERT_EQ(0, failnth_arm(nfd, 0));
	TH_LOG("IOMMU_IOAS_MAP succeeded at point %u", nth);
	ASSERT_LT(1, nth);
	ASSERT_GT(MAX_NTH, nth);
	state_take(fd, ioas, hwpt, buf, &after);
	ASSERT_TRUE(after.mapped);
	ASSERT_EQ(1, after.pins);
	/* The files were only read and written: they are as prepared. */
	ASSERT_READS("N\n", DEBUGFS "/failslab/ignore-gfp-wait");
	ASSERT_EQ(0, close(nfd));
	ASSERT_EQ(0, close(fd));
}
