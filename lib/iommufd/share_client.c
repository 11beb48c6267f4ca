// SPDX-License-Identifier: MIT
/*
 * Contexts shared between processes, the client's side: a process holding
 * a shared context's descriptor runs its commands through a channel of its
 * own to the broker (share_proto.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/err_reason.h"
#include "base/mem.h"
#include "base/private_fd.h"
#include "base/process.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/share_proto.h"
#include "iommufd/user_copy.h"
#include "uiommufd/vfio_uapi.h"

/* The end of @member in @type: the size a command must have to hold it. */
#define END_OF(type, member) \
	(offsetof(type, member) + sizeof(((type *)0)->member))

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
	size_t plen = sizeof(SHARE_NAME_PREFIX) - 1;

	if (getpeername(fd, (struct sockaddr *)&peer, &len) ||
	    peer.sun_family != AF_UNIX ||
	    len < offsetof(struct sockaddr_un, sun_path) + 1 + plen ||
	    peer.sun_path[0] ||
	    memcmp(peer.sun_path + 1, SHARE_NAME_PREFIX, plen))
		return 0;
	return 1;
}

/* What a command takes or gives in descriptors, as the client sees it. */
struct req_fds {
	int send;		/* the descriptor it takes (-1: none) */
	u32 op;			/* IOMMU_TEST_CMD's op */
	u32 open_flags;		/* DMABUF_GET's */
};

/* Read @len bytes at byte @off of the command; false if they cannot be. */
static bool peek_cmd(void *arg, size_t off, void *dst, size_t len)
{
	return !copy_from_user(dst, (u64)(uintptr_t)arg + off, len,
			       "the command");
}

/*
 * The descriptor the command takes goes with the request: the broker has
 * no number of ours. What cannot be read is the broker's to answer.
 */
static void request_fds(unsigned long request, void *arg, struct req_fds *r)
{
	const size_t test_id = offsetof(struct iommu_test_cmd, id);
	u32 size;

	r->send = -1;
	r->op = 0;
	r->open_flags = 0;
	switch ((u32)request) {
	case IOMMU_IOAS_MAP_FILE:
		if (peek_cmd(arg, 0, &size, sizeof(size)) &&
		    size >= offsetof(struct iommu_ioas_map_file, fd) +
				    sizeof(r->send))
			peek_cmd(arg, offsetof(struct iommu_ioas_map_file, fd),
				 &r->send, sizeof(r->send));
		return;
	case IOMMU_TEST_CMD:
		if (!peek_cmd(arg, offsetof(struct iommu_test_cmd, op), &r->op,
			      sizeof(r->op)))
			return;
		switch (r->op) {
		case IOMMU_TEST_OP_DESTROY_ACCESS_PAGES:
		case IOMMU_TEST_OP_ACCESS_PAGES:
		case IOMMU_TEST_OP_ACCESS_RW:
		case IOMMU_TEST_OP_ACCESS_REPLACE_IOAS:
			/* The access is named by its descriptor. */
			peek_cmd(arg, test_id, &r->send, sizeof(r->send));
			return;
		case IOMMU_TEST_OP_DMABUF_REVOKE:
			peek_cmd(arg,
				 offsetof(struct iommu_test_cmd,
					  dmabuf_revoke.dmabuf_fd),
				 &r->send, sizeof(r->send));
			return;
		case IOMMU_TEST_OP_DMABUF_GET:
			peek_cmd(arg,
				 offsetof(struct iommu_test_cmd,
					  dmabuf_get.open_flags),
				 &r->open_flags, sizeof(r->open_flags));
			return;
		}
		return;
	}
}

/*
 * The user memory [*uptr, *uptr + *len) the command maps: IOAS_MAP's, and
 * VFIO_IOMMU_MAP_DMA's. False for other commands, or what cannot be read
 * (the broker answers it).
 */
static bool request_maps(unsigned long request, void *arg, u64 *uptr,
			 u64 *len)
{
	u32 size;

	switch ((u32)request) {
	case IOMMU_IOAS_MAP:
		return peek_cmd(arg, 0, &size, sizeof(size)) &&
		       size >= END_OF(struct iommu_ioas_map, length) &&
		       peek_cmd(arg, offsetof(struct iommu_ioas_map, user_va),
				uptr, sizeof(*uptr)) &&
		       peek_cmd(arg, offsetof(struct iommu_ioas_map, length),
				len, sizeof(*len));
	case VFIO_IOMMU_MAP_DMA:
		return peek_cmd(arg, 0, &size, sizeof(size)) &&
		       size >= END_OF(struct vfio_iommu_type1_dma_map, size) &&
		       peek_cmd(arg,
				offsetof(struct vfio_iommu_type1_dma_map,
					 vaddr),
				uptr, sizeof(*uptr)) &&
		       peek_cmd(arg,
				offsetof(struct vfio_iommu_type1_dma_map, size),
				len, sizeof(*len));
	default:
		return false;
	}
}

