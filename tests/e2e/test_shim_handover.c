// SPDX-License-Identifier: MIT
/*
 * Handing a context over to another program (docs/design.md 8.1): sent
 * with SCM_RIGHTS (sendmsg, sendmmsg) to a program exec'd without it,
 * kept open across posix_spawn, or across vfork + exec. The shim promotes
 * the context to a broker before its descriptor leaves the process; the
 * program given it takes it up at its first command. Every holder then
 * works on one context, as on the kernel's one open file: the same
 * objects, one ID sequence (lowest free first), IOAS_MAP pinning the
 * caller's memory, IOAS_MAP_FILE sending the file along; the context and
 * its broker go with the last descriptor anywhere, whoever closes first;
 * dups of a received descriptor are the one context. An iommufd ioctl on
 * what is not a context (a socket, a pipe) is ENOTTY, as the kernel's.
 *
 * The receiver is this program again, with HAND_ENV ("MODE,SOCKET,FD",
 * FD -1 when it comes over the socket): a constructor plays its part
 * before main, reports a failure on stdout ("# ...") and by its exit
 * status, and answers on the socket. Every wait is judged by progress
 * (wait_child(), the harness' stall detection), never by the clock.
 */
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "e2e/e2e_share.h"

#define HAND_ENV "UIOMMUFD_E2E_HANDOVER"
/* Where a receiver maps into the parent's IOAS: clear of the parent's. */
#define RECV_IOVA (MOCK_APERTURE_START + 4 * BUF_LEN)

extern char **environ;

/* ---- what goes over the socket ---- */

/*
 * Parent to receiver: the context's objects; receiver to parent: the ID
 * it made and a count; either way, with nothing in it: a turn.
 */
struct hand {
	uint32_t ioas, hwpt, stdev, next_id, victim, count;
	uint64_t iova, avoid;
};

union cbuf {
	char buf[CMSG_SPACE(2 * sizeof(int))];
	struct cmsghdr align;
};

static void hand_init(struct hand *h, const struct ctx *c)
{
	*h = (struct hand){ .ioas = c->ioas, .hwpt = c->hwpt,
			    .stdev = c->stdev, .next_id = c->next_id,
			    .iova = RECV_IOVA, .avoid = (uintptr_t)c->buf };
}

/* @msg carrying @h, with @nfds (at most 2) descriptors in SCM_RIGHTS. */
static void hand_msg(struct msghdr *msg, struct iovec *iov, union cbuf *u,
		     const struct hand *h, const int *fds, unsigned int nfds)
{
	struct cmsghdr *c;

	memset(u, 0, sizeof(*u));
	*iov = (struct iovec){ (void *)h, sizeof(*h) };
	*msg = (struct msghdr){ .msg_iov = iov, .msg_iovlen = 1 };
	if (!nfds)
		return;
	msg->msg_control = u->buf;
	msg->msg_controllen = CMSG_SPACE(nfds * sizeof(int));
	c = CMSG_FIRSTHDR(msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
}

static int hand_send(int sock, const struct hand *h, const int *fds,
		     unsigned int nfds)
{
	struct msghdr msg;
	struct iovec iov;
	union cbuf u;

	hand_msg(&msg, &iov, &u, h, fds, nfds);
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == sizeof(*h) ? 0 : -1;
}

/* One struct hand, its descriptors into @fds: how many, -1 if none came. */
static int hand_recv(int sock, struct hand *h, int *fds)
{
	struct iovec iov = { h, sizeof(*h) };
	union cbuf u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	int nfds = 0;
	ssize_t n;

	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n != sizeof(*h) || (msg.msg_flags & MSG_CTRUNC))
		return -1;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		memcpy(fds, CMSG_DATA(c), nfds * sizeof(int));
	}
	return nfds;
}

/* A message without descriptors: an answer, or a turn (0, 0). */
static int say(int sock, uint32_t id, uint32_t count)
{
	struct hand h = { .next_id = id, .count = count };

	return hand_send(sock, &h, NULL, 0);
}

