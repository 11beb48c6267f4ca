// SPDX-License-Identifier: MIT
/*
 * Contexts shared between processes (docs/design.md, section 8.1).
 *
 * A context lives in the process that opened it. uiommufd_ctx_share()
 * promotes it: the process forks a broker, a copy of itself holding the
 * context as it is at that instant, which serves it from then on to every
 * process holding a descriptor of it. The descriptor is one end of a
 * SOCK_SEQPACKET socket pair whose other end (the home end) the broker
 * holds: when the last copy of the descriptor anywhere is closed, the
 * home end hangs up and the broker destroys the context and exits.
 *
 * A client process reaches the broker through a channel of its own (a
 * socket pair, one end sent with its credentials in an attach message
 * over the descriptor itself: only the broker reads the home end, so no
 * holder can take another's reply). A request names an ioctl and its
 * argument's address in the client; the broker runs it with the client
 * as the user (process_user_set()), so every copy and every page of user
 * memory is the client's, and answers the result, errno and reason.
 *
 * Not yet in a shared context: what makes a descriptor or a mapping (the
 * test module's access descriptors and dma-bufs, fault queues, vEVENTQs,
 * mmap of vIOMMU pages) or takes one (IOAS_MAP_FILE); a context holding
 * any of those is not promoted.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err_reason.h"
#include "base/mem.h"
#include "base/private_fd.h"
#include "base/process.h"
#include "base/warn.h"
#include "iommufd/fd_table.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/user_copy.h"

#define SHARE_MAGIC 0x75696f73u	/* "uios" */

/*
 * The home end is bound to an abstract name with this prefix: the name
 * the program's end reports as its peer is how a process that was given
 * the descriptor (over a socket, across exec) knows it for a context. The
 * home end never listens, so nobody can connect to the name.
 */
static const char share_name_prefix[] = "uiommufd-ctx:";

enum share_msg {
	SHARE_ATTACH = 1,	/* over the descriptor, with a channel end */
	SHARE_IOCTL,		/* over a channel */
};

struct share_req {
	u32 magic;
	u32 kind;
	u64 request;
	u64 arg;
	s32 fd;		/* the client's number of a descriptor sent along */
	u32 pad;
};

struct share_rep {
	s32 rc;
	s32 err;
	char reason[240];
};

/* ---- the client side ---- */

/* This process's channel to the broker of the descriptor (dev, ino). */
struct share_channel {
	struct share_channel *next;
	dev_t dev;
	ino_t ino;
	pid_t pid;		/* whose it is: a forked child makes its own */
	atomic_int fd;		/* private_fd.h */
	pthread_mutex_t lock;	/* one request at a time */
	/* The list's and each request's in flight (channels_lock). */
	unsigned int refs;
};

static pthread_mutex_t channels_lock = PTHREAD_MUTEX_INITIALIZER;
static struct share_channel *channels;

static void channel_free(struct share_channel *ch)
{
	private_fd_close(&ch->fd);
	pthread_mutex_destroy(&ch->lock);
	mem_free(ch);
}

/* Drop a reference; the last frees it (off the list by then). */
static void channel_put(struct share_channel *ch)
{
	bool last;

	pthread_mutex_lock(&channels_lock);
	last = !--ch->refs;
	pthread_mutex_unlock(&channels_lock);
	if (last)
		channel_free(ch);
}

