/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the end-to-end programs. They run under uiommufd-run and
 * reach uiommufd only as a program would reach the kernel: open() of
 * /dev/iommu, ioctl() on the descriptor, the /proc fail-nth files. Each
 * helper wraps one ioctl and returns what ioctl returns (-1 with errno on
 * failure), so tests read
 *	ASSERT_EQ(0, ioas_alloc(fd, &ioas_id));
 *	ASSERT_ERRNO(ENOENT, destroy(fd, 0));
 * Nothing here calls the library: these programs do not link it.
 */
#ifndef UIOMMUFD_TESTS_E2E_UTILS_H
#define UIOMMUFD_TESTS_E2E_UTILS_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness/test.h"
#include "uiommufd/iommufd_test_uapi.h"
#include "uiommufd/iommufd_uapi.h"
#include "uiommufd/vfio_uapi.h"

#define PAGE_SZ 4096UL
#define MAP_RW (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)
#define MAP_FIXED_RW (MAP_RW | IOMMU_IOAS_MAP_FIXED_IOVA)
#define TEMP_LIMIT_DEFAULT 65536

/* ASSERT that @call returns -1 with errno @err. */
#define ASSERT_ERRNO(err, call)                                            \
	do {                                                               \
		errno = 0;                                                 \
		ASSERT_EQ(-1, (call));                                     \
		ASSERT_EQ((err), errno);                                   \
	} while (0)
#define EXPECT_ERRNO(err, call)                                            \
	do {                                                               \
		errno = 0;                                                 \
		EXPECT_EQ(-1, (call));                                     \
		EXPECT_EQ((err), errno);                                   \
	} while (0)

static inline pid_t e2e_gettid(void)
{
	return syscall(SYS_gettid);
}

static inline int open_iommu(void)
{
	return open("/dev/iommu", O_RDWR | O_CLOEXEC);
}

/* Whether @fd is an open descriptor (the kernel's view, not the shim's). */
static inline bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

/* @len bytes of fresh, touched anonymous memory (page aligned). */
static inline void *e2e_buffer(size_t len)
{
	char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (buf == MAP_FAILED)
		return NULL;
	for (size_t i = 0; i < len; i += PAGE_SZ)
		buf[i] = (char)(i / PAGE_SZ + 1);
	return buf;
}

/* ---- child processes ---- */

/*
 * Wait for @pid: its exit status, -signal, or WAIT_HUNG after killing it
 * (and whatever it forked) with SIGKILL: a child that hangs inside the
 * shim has every signal blocked. It is hung when for @stall_s seconds
 * (times UIOMMUFD_TIMEOUT_SCALE) it and its descendants used less than 1%
 * of a CPU and nothing called test_progress() (see test_wait_child()):
 * a child that works is waited for, however slow the machine.
 */
#define WAIT_HUNG -1000
#define WAIT_STALL_S 30

static inline int wait_child(pid_t pid, unsigned int stall_s)
{
	int status, rc = test_wait_child(pid, &status, stall_s, 0);

	if (rc == TEST_WAIT_HUNG)
		return WAIT_HUNG;
	if (rc)
		return -2000;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

/* fork, with the child killed if the test dies before it. */
static inline pid_t fork_child(void)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (!pid)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	return pid;
}

/* ---- the core commands ---- */

static inline int destroy(int fd, uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return ioctl(fd, IOMMU_DESTROY, &cmd);
}

static inline int ioas_alloc(int fd, uint32_t *ioas_id)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int rc = ioctl(fd, IOMMU_IOAS_ALLOC, &cmd);

	if (!rc && ioas_id)
		*ioas_id = cmd.out_ioas_id;
	return rc;
}

/* Map; the IOVA is chosen unless @flags has FIXED_IOVA. */
static inline int ioas_map(int fd, uint32_t ioas_id, void *buf,
			   uint64_t length, uint64_t *iova, uint32_t flags)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.ioas_id = ioas_id,
		.user_va = (uintptr_t)buf,
		.length = length,
		.iova = iova ? *iova : 0,
	};
	int rc = ioctl(fd, IOMMU_IOAS_MAP, &cmd);

	if (!rc && iova)
		*iova = cmd.iova;
	return rc;
}