/* 0 when a message without descriptors came, -1 on EOF (or other). */
static int hear(int sock, struct hand *h)
{
	int fds[2];

	return hand_recv(sock, h, fds) ? -1 : 0;
}

/* ---- the receiver: this program again, before main ---- */

/*
 * BUF_LEN of fresh memory, clear of the parent's at @avoid: pins of one
 * address in two processes add up (a page's identity is its address).
 */
static char *own_buffer(uint64_t avoid)
{
	char *buf = NULL;

	for (unsigned int i = 0; i != 4; i++) {
		buf = e2e_buffer(BUF_LEN);
		CHILD_CHECK(buf);
		if ((uintptr_t)buf >= avoid + BUF_LEN ||
		    (uintptr_t)buf + BUF_LEN <= avoid)
			break;
	}
	return buf;
}

/*
 * The parent's IOAS, domain and ID sequence: make the next IOAS, destroy
 * @h->victim (if any), map own memory at @h->iova (the domain pins it),
 * and go, keeping nothing. Answers the new ID and @msgs, the messages it
 * took to receive the descriptor.
 */
static void recv_map(int sock, int fd, const struct hand *h, int msgs)
{
	uint64_t iova = h->iova;
	char *buf = own_buffer(h->avoid);
	uint32_t id = 0;

	CHILD_CHECK(!ioas_alloc(fd, &id) && id == h->next_id);
	if (h->victim)
		CHILD_CHECK(!destroy(fd, h->victim));
	CHILD_CHECK(!ioas_map(fd, h->ioas, buf, BUF_LEN, &iova, MAP_FIXED_RW));
	CHILD_CHECK(!check_map(fd, h->hwpt, iova, buf, BUF_LEN));
	CHILD_CHECK(!check_refs(fd, buf, BUF_LEN, 1));
	/* The parent's objects are this context's: its IOAS is in use. */
	CHILD_CHECK(destroy(fd, h->ioas) == -1 && errno == EBUSY);
	CHILD_CHECK(!close(fd));
	CHILD_CHECK(!say(sock, id, msgs));
}

/* Closes its copy at once, and lives on until the parent's turn ends. */
static void recv_close(int sock, int fd, const struct hand *h)
{
	struct hand turn;
	uint32_t id = 0;

	CHILD_CHECK(!ioas_alloc(fd, &id) && id == h->next_id);
	CHILD_CHECK(!close(fd));
	CHILD_CHECK(ioas_alloc(fd, NULL) == -1 && errno == EBADF);
	CHILD_CHECK(!say(sock, id, 0));
	CHILD_CHECK(!hear(sock, &turn));
}

/* Works on after the parent closed its copy, then closes the last. */
static void recv_last(int sock, int fd, const struct hand *h)
{
	uint64_t iova = h->iova, len = 0;
	char *buf = own_buffer(h->avoid);
	struct hand turn;
	uint32_t id = 0;

	CHILD_CHECK(!hear(sock, &turn));	/* parent closed */
	CHILD_CHECK(!ioas_alloc(fd, &id) && id == h->next_id);
	CHILD_CHECK(!ioas_map(fd, h->ioas, buf, BUF_LEN, &iova, MAP_FIXED_RW));
	CHILD_CHECK(!check_map(fd, h->hwpt, iova, buf, BUF_LEN));
	CHILD_CHECK(!check_refs(fd, buf, BUF_LEN, 1));
	CHILD_CHECK(!ioas_unmap(fd, h->ioas, iova, BUF_LEN, &len) &&
		    len == BUF_LEN);
	CHILD_CHECK(!check_refs(fd, buf, BUF_LEN, 0));
	CHILD_CHECK(!destroy(fd, h->stdev));
	CHILD_CHECK(!destroy(fd, h->ioas));
	CHILD_CHECK(!say(sock, id, 0));
	CHILD_CHECK(!hear(sock, &turn));	/* broker runs */
	CHILD_CHECK(!close(fd));
	CHILD_CHECK(!say(sock, 0, 0));
	CHILD_CHECK(!hear(sock, &turn));	/* broker gone */
}

