/* SPDX-License-Identifier: MIT */
/*
 * Contexts shared between processes (docs/design.md, section 8.1): what a
 * client (share_client.c) and a broker (share.c) say to each other.
 *
 * A context lives in the process that opened it until it is promoted: a
 * broker process, forked from it, serves it from then on to every process
 * holding a descriptor of it. The descriptor is one end of a
 * SOCK_SEQPACKET socket pair whose other end (the home end) the broker
 * holds, bound to an abstract name starting with SHARE_NAME_PREFIX: the
 * name the program's end reports as its peer is how a process given the
 * descriptor (over a socket, across exec) knows it for a context. The home
 * end never listens, so nobody can connect to the name.
 *
 * Each client process attaches a channel of its own (a socket pair, one
 * end sent with its credentials in a SHARE_ATTACH message over the
 * descriptor itself: only the broker reads the home end, so no holder can
 * take another's reply). Over the channel, a SHARE_IOCTL request names an
 * ioctl and its argument's address in the client, with the descriptor the
 * command takes (IOAS_MAP_FILE's file, a test-module access) sent along;
 * the reply carries the result, errno and reason, and the descriptor the
 * command handed out (a test-module access or dma-buf), which the broker
 * gives the client as a socket of its own: closing the last copy of it
 * anywhere closes the broker's.
 */
#ifndef UIOMMUFD_IOMMUFD_SHARE_PROTO_H
#define UIOMMUFD_IOMMUFD_SHARE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/common.h"

#define SHARE_MAGIC 0x75696f73u	/* "uios" */
#define SHARE_NAME_PREFIX "uiommufd-ctx:"

enum share_msg {
	SHARE_ATTACH = 1,	/* over the descriptor, with a channel end */
	SHARE_IOCTL,		/* over a channel */
};

/* Descriptors one message carries, at most. */
#define SHARE_FDS_MAX 17
/* Files of moved memory one request names, at most. */
#define SHARE_MEM_MAX 16

/*
 * Client memory at [addr, addr + len) is the file sent as descriptor
 * @fd_index of the message, at @offset (share_memory.c).
 */
struct share_mem {
	u64 addr;
	u64 len;
	u64 offset;
	u32 fd_index;
	u32 pad;
};

struct share_req {
	u32 magic;
	u32 kind;
	u64 request;
	u64 arg;
	s32 fd;		/* the client's number of the descriptor it takes */
	s32 fd_index;	/* which descriptor of the message that is, or -1 */
	u32 nmem;	/* struct share_mem entries following */
	u32 pad;
};

/* A request as sent: the header and its memory files. */
struct share_req_msg {
	struct share_req req;
	struct share_mem mem[SHARE_MEM_MAX];
};

struct share_rep {
	s32 rc;
	s32 err;
	char reason[240];
};

/*
 * Send @len bytes of @buf over @sock with the @nfds descriptors @fds:
 * true when all went. Receive one message into @buf, and the descriptors
 * it carried (close-on-exec) into @fds (*nfds of at most @max; the rest
 * are closed): the size, 0 at the end, -1 on error.
 */
bool share_send(int sock, const void *buf, size_t len, const int *fds,
		unsigned int nfds);
ssize_t share_recv(int sock, void *buf, size_t len, int *fds,
		   unsigned int *nfds, unsigned int max);

/*
 * The client's side of moved memory (share_memory.c): before a command
 * maps [uptr, uptr + length) of the calling process in a shared context,
 * move its private memory into files of the library's, mapped back in
 * place, and describe the files behind the range in @mem (*nmem, at most
 * SHARE_MEM_MAX), each file once in @fds (*nfds, at most SHARE_FDS_MAX -
 * 1; the caller closes them). What cannot be moved is left as it is (the
 * broker reaches it while the process lives).
 */
struct moved_range;
struct share_memory_use {
	struct moved_range *r[SHARE_FDS_MAX];	/* the files, each once */
	unsigned int n;
	struct moved_range *fresh;		/* moved by this command */
};

void share_memory_prepare(u64 uptr, u64 length, struct share_mem *mem,
			  unsigned int *nmem, int *fds, unsigned int *nfds,
			  struct share_memory_use *use);
/*
 * The command ended (@ok: it succeeded): memory it moved goes back to
 * private if it failed and nothing else uses the file.
 */
void share_memory_finish(struct share_memory_use *use, bool ok);
/*
 * [start, end) may be pinned under the identity of its address (mapped by
 * a context promoted from here): never moved.
 */
void share_memory_keep(u64 start, u64 end);
/* Forget the moved ranges whose memory is gone (unmapped or replaced). */
void share_memory_prune(void);
/* Around the fork of a broker: no private copies of moved memory there. */
void share_memory_forking_broker(bool on);

/* In a new broker: the program's channels (to other brokers) go. */
void share_client_forget_all(void);

#endif