/* Send the attach message: @chan_fd and our credentials over @fd. */
static int send_attach(int fd, int chan_fd)
{
	struct share_req req = { .magic = SHARE_MAGIC, .kind = SHARE_ATTACH };
	union {
		char buf[CMSG_SPACE(sizeof(int)) +
			 CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &req, sizeof(req) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct ucred cred = { process_self(), getuid(), getgid() };
	struct cmsghdr *c;

	memset(&u, 0, sizeof(u));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &chan_fd, sizeof(int));
	c = CMSG_NXTHDR(&msg, c);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_CREDENTIALS;
	c->cmsg_len = CMSG_LEN(sizeof(cred));
	memcpy(CMSG_DATA(c), &cred, sizeof(cred));
	if (sendmsg(fd, &msg, MSG_NOSIGNAL) != sizeof(req))
		return err_reason(-EIO,
				  "cannot reach the process serving the shared context: %m");
	return 0;
}

/*
 * The channel for descriptor @fd, made (and attached) if need be, with a
 * reference for the caller.
 */
static struct share_channel *channel_get(int fd)
{
	struct share_channel *ch, **pos, *stale = NULL;
	pid_t self = process_self();
	int sv[2], rc;
	struct stat st;

	if (fstat(fd, &st))
		return ERR_PTR(err_reason(-EBADF, "descriptor %d: %m", fd));
	pthread_mutex_lock(&channels_lock);
	for (pos = &channels; (ch = *pos); pos = &ch->next) {
		if (ch->dev != st.st_dev || ch->ino != st.st_ino)
			continue;
		if (ch->pid == self) {
			ch->refs++;
			goto out_unlock;
		}
		/* Our parent's, copied by fork: not ours to use. */
		*pos = ch->next;
		stale = ch;
		break;
	}
	ch = mem_zalloc(sizeof(*ch));
	if (!ch) {
		ch = ERR_PTR(-ENOMEM);
		goto out_unlock;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		rc = err_reason(-errno, "cannot make a channel: %m");
		goto out_free;
	}
	atomic_init(&ch->fd, sv[0]);
	rc = private_fd_register(&ch->fd);
	if (rc) {
		close(sv[0]);
		close(sv[1]);
		goto out_free;
	}
	rc = send_attach(fd, sv[1]);
	close(sv[1]);
	if (rc) {
		private_fd_close(&ch->fd);
		goto out_free;
	}
	ch->dev = st.st_dev;
	ch->ino = st.st_ino;
	ch->pid = self;
	ch->refs = 2;		/* the list's and the caller's */
	pthread_mutex_init(&ch->lock, NULL);
	ch->next = channels;
	channels = ch;
	goto out_unlock;

out_free:
	mem_free(ch);
	ch = ERR_PTR(rc);
out_unlock:
	pthread_mutex_unlock(&channels_lock);
	/* The parent's copy: no thread of ours uses it, its fd is a dup. */
	if (stale)
		channel_free(stale);
	return ch;
}

UIOMMUFD_EXPORT int uiommufd_remote_is_context(int fd)
{
	struct sockaddr_un peer;
	socklen_t len = sizeof(peer);
	size_t plen = sizeof(share_name_prefix) - 1;

	if (getpeername(fd, (struct sockaddr *)&peer, &len) ||
	    peer.sun_family != AF_UNIX ||
	    len < offsetof(struct sockaddr_un, sun_path) + 1 + plen ||
	    peer.sun_path[0] ||
	    memcmp(peer.sun_path + 1, share_name_prefix, plen))
		return 0;
	return 1;
}

/*
 * The descriptor a command takes (IOAS_MAP_FILE's file) goes with the
 * request: the broker has no number of ours. -1 when there is none, or
 * when the argument cannot be read (the broker then answers the fault).
 */
static int request_fd(unsigned long request, void *arg)
{
	struct iommu_ioas_map_file cmd;
	const size_t end = offsetof(struct iommu_ioas_map_file, fd) +
			   sizeof(cmd.fd);

	if ((u32)request != IOMMU_IOAS_MAP_FILE)
		return -1;
	if (copy_from_user(&cmd, (u64)(uintptr_t)arg, sizeof(cmd.size),
			   "the command") ||
	    cmd.size < end ||
	    copy_from_user(&cmd, (u64)(uintptr_t)arg, end, "the command"))
		return -1;
	return cmd.fd;
}

/* Send @req over @cfd, with @fd when it is one. */
static bool send_request(int cfd, const struct share_req *req, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)req, sizeof(*req) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
		if (sendmsg(cfd, &msg, MSG_NOSIGNAL) == sizeof(*req))
			return true;
		if (errno != EBADF)
			return false;
		/* Not a descriptor: the broker finds none and says so. */
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
	}
	return sendmsg(cfd, &msg, MSG_NOSIGNAL) == sizeof(*req);
}