/*
 * The broker handed out descriptor @nfd (ours now, close-on-exec): put
 * it where the command answers one. The command's result, or -errno.
 */
static int take_given_fd(unsigned long request, void *arg,
			 const struct req_fds *r, int rc, int nfd)
{
	const size_t out = offsetof(struct iommu_test_cmd,
				    create_access.out_access_fd);
	u32 number = nfd;

	if ((u32)request == IOMMU_TEST_CMD &&
	    r->op == IOMMU_TEST_OP_CREATE_ACCESS) {
		if (!copy_to_user((u64)(uintptr_t)arg + out, &number,
				  sizeof(number), "out_access_fd"))
			return rc;
	} else if ((u32)request == IOMMU_TEST_CMD &&
		   r->op == IOMMU_TEST_OP_DMABUF_GET) {
		if (!(r->open_flags & O_CLOEXEC))
			fcntl(nfd, F_SETFD, 0);
		return nfd;
	} else {
		rc = err_reason(-EIO,
				"the process serving the shared context handed out an unexpected descriptor");
	}
	close(nfd);
	return rc < 0 ? rc : -EFAULT;
}

UIOMMUFD_EXPORT int uiommufd_remote_ioctl(int fd, unsigned long request,
					  void *arg)
{
	struct share_req_msg m = {
		.req = {
			.magic = SHARE_MAGIC, .kind = SHARE_IOCTL,
			.request = (u32)request, .arg = (u64)(uintptr_t)arg,
			.fd = -1, .fd_index = -1,
		},
	};
	unsigned int nfds = 0, nmem = 0, nfd_got = 0, nmoved;
	struct share_memory_use use;
	int rc, cfd, nfd = -1, fds[SHARE_FDS_MAX];
	struct share_channel *ch;
	struct share_rep rep;
	struct req_fds r;
	ssize_t n = -1;
	u64 uptr, len;
	size_t size;

	err_reason_clear();
	api_enter();
	request_fds(request, arg, &r);
	/* Memory the command maps goes into files the broker keeps. */
	use.n = 0;
	if (request_maps(request, arg, &uptr, &len))
		share_memory_prepare(uptr, len, m.mem, &nmem, fds, &nfds,
				     &use);
	nmoved = nfds;
	m.req.nmem = nmem;
	if (r.send >= 0) {
		m.req.fd = r.send;
		m.req.fd_index = nfds;
		fds[nfds++] = r.send;
	}
	size = sizeof(m.req) + nmem * sizeof(m.mem[0]);
	ch = channel_get(fd);
	if (IS_ERR(ch)) {
		rc = PTR_ERR(ch);
		goto out;
	}
	pthread_mutex_lock(&ch->lock);
	cfd = private_fd_get(&ch->fd);
	/* A number that is no descriptor goes alone: the broker says so. */
	if (share_send(cfd, &m, size, fds, nfds) ||
	    (errno == EBADF && r.send >= 0 &&
	     (m.req.fd_index = -1,
	      share_send(cfd, &m, size, fds, nfds - 1))))
		n = share_recv(cfd, &rep, sizeof(rep), &nfd, &nfd_got, 1);
	private_fd_put();
	pthread_mutex_unlock(&ch->lock);
	channel_put(ch);
	if (!nfd_got)
		nfd = -1;
	if (n != sizeof(rep)) {
		if (nfd >= 0)
			close(nfd);
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
	if (nfd >= 0)
		rc = take_given_fd(request, arg, &r, rc, nfd);
out:
	/* Our copies of the files: the broker has its own now. */
	for (unsigned int i = 0; i != nmoved; i++)
		close(fds[i]);
	share_memory_finish(&use, rc >= 0);
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
	bool last;

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
	last = !channels;
	pthread_mutex_unlock(&channels_lock);
	/* Requests in flight keep it until they are done. */
	if (gone)
		channel_put(gone);
	/* No shared context left here: what memory is gone needs no file. */
	if (gone && last)
		share_memory_prune();
	api_exit();
}


void share_client_forget_all(void)
{
	struct share_channel *ch = channels;

	channels = NULL;
	while (ch) {
		struct share_channel *next = ch->next;

		channel_free(ch);
		ch = next;
	}
}
