// SPDX-License-Identifier: MIT
/*
 * Contexts shared between processes, the broker's side (share_proto.h,
 * docs/design.md section 8.1): uiommufd_ctx_share() promotes a context to
 * a broker process forked from its home, which serves it to every
 * holder's channel, running each command with the client as the user
 * (process_user_set()), so that every copy and every page of user memory
 * is the client's, until the last descriptor of it anywhere is closed.
 *
 * Not yet in a shared context: fault queues and vEVENTQs (refused), and
 * mmap of vIOMMU pages (the shim answers ENODEV); a context holding
 * descriptors or mappings of its own is not promoted.
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
#include "base/user_locked.h"
#include "base/warn.h"
#include "iommufd/fd_table.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/share_proto.h"
#include "iopt/pages.h"
#include "iopt/pfn_source.h"

/*
 * Fault queues and vEVENTQs are not yet served for another process: their
 * descriptors are read, written and polled, which a client's socket does
 * not do. 0 when @req may run.
 */
static int refuse_unshareable(const struct share_req *req)
{
	switch ((u32)req->request) {
	case IOMMU_FAULT_QUEUE_ALLOC:
	case IOMMU_VEVENTQ_ALLOC:
		return err_reason(-EOPNOTSUPP,
				  "not yet in a context shared between processes (an event queue's descriptor)");
	default:
		return 0;
	}
}

struct broker_channel {
	int fd;
	pid_t pid;
};

/*
 * A descriptor of ours (@local: an access or a dma-buf) handed to clients
 * as the other end of @sock, whose inode is (@dev, @ino): when the last
 * copy of it anywhere is closed, @sock hangs up and @local is closed.
 */
struct remote_file {
	int sock;
	int local;
	dev_t dev;
	ino_t ino;
};

struct broker {
	struct uiommufd_ctx *ctx;
	int home;
	struct broker_channel *ch;
	unsigned int nch, ch_room;
	struct remote_file *rf;
	unsigned int nrf, rf_room;
};

/* Room for one more of @n elements of @size in *@arr (of *@room). */
static bool room_for_one(void **arr, unsigned int n, unsigned int *room,
			 size_t size)
{
	unsigned int more = *room ? 2 * *room : 16;
	void *bigger;

	if (n < *room)
		return true;
	bigger = mem_calloc(more, size);
	if (!bigger)
		return false;
	if (n)
		memcpy(bigger, *arr, n * size);
	mem_free(*arr);
	*arr = bigger;
	*room = more;
	return true;
}

/*
 * The descriptor a client sent with its request, as ours: the local file
 * behind a socket we handed out (the received copy goes), or itself.
 */
static int translate_fd(struct broker *b, int fd)
{
	struct stat st;

	if (fd < 0 || fstat(fd, &st))
		return fd;
	for (unsigned int i = 0; i != b->nrf; i++) {
		if (b->rf[i].dev == st.st_dev && b->rf[i].ino == st.st_ino) {
			syscall(SYS_close, fd);
			return b->rf[i].local;
		}
	}
	return fd;
}

/*
 * The command handed out @local: the client gets the other end of a
 * socket pair of ours (*cfd), which stands for it. 0, or -errno with
 * @local closed (the command's object goes with it, as at a close).
 */
static int hand_out(struct broker *b, int local, int *cfd)
{
	struct remote_file *rf;
	struct stat st;
	int sv[2];

	if (!room_for_one((void **)&b->rf, b->nrf, &b->rf_room,
			  sizeof(*b->rf)))
		goto fail;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		goto fail;
	if (fstat(sv[1], &st)) {
		syscall(SYS_close, sv[0]);
		syscall(SYS_close, sv[1]);
		goto fail;
	}
	rf = &b->rf[b->nrf++];
	*rf = (struct remote_file){ .sock = sv[0], .local = local,
				    .dev = st.st_dev, .ino = st.st_ino };
	*cfd = sv[1];
	return 0;
fail:
	uiommufd_fd_close(local);
	return err_reason(-EMFILE,
			  "cannot hand the new descriptor to the caller: %m");
}

/* Whether request @m (of @n bytes, with @nfds descriptors) is sound. */
static bool request_sound(const struct share_req_msg *m, ssize_t n,
			  unsigned int nfds)
{
	const struct share_req *req = &m->req;

	if (n < (ssize_t)sizeof(*req) || req->magic != SHARE_MAGIC ||
	    req->kind != SHARE_IOCTL || req->nmem > SHARE_MEM_MAX ||
	    n != (ssize_t)(sizeof(*req) + req->nmem * sizeof(m->mem[0])) ||
	    (req->fd_index >= 0 && (unsigned int)req->fd_index >= nfds))
		return false;
	for (unsigned int i = 0; i != req->nmem; i++)
		if (m->mem[i].fd_index >= nfds)
			return false;
	return true;
}

