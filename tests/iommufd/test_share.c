// SPDX-License-Identifier: MIT
/*
 * Contexts shared between processes through a broker (lib/iommufd/
 * share.c), driven in process as the preload shim drives them: promote a
 * context on one end of a socket pair, then run commands on the other
 * end from this process and from forked children, which all see one
 * context; the broker goes with the last copy of the descriptor.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "iommufd/iommufd_utils.h"

#define PG TEST_PAGE_SIZE
#define IOVA MOCK_APERTURE_START

/* Whether @pid is a live broker (a zombie has gone already). */
static bool broker_alive(pid_t pid)
{
	char path[64], comm[32] = "", state = 0;
	bool alive = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (fscanf(f, "%*d (%31[^)]) %c", comm, &state) == 2)
		alive = !strcmp(comm, "uiommufd-brkr") && state != 'Z';
	fclose(f);
	return alive;
}

/* The newest live broker (highest start time): the one just forked. */
static pid_t newest_broker(void)
{
	unsigned long long best = 0;
	pid_t found = 0;
	struct dirent *e;
	DIR *d = opendir("/proc");

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		unsigned long long start = 0;
		char path[64], line[512], *p;
		pid_t pid;
		FILE *f;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		pid = atoi(e->d_name);
		if (!broker_alive(pid))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		f = fopen(path, "r");
		if (!f)
			continue;
		p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
		fclose(f);
		/* Field 22, starttime; after ')' come fields 3 on. */
		for (int field = 2; p && field != 22; field++)
			p = strchr(p + 1, ' ');
		if (p)
			start = strtoull(p + 1, NULL, 10);
		if (start >= best) {
			best = start;
			found = pid;
		}
	}
	closedir(d);
	return found;
}

/* Wait for broker @pid to go, judging by progress. */
static bool broker_goes(pid_t pid)
{
	for (unsigned int i = 0; i != 3000; i++) {
		if (!broker_alive(pid))
			return true;
		usleep(10000);
		test_progress();
	}
	return false;
}

/* This process's last copy of a shared descriptor: the channel goes too. */
static void share_close(int fd)
{
	uiommufd_remote_forget(fd);
	close(fd);
}

/* A shared context: its descriptor, or -1. */
static int share_new(void)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	int sv[2];

	if (!ctx)
		return -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		uiommufd_ctx_close(ctx);
		return -1;
	}
	if (uiommufd_ctx_share(ctx, sv[1])) {
		close(sv[0]);
		uiommufd_ctx_close(ctx);
		return -1;
	}
	uiommufd_ctx_close(ctx);
	return sv[0];
}

static int r_ioas_alloc(int fd, uint32_t *id)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int rc = uiommufd_remote_ioctl(fd, IOMMU_IOAS_ALLOC, &cmd);

	if (!rc)
		*id = cmd.out_ioas_id;
	return rc;
}

static int r_destroy(int fd, uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return uiommufd_remote_ioctl(fd, IOMMU_DESTROY, &cmd);
}

static int r_map(int fd, uint32_t ioas, void *buf, uint64_t len,
		 uint64_t iova)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd), .flags = MAP_FIXED_RW, .ioas_id = ioas,
		.user_va = (uintptr_t)buf, .length = len, .iova = iova,
	};

	return uiommufd_remote_ioctl(fd, IOMMU_IOAS_MAP, &cmd);
}

static int r_unmap(int fd, uint32_t ioas, uint64_t iova, uint64_t len,
		   uint64_t *unmapped)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd), .ioas_id = ioas, .iova = iova,
		.length = len,
	};
	int rc = uiommufd_remote_ioctl(fd, IOMMU_IOAS_UNMAP, &cmd);

	if (!rc && unmapped)
		*unmapped = cmd.length;
	return rc;
}

static int r_test(int fd, struct iommu_test_cmd *cmd)
{
	cmd->size = sizeof(*cmd);
	return uiommufd_remote_ioctl(fd, IOMMU_TEST_CMD, cmd);
}

