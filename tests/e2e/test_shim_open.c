// SPDX-License-Identifier: MIT
/*
 * Every way a program can open /dev/iommu and /dev/vfio/vfio: open,
 * open64, openat, openat64 and glibc's _FORTIFY_SOURCE entry points
 * (__open_2 and friends, which a fortified build calls for an open()
 * whose flags the compiler cannot see). This file is built fortified so
 * that its own open() calls with variable flags go through __open_2; the
 * entry points are also called by name. Each open must give a fresh,
 * working context; O_CLOEXEC must be honoured; opens of every other path
 * must behave, errno included, exactly as without the shim.
 */
#undef _FORTIFY_SOURCE
#define _FORTIFY_SOURCE 2

#include <sys/stat.h>

#include "e2e/e2e_utils.h"

/* glibc's fortified entry points; no public header declares them all. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

/* Flags the compiler cannot see, so a fortified open() takes __open_2. */
static volatile int rdwr_flags = O_RDWR;

/* @fd is a fresh context of its own: its first IOAS is ID 1. */
static int fresh_context(int fd)
{
	uint32_t ioas = 0;

	if (fd < 0)
		return -1;
	if (ioas_alloc(fd, &ioas) || ioas != 1)
		return -1;
	return close(fd);
}

TEST(shim_is_active)
{
	uint32_t ioas = 0;
	int fd;

	fd = open("/dev/iommu", O_RDWR);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(1, ioas);
	ASSERT_EQ(0, close(fd));
}

TEST(open_variants_dev_iommu)
{
	const char *path = "/dev/iommu";
	int dirfd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	ASSERT_GE(dirfd, 0);
	ASSERT_EQ(0, fresh_context(open(path, O_RDWR)));
	ASSERT_EQ(0, fresh_context(open64(path, O_RDWR)));
	ASSERT_EQ(0, fresh_context(openat(AT_FDCWD, path, O_RDWR)));
	ASSERT_EQ(0, fresh_context(openat64(AT_FDCWD, path, O_RDWR)));
	/* An absolute path ignores the directory descriptor. */
	ASSERT_EQ(0, fresh_context(openat(dirfd, path, O_RDWR)));
	ASSERT_EQ(0, fresh_context(openat64(dirfd, path, O_RDWR)));
	ASSERT_EQ(0, fresh_context(__open_2(path, O_RDWR)));
	ASSERT_EQ(0, fresh_context(__open64_2(path, O_RDWR)));
	ASSERT_EQ(0, fresh_context(__openat_2(AT_FDCWD, path, O_RDWR)));
	ASSERT_EQ(0, fresh_context(__openat64_2(dirfd, path, O_RDWR)));
	/* A mode argument where none is needed is harmless. */
	ASSERT_EQ(0, fresh_context(open(path, O_RDWR, 0600)));
	ASSERT_EQ(0, close(dirfd));
}

TEST(open_variants_dev_vfio_vfio)
{
	const char *path = "/dev/vfio/vfio";

	ASSERT_EQ(0, fresh_context(open(path, O_RDWR)));
	ASSERT_EQ(0, fresh_context(open64(path, O_RDWR)));
	ASSERT_EQ(0, fresh_context(openat(AT_FDCWD, path, O_RDWR)));
	ASSERT_EQ(0, fresh_context(openat64(AT_FDCWD, path, O_RDWR)));
	ASSERT_EQ(0, fresh_context(__open_2(path, O_RDWR)));
	ASSERT_EQ(0, fresh_context(__open64_2(path, O_RDWR)));
	ASSERT_EQ(0, fresh_context(__openat_2(AT_FDCWD, path, O_RDWR)));
	ASSERT_EQ(0, fresh_context(__openat64_2(AT_FDCWD, path, O_RDWR)));
}

