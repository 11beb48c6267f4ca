// SPDX-License-Identifier: MIT
/*
 * The registry of the library's own descriptors (base/private_fd.h):
 * registration, the lookup a layer that follows descriptors makes
 * before a close, a move before a dup2 takes the number, and release.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fault_inject.h"
#include "base/mem.h"
#include "base/private_fd.h"
#include "harness/test.h"

static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return !fstat(a, &sa) && !fstat(b, &sb) && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

static bool is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

TEST(register_next_close)
{
	atomic_int a, b;
	int fa, fb;

	ASSERT_EQ(-1, private_fd_next(0));
	fa = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fb = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(fa, 0);
	ASSERT_LT(fa, fb);
	atomic_init(&a, fa);
	atomic_init(&b, fb);
	ASSERT_EQ(0, private_fd_register(&a));
	ASSERT_EQ(0, private_fd_register(&b));
	EXPECT_EQ(fa, private_fd_next(0));
	EXPECT_EQ(fa, private_fd_next(fa));
	EXPECT_EQ(fb, private_fd_next(fa + 1));
	EXPECT_EQ(-1, private_fd_next(fb + 1));
	/* Not registered: nothing to move. */
	EXPECT_EQ(0, private_fd_move(fb + 1));
	private_fd_close(&a);
	EXPECT_EQ(-1, atomic_load(&a));
	EXPECT_FALSE(is_open(fa));
	EXPECT_EQ(fb, private_fd_next(0));
	private_fd_close(&b);
	EXPECT_FALSE(is_open(fb));
	EXPECT_EQ(-1, private_fd_next(0));
	/* Twice is nothing. */
	private_fd_close(&b);
	EXPECT_EQ(0, mem_live_count());
}

TEST(move_rewrites_the_slot)
{
	atomic_int slot;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), keep, moved;

	ASSERT_GE(fd, 0);
	keep = dup(fd);
	ASSERT_GE(keep, 0);
	atomic_init(&slot, fd);
	ASSERT_EQ(0, private_fd_register(&slot));
	ASSERT_EQ(0, private_fd_move(fd));
	moved = private_fd_get(&slot);
	private_fd_put();
	EXPECT_NE(fd, moved);
	EXPECT_TRUE(same_file(moved, keep));
	/* The old number is free for the program, and no longer ours. */
	EXPECT_FALSE(is_open(fd));
	EXPECT_EQ(moved, private_fd_next(0));
	EXPECT_TRUE(fcntl(moved, F_GETFD) & FD_CLOEXEC);
	private_fd_close(&slot);
	EXPECT_FALSE(is_open(moved));
	close(keep);
	EXPECT_EQ(0, mem_live_count());
}

/* Every allocation of a registration or a move can fail, cleanly. */
TEST(fault_injection)
{
	unsigned int points = 0;

	for (unsigned int nth = 1;; nth++) {
		atomic_int slot;
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), rc;

		ASSERT_GE(fd, 0);
		atomic_init(&slot, fd);
		fault_fail_nth_set(nth);
		rc = private_fd_register(&slot);
		if (!rc)
			rc = private_fd_move(atomic_load(&slot)) ? 1 : 0;
		fault_fail_nth_set(0);
		if (rc == -ENOMEM) {
			/* Not registered: still the caller's. */
			EXPECT_EQ(-1, private_fd_next(0));
			EXPECT_TRUE(is_open(fd));
			close(fd);
			points++;
			continue;
		}
		if (rc == 1) {
			/* The move failed: the number stays, still ours. */
			EXPECT_EQ(fd, private_fd_next(0));
			EXPECT_EQ(fd, atomic_load(&slot));
			private_fd_close(&slot);
			points++;
			continue;
		}
		ASSERT_EQ(0, rc);
		private_fd_close(&slot);
		break;
	}
	EXPECT_GE(points, 1u);
	EXPECT_EQ(-1, private_fd_next(0));
	EXPECT_EQ(0, mem_live_count());
}

/* Users of a number and a move of it never overlap. */
static atomic_int shared_slot;
static atomic_bool stop;

static void *user_thread(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop)) {
		int fd = private_fd_get(&shared_slot);
		struct stat st;

		/* The number is ours while held: it names /dev/null. */
		if (fstat(fd, &st) || !S_ISCHR(st.st_mode))
			atomic_store(&stop, true);
		private_fd_put();
	}
	return NULL;
}

TEST(moves_race_users)
{
	pthread_t t;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC), other[2];

	ASSERT_GE(fd, 0);
	/* The program's file: a pipe, which the user must never see. */
	ASSERT_EQ(0, pipe2(other, O_CLOEXEC));
	atomic_init(&shared_slot, fd);
	ASSERT_EQ(0, private_fd_register(&shared_slot));
	ASSERT_EQ(0, pthread_create(&t, NULL, user_thread, NULL));
	for (unsigned int i = 0; i != 2000 && !atomic_load(&stop); i++) {
		int cur = private_fd_next(0);

		/* What a shim does for dup2(other, cur). */
		ASSERT_EQ(0, private_fd_move(cur));
		ASSERT_EQ(cur, dup2(other[0], cur));
		close(cur);
	}
	/* Set by the user thread only if it saw another file. */
	EXPECT_FALSE(atomic_load(&stop));
	atomic_store(&stop, true);
	pthread_join(t, NULL);
	private_fd_close(&shared_slot);
	close(other[0]);
	close(other[1]);
	EXPECT_EQ(0, mem_live_count());
}