TEST(commands_from_here_and_from_a_child)
{
	uint8_t *buf = test_buffer(4 * PG);
	uint32_t ioas = 0, next = 0, other = 0, stdev;
	struct iommu_test_cmd md;
	uint64_t unmapped = 0;
	int fd, status;
	pid_t pid, broker;

	ASSERT_NONNULL(buf);
	fd = share_new();
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, r_ioas_alloc(fd, &ioas));
	EXPECT_EQ(1u, ioas);
	/* Serving, so named by now. */
	broker = newest_broker();
	ASSERT_GT(broker, 0);
	ASSERT_EQ(0, r_map(fd, ioas, buf, 4 * PG, IOVA));
	test_cmd_init(&md, IOMMU_TEST_OP_MOCK_DOMAIN, ioas);
	ASSERT_EQ(0, r_test(fd, &md));
	stdev = md.mock_domain.out_stdev_id;
	test_cmd_init(&md, IOMMU_TEST_OP_MD_CHECK_REFS, 0);
	md.check_refs.uptr = (uintptr_t)buf;
	md.check_refs.length = 4 * PG;
	md.check_refs.refs = 1;
	EXPECT_EQ(0, r_test(fd, &md));
	ASSERT_EQ(0, r_ioas_alloc(fd, &next));
	ASSERT_EQ(0, r_destroy(fd, next));

	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		uint8_t *mine = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint32_t child_ioas = 0;

		/* One context: the parent's IOAS, and the next ID. */
		if (r_ioas_alloc(fd, &child_ioas) || child_ioas != next)
			_exit(1);
		if (mine == MAP_FAILED ||
		    r_map(fd, ioas, mine, 2 * PG, IOVA + 16 * PG))
			_exit(2);
		if (r_destroy(fd, ioas) != -1 || errno != EBUSY)
			_exit(3);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	/* What the child made is here: its IOAS, its area. */
	EXPECT_EQ(0, r_ioas_alloc(fd, &other));
	EXPECT_EQ(next + 1, other);
	EXPECT_EQ(0, r_destroy(fd, next));
	EXPECT_EQ(0, r_unmap(fd, ioas, IOVA + 16 * PG, 2 * PG, &unmapped));
	EXPECT_EQ(2 * PG, unmapped);
	EXPECT_EQ(0, r_destroy(fd, stdev));
	/* The memory first: its file (moved there) goes with the context. */
	munmap(buf, 4 * PG);
	share_close(fd);
	/* The last copy of the descriptor gone, so is the broker. */
	EXPECT_TRUE(broker_goes(broker));
}

/* Bad pointers of this process are EFAULT there too, with a reason. */
TEST(bad_pointers_and_reasons)
{
	int fd = share_new();

	ASSERT_GE(fd, 0);
	EXPECT_FAILS_WHY(EFAULT,
			 uiommufd_remote_ioctl(fd, IOMMU_IOAS_ALLOC, NULL));
	EXPECT_FAILS_WHY(ENOENT, r_destroy(fd, 77));
	EXPECT_FAILS_WHY(ENOTTY, uiommufd_remote_ioctl(fd, _IO(IOMMUFD_TYPE,
							       0x7f), NULL));
	share_close(fd);
}

/*
 * Descriptors a command hands out (a test-module access, a dma-buf) come
 * back as sockets standing for the broker's: commands that name them
 * work, closing the last copy closes the broker's (seen before the next
 * command). Event queues are not served yet.
 */