static inline int ioas_unmap(int fd, uint32_t ioas_id, uint64_t iova,
			     uint64_t length, uint64_t *unmapped)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.iova = iova,
		.length = length,
	};
	int rc = ioctl(fd, IOMMU_IOAS_UNMAP, &cmd);

	if (!rc && unmapped)
		*unmapped = cmd.length;
	return rc;
}

static inline int ioas_copy(int fd, uint32_t dst_ioas, uint32_t src_ioas,
			    uint64_t src_iova, uint64_t length,
			    uint64_t *dst_iova, uint32_t flags)
{
	struct iommu_ioas_copy cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.dst_ioas_id = dst_ioas,
		.src_ioas_id = src_ioas,
		.length = length,
		.dst_iova = dst_iova ? *dst_iova : 0,
		.src_iova = src_iova,
	};
	int rc = ioctl(fd, IOMMU_IOAS_COPY, &cmd);

	if (!rc && dst_iova)
		*dst_iova = cmd.dst_iova;
	return rc;
}

/* *num: capacity in, count out (also on EMSGSIZE). */
static inline int iova_ranges(int fd, uint32_t ioas_id,
			      struct iommu_iova_range *ranges, uint32_t *num,
			      uint64_t *alignment)
{
	struct iommu_ioas_iova_ranges cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.num_iovas = *num,
		.allowed_iovas = (uintptr_t)ranges,
	};
	int rc = ioctl(fd, IOMMU_IOAS_IOVA_RANGES, &cmd);

	if (!rc || errno == EMSGSIZE)
		*num = cmd.num_iovas;
	if (!rc && alignment)
		*alignment = cmd.out_iova_alignment;
	return rc;
}

static inline int allow_iovas(int fd, uint32_t ioas_id,
			      const struct iommu_iova_range *ranges,
			      uint32_t num)
{
	struct iommu_ioas_allow_iovas cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.num_iovas = num,
		.allowed_iovas = (uintptr_t)ranges,
	};

	return ioctl(fd, IOMMU_IOAS_ALLOW_IOVAS, &cmd);
}

static inline int option(int fd, uint32_t option_id, uint16_t op,
			 uint32_t object_id, uint64_t *val)
{
	struct iommu_option cmd = {
		.size = sizeof(cmd),
		.option_id = option_id,
		.op = op,
		.object_id = object_id,
		.val64 = *val,
	};
	int rc = ioctl(fd, IOMMU_OPTION, &cmd);

	if (!rc)
		*val = cmd.val64;
	return rc;
}

static inline int vfio_ioas(int fd, uint16_t op, uint32_t *ioas_id)
{
	struct iommu_vfio_ioas cmd = {
		.size = sizeof(cmd),
		.ioas_id = *ioas_id,
		.op = op,
	};
	int rc = ioctl(fd, IOMMU_VFIO_IOAS, &cmd);

	if (!rc)
		*ioas_id = cmd.ioas_id;
	return rc;
}

/* ---- IOMMU_TEST_CMD ---- */

static inline int test_cmd(int fd, struct iommu_test_cmd *cmd)
{
	cmd->size = sizeof(*cmd);
	return ioctl(fd, IOMMU_TEST_CMD, cmd);
}

static inline int add_reserved(int fd, uint32_t ioas_id, uint64_t start,
			       uint64_t length)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_ADD_RESERVED,
		.id = ioas_id,
		.add_reserved = { .start = start, .length = length },
	};

	return test_cmd(fd, &cmd);
}

static inline int mock_domain(int fd, uint32_t pt_id, uint32_t *stdev_id,
			      uint32_t *hwpt_id)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = pt_id,
	};
	int rc = test_cmd(fd, &cmd);

	if (!rc) {
		if (stdev_id)
			*stdev_id = cmd.mock_domain.out_stdev_id;
		if (hwpt_id)
			*hwpt_id = cmd.mock_domain.out_hwpt_id;
	}
	return rc;
}