/* What a fortified program compiles: open() with flags in a variable. */
TEST(open_fortified_call_sites)
{
	int flags = rdwr_flags;

#if !defined(__USE_FORTIFY_LEVEL) || __USE_FORTIFY_LEVEL < 1
	TH_LOG("not built fortified (-O0, or a libc without it)");
#endif
	ASSERT_EQ(0, fresh_context(open("/dev/iommu", flags)));
	ASSERT_EQ(0, fresh_context(open64("/dev/iommu", flags)));
	ASSERT_EQ(0, fresh_context(openat(AT_FDCWD, "/dev/iommu", flags)));
	ASSERT_EQ(0, fresh_context(openat64(AT_FDCWD, "/dev/vfio/vfio",
					    flags | O_CLOEXEC)));
}

TEST(open_cloexec_honoured)
{
	int fd, fd2;

	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD));
	fd2 = openat(AT_FDCWD, "/dev/vfio/vfio", O_RDWR);
	ASSERT_GE(fd2, 0);
	ASSERT_EQ(0, fcntl(fd2, F_GETFD));
	/* The descriptor is real: its flags change as any other's. */
	ASSERT_EQ(0, fcntl(fd2, F_SETFD, FD_CLOEXEC));
	ASSERT_EQ(FD_CLOEXEC, fcntl(fd2, F_GETFD));
	ASSERT_EQ(0, fcntl(fd, F_SETFD, 0));
	ASSERT_EQ(0, fcntl(fd, F_GETFD));
	ASSERT_EQ(0, fresh_context(fd));
	ASSERT_EQ(0, fresh_context(fd2));
	fd = __open_2("/dev/iommu", O_RDWR | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD));
	ASSERT_EQ(0, close(fd));
}

TEST(open_other_paths_unchanged)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int fd;

	/* Failures keep the kernel's errno. */
	ASSERT_ERRNO(ENOENT, open("/nonexistent/file", O_RDONLY));
	ASSERT_ERRNO(ENOENT, open64("/dev/iommu0", O_RDWR));
	ASSERT_ERRNO(ENOENT, openat(AT_FDCWD, "/dev/vfio/vfio0", O_RDWR));
	ASSERT_ERRNO(ENOENT, __open_2("/dev/iommux", O_RDWR));
	ASSERT_ERRNO(ENOENT, __openat_2(AT_FDCWD, "/dev/no-such", O_RDWR));
	ASSERT_ERRNO(EBADF, openat(-1, "relative/path", O_RDONLY));
	ASSERT_ERRNO(EBADF, openat64(12345, "relative/path", O_RDONLY));
	ASSERT_ERRNO(ENOTDIR, open("/dev/null", O_RDONLY | O_DIRECTORY));

	/* Successes are the real files, with their own ioctls. */
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_ERRNO(ENOTTY, ioctl(fd, IOMMU_IOAS_ALLOC, &cmd));
	ASSERT_EQ(1, write(fd, "x", 1));
	ASSERT_EQ(0, close(fd));
	/* O_CREAT passes its mode through. */
	{
		char path[] = "/tmp/uiommufd-e2e-XXXXXX";
		struct stat st;
		mode_t old_umask = umask(0);

		fd = mkstemp(path);
		ASSERT_GE(fd, 0);
		ASSERT_EQ(0, close(fd));
		ASSERT_EQ(0, unlink(path));
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
		ASSERT_GE(fd, 0);
		ASSERT_EQ(0, fstat(fd, &st));
		ASSERT_EQ(0640, st.st_mode & 0777);
		ASSERT_ERRNO(EEXIST, openat(AT_FDCWD, path,
					    O_RDWR | O_CREAT | O_EXCL, 0600));
		ASSERT_EQ(0, close(fd));
		ASSERT_EQ(0, unlink(path));
		umask(old_umask);
	}
}

/*
 * The same file under other absolute names: the kernel opens /dev/iommu
 * whatever the spelling of the path. (Relative names are a documented
 * limit of the shim and are not tried.)
 */
TEST(open_dev_iommu_by_other_absolute_names)
{
	EXPECT_EQ(0, fresh_context(open("/dev//iommu", O_RDWR)));
	EXPECT_EQ(0, fresh_context(open("/dev/./iommu", O_RDWR)));
	EXPECT_EQ(0, fresh_context(open("//dev/iommu", O_RDWR)));
	EXPECT_EQ(0, fresh_context(openat(AT_FDCWD, "/dev/vfio//vfio",
					  O_RDWR)));
}