/* Copies of the received number, dup'd before and after it is taken up. */
static void recv_dup(int sock, int fd, const struct hand *h)
{
	const uint32_t next = h->next_id;
	uint64_t iova = h->iova;
	char *buf = own_buffer(h->avoid);
	uint32_t id = 0;
	int d1, d2;

	d1 = dup(fd);
	CHILD_CHECK(d1 >= 0);
	CHILD_CHECK(!ioas_alloc(d1, &id) && id == next);
	CHILD_CHECK(!ioas_alloc(fd, &id) && id == next + 1);
	d2 = dup(fd);
	CHILD_CHECK(d2 >= 0);
	CHILD_CHECK(!ioas_alloc(d2, &id) && id == next + 2);
	CHILD_CHECK(!close(fd));
	CHILD_CHECK(!ioas_alloc(d1, &id) && id == next + 3);
	CHILD_CHECK(!destroy(d2, next + 1));
	CHILD_CHECK(!close(d1));
	CHILD_CHECK(!ioas_alloc(d2, &id) && id == next + 1);
	CHILD_CHECK(!ioas_map(d2, h->ioas, buf, BUF_LEN, &iova, MAP_FIXED_RW));
	CHILD_CHECK(!check_map(d2, h->hwpt, iova, buf, BUF_LEN));
	CHILD_CHECK(!close(d2));
	CHILD_CHECK(!say(sock, next + 3, 0));
}

/*
 * IOAS_MAP_FILE of the parent's memfd (@mfd, written here first) at
 * @h->iova, and of a memfd of its own after it; then goes.
 */
static void recv_file(int sock, int fd, int mfd, const struct hand *h)
{
	int own;

	CHILD_CHECK(mfd >= 0);
	CHILD_CHECK(pwrite(mfd, "the receiver's file", 20, PAGE_SZ) == 20);
	CHILD_CHECK(!map_file(fd, h->ioas, mfd, 0, BUF_LEN, h->iova));
	errno = 0;
	CHILD_CHECK(map_file(fd, h->ioas, free_number(3), 0, BUF_LEN,
			     h->iova + BUF_LEN) == -1 && errno == EBADF);
	own = memfd_create("e2e-receiver", MFD_CLOEXEC);
	CHILD_CHECK(own >= 0 && !ftruncate(own, BUF_LEN));
	CHILD_CHECK(!map_file(fd, h->ioas, own, 0, BUF_LEN,
			      h->iova + BUF_LEN));
	CHILD_CHECK(!close(own) && !close(mfd) && !close(fd));
	CHILD_CHECK(!say(sock, 0, 0));
}

__attribute__((constructor)) static void receiver_main(void)
{
	const char *env = getenv(HAND_ENV);
	int sock, fd, fds[2] = { -1, -1 }, n = 0, k;
	struct hand h;
	char mode;

	if (!env)
		return;
	CHILD_CHECK(sscanf(env, "%c,%d,%d", &mode, &sock, &fd) == 3);
	/* Inherited: its flags came through the exec, as any other's. */
	if (fd >= 0)
		CHILD_CHECK(fcntl(fd, F_GETFD) == 0);
	/* The messages up to the one carrying the descriptors. */
	do {
		k = hand_recv(sock, &h, fds);
		CHILD_CHECK(k >= 0 && (fd < 0 || !k));
		n++;
	} while (fd < 0 && !k);
	if (fd < 0)
		fd = fds[0];
	switch (mode) {
	case 'm':
		recv_map(sock, fd, &h, n);
		break;
	case 'c':
		recv_close(sock, fd, &h);
		break;
	case 'l':
		recv_last(sock, fd, &h);
		break;
	case 'd':
		recv_dup(sock, fd, &h);
		break;
	case 'f':
		recv_file(sock, fd, fds[1], &h);
		break;
	default:
		CHILD_CHECK(!"a known mode");
	}
	_exit(0);
}