static inline int check_map(int fd, uint32_t hwpt_id, uint64_t iova,
			    const void *buf, uint64_t length)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MD_CHECK_MAP,
		.id = hwpt_id,
		.check_map = { .iova = iova, .length = length,
			       .uptr = (uintptr_t)buf },
	};

	return test_cmd(fd, &cmd);
}

static inline int check_refs(int fd, const void *buf, uint64_t length,
			     unsigned int refs)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MD_CHECK_REFS,
		.check_refs = { .length = length, .uptr = (uintptr_t)buf,
				.refs = refs },
	};

	return test_cmd(fd, &cmd);
}

/* Pins of every page of @buf, as MD_CHECK_REFS on @fd says; -1: other. */
static inline int pins(int fd, const void *buf, size_t len)
{
	for (unsigned int refs = 0; refs != 4; refs++)
		if (!check_refs(fd, buf, len, refs))
			return refs;
	return -1;
}

/* A number no descriptor has, from @from on. */
static inline int free_number(int from)
{
	while (fd_is_open(from))
		from++;
	return from;
}

static inline int create_access(int fd, uint32_t ioas_id, uint32_t flags,
				int *access_fd)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_CREATE_ACCESS,
		.id = ioas_id,
		.create_access = { .flags = flags },
	};
	int rc = test_cmd(fd, &cmd);

	if (!rc)
		*access_fd = cmd.create_access.out_access_fd;
	return rc;
}

static inline int destroy_access_pages(int fd, int access_fd, uint32_t item)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_DESTROY_ACCESS_PAGES,
		.id = access_fd,
		.destroy_access_pages = { .access_pages_id = item },
	};

	return test_cmd(fd, &cmd);
}

static inline int access_pages(int fd, int access_fd, uint64_t iova,
			       uint64_t length, const void *uptr,
			       uint32_t flags, uint32_t *item)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_ACCESS_PAGES,
		.id = access_fd,
		.access_pages = { .flags = flags, .iova = iova,
				  .length = length, .uptr = (uintptr_t)uptr },
	};
	int rc = test_cmd(fd, &cmd);

	if (!rc && item)
		*item = cmd.access_pages.out_access_pages_id;
	return rc;
}

/* Read IOVA into @buf, or write @buf to IOVA with MOCK_ACCESS_RW_WRITE. */
static inline int access_rw(int fd, int access_fd, uint64_t iova, void *buf,
			    uint64_t length, uint32_t flags)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_ACCESS_RW,
		.id = access_fd,
		.access_rw = { .iova = iova, .length = length,
			       .uptr = (uintptr_t)buf, .flags = flags },
	};

	return test_cmd(fd, &cmd);
}

static inline int set_temp_memory_limit(int fd, uint32_t limit)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
		.memory_limit = { .limit = limit },
	};

	return test_cmd(fd, &cmd);
}

/* ---- IOAS_MAP_FILE and the test module's dma-bufs (Linux 7.2) ---- */

/* MAP_FILE of @file's [@start, @start + @length) at IOVA @iova, read-write. */
static inline int map_file(int fd, uint32_t ioas, int file, uint64_t start,
			   uint64_t length, uint64_t iova)
{
	struct iommu_ioas_map_file cmd = {
		.size = sizeof(cmd),
		.flags = MAP_FIXED_RW,
		.ioas_id = ioas,
		.fd = file,
		.start = start,
		.length = length,
		.iova = iova,
	};

	return ioctl(fd, IOMMU_IOAS_MAP_FILE, &cmd);
}

/* DMABUF_GET: the new dma-buf's descriptor (the command's result). */
static inline int dmabuf_get(int fd, uint32_t length, uint32_t open_flags)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_DMABUF_GET,
		.dmabuf_get = { .length = length, .open_flags = open_flags },
	};

	return test_cmd(fd, &cmd);
}