UIOMMUFD_EXPORT int uiommufd_remote_ioctl(int fd, unsigned long request,
					  void *arg)
{
	struct share_req req = {
		.magic = SHARE_MAGIC, .kind = SHARE_IOCTL,
		.request = (u32)request, .arg = (u64)(uintptr_t)arg,
	};
	struct share_channel *ch;
	struct share_rep rep;
	ssize_t n = -1;
	int rc, cfd, arg_fd;

	err_reason_clear();
	api_enter();
	arg_fd = request_fd(request, arg);
	req.fd = arg_fd;
	ch = channel_get(fd);
	if (IS_ERR(ch)) {
		rc = PTR_ERR(ch);
		goto out;
	}
	pthread_mutex_lock(&ch->lock);
	cfd = private_fd_get(&ch->fd);
	if (send_request(cfd, &req, arg_fd))
		n = recv(cfd, &rep, sizeof(rep), 0);
	private_fd_put();
	pthread_mutex_unlock(&ch->lock);
	channel_put(ch);
	if (n != sizeof(rep)) {
		rc = err_reason(-EIO,
				"the process serving the shared context is gone");
		goto out;
	}
	rep.reason[sizeof(rep.reason) - 1] = 0;
	rc = rep.rc;
	if (rc < 0) {
		if (rep.reason[0])
			err_reason(-rep.err, "%s", rep.reason);
		rc = -rep.err;
	}
out:
	api_exit();
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return rc;
}

UIOMMUFD_EXPORT void uiommufd_remote_forget(int fd)
{
	struct share_channel *ch, **pos, *gone = NULL;
	pid_t self = process_self();
	struct stat st;

	if (fstat(fd, &st))
		return;
	api_enter();
	pthread_mutex_lock(&channels_lock);
	for (pos = &channels; (ch = *pos); pos = &ch->next) {
		if (ch->dev == st.st_dev && ch->ino == st.st_ino &&
		    ch->pid == self) {
			*pos = ch->next;
			gone = ch;
			break;
		}
	}
	pthread_mutex_unlock(&channels_lock);
	/* Requests in flight keep it until they are done. */
	if (gone)
		channel_put(gone);
	api_exit();
}

/* ---- the broker ---- */

/*
 * Commands that make or take a descriptor, or a mapping, are not yet
 * served for another process: what the command would hand back is a
 * number in the broker's table. 0 when @req may run.
 */
static int refuse_unshareable(const struct share_req *req)
{
	struct iommu_test_cmd test;

	switch ((u32)req->request) {
	case IOMMU_FAULT_QUEUE_ALLOC:
	case IOMMU_VEVENTQ_ALLOC:
		return err_reason(-EOPNOTSUPP,
				  "not yet in a context shared between processes (a descriptor in the command)");
	case IOMMU_TEST_CMD:
		if (copy_from_user(&test, req->arg,
				   offsetof(struct iommu_test_cmd, op) + sizeof(u32),
				   "the test command"))
			return -EFAULT;
		if (test.op == IOMMU_TEST_OP_CREATE_ACCESS ||
		    test.op == IOMMU_TEST_OP_DMABUF_GET ||
		    test.op == IOMMU_TEST_OP_DMABUF_REVOKE)
			return err_reason(-EOPNOTSUPP,
					  "test op %u: not yet in a context shared between processes (a descriptor in the command)",
					  test.op);
		return 0;
	default:
		return 0;
	}
}

struct broker_channel {
	int fd;
	pid_t pid;
};

/*
 * Receive one request of @ch, with the descriptor it may carry (*fd, -1
 * if none): the size received, 0 at the end, -1 on error.
 */