/* ---- the parent's side ---- */

static char self_exe[4096];

__attribute__((constructor)) static void find_self(void)
{
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);

	if (n > 0)
		self_exe[n] = 0;
}

/* A receiver started, and the parent's end of its socket. */
struct run {
	int sock;
	pid_t pid;
};

/*
 * Start the receiver in @mode on a socket pair of @type, with descriptor
 * @fd inherited (-1: it comes over the socket): by posix_spawn, or by
 * vfork + execve. Its end of the pair is inherited (not close-on-exec).
 */
static void run_start(struct run *run, char mode, int type, int fd,
		      bool use_vfork)
{
	char *argv[] = { self_exe, NULL };
	char env[64];
	int sv[2];

	ASSERT_NE(0, self_exe[0]);
	ASSERT_EQ(0, socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv));
	ASSERT_EQ(0, fcntl(sv[1], F_SETFD, 0));
	snprintf(env, sizeof(env), "%c,%d,%d", mode, sv[1], fd);
	ASSERT_EQ(0, setenv(HAND_ENV, env, 1));
	fflush(stdout);
	if (use_vfork) {
		run->pid = vfork();
		if (!run->pid) {
			execve(self_exe, argv, environ);
			_exit(127);
		}
	} else {
		ASSERT_EQ(0, posix_spawn(&run->pid, self_exe, NULL, NULL, argv,
					 environ));
	}
	ASSERT_LT(0, run->pid);
	unsetenv(HAND_ENV);
	ASSERT_EQ(0, close(sv[1]));
	run->sock = sv[0];
}

/* A receiver in @mode given the objects of @c and @nfds of @fds. */
static void run_give(struct run *run, char mode, int type, struct ctx *c,
		     const int *fds, unsigned int nfds)
{
	struct hand h;

	run_start(run, mode, type, -1, false);
	hand_init(&h, c);
	ASSERT_EQ(0, hand_send(run->sock, &h, fds, nfds));
}

/* The receiver ended well, its answer into @r. */
static void run_end(struct run *run, struct hand *r)
{
	ASSERT_EQ(0, wait_child(run->pid, WAIT_STALL_S));
	ASSERT_EQ(0, hear(run->sock, r));
	ASSERT_EQ(0, close(run->sock));
}

/*
 * After recv_map(): the receiver's IOAS @id is there, its area in the
 * parent's IOAS has its length, the parent's own map is intact; @id
 * destroyed, the next IOAS takes @next, the lowest free ID.
 */
static void check_after_map(struct ctx *c, uint32_t id, uint32_t next)
{
	uint64_t len = 0;

	ASSERT_ERRNO(EBUSY, destroy(c->fd, c->ioas));
	ASSERT_EQ(0, ioas_unmap(c->fd, c->ioas, RECV_IOVA, BUF_LEN, &len));
	ASSERT_EQ(BUF_LEN, len);
	ASSERT_ERRNO(ENOENT, ioas_unmap(c->fd, c->ioas, RECV_IOVA, BUF_LEN,
					&len));
	ASSERT_EQ(0, check_map(c->fd, c->hwpt, c->iova, c->buf, BUF_LEN));
	ASSERT_EQ(0, check_refs(c->fd, c->buf, BUF_LEN, 1));
	ASSERT_EQ(0, destroy(c->fd, id));
	ASSERT_ERRNO(ENOENT, destroy(c->fd, id));
	ASSERT_EQ(0, ioas_alloc(c->fd, &id));
	ASSERT_EQ(next, id);
	ASSERT_EQ(0, close(c->fd));
}

/* ---- the tests ---- */