static inline int dmabuf_revoke(int fd, int dmabuf, bool revoked)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_DMABUF_REVOKE,
		.dmabuf_revoke = { .dmabuf_fd = dmabuf, .revoked = revoked },
	};

	return test_cmd(fd, &cmd);
}

/* ---- fault queues (Linux 7.2) ---- */

#define FAULT_WORLD_LEN (16 * PAGE_SZ)

/*
 * A device on a fault-capable paging HW pagetable of a mapped IOAS:
 * @qfd is the fault queue's descriptor as IOMMU_FAULT_QUEUE_ALLOC gave it.
 */
struct fault_world {
	int fd, qfd;
	uint32_t ioas, stdev, idev, fault_id, hwpt;
	char *buf;
};

static inline void fault_world_init(struct fault_world *w)
{
	struct iommu_test_cmd md = { .op = IOMMU_TEST_OP_MOCK_DOMAIN };
	struct iommu_fault_alloc fa = { .size = sizeof(fa) };
	struct iommu_hwpt_alloc ha = { .size = sizeof(ha),
				       .flags = IOMMU_HWPT_FAULT_ID_VALID };
	struct iommu_test_cmd rp = { .op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE };
	uint64_t iova = MOCK_APERTURE_START;

	w->fd = open_iommu();
	ASSERT_GE(w->fd, 0);
	ASSERT_EQ(0, ioas_alloc(w->fd, &w->ioas));
	w->buf = e2e_buffer(FAULT_WORLD_LEN);
	ASSERT_NONNULL(w->buf);
	ASSERT_EQ(0, ioas_map(w->fd, w->ioas, w->buf, FAULT_WORLD_LEN, &iova,
			      MAP_FIXED_RW));
	md.id = w->ioas;
	ASSERT_EQ(0, test_cmd(w->fd, &md));
	w->stdev = md.mock_domain.out_stdev_id;
	w->idev = md.mock_domain.out_idev_id;
	ASSERT_EQ(0, ioctl(w->fd, IOMMU_FAULT_QUEUE_ALLOC, &fa));
	w->fault_id = fa.out_fault_id;
	w->qfd = fa.out_fault_fd;
	ha.dev_id = w->idev;
	ha.pt_id = w->ioas;
	ha.fault_id = w->fault_id;
	ASSERT_EQ(0, ioctl(w->fd, IOMMU_HWPT_ALLOC, &ha));
	w->hwpt = ha.out_hwpt_id;
	rp.id = w->stdev;
	rp.mock_domain_replace.pt_id = w->hwpt;
	ASSERT_EQ(0, test_cmd(w->fd, &rp));
}

static inline void fault_world_fini(struct fault_world *w)
{
	if (w->qfd >= 0)
		close(w->qfd);
	close(w->fd);
	munmap(w->buf, FAULT_WORLD_LEN);
}

/* TRIGGER_IOPF: a read fault of @dev_id, the last of group @grpid. */
static inline int trigger_iopf(int fd, uint32_t dev_id, uint32_t grpid,
			       uint64_t addr)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_TRIGGER_IOPF,
		.trigger_iopf = { .dev_id = dev_id, .grpid = grpid,
				  .perm = IOMMU_PGFAULT_PERM_READ,
				  .addr = addr },
	};

	return test_cmd(fd, &cmd);
}

/* ---- fail-nth through /proc ---- */

static inline int failnth_open(pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d/fail-nth", (int)tid);
	return open(path, O_RDWR | O_CLOEXEC);
}

/* Write @text (no newline added): what write() returns. */
static inline ssize_t failnth_write(int fd, const char *text)
{
	return write(fd, text, strlen(text));
}

/* Arm with N through a fresh open, as syzkaller does: 0 or -1. */
static inline int failnth_arm(int fd, unsigned int n)
{
	char num[16];
	int len = snprintf(num, sizeof(num), "%u", n);

	return pwrite(fd, num, len, 0) == len ? 0 : -1;
}

/* The counter as the file reads from offset 0; -1 on error. */
static inline long failnth_read(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtol(buf, NULL, 10);
}

#endif