static void close_fds(const int *fds, unsigned int n)
{
	for (unsigned int i = 0; i != n; i++)
		if (fds[i] >= 0)
			syscall(SYS_close, fds[i]);
}

/* Run one request of channel @ch and answer it: false if it is gone. */
static bool serve_request(struct broker *b, const struct broker_channel *ch)
{
	struct process_mem mem[SHARE_MEM_MAX];
	struct share_rep rep = { 0 };
	struct share_req_msg m;
	int fds[SHARE_FDS_MAX], local = -1, given, cfd = -1;
	const char *reason;
	unsigned int nfds;
	bool sent;
	pid_t old;
	ssize_t n;

	n = share_recv(ch->fd, &m, sizeof(m), fds, &nfds, SHARE_FDS_MAX);
	if (n <= 0)
		return false;
	if (!request_sound(&m, n, nfds)) {
		close_fds(fds, nfds);
		return false;	/* not ours to talk to any more */
	}
	err_reason_clear();
	if (m.req.fd_index >= 0) {
		local = translate_fd(b, fds[m.req.fd_index]);
		/* A copy of a socket we handed out: closed, ours stands. */
		if (local != fds[m.req.fd_index])
			fds[m.req.fd_index] = -1;
	}
	for (unsigned int i = 0; i != m.req.nmem; i++)
		mem[i] = (struct process_mem){
			.addr = m.mem[i].addr, .len = m.mem[i].len,
			.offset = m.mem[i].offset,
			.fd = fds[m.mem[i].fd_index],
		};
	old = process_user_set(ch->pid);
	process_user_fd_set(m.req.fd, local);
	process_user_mem_set(mem, m.req.nmem);
	process_user_fd_taken();
	rep.rc = refuse_unshareable(&m.req);
	if (!rep.rc)
		rep.rc = uiommufd_ioctl(b->ctx, m.req.request,
					(void *)(uintptr_t)m.req.arg);
	else
		errno = -rep.rc;
	given = process_user_fd_taken();
	process_user_mem_set(NULL, 0);
	process_user_fd_reset();
	process_user_set(old);
	/* What the command keeps of them (a file's pages) holds its own. */
	close_fds(fds, nfds);
	if (rep.rc >= 0 && given >= 0) {
		int rc = hand_out(b, given, &cfd);

		if (rc) {
			rep.rc = -1;
			errno = -rc;
		}
	}
	if (rep.rc < 0) {
		rep.rc = -1;
		rep.err = errno;
		reason = uiommufd_last_reason();
		if (reason)
			snprintf(rep.reason, sizeof(rep.reason), "%s", reason);
	}
	sent = share_send(ch->fd, &rep, sizeof(rep), &cfd, cfd >= 0);
	/* Ours goes: the client's copy (if it got one) stands for the file. */
	if (cfd >= 0)
		syscall(SYS_close, cfd);
	return sent;
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

/* Every copy of remote file @i's descriptor is closed: close ours. */
static void remote_file_gone(struct broker *b, unsigned int i)
{
	syscall(SYS_close, b->rf[i].sock);
	uiommufd_fd_close(b->rf[i].local);
	b->rf[i] = b->rf[--b->nrf];
}

/*
 * What remote file @i's socket says: every copy of the client end is
 * closed (the file goes), or a client wrote to it, which the kernel's
 * file would refuse (dropped).
 */
static void remote_file_poll(struct broker *b, unsigned int i, short revents)
{
	char byte;

	if (revents & (POLLHUP | POLLERR | POLLNVAL))
		remote_file_gone(b, i);
	else if (revents & POLLIN)
		recv(b->rf[i].sock, &byte, sizeof(byte), MSG_DONTWAIT);
}

static void add_channel(struct broker *b, const struct broker_channel *ch)
{
	if (room_for_one((void **)&b->ch, b->nch, &b->ch_room,
			 sizeof(*b->ch)))
		b->ch[b->nch++] = *ch;
	else
		syscall(SYS_close, ch->fd);	/* without room, no client */
}

/*
 * Serve the context until the last descriptor of it anywhere is closed
 * (the home end hangs up). Clients come and go with their channels; the
 * descriptors handed out go when their last copy is closed, which is
 * seen before any request that follows (a close, then a command that
 * needs the object gone).
 */
static void broker_serve(struct broker *b)
{
	struct pollfd *pfd = NULL;
	unsigned int room = 0;

	for (;;) {
		unsigned int n = 1 + b->nrf + b->nch, p = 0;

		if (n > room) {
			mem_free(pfd);
			room = 2 * n;
			pfd = mem_calloc(room, sizeof(*pfd));
			if (!pfd)
				break;
		}
		pfd[p++] = (struct pollfd){ .fd = b->home, .events = POLLIN };
		for (unsigned int i = 0; i != b->nrf; i++)
			pfd[p++] = (struct pollfd){ .fd = b->rf[i].sock };
		for (unsigned int i = 0; i != b->nch; i++)
			pfd[p++] = (struct pollfd){ .fd = b->ch[i].fd,
						    .events = POLLIN };
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		/* The channels' entries follow what was polled before them. */
		p = 1 + b->nrf;
		for (unsigned int i = b->nrf; i--;)
			remote_file_poll(b, i, pfd[1 + i].revents);
		for (unsigned int i = b->nch; i--;) {
			if (!pfd[p + i].revents)
				continue;
			if ((pfd[p + i].revents & POLLIN) &&
			    serve_request(b, &b->ch[i]))
				continue;
			/* That client is gone. */
			syscall(SYS_close, b->ch[i].fd);
			b->ch[i] = b->ch[--b->nch];
		}
		if (pfd[0].revents) {
			struct broker_channel new_ch;
			int got = accept_attach(b->home, &new_ch);

			if (got < 0)
				break;	/* no descriptor left anywhere */
			if (got)
				add_channel(b, &new_ch);
		}
	}
	mem_free(pfd);
	/* As at the last close: what was handed out goes first. */
	while (b->nrf)
		remote_file_gone(b, b->nrf - 1);
	for (unsigned int i = 0; i != b->nch; i++)
		syscall(SYS_close, b->ch[i].fd);
	mem_free(b->ch);
	mem_free(b->rf);
	iommufd_ctx_put(b->ctx);
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

struct adopted {
	struct iopt_pages *seen[256];
	unsigned int n;
	u64 npages;
};

static void adopt_pages_charge(struct iopt_pages *pages, void *arg)
{
	struct adopted *a = arg;

	for (unsigned int i = 0; i != a->n; i++)
		if (a->seen[i] == pages)
			return;
	if (a->n != ARRAY_SIZE(a->seen))
		a->seen[a->n++] = pages;
	pthread_mutex_lock(&pages->mutex);
	if (pages->account_mode == IOPT_PAGES_ACCOUNT_USER)
		a->npages += pages->last_npinned;
	pthread_mutex_unlock(&pages->mutex);
}

/*
 * The user's pages the context holds pinned were charged by the home,
 * which refunds them when it lets go of its copy: the broker, which
 * refunds them at unpin from now on, takes them over in the count the
 * processes of the session share.
 */
static void broker_adopt_charges(struct uiommufd_ctx *ctx)
{
	struct adopted *a = mem_zalloc(sizeof(*a));

	if (!a)
		return;
	iommufd_ctx_for_each_pages(ctx, adopt_pages_charge, a);
	user_locked_adopt(getuid(), a->npages);
	mem_free(a);
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
	/* Our clients' channels (to other brokers) are not the broker's. */
	share_client_forget_all();
	/* The program's other contexts are not ours: pins, charges and all. */
	iommufd_ctx_forget_others(ctx);
	broker_adopt_charges(ctx);
	broker_close_fds();
	broker_serve(&(struct broker){ .ctx = ctx, .home = home });
	_exit(0);
}

/* This process's memory @pages maps: never moved (share_memory_keep()). */
static void keep_pages_memory(struct iopt_pages *pages, void *arg)
{
	if (pages->type == IOPT_ADDRESS_USER && pages->source &&
	    pages->source->pid == process_self())
		share_memory_keep(pages->source_addr,
				  pages->source_addr +
					  (pages->npages << PAGE_SHIFT));
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
			       "%s%d:%u", SHARE_NAME_PREFIX, (int)getpid(),
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
	/*
	 * Pages the context maps of this process may be pinned under the
	 * identity of their address: moving that memory later would give
	 * them another (design 8.1).
	 */
	iommufd_ctx_for_each_pages(ctx, keep_pages_memory, NULL);
	share_memory_forking_broker(true);
	pid = fork();
	share_memory_forking_broker(false);
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