/*
 * A recv_map() receiver given the context: by sendmsg ('s') or sendmmsg
 * of two messages, the descriptor in the second ('m'), the context
 * opened close-on-exec (not inherited); inherited by posix_spawn ('p',
 * no fork here), or by vfork + execve ('v': the shim's vfork is a fork),
 * then also destroying an IOAS of the parent's.
 */
static void map_handover(char how)
{
	bool sent = how == 's' || how == 'm';
	struct mmsghdr mm[2] = {};
	struct iovec iov[2];
	uint32_t victim = 0;
	struct hand h, r;
	union cbuf u[2];
	struct run run;
	struct ctx c;

	ctx_make(&c, sent ? O_CLOEXEC : 0);
	if (how == 'v') {
		ASSERT_EQ(0, ioas_alloc(c.fd, &victim));
		ASSERT_EQ(c.next_id, victim);
	}
	run_start(&run, 'm', how == 's' || how == 'v' ? SOCK_STREAM :
		  SOCK_SEQPACKET, sent ? -1 : c.fd, how == 'v');
	hand_init(&h, &c);
	if (victim) {
		h.next_id = victim + 1;
		h.victim = victim;
	}
	if (how == 'm') {
		hand_msg(&mm[0].msg_hdr, &iov[0], &u[0], &h, NULL, 0);
		hand_msg(&mm[1].msg_hdr, &iov[1], &u[1], &h, &c.fd, 1);
		ASSERT_EQ(2, sendmmsg(run.sock, mm, 2, MSG_NOSIGNAL));
	} else {
		ASSERT_EQ(0, hand_send(run.sock, &h, &c.fd, sent));
	}
	run_end(&run, &r);
	ASSERT_EQ(h.next_id, r.next_id);
	ASSERT_EQ(how == 'm' ? 2 : 1, r.count);
	/* Promoted: the number and its flag are as they were. */
	ASSERT_EQ(sent ? FD_CLOEXEC : 0, fcntl(c.fd, F_GETFD));
	if (victim)
		ASSERT_ERRNO(ENOENT, destroy(c.fd, victim));
	check_after_map(&c, r.next_id, victim ? victim : r.next_id);
}

TEST(sendmsg_to_an_exec_d_receiver)
{
	map_handover('s');
}

TEST(sendmmsg_to_an_exec_d_receiver)
{
	map_handover('m');
}

TEST(posix_spawn_keeps_the_context)
{
	map_handover('p');
}

TEST(vfork_exec_keeps_the_context)
{
	map_handover('v');
}

/*
 * A receiver closing its copy drops only its reference: the parent
 * works on, and the broker stays until the parent closes the last copy.
 */
TEST(receiver_close_keeps_the_parents_context)
{
	uint32_t id = 0;
	struct run run;
	struct hand r;
	struct ctx c;
	pid_t broker = 0;

	become_subreaper();
	ctx_make(&c, O_CLOEXEC);
	run_give(&run, 'c', SOCK_SEQPACKET, &c, &c.fd, 1);
	ASSERT_LE(1, find_brokers(&broker, 1, NULL, 0));
	/* The receiver made an IOAS and closed its copy; it lives on. */
	ASSERT_EQ(0, hear(run.sock, &r));
	ASSERT_EQ(c.next_id, r.next_id);
	ASSERT_TRUE(child_running(run.pid));
	ASSERT_TRUE(child_running(broker));
	ASSERT_EQ(0, check_map(c.fd, c.hwpt, c.iova, c.buf, BUF_LEN));
	ASSERT_EQ(0, check_refs(c.fd, c.buf, BUF_LEN, 1));
	ASSERT_EQ(0, ioas_alloc(c.fd, &id));
	ASSERT_EQ(c.next_id + 1, id);
	ASSERT_EQ(0, destroy(c.fd, c.next_id));
	ASSERT_EQ(0, say(run.sock, 0, 0));
	ASSERT_EQ(0, wait_child(run.pid, WAIT_STALL_S));
	ASSERT_TRUE(child_running(broker));
	ASSERT_EQ(0, ioas_alloc(c.fd, &id));
	ASSERT_EQ(c.next_id, id);
	ASSERT_EQ(0, close(c.fd));
	ASSERT_EQ(0, broker_exit(broker));
	ASSERT_EQ(0, list_brokers(NULL, 0, NULL, 0));
	ASSERT_EQ(0, close(run.sock));
}