TEST(descriptors_through_the_broker)
{
	struct iommu_fault_alloc fa = { .size = sizeof(fa) };
	char *buf = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iommu_test_cmd cmd;
	uint32_t ioas = 0;
	char text[16] = {};
	int fd = share_new(), afd, dfd;
	struct stat st;

	ASSERT_GE(fd, 0);
	ASSERT_NE(MAP_FAILED, buf);
	strcpy(buf + PG, "through it");
	ASSERT_EQ(0, r_ioas_alloc(fd, &ioas));
	ASSERT_EQ(0, r_map(fd, ioas, buf, 4 * PG, MOCK_APERTURE_START));
	EXPECT_FAILS_WHY(EOPNOTSUPP, uiommufd_remote_ioctl(
					     fd, IOMMU_FAULT_QUEUE_ALLOC, &fa));

	test_cmd_init(&cmd, IOMMU_TEST_OP_CREATE_ACCESS, ioas);
	ASSERT_EQ(0, r_test(fd, &cmd));
	afd = cmd.create_access.out_access_fd;
	ASSERT_EQ(0, fstat(afd, &st));
	EXPECT_TRUE(S_ISSOCK(st.st_mode));
	EXPECT_EQ(FD_CLOEXEC, fcntl(afd, F_GETFD));
	/* The access is named by our number; it reads our memory. */
	test_cmd_init(&cmd, IOMMU_TEST_OP_ACCESS_RW, afd);
	cmd.access_rw.iova = MOCK_APERTURE_START + PG;
	cmd.access_rw.length = 11;
	cmd.access_rw.uptr = (uintptr_t)text;
	ASSERT_EQ(0, r_test(fd, &cmd));
	EXPECT_STREQ("through it", text);
	/* A number that is not an access, and one that is no descriptor. */
	cmd.id = fd;
	EXPECT_FAILS_WHY(EBADFD, r_test(fd, &cmd));
	cmd.id = 1000;
	EXPECT_FAILS_WHY(EBADFD, r_test(fd, &cmd));
	/* The access holds the IOAS until its last copy is closed. */
	EXPECT_FAILS_WHY(EBUSY, r_destroy(fd, ioas));
	dfd = dup(afd);
	ASSERT_GE(dfd, 0);
	ASSERT_EQ(0, close(afd));
	EXPECT_FAILS_WHY(EBUSY, r_destroy(fd, ioas));
	ASSERT_EQ(0, close(dfd));

	/* A dma-buf, with the open flags asked for. */
	test_cmd_init(&cmd, IOMMU_TEST_OP_DMABUF_GET, 0);
	cmd.dmabuf_get.length = PG;
	dfd = r_test(fd, &cmd);
	ASSERT_GE(dfd, 0);
	EXPECT_EQ(0, fcntl(dfd, F_GETFD));
	test_cmd_init(&cmd, IOMMU_TEST_OP_DMABUF_REVOKE, 0);
	cmd.dmabuf_revoke.dmabuf_fd = dfd;
	cmd.dmabuf_revoke.revoked = 1;
	EXPECT_EQ(0, r_test(fd, &cmd));
	ASSERT_EQ(0, close(dfd));

	EXPECT_EQ(0, r_unmap(fd, ioas, MOCK_APERTURE_START, 4 * PG, NULL));
	EXPECT_EQ(0, r_destroy(fd, ioas));
	munmap(buf, 4 * PG);
	share_close(fd);
}

/* Only a context nothing else holds can be shared; home is closed. */
TEST(what_cannot_be_shared)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	struct iommu_test_cmd cmd;
	uint32_t ioas = 0;
	int sv[2], afd;

	ASSERT_NONNULL(ctx);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	test_cmd_init(&cmd, IOMMU_TEST_OP_CREATE_ACCESS, ioas);
	ASSERT_EQ(0, test_cmd(ctx, &cmd));
	afd = cmd.create_access.out_access_fd;
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
				sv));
	EXPECT_EQ(-EOPNOTSUPP, uiommufd_ctx_share(ctx, sv[1]));
	EXPECT_TRUE(has_reason());
	EXPECT_EQ(-1, fcntl(sv[1], F_GETFD));
	/* Nothing changed: the context still answers here. */
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(ctx, ioas));
	EXPECT_EQ(0, uiommufd_fd_close(afd));
	EXPECT_EQ(0, ioctl_destroy(ctx, ioas));
	close(sv[0]);
	EXPECT_EQ(-EINVAL, uiommufd_ctx_share(NULL, -1));
	uiommufd_ctx_close(ctx);
}

/* A broker that died: EIO, saying so. */
TEST(broker_gone)
{
	uint32_t ioas = 0;
	pid_t broker;
	int fd;

	fd = share_new();
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, r_ioas_alloc(fd, &ioas));
	broker = newest_broker();
	ASSERT_GT(broker, 0);
	ASSERT_EQ(0, kill(broker, SIGKILL));
	ASSERT_TRUE(broker_goes(broker));
	EXPECT_FAILS_WHY(EIO, r_ioas_alloc(fd, &ioas));
	share_close(fd);
}