static ssize_t recv_request(int cfd, struct share_req *req, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { req, sizeof(*req) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	n = recvmsg(cfd, &msg, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return n;
	c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(fd, CMSG_DATA(c), sizeof(int));
	return n;
}

/* Run one request of @ch's process and answer it: false if it is gone. */
static bool serve_request(struct uiommufd_ctx *ctx,
			  const struct broker_channel *ch)
{
	struct share_req req;
	struct share_rep rep = { 0 };
	const char *reason;
	int fd = -1;
	pid_t old;
	ssize_t n;

	n = recv_request(ch->fd, &req, &fd);
	if (n <= 0)
		return n < 0 && errno == EINTR;
	if (n != sizeof(req) || req.magic != SHARE_MAGIC ||
	    req.kind != SHARE_IOCTL) {
		if (fd >= 0)
			syscall(SYS_close, fd);
		return false;	/* not ours to talk to any more */
	}
	err_reason_clear();
	old = process_user_set(ch->pid);
	process_user_fd_set(req.fd, fd);
	rep.rc = refuse_unshareable(&req);
	if (!rep.rc)
		rep.rc = uiommufd_ioctl(ctx, req.request,
					(void *)(uintptr_t)req.arg);
	else
		errno = -rep.rc;
	process_user_fd_set(-1, -1);
	process_user_set(old);
	/* What the command keeps of it (a file's pages) holds its own. */
	if (fd >= 0)
		syscall(SYS_close, fd);
	if (rep.rc < 0) {
		rep.rc = -1;
		rep.err = errno;
		reason = uiommufd_last_reason();
		if (reason)
			snprintf(rep.reason, sizeof(rep.reason), "%s", reason);
	}
	return send(ch->fd, &rep, sizeof(rep), MSG_NOSIGNAL) == sizeof(rep);
}

/*
 * A new client: its channel and its credentials, from the home end. 1
 * with *ch filled, 0 for a message to drop, -1 when the home end is at
 * its end (no descriptor left anywhere).
 */
static int accept_attach(int home, struct broker_channel *ch)
{
	union {
		char buf[CMSG_SPACE(sizeof(int)) +
			 CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} u;
	struct share_req req;
	struct iovec iov = { &req, sizeof(req) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct ucred cred = { 0 };
	struct cmsghdr *c;
	ssize_t n;
	int fd = -1;

	n = recvmsg(home, &msg, MSG_CMSG_CLOEXEC);
	if (n == 0)
		return -1;
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -1;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
		else if (c->cmsg_type == SCM_CREDENTIALS)
			memcpy(&cred, CMSG_DATA(c), sizeof(cred));
	}
	/* Another user's process reaches nothing. */
	if (n != sizeof(req) || fd < 0 || req.magic != SHARE_MAGIC ||
	    req.kind != SHARE_ATTACH || !cred.pid || cred.uid != getuid()) {
		if (fd >= 0)
			syscall(SYS_close, fd);
		return 0;
	}
	ch->fd = fd;
	ch->pid = cred.pid;
	return 1;
}

/*
 * Serve @ctx until the last descriptor of it anywhere is closed (the home
 * end hangs up). Clients come and go with their channels.
 */
static void broker_serve(struct uiommufd_ctx *ctx, int home)
{
	struct broker_channel *ch = NULL;
	struct pollfd *pfd = mem_zalloc(sizeof(*pfd));
	unsigned int n = 0, room = 0;

	for (;;) {
		if (!pfd)
			break;
		pfd[0] = (struct pollfd){ .fd = home, .events = POLLIN };
		for (unsigned int i = 0; i != n; i++)
			pfd[i + 1] = (struct pollfd){ .fd = ch[i].fd,
						      .events = POLLIN };
		if (poll(pfd, n + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (unsigned int i = n; i--;) {
			if (!pfd[i + 1].revents)
				continue;
			if ((pfd[i + 1].revents & POLLIN) &&
			    serve_request(ctx, &ch[i]))
				continue;
			/* That client is gone. */
			syscall(SYS_close, ch[i].fd);
			ch[i] = ch[--n];
		}
		if (pfd[0].revents) {
			struct broker_channel new_ch;
			int got = accept_attach(home, &new_ch);

			if (got < 0)
				break;	/* no descriptor left anywhere */
			if (got && n == room) {
				/* Twice the room; without it, no new client. */
				unsigned int more = room ? 2 * room : 16;
				struct broker_channel *c2 =
					mem_zalloc(more * sizeof(*c2));
				struct pollfd *p2 =
					mem_zalloc((more + 1) * sizeof(*p2));

				if (c2 && p2) {
					if (n)
						memcpy(c2, ch, n * sizeof(*c2));
					mem_free(ch);
					mem_free(pfd);
					ch = c2;
					pfd = p2;
					room = more;
				} else {
					mem_free(c2);
					mem_free(p2);
				}
			}
			if (got && n < room)
				ch[n++] = new_ch;
			else if (got)
				syscall(SYS_close, new_ch.fd);
		}
	}
	mem_free(ch);
	mem_free(pfd);
	iommufd_ctx_put(ctx);
}

/*
 * The broker keeps the library's own descriptors (the home end is one of
 * them) and standard error (where a warning or a sanitizer's report
 * goes); every other one is the program's, and standard input and output
 * go to /dev/null, so that nothing reading them waits on us. Raw system
 * calls: no preload shim is to follow these.
 */
static void broker_close_fds(void)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	unsigned int lo = 3;

	for (int fd = 0; fd != 2 && null >= 0; fd++)
		if (fd != null)
			syscall(SYS_dup3, null, fd, 0);
	for (;;) {
		int next = private_fd_next(lo);

		if (next < 0) {
			syscall(SYS_close_range, lo, ~0u, 0);
			return;
		}
		if ((unsigned int)next > lo)
			syscall(SYS_close_range, lo, next - 1, 0);
		lo = next + 1;
	}
}

/* Our clients' channels (to other brokers) are not the broker's. */
static void broker_drop_channels(void)
{
	struct share_channel *ch = channels;

	channels = NULL;
	while (ch) {
		struct share_channel *next = ch->next;

		channel_free(ch);
		ch = next;
	}
}

static void broker_main(struct uiommufd_ctx *ctx, int home)
{
	sigset_t none;

	/* Out of the program's session and process group, its signals gone. */
	setsid();
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGSEGV && sig != SIGBUS && sig != SIGKILL &&
		    sig != SIGSTOP)
			signal(sig, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	prctl(PR_SET_NAME, "uiommufd-brkr");
	broker_drop_channels();
	/* The program's other contexts are not ours: pins, charges and all. */
	iommufd_ctx_forget_others(ctx);
	broker_close_fds();
	broker_serve(ctx, home);
	_exit(0);
}

/*
 * Name the home end (share_name_prefix, this process's pid and a count),
 * so that the other end is known for a context wherever it goes.
 */
static int bind_home(int home)
{
	static atomic_uint count;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int len;

	for (int tries = 0; tries != 64; tries++) {
		len = snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1,
			       "%s%d:%u", share_name_prefix, (int)getpid(),
			       atomic_fetch_add(&count, 1));
		if (!bind(home, (struct sockaddr *)&addr,
			  offsetof(struct sockaddr_un, sun_path) + 1 + len))
			return 0;
		if (errno != EADDRINUSE)
			break;
	}
	return err_reason(-errno, "cannot name the shared context: %m");
}

UIOMMUFD_EXPORT int uiommufd_ctx_share(struct uiommufd_ctx *ctx, int home)
{
	atomic_int slot;
	pid_t pid;
	int rc, one = 1, status;

	err_reason_clear();
	if (!ctx || home < 0) {
		if (home >= 0)
			close(home);
		return err_reason(-EINVAL, "no context or home descriptor");
	}
	api_enter();
	/*
	 * A descriptor or a mapping holds it too, or the process has library
	 * descriptors (a dma-buf serves any context): not yet shareable.
	 */
	iommufd_files_sweep_stale();
	if (atomic_load(&ctx->refs) != 1 || iommufd_files_any()) {
		rc = err_reason(-EOPNOTSUPP,
				"the context has descriptors or mappings of its own, which cannot be shared yet");
		goto out_close;
	}
	if (setsockopt(home, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one))) {
		rc = err_reason(-errno, "home descriptor %d: %m", home);
		goto out_close;
	}
	rc = bind_home(home);
	if (rc)
		goto out_close;
	atomic_init(&slot, home);
	/* The broker keeps it; registered here, so the fork copies that. */
	rc = private_fd_register(&slot);
	if (rc)
		goto out_close;
	pid = fork();
	if (pid < 0) {
		rc = err_reason(-errno, "cannot fork the broker: %m");
		goto out;
	}
	if (!pid) {
		/* Nobody's child the program could wait for: fork again. */
		iommufd_ctx_get(ctx);
		if (fork())
			_exit(0);
		broker_main(ctx, home);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	rc = 0;
out:
	/* The home end is the broker's now; ours goes. */
	private_fd_close(&slot);
	api_exit();
	return rc;

out_close:
	close(home);
	api_exit();
	return rc;
}