/*
 * The parent closes first; the receiver works on the context, the
 * parent's IOAS and domain included, and the context and its broker go
 * when the receiver closes the last copy, while it still lives.
 */
TEST(context_goes_with_the_receivers_last_copy)
{
	struct run run;
	struct hand r;
	struct ctx c;
	pid_t broker = 0;

	become_subreaper();
	ctx_make(&c, O_CLOEXEC);
	run_give(&run, 'l', SOCK_SEQPACKET, &c, &c.fd, 1);
	ASSERT_LE(1, find_brokers(&broker, 1, NULL, 0));
	ASSERT_EQ(0, close(c.fd));
	ASSERT_EQ(0, say(run.sock, 0, 0));
	ASSERT_EQ(0, hear(run.sock, &r));	/* it worked on */
	ASSERT_EQ(c.next_id, r.next_id);
	ASSERT_TRUE(child_running(broker));
	ASSERT_EQ(0, say(run.sock, 0, 0));
	ASSERT_EQ(0, hear(run.sock, &r));	/* it closed its copy */
	ASSERT_TRUE(child_running(run.pid));
	ASSERT_EQ(0, broker_exit(broker));
	ASSERT_EQ(0, say(run.sock, 0, 0));
	ASSERT_EQ(0, wait_child(run.pid, WAIT_STALL_S));
	ASSERT_EQ(0, list_brokers(NULL, 0, NULL, 0));
	/* Nothing pins the parent's memory any more. */
	c.fd = open_iommu();
	ASSERT_GE(c.fd, 0);
	ASSERT_EQ(0, check_refs(c.fd, c.buf, BUF_LEN, 0));
	ASSERT_EQ(0, close(c.fd));
	ASSERT_EQ(0, close(run.sock));
}

/*
 * An iommufd command on what is not a context is ENOTTY, as the
 * kernel's (EBADF on no descriptor), and the descriptor stays as it
 * was: socket pairs, a connection to an abstract name (as a context's
 * is), a pipe.
 */
TEST(adoption_refuses_what_is_not_a_context)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int st[2], sp[2], p[2], ends[4][2], ls, n = 0;
	uint32_t id = 0;
	socklen_t alen;
	char byte = 0;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
				sp));
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1,
		 "uiommufd-e2e-%d", (int)getpid());
	alen = offsetof(struct sockaddr_un, sun_path) + 1 +
	       strlen(addr.sun_path + 1);
	ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ASSERT_GE(ls, 0);
	ASSERT_EQ(0, bind(ls, (struct sockaddr *)&addr, alen));
	ASSERT_EQ(0, listen(ls, 1));
	ends[2][0] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ASSERT_GE(ends[2][0], 0);
	ASSERT_EQ(0, connect(ends[2][0], (struct sockaddr *)&addr, alen));
	ends[2][1] = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	ASSERT_GE(ends[2][1], 0);
	memcpy(ends[0], st, sizeof(st));
	memcpy(ends[1], sp, sizeof(sp));
	ends[3][0] = p[1];
	ends[3][1] = p[0];
	/* Twice: a refused descriptor is not taken up by the first. */
	for (unsigned int round = 0; round != 2; round++)
		for (unsigned int i = 0; i != 8; i++)
			ASSERT_ERRNO(ENOTTY, ioctl(ends[i / 2][i % 2],
						   IOMMU_IOAS_ALLOC, &cmd));
	ASSERT_ERRNO(EBADF, ioctl(free_number(3), IOMMU_IOAS_ALLOC, &cmd));
	/* Still what they were, their own ioctls too: one byte across. */
	for (unsigned int i = 0; i != 4; i++) {
		ASSERT_EQ(1, write(ends[i][0], &"0123"[i], 1));
		ASSERT_EQ(0, ioctl(ends[i][1], FIONREAD, &n));
		ASSERT_EQ(1, n);
		ASSERT_EQ(1, read(ends[i][1], &byte, 1));
		ASSERT_EQ('0' + i, byte);
		ASSERT_EQ(0, close(ends[i][0]));
		ASSERT_EQ(0, close(ends[i][1]));
	}
	ASSERT_EQ(0, close(ls));
	/* A context opened afterwards is a fresh one. */
	n = open_iommu();
	ASSERT_GE(n, 0);
	ASSERT_EQ(0, ioas_alloc(n, &id));
	ASSERT_EQ(1, id);
	ASSERT_EQ(0, close(n));
}

/* Dups of a received descriptor are the one context; each close one. */
TEST(received_descriptor_dups)
{
	uint64_t len = 0;
	struct run run;
	struct hand r;
	struct ctx c;

	ctx_make(&c, O_CLOEXEC);
	run_give(&run, 'd', SOCK_STREAM, &c, &c.fd, 1);
	run_end(&run, &r);
	ASSERT_EQ(c.next_id + 3, r.next_id);
	for (uint32_t id = c.next_id; id != c.next_id + 4; id++)
		ASSERT_EQ(0, destroy(c.fd, id));
	ASSERT_ERRNO(ENOENT, destroy(c.fd, c.next_id + 4));
	ASSERT_EQ(0, ioas_unmap(c.fd, c.ioas, RECV_IOVA, BUF_LEN, &len));
	ASSERT_EQ(BUF_LEN, len);
	ASSERT_EQ(0, check_map(c.fd, c.hwpt, c.iova, c.buf, BUF_LEN));
	ASSERT_EQ(0, close(c.fd));
}

/*
 * IOAS_MAP_FILE from a receiver of SCM_RIGHTS: of the parent's memfd
 * (sent along) and of one of its own. The domain holds the file's pages,
 * the very pages the parent's shared view of the memfd shows.
 */
TEST(receiver_maps_a_file)
{
	uint64_t len = 0;
	struct run run;
	struct hand r;
	struct ctx c;
	int fds[2];
	char *view;

	ctx_make(&c, O_CLOEXEC);
	fds[0] = c.fd;
	fds[1] = memfd_create("e2e-parent", MFD_CLOEXEC);
	ASSERT_GE(fds[1], 0);
	ASSERT_EQ(0, ftruncate(fds[1], BUF_LEN));
	run_give(&run, 'f', SOCK_SEQPACKET, &c, fds, 2);
	run_end(&run, &r);
	view = mmap(NULL, BUF_LEN, PROT_READ, MAP_SHARED, fds[1], 0);
	ASSERT_NE(MAP_FAILED, view);
	ASSERT_STREQ("the receiver's file", view + PAGE_SZ);
	ASSERT_EQ(0, check_map(c.fd, c.hwpt, RECV_IOVA, view, BUF_LEN));
	ASSERT_EQ(0, ioas_unmap(c.fd, c.ioas, RECV_IOVA, BUF_LEN, &len));
	ASSERT_EQ(BUF_LEN, len);
	/* The receiver's own file, held by the context after it went. */
	ASSERT_EQ(0, ioas_unmap(c.fd, c.ioas, RECV_IOVA + BUF_LEN, BUF_LEN,
				&len));
	ASSERT_EQ(BUF_LEN, len);
	ASSERT_EQ(0, check_map(c.fd, c.hwpt, c.iova, c.buf, BUF_LEN));
	ASSERT_EQ(0, munmap(view, BUF_LEN));
	ASSERT_EQ(0, close(fds[1]));
	ASSERT_EQ(0, close(c.fd));
}
