// SPDX-License-Identifier: MIT
/*
 * Holders of a shared context killed with SIGKILL, and threads of several
 * processes on one shared context (docs/design.md 8.1). As the kernel's,
 * a context's objects belong to the context, not to the process that
 * made them: a process killed at any instant, inside a command, holding
 * pins or while mapping, leaves the context consistent and usable for
 * every other holder, its objects, areas and pinned pages still there
 * for the others to use and destroy; an access goes with the last copy
 * of its descriptor, which the process's death closes, and its pins with
 * it; nothing (object, pin, broker descriptor, broker) is left once the
 * others have destroyed what is theirs to destroy and closed the context.
 *
 * The processes and threads that work on the context ("actors") issue
 * random commands on objects of their own, each result checked against a
 * model of what they hold: IOASes (one may get a mock domain), areas in
 * an IOVA range of their own in the shared IOAS (which has the parent's
 * mock domain) and in their IOASes, mapped from private memory, from a
 * shared mapping of a memfd or with IOAS_MAP_FILE of it, copies between
 * them, and an access pinning, reading and writing them. Pins follow the
 * kernel: a page is pinned once per mapping made of it (IOAS_COPY shares
 * the source's) while any domain or access needs it.
 *
 * A victim notes, in memory it shares with the parent, what it is about
 * to do before each command and what it got after: once it is killed,
 * the parent knows which of its objects exist for sure and which may, and
 * checks the context against that. Waits are judged by progress (victims
 * and workers call test_progress() at each command; wait_child()), never
 * by the clock; the delays before a kill only pick the instant.
 *
 * What a gone holder's shared mapping of a file holds (its pages' bytes,
 * read through an access) is checked by pinned_memory_outlives_its_holder
 * alone; elsewhere such areas are checked by the pages the domain holds
 * (MD_CHECK_MAP through the parent's mapping of the file), so that one
 * difference from the kernel does not hide the rest.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "e2e/e2e_utils.h"
#include "harness/rng.h"

#define BUF_LEN (8 * PAGE_SZ)
#define NSLOT 8
#define SLOT_PAGES 4
#define SLOT_LEN (SLOT_PAGES * PAGE_SZ)
#define WIN_LEN (NSLOT * SLOT_LEN)
#define PARENT_IOVA MOCK_APERTURE_START
/* An actor's IOVA range: its slot k is at the same IOVA in every IOAS. */
#define ACTOR_IOVA(n) (MOCK_APERTURE_START + 0x100000 * (uint64_t)(1 + (n)))
#define RANGE_LEN ((uint64_t)WIN_LEN)
#define MAX_ITEMS 8
#define WIN_BYTE 0xa5
/* IDs above the parent's next free one that a sweep tries. */
#define ID_SWEEP 64
#define ID_MAX 128
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* A child's checks: report the first failure and exit non-zero. */
#define CHILD_CHECK(cond)                                                  \
	do {                                                               \
		if (!(cond)) {                                             \
			dprintf(1, "# child %d, line %d: %s (errno %d)\n", \
				(int)getpid(), __LINE__, #cond, errno);    \
			_exit(1);                                          \
		}                                                          \
	} while (0)

/* ---- brokers (as in test_shim_fork.c) ---- */

/*
 * A broker is nobody's child; a test that looks at brokers makes itself
 * a child subreaper, so the brokers it causes become its children.
 */
static void become_subreaper(void)
{
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
}

/* /proc/<pid>/stat: the comm and the parent ("" for a zombie). */
static bool proc_stat(pid_t pid, char *comm, size_t len, pid_t *ppid)
{
	char path[64], buf[512], *open_, *close_;
	int fd, p = 0;
	char state;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	open_ = strchr(buf, '(');
	close_ = strrchr(buf, ')');
	if (!open_ || !close_ || close_ < open_)
		return false;
	*close_ = 0;
	snprintf(comm, len, "%s", open_ + 1);
	if (sscanf(close_ + 2, "%c %d", &state, &p) != 2)
		return false;
	if (state == 'Z')
		comm[0] = 0;
	*ppid = p;
	return true;
}

/* Our children named uiommufd-brkr not in @known, into @out: how many. */
static unsigned int list_brokers(pid_t *out, unsigned int max,
				 const pid_t *known, unsigned int nknown)
{
	unsigned int n = 0;
	struct dirent *de;
	DIR *dir = opendir("/proc");

	if (!dir)
		return 0;
	while ((de = readdir(dir)) && n != max) {
		char comm[32], *end;
		long pid = strtol(de->d_name, &end, 10);
		bool seen = false;
		pid_t ppid;

		if (*end || pid <= 0 ||
		    !proc_stat(pid, comm, sizeof(comm), &ppid) ||
		    ppid != getpid() || strcmp(comm, "uiommufd-brkr"))
			continue;
		for (unsigned int i = 0; i != nknown; i++)
			seen |= known[i] == pid;
		if (!seen)
			out[n++] = pid;
	}
	closedir(dir);
	return n;
}

/*
 * Wait until @want new brokers are there: how many were found. A broker
 * names itself just after its fork, so look a while, in small steps (a
 * generous bound, scaled: not a deadline).
 */
static unsigned int find_brokers(pid_t *out, unsigned int want,
				 const pid_t *known, unsigned int nknown)
{
	unsigned long steps = 3000UL * test_timeout_scale();
	unsigned int n = 0;

	for (unsigned long i = 0; i != steps; i++) {
		n = list_brokers(out, want + 1, known, nknown);
		if (n >= want)
			break;
		usleep(10000);
	}
	return n;
}

/* Whether @pid, a child of ours, is still running (not reaped). */
static bool child_running(pid_t pid)
{
	int status;

	return waitpid(pid, &status, WNOHANG) == 0;
}

/*
 * The descriptors @pid has open, or -1; but for one of its maps file,
 * which the library opens once, at its first look, and keeps.
 */
static int count_fds(pid_t pid)
{
	char path[300], link[64], maps[64];
	struct dirent *de;
	DIR *dir;
	int n = 0;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)pid);
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((de = readdir(dir))) {
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid,
			 de->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		link[len > 0 ? len : 0] = 0;
		n += strcmp(link, maps) != 0;
	}
	closedir(dir);
	return n;
}

/* Log what each descriptor of @pid is. */
static void log_fds(pid_t pid)
{
	char path[300], link[256], text[1024];
	struct dirent *de;
	size_t at = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return;
	text[0] = 0;
	while ((de = readdir(dir)) && at < sizeof(text)) {
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid,
			 de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = 0;
		at += snprintf(text + at, sizeof(text) - at, " %s:%s",
			       de->d_name, link);
	}
	closedir(dir);
	TH_LOG("descriptors of %d:%s", (int)pid, text);
}

/* ---- commands the helpers do not have ---- */

static int mock_domain_ids(int fd, uint32_t pt_id, uint32_t *stdev,
			   uint32_t *hwpt, uint32_t *idev)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = pt_id,
	};
	int rc = test_cmd(fd, &cmd);

	if (!rc) {
		*stdev = cmd.mock_domain.out_stdev_id;
		*hwpt = cmd.mock_domain.out_hwpt_id;
		*idev = cmd.mock_domain.out_idev_id;
	}
	return rc;
}

/* Whether all @len bytes at @p are @byte. */
static bool all_bytes(const void *p, size_t len, uint8_t byte)
{
	const uint8_t *b = p;

	for (size_t i = 0; i != len; i++)
		if (b[i] != byte)
			return false;
	return true;
}

/* ---- the victim's log, in memory shared with the parent ---- */

enum { IX_S, IX_V0, IX_V1, NIOAS };	/* the shared IOAS, the actor's */
enum { SRC_PRIV, SRC_WIN, SRC_FILE, NSRC };
enum { ST_NONE, ST_PENDING, ST_LIVE, ST_DYING };

enum op {
	OP_NONE, OP_IOAS_ALLOC, OP_IOAS_DESTROY, OP_MAP, OP_MAP_FILE,
	OP_UNMAP, OP_COPY, OP_DOMAIN, OP_DOMAIN_DESTROY, OP_ACCESS,
	OP_ACCESS_CLOSE, OP_ACCESS_PAGES, OP_ACCESS_UNPIN, OP_ACCESS_RW,
	OP_CHECK_MAP, OP_CHECK_REFS, NR_OPS
};

static const char *const op_names[NR_OPS] = {
	"none", "ioas_alloc", "ioas_destroy", "map", "map_file", "unmap",
	"copy", "domain", "domain_destroy", "access", "access_close",
	"access_pages", "access_unpin", "access_rw", "check_map",
	"check_refs",
};

static const char state_chars[] = "-PLD";

struct obj_log {
	_Atomic uint32_t state;
	_Atomic uint32_t id;
};

struct vlog {
	_Atomic uint32_t op;		/* the command in flight, or none */
	_Atomic uint32_t ops;		/* commands begun */
	_Atomic int32_t rc, err;	/* the last command's result */
	struct obj_log ioas[NIOAS];	/* its IOASes ([IX_S] unused) */
	struct obj_log dom;		/* its mock domain, by stdev */
	_Atomic uint32_t hwpt, idev;
	struct obj_log access;		/* (the ID is not told) */
	struct {
		_Atomic uint32_t state;
		_Atomic uint32_t src;
	} slot[NSLOT];			/* its areas in the shared IOAS */
};

/* ---- actors ---- */

/* One mapping made (IOAS_MAP or MAP_FILE), shared by its copies. */
struct pg {
	int src;		/* SRC_*, or -1: unused */
	int k;			/* of the source's slot k */
};

/* An ACCESS_PAGES item: the whole of slot @k of IOAS @ix. */
struct item {
	int ix, k;
	uint32_t id;
};

struct actor {
	int fd, memfd;
	struct vlog *log;	/* a victim's, or NULL */
	struct rng rng;
	uint64_t iova;		/* of slot 0 */
	uint32_t id[NIOAS];	/* 0: none */
	uint32_t s_hwpt;	/* the shared IOAS's domain */
	int slot[NIOAS][NSLOT];	/* the pg mapped there, or -1 */
	struct pg pg[NIOAS * NSLOT];
	bool dom;		/* a mock domain on IX_V0 */
	uint32_t stdev, hwpt, idev;
	int afd, acc;		/* an access on IOAS acc (-1: none) */
	struct item item[MAX_ITEMS];
	unsigned int nitems;
	char *priv, *view;	/* private memory; the memfd, shared */
	uint8_t priv_byte, win_byte;
	unsigned long ops;
	bool failed;
	char first_error[200];
};

/*
 * A victim's failure ends it (the parent sees its exit status); a
 * worker's is recorded, and the worker stops.
 */
static void actor_fail(struct actor *a, int line, const char *what, int err,
		       long got, long want)
{
	char text[200];

	snprintf(text, sizeof(text), "line %d: %s (errno %d, %ld, %ld)",
		 line, what, err, got, want);
	if (a->log) {
		dprintf(1, "# victim %d after %lu commands, %s\n",
			(int)getpid(), a->ops, text);
		_exit(1);
	}
	if (!a->failed)
		snprintf(a->first_error, sizeof(a->first_error), "%s", text);
	a->failed = true;
}

#define A_CHECK2(a, cond, got, want)                                       \
	do {                                                               \
		if (!(cond)) {                                             \
			actor_fail(a, __LINE__, #cond, errno, (long)(got), \
				   (long)(want));                          \
			return true;                                       \
		}                                                          \
	} while (0)
#define A_CHECK(a, cond) A_CHECK2(a, cond, 0, 0)

#define LOGP(a, field) ((a)->log ? &(a)->log->field : NULL)

static void log_obj(struct obj_log *o, uint32_t state, uint32_t id)
{
	if (!o)
		return;
	atomic_store(&o->id, id);
	atomic_store(&o->state, state);
}

static void log_slot(struct actor *a, int ix, int k, uint32_t state,
		     int src)
{
	if (!a->log || ix != IX_S)
		return;
	atomic_store(&a->log->slot[k].src, src);
	atomic_store(&a->log->slot[k].state, state);
}

static void log_begin(struct actor *a, enum op op)
{
	a->ops++;
	if (!a->log)
		return;
	atomic_fetch_add(&a->log->ops, 1);
	atomic_store(&a->log->op, op);
}

/* After the command: errno is left as the command left it. */
static void log_end(struct actor *a, int rc)
{
	int err = errno;

	if (!a->log)
		return;
	atomic_store(&a->log->rc, rc);
	atomic_store(&a->log->err, rc ? err : 0);
	atomic_store(&a->log->op, OP_NONE);
	errno = err;
}

static uint64_t slot_iova(const struct actor *a, int k)
{
	return a->iova + (uint64_t)k * SLOT_LEN;
}

static char *src_addr(const struct actor *a, int src, int k)
{
	return (src == SRC_PRIV ? a->priv : a->view) + (size_t)k * SLOT_LEN;
}

static uint8_t src_byte(const struct actor *a, int src)
{
	return src == SRC_PRIV ? a->priv_byte : a->win_byte;
}

/* The pages of a source: private, or the memfd's (WIN and FILE). */
static int src_group(int src)
{
	return src != SRC_PRIV;
}

static bool has_domain(const struct actor *a, int ix)
{
	return ix == IX_S || (ix == IX_V0 && a->dom);
}

static int pg_new(struct actor *a, int src, int k)
{
	for (unsigned int p = 0; p != ARRAY_LEN(a->pg); p++) {
		if (a->pg[p].src < 0) {
			a->pg[p] = (struct pg){ .src = src, .k = k };
			return p;
		}
	}
	return -1;	/* cannot be: a pg per slot at most */
}

static bool pg_pinned(const struct actor *a, int p)
{
	for (int ix = 0; ix != NIOAS; ix++)
		for (int k = 0; k != NSLOT; k++)
			if (a->slot[ix][k] == p && has_domain(a, ix))
				return true;
	for (unsigned int i = 0; i != a->nitems; i++)
		if (a->slot[a->item[i].ix][a->item[i].k] == p)
			return true;
	return false;
}

/* The pins of slot @k of the pages of group @g, as the kernel counts. */
static unsigned int model_pins(const struct actor *a, int g, int k)
{
	unsigned int n = 0;

	for (unsigned int p = 0; p != ARRAY_LEN(a->pg); p++)
		if (a->pg[p].src >= 0 && src_group(a->pg[p].src) == g &&
		    a->pg[p].k == k && pg_pinned(a, p))
			n++;
	return n;
}

/* Slot @k of IOAS @ix is unmapped: items on it and unused pgs go. */
static void slot_clear(struct actor *a, int ix, int k)
{
	int p = a->slot[ix][k];
	bool used = false;

	a->slot[ix][k] = -1;
	for (unsigned int i = 0; i != a->nitems;) {
		if (a->item[i].ix == ix && a->item[i].k == k)
			a->item[i] = a->item[--a->nitems];
		else
			i++;
	}
	if (p < 0)
		return;
	for (int j = 0; j != NIOAS; j++)
		for (int m = 0; m != NSLOT; m++)
			used |= a->slot[j][m] == p;
	if (!used)
		a->pg[p].src = -1;
}

static bool op_ioas_alloc(struct actor *a)
{
	int ix = IX_V0 + rng_below(&a->rng, 2), rc;
	uint32_t id = 0;

	if (a->id[ix])
		return false;
	log_obj(LOGP(a, ioas[ix]), ST_PENDING, 0);
	log_begin(a, OP_IOAS_ALLOC);
	rc = ioas_alloc(a->fd, &id);
	log_end(a, rc);
	A_CHECK(a, !rc && id);
	a->id[ix] = id;
	for (int k = 0; k != NSLOT; k++)
		a->slot[ix][k] = -1;
	log_obj(LOGP(a, ioas[ix]), ST_LIVE, id);
	return true;
}

static bool op_ioas_destroy(struct actor *a)
{
	int ix = IX_V0 + rng_below(&a->rng, 2), rc;
	bool busy;

	if (!a->id[ix])
		return false;
	/* A domain or an access holds it, as the kernel's users. */
	busy = (ix == IX_V0 && a->dom) || a->acc == ix;
	log_obj(LOGP(a, ioas[ix]), ST_DYING, a->id[ix]);
	log_begin(a, OP_IOAS_DESTROY);
	rc = destroy(a->fd, a->id[ix]);
	log_end(a, rc);
	if (busy) {
		A_CHECK(a, rc == -1 && errno == EBUSY);
		log_obj(LOGP(a, ioas[ix]), ST_LIVE, a->id[ix]);
		return true;
	}
	A_CHECK(a, !rc);
	for (int k = 0; k != NSLOT; k++)
		slot_clear(a, ix, k);
	a->id[ix] = 0;
	log_obj(LOGP(a, ioas[ix]), ST_NONE, 0);
	return true;
}

static bool op_map(struct actor *a)
{
	int ix = rng_below(&a->rng, NIOAS), k = rng_below(&a->rng, NSLOT);
	int src = rng_below(&a->rng, NSRC), rc;
	uint64_t iova = slot_iova(a, k);

	if (!a->id[ix] || a->slot[ix][k] >= 0)
		return false;
	log_slot(a, ix, k, ST_PENDING, src);
	if (src == SRC_FILE) {
		log_begin(a, OP_MAP_FILE);
		rc = map_file(a->fd, a->id[ix], a->memfd,
			      (uint64_t)k * SLOT_LEN, SLOT_LEN, iova);
	} else {
		log_begin(a, OP_MAP);
		rc = ioas_map(a->fd, a->id[ix], src_addr(a, src, k),
			      SLOT_LEN, &iova, MAP_FIXED_RW);
	}
	log_end(a, rc);
	A_CHECK(a, !rc && iova == slot_iova(a, k));
	a->slot[ix][k] = pg_new(a, src, k);
	log_slot(a, ix, k, ST_LIVE, src);
	return true;
}

static bool op_unmap(struct actor *a)
{
	int ix = rng_below(&a->rng, NIOAS), k = rng_below(&a->rng, NSLOT);
	uint64_t len = 0;
	int rc, src;

	if (!a->id[ix] || a->slot[ix][k] < 0)
		return false;
	src = a->pg[a->slot[ix][k]].src;
	log_slot(a, ix, k, ST_DYING, src);
	log_begin(a, OP_UNMAP);
	rc = ioas_unmap(a->fd, a->id[ix], slot_iova(a, k), SLOT_LEN, &len);
	log_end(a, rc);
	A_CHECK2(a, !rc && len == SLOT_LEN, len, SLOT_LEN);
	slot_clear(a, ix, k);
	log_slot(a, ix, k, ST_NONE, src);
	return true;
}

static bool op_copy(struct actor *a)
{
	int i = rng_below(&a->rng, NIOAS), j = rng_below(&a->rng, NIOAS);
	int k = rng_below(&a->rng, NSLOT), rc, src;
	uint64_t iova, dst;

	if (i == j || !a->id[i] || !a->id[j])
		return false;
	/* A slot mapped in i and free in j, from a random one on. */
	for (int n = 0; n != NSLOT; n++, k = (k + 1) % NSLOT)
		if (a->slot[i][k] >= 0 && a->slot[j][k] < 0)
			break;
	if (a->slot[i][k] < 0 || a->slot[j][k] >= 0)
		return false;
	iova = slot_iova(a, k);
	dst = iova;
	src = a->pg[a->slot[i][k]].src;
	log_slot(a, j, k, ST_PENDING, src);
	log_begin(a, OP_COPY);
	rc = ioas_copy(a->fd, a->id[j], a->id[i], iova, SLOT_LEN, &dst,
		       MAP_FIXED_RW);
	log_end(a, rc);
	A_CHECK(a, !rc && dst == iova);
	a->slot[j][k] = a->slot[i][k];
	log_slot(a, j, k, ST_LIVE, src);
	return true;
}

static bool op_domain(struct actor *a)
{
	int rc;

	if (!a->id[IX_V0])
		return false;
	if (a->dom) {
		log_obj(LOGP(a, dom), ST_DYING, a->stdev);
		log_begin(a, OP_DOMAIN_DESTROY);
		rc = destroy(a->fd, a->stdev);
		log_end(a, rc);
		A_CHECK(a, !rc);
		a->dom = false;
		log_obj(LOGP(a, dom), ST_NONE, 0);
		return true;
	}
	log_obj(LOGP(a, dom), ST_PENDING, 0);
	log_begin(a, OP_DOMAIN);
	rc = mock_domain_ids(a->fd, a->id[IX_V0], &a->stdev, &a->hwpt,
			     &a->idev);
	log_end(a, rc);
	A_CHECK(a, !rc);
	a->dom = true;
	if (a->log) {
		atomic_store(&a->log->hwpt, a->hwpt);
		atomic_store(&a->log->idev, a->idev);
	}
	log_obj(LOGP(a, dom), ST_LIVE, a->stdev);
	return true;
}

static bool op_access(struct actor *a)
{
	int ix = rng_below(&a->rng, 2) ? IX_S : IX_V0, rc, afd = -1;

	if (a->acc >= 0) {
		log_obj(LOGP(a, access), ST_DYING, 0);
		log_begin(a, OP_ACCESS_CLOSE);
		rc = close(a->afd);
		log_end(a, rc);
		A_CHECK(a, !rc);
		a->acc = -1;
		a->nitems = 0;
		log_obj(LOGP(a, access), ST_NONE, 0);
		return true;
	}
	if (!a->id[ix])
		return false;
	log_obj(LOGP(a, access), ST_PENDING, 0);
	log_begin(a, OP_ACCESS);
	rc = create_access(a->fd, a->id[ix],
			   MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, &afd);
	log_end(a, rc);
	A_CHECK(a, !rc && afd >= 0);
	a->afd = afd;
	a->acc = ix;
	a->nitems = 0;
	log_obj(LOGP(a, access), ST_LIVE, 0);
	return true;
}

static bool op_access_pages(struct actor *a)
{
	int k = rng_below(&a->rng, NSLOT), rc, src;
	uint32_t id = 0;

	if (a->acc < 0 || a->nitems == MAX_ITEMS || a->slot[a->acc][k] < 0)
		return false;
	src = a->pg[a->slot[a->acc][k]].src;
	log_begin(a, OP_ACCESS_PAGES);
	rc = access_pages(a->fd, a->afd, slot_iova(a, k), SLOT_LEN,
			  src_addr(a, src, k),
			  rng_below(&a->rng, 2) ? MOCK_FLAGS_ACCESS_WRITE : 0,
			  &id);
	log_end(a, rc);
	A_CHECK(a, !rc);
	a->item[a->nitems++] = (struct item){ .ix = a->acc, .k = k,
					      .id = id };
	return true;
}

static bool op_access_unpin(struct actor *a)
{
	unsigned int i;
	int rc;

	if (a->acc < 0 || !a->nitems)
		return false;
	i = rng_below(&a->rng, a->nitems);
	log_begin(a, OP_ACCESS_UNPIN);
	rc = destroy_access_pages(a->fd, a->afd, a->item[i].id);
	log_end(a, rc);
	A_CHECK(a, !rc);
	a->item[i] = a->item[--a->nitems];
	return true;
}

static bool op_access_rw(struct actor *a)
{
	int k = rng_below(&a->rng, NSLOT), rc;
	uint8_t tmp[2 * PAGE_SZ], byte;
	uint32_t flags = 0;
	size_t off, len;

	if (a->acc < 0 || a->slot[a->acc][k] < 0)
		return false;
	byte = src_byte(a, a->pg[a->slot[a->acc][k]].src);
	off = rng_below(&a->rng, SLOT_LEN);
	len = 1 + rng_below(&a->rng, SLOT_LEN - off < sizeof(tmp) ?
					     SLOT_LEN - off : sizeof(tmp));
	if (rng_below(&a->rng, 2))
		flags |= MOCK_ACCESS_RW_SLOW_PATH;
	/* A write puts back what is there: the bytes stay known. */
	if (rng_below(&a->rng, 2)) {
		flags |= MOCK_ACCESS_RW_WRITE;
		memset(tmp, byte, len);
	} else {
		memset(tmp, (uint8_t)~byte, len);
	}
	log_begin(a, OP_ACCESS_RW);
	rc = access_rw(a->fd, a->afd, slot_iova(a, k) + off, tmp, len, flags);
	log_end(a, rc);
	A_CHECK(a, !rc);
	A_CHECK2(a, all_bytes(tmp, len, byte), tmp[0], byte);
	return true;
}

static bool op_check_map(struct actor *a)
{
	int ix = rng_below(&a->rng, 2) ? IX_S : IX_V0;
	int k = rng_below(&a->rng, NSLOT), rc, src;

	if (!has_domain(a, ix) || !a->id[ix] || a->slot[ix][k] < 0)
		return false;
	src = a->pg[a->slot[ix][k]].src;
	log_begin(a, OP_CHECK_MAP);
	rc = check_map(a->fd, ix == IX_S ? a->s_hwpt : a->hwpt,
		       slot_iova(a, k), src_addr(a, src, k), SLOT_LEN);
	log_end(a, rc);
	A_CHECK(a, !rc);
	return true;
}

static bool op_check_refs(struct actor *a)
{
	int k = rng_below(&a->rng, NSLOT), g = rng_below(&a->rng, 2), rc;
	char *addr = src_addr(a, g ? SRC_WIN : SRC_PRIV, k);
	unsigned int want = model_pins(a, g, k);

	log_begin(a, OP_CHECK_REFS);
	rc = check_refs(a->fd, addr, SLOT_LEN, want);
	log_end(a, rc);
	A_CHECK2(a, !rc, pins(a->fd, addr, SLOT_LEN), want);
	return true;
}

/* One command, of those that apply to what the actor holds. */
static void actor_step(struct actor *a)
{
	static bool (*const ops[])(struct actor *) = {
		op_ioas_alloc, op_ioas_destroy, op_map, op_map, op_map,
		op_unmap, op_unmap, op_copy, op_domain, op_access,
		op_access_pages, op_access_unpin, op_access_rw,
		op_check_map, op_check_refs,
	};

	/* Mapping or unmapping some slot of the shared IOAS always applies. */
	while (!ops[rng_below(&a->rng, ARRAY_LEN(ops))](a))
		;
}

/*
 * Everything the actor holds is as its model says: the areas behind the
 * domains, the pins, and the bytes an access reads.
 */
static bool actor_verify(struct actor *a)
{
	uint8_t tmp[SLOT_LEN];

	for (int ix = 0; ix != NIOAS; ix++) {
		for (int k = 0; k != NSLOT; k++) {
			int p = a->slot[ix][k], src;

			if (!a->id[ix] || p < 0)
				continue;
			src = a->pg[p].src;
			if (has_domain(a, ix))
				A_CHECK(a, !check_map(a->fd,
						      ix == IX_S ? a->s_hwpt :
								   a->hwpt,
						      slot_iova(a, k),
						      src_addr(a, src, k),
						      SLOT_LEN));
			if (a->acc != ix)
				continue;
			/*
			 * Unlike the bytes expected (and set for valgrind, which
			 * does not see the broker's process_vm_writev).
			 */
			memset(tmp, ~src_byte(a, src), SLOT_LEN);
			A_CHECK(a, !access_rw(a->fd, a->afd, slot_iova(a, k),
					      tmp, SLOT_LEN, 0));
			A_CHECK2(a, all_bytes(tmp, SLOT_LEN,
					      src_byte(a, src)),
				 tmp[0], src_byte(a, src));
		}
	}
	for (int g = 0; g != 2; g++) {
		for (int k = 0; k != NSLOT; k++) {
			char *addr = src_addr(a, g ? SRC_WIN : SRC_PRIV, k);
			unsigned int want = model_pins(a, g, k);

			A_CHECK2(a, !check_refs(a->fd, addr, SLOT_LEN, want),
				 pins(a->fd, addr, SLOT_LEN), want);
		}
	}
	return true;
}

/*
 * An actor on context @fd whose shared IOAS is @s_ioas (domain @s_hwpt),
 * slots at @iova, sources: fresh private memory, and memfd @memfd (with
 * @view, its shared mapping, all @win_byte).
 */
static bool actor_init(struct actor *a, int fd, uint32_t s_ioas,
		       uint32_t s_hwpt, uint64_t iova, int memfd, char *view,
		       uint8_t win_byte, uint8_t priv_byte, uint64_t seed)
{
	memset(a, 0, sizeof(*a));
	a->fd = fd;
	a->memfd = memfd;
	a->view = view;
	a->win_byte = win_byte;
	a->priv_byte = priv_byte;
	a->iova = iova;
	a->id[IX_S] = s_ioas;
	a->s_hwpt = s_hwpt;
	a->acc = -1;
	a->afd = -1;
	rng_init(&a->rng, seed);
	for (int ix = 0; ix != NIOAS; ix++)
		for (int k = 0; k != NSLOT; k++)
			a->slot[ix][k] = -1;
	for (unsigned int p = 0; p != ARRAY_LEN(a->pg); p++)
		a->pg[p].src = -1;
	a->priv = e2e_buffer(WIN_LEN);
	if (!a->priv)
		return false;
	memset(a->priv, priv_byte, WIN_LEN);
	return true;
}

/* ---- rounds ---- */

struct round {
	unsigned int n;
	const struct vlog *log;
};

/* What the victim of round @r was doing (nothing without a victim). */
static void round_describe(const struct round *r, char *text, size_t len)
{
	const struct vlog *l = r ? r->log : NULL;
	char slots[NSLOT + 1];

	text[0] = 0;
	if (!l)
		return;
	for (int k = 0; k != NSLOT; k++)
		slots[k] = state_chars[l->slot[k].state & 3];
	slots[NSLOT] = 0;
	snprintf(text, len,
		 "round %u: the victim was in %s after %u commands (the last: %d, errno %d); IOASes %u%c %u%c, domain %u%c, access %c, areas %s",
		 r->n, op_names[l->op < NR_OPS ? l->op : 0], l->ops,
		 (int)l->rc, (int)l->err,
		 l->ioas[IX_V0].id, state_chars[l->ioas[IX_V0].state & 3],
		 l->ioas[IX_V1].id, state_chars[l->ioas[IX_V1].state & 3],
		 l->dom.id, state_chars[l->dom.state & 3],
		 state_chars[l->access.state & 3], slots);
}

/* A failed check: and what the victim of round @r (if any) was doing. */
#define R_ASSERT(r, cond)                                                  \
	do {                                                               \
		if (!(cond)) {                                             \
			char _text[300];                                   \
			int _err = errno;                                  \
			round_describe(r, _text, sizeof(_text));           \
			test_fail(__FILE__, __LINE__, true,                \
				  "%s (errno %d)%s%s", #cond, _err,        \
				  _text[0] ? "; " : "", _text);            \
		}                                                          \
	} while (0)

/* ---- the parent's world ---- */

struct world {
	int fd, memfd, afd;
	uint32_t ioas, stdev, hwpt, idev, access, next_id;
	char *buf, *buf2, *view;
	pid_t broker;
	int broker_fds;
};

/* The lowest free ID: the one the next object gets. */
static uint32_t next_free_id(int fd)
{
	uint32_t id = 0;

	ASSERT_EQ(0, ioas_alloc(fd, &id));
	ASSERT_EQ(0, destroy(fd, id));
	return id;
}

static bool world_owns(const struct world *w, uint32_t id)
{
	return id == w->ioas || id == w->stdev || id == w->hwpt ||
	       id == w->idev || id == w->access;
}

static void world_check(struct world *w, const struct round *r);

/*
 * The parent's context: an IOAS with a mock domain and the parent's
 * buffer mapped, a memfd with a shared mapping for the others to map;
 * shared by a first fork (its broker found), then an access of the
 * parent's to read what is mapped; checked once, which counts the
 * broker's descriptors. The buffer is mapped before the fork, as a
 * program sets up before it forks, or (!@premap) after it.
 */
static void world_init_as(struct world *w, bool premap)
{
	uint64_t iova = PARENT_IOVA;
	pid_t pid;

	memset(w, 0, sizeof(*w));
	become_subreaper();
	w->fd = open_iommu();
	ASSERT_GE(w->fd, 0);
	ASSERT_EQ(0, ioas_alloc(w->fd, &w->ioas));
	ASSERT_EQ(0, mock_domain_ids(w->fd, w->ioas, &w->stdev, &w->hwpt,
				     &w->idev));
	w->buf = e2e_buffer(BUF_LEN);
	ASSERT_NONNULL(w->buf);
	strcpy(w->buf, "the parent's data");
	if (premap)
		ASSERT_EQ(0, ioas_map(w->fd, w->ioas, w->buf, BUF_LEN, &iova,
				      MAP_FIXED_RW));
	w->buf2 = e2e_buffer(SLOT_LEN);
	ASSERT_NONNULL(w->buf2);
	w->memfd = memfd_create("e2e-kill", MFD_CLOEXEC);
	ASSERT_GE(w->memfd, 0);
	ASSERT_EQ(0, ftruncate(w->memfd, WIN_LEN));
	w->view = mmap(NULL, WIN_LEN, PROT_READ | PROT_WRITE, MAP_SHARED,
		       w->memfd, 0);
	ASSERT_NE(MAP_FAILED, w->view);
	memset(w->view, WIN_BYTE, WIN_LEN);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(0);
	ASSERT_EQ(1, find_brokers(&w->broker, 1, &pid, 1));
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	if (!premap)
		ASSERT_EQ(0, ioas_map(w->fd, w->ioas, w->buf, BUF_LEN, &iova,
				      MAP_FIXED_RW));
	w->access = next_free_id(w->fd);
	ASSERT_EQ(0, create_access(w->fd, w->ioas, 0, &w->afd));
	ASSERT_ERRNO(EBUSY, destroy(w->fd, w->access));
	w->next_id = next_free_id(w->fd);
	world_check(w, NULL);
}

static void world_init(struct world *w)
{
	world_init_as(w, true);
}

/*
 * The parent's state is as it made it and nothing else is left: its
 * objects and area, no other ID, no other area in its IOAS, no pin of the
 * memfd, the broker's descriptors as at the start; and new commands work.
 */
static void world_check(struct world *w, const struct round *r)
{
	uint64_t iova = 0, len = 0;
	uint32_t id = 0;
	int fds;

	R_ASSERT(r, !check_map(w->fd, w->hwpt, PARENT_IOVA, w->buf, BUF_LEN));
	R_ASSERT(r, !check_refs(w->fd, w->buf, BUF_LEN, 1));
	R_ASSERT(r, !check_refs(w->fd, w->view, WIN_LEN, 0));
	errno = 0;
	R_ASSERT(r, ioas_unmap(w->fd, w->ioas, 0, PARENT_IOVA, NULL) == -1 &&
		    errno == ENOENT);
	errno = 0;
	R_ASSERT(r, ioas_unmap(w->fd, w->ioas, PARENT_IOVA + BUF_LEN,
			       0 - (PARENT_IOVA + BUF_LEN), NULL) == -1 &&
		    errno == ENOENT);
	errno = 0;
	R_ASSERT(r, destroy(w->fd, w->ioas) == -1 && errno == EBUSY);
	errno = 0;
	R_ASSERT(r, destroy(w->fd, w->access) == -1 && errno == EBUSY);
	R_ASSERT(r, !ioas_alloc(w->fd, &id) && id == w->next_id);
	/* New commands work: an IOAS, a map behind the domain, a copy. */
	R_ASSERT(r, !ioas_map(w->fd, w->ioas, w->buf2, SLOT_LEN, &iova,
			      MAP_RW));
	R_ASSERT(r, !check_map(w->fd, w->hwpt, iova, w->buf2, SLOT_LEN));
	R_ASSERT(r, !check_refs(w->fd, w->buf2, SLOT_LEN, 1));
	R_ASSERT(r, !ioas_copy(w->fd, id, w->ioas, iova, SLOT_LEN, &iova,
			       MAP_FIXED_RW));
	R_ASSERT(r, !ioas_unmap(w->fd, w->ioas, iova, SLOT_LEN, &len) &&
		    len == SLOT_LEN);
	R_ASSERT(r, !check_refs(w->fd, w->buf2, SLOT_LEN, 0));
	R_ASSERT(r, !destroy(w->fd, id));
	/*
	 * The broker's descriptors: as after the first check (what it opens
	 * once for good is open by then).
	 */
	fds = count_fds(w->broker);
	if (!w->broker_fds)
		w->broker_fds = fds;
	if (fds != w->broker_fds) {
		TH_LOG("the broker has %d descriptors, not %d", fds,
		       w->broker_fds);
		log_fds(w->broker);
	}
	R_ASSERT(r, fds > 0 && fds == w->broker_fds);
}

/* The broker is the one from the start, alive, and the only one. */
static void world_check_broker(struct world *w)
{
	pid_t found[2];

	ASSERT_TRUE(child_running(w->broker));
	ASSERT_EQ(1, list_brokers(found, 2, NULL, 0));
	ASSERT_EQ(w->broker, found[0]);
}

/*
 * The parent's objects go, its pages are no longer pinned, and the
 * broker exits with the last descriptor: none is left.
 */
static void world_fini(struct world *w)
{
	pid_t left;

	ASSERT_EQ(0, check_refs(w->fd, w->view, WIN_LEN, 0));
	ASSERT_EQ(0, destroy(w->fd, w->stdev));
	ASSERT_EQ(0, check_refs(w->fd, w->buf, BUF_LEN, 0));
	ASSERT_EQ(0, close(w->afd));
	/* The access went with its descriptor, before this command. */
	ASSERT_EQ(0, destroy(w->fd, w->ioas));
	ASSERT_EQ(0, close(w->fd));
	ASSERT_EQ(0, wait_child(w->broker, WAIT_STALL_S));
	ASSERT_EQ(0, list_brokers(&left, 1, NULL, 0));
	ASSERT_EQ(0, munmap(w->view, WIN_LEN));
	ASSERT_EQ(0, close(w->memfd));
}

/* A log in memory shared with the children, zeroed. */
static struct vlog *log_new(void)
{
	struct vlog *log = mmap(NULL, sizeof(*log), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, log);
	memset(log, 0, sizeof(*log));
	return log;
}

/* ---- after a kill ---- */

/*
 * Destroy every ID up to @top the parent does not own, pass after pass
 * until one destroys nothing (a device's IOAS is busy until the device
 * goes): @gone marks what was destroyed. Then every such ID is free.
 */
static void sweep(struct world *w, const struct round *r, uint32_t top,
		  bool *gone)
{
	bool again = true;

	while (again) {
		again = false;
		for (uint32_t id = 1; id <= top; id++) {
			if (world_owns(w, id) || gone[id])
				continue;
			errno = 0;
			if (!destroy(w->fd, id)) {
				gone[id] = again = true;
				continue;
			}
			R_ASSERT(r, errno == ENOENT || errno == EBUSY);
		}
	}
	for (uint32_t id = 1; id <= top; id++) {
		int rc;

		if (world_owns(w, id))
			continue;
		errno = 0;
		rc = destroy(w->fd, id);
		if (rc != -1 || errno != ENOENT)
			TH_LOG("ID %u is left: destroy gives %d, errno %d", id,
			       rc, errno);
		R_ASSERT(r, rc == -1 && errno == ENOENT);
	}
}

/* Read slot @k of actor range @n through the parent's access: all @byte? */
static void check_bytes(struct world *w, const struct round *r, int n, int k,
			uint8_t byte)
{
	static uint8_t tmp[SLOT_LEN];
	uint64_t iova = ACTOR_IOVA(n) + (uint64_t)k * SLOT_LEN;

	memset(tmp, ~byte, sizeof(tmp));
	R_ASSERT(r, !access_rw(w->fd, w->afd, iova, tmp, SLOT_LEN, 0));
	if (!all_bytes(tmp, SLOT_LEN, byte))
		TH_LOG("slot %d at %#llx reads %#x..%#x, not %#x", k,
		       (unsigned long long)iova, tmp[0], tmp[SLOT_LEN - 1],
		       byte);
	R_ASSERT(r, all_bytes(tmp, SLOT_LEN, byte));
}

/*
 * The victim of round @r is dead: what it surely made is there and
 * works, what it may have made may be there, and once the parent has
 * destroyed all of it the context is as the parent had it.
 */
static void after_kill(struct world *w, const struct round *r,
		       uint8_t priv_byte)
{
	const struct vlog *l = r->log;
	uint32_t top = w->next_id + ID_SWEEP, known[NIOAS + 1];
	unsigned int live = 0, maybe = 0, pending = 0, nknown = 0;
	unsigned int extra = 0;
	bool gone[ID_MAX + 1] = { false };
	uint64_t len = 0;
	int rc;

	/* Its areas in the shared IOAS outlive it, pages and bytes. */
	for (int k = 0; k != NSLOT; k++) {
		uint32_t state = l->slot[k].state, src = l->slot[k].src;
		uint64_t iova = ACTOR_IOVA(0) + (uint64_t)k * SLOT_LEN;

		if (state == ST_PENDING || state == ST_DYING)
			maybe++;
		if (state != ST_LIVE)
			continue;
		live++;
		/* Bytes of its shared mapping: see the test after this one. */
		if (src != SRC_WIN)
			check_bytes(w, r, 0, k, src == SRC_PRIV ? priv_byte :
								  WIN_BYTE);
		if (src != SRC_PRIV)
			R_ASSERT(r, !check_map(w->fd, w->hwpt, iova,
					       w->view + k * SLOT_LEN,
					       SLOT_LEN));
	}
	/* Whole areas only: what it surely mapped, at most what it may. */
	errno = 0;
	rc = ioas_unmap(w->fd, w->ioas, ACTOR_IOVA(0), RANGE_LEN, &len);
	if (rc) {
		R_ASSERT(r, errno == ENOENT && !live);
	} else {
		if (len < live * SLOT_LEN || len > (live + maybe) * SLOT_LEN)
			TH_LOG("unmapped %#llx bytes", (unsigned long long)len);
		R_ASSERT(r, len && len % SLOT_LEN == 0);
		R_ASSERT(r, len >= live * SLOT_LEN &&
			    len <= (live + maybe) * SLOT_LEN);
	}
	errno = 0;
	R_ASSERT(r, ioas_unmap(w->fd, w->ioas, ACTOR_IOVA(0), RANGE_LEN,
			       NULL) == -1 && errno == ENOENT);
	/* Its objects: those it surely made are there to destroy. */
	for (int ix = IX_V0; ix != NIOAS; ix++) {
		if (l->ioas[ix].state == ST_PENDING)
			pending++;
		if (l->ioas[ix].state == ST_LIVE ||
		    l->ioas[ix].state == ST_DYING)
			known[nknown++] = l->ioas[ix].id;
	}
	if (l->dom.state == ST_PENDING)
		pending++;
	if (l->dom.state == ST_LIVE || l->dom.state == ST_DYING)
		known[nknown++] = l->dom.id;
	sweep(w, r, top, gone);
	for (int ix = IX_V0; ix != NIOAS; ix++)
		if (l->ioas[ix].state == ST_LIVE)
			R_ASSERT(r, gone[l->ioas[ix].id]);
	if (l->dom.state == ST_LIVE)
		R_ASSERT(r, gone[l->dom.id]);
	/* And only what a command in flight may have made besides. */
	for (uint32_t id = 1; id <= top; id++) {
		bool seen = false;

		for (unsigned int i = 0; i != nknown; i++)
			seen |= known[i] == id;
		extra += gone[id] && !seen;
	}
	R_ASSERT(r, extra <= pending);
	world_check(w, r);
}

/* ---- kill_inside_commands ---- */

/* The victim: random commands until it is killed; a byte per command. */
static void victim_main(struct world *w, struct vlog *log, int tick,
			uint64_t seed, uint8_t priv_byte)
{
	struct actor a;

	CHILD_CHECK(actor_init(&a, w->fd, w->ioas, w->hwpt, ACTOR_IOVA(0),
			       w->memfd, w->view, WIN_BYTE, priv_byte, seed));
	a.log = log;
	for (;;) {
		actor_step(&a);
		test_progress();
		CHILD_CHECK(write(tick, "", 1) == 1);
	}
}

/* Sleep @us microseconds (a kill's instant, not a wait for anything). */
static void sleep_us(unsigned long us)
{
	struct timespec ts = { .tv_sec = us / 1000000,
			       .tv_nsec = us % 1000000 * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * Kill the victim after @ticks of its commands and a delay of a few
 * microseconds to a few milliseconds: its status.
 */
static int kill_after(pid_t pid, int tick, unsigned int ticks,
		      unsigned long us)
{
	char c;

	for (unsigned int i = 0; i != ticks; i++)
		if (read(tick, &c, 1) != 1)
			break;	/* it ended by itself: its status says */
	if (us)
		sleep_us(us);
	kill(pid, SIGKILL);
	return wait_child(pid, WAIT_STALL_S);
}

/* A delay: none, up to 50 us, up to 500 us, up to 3 ms. */
static unsigned long kill_delay(struct rng *rng)
{
	static const unsigned long max[] = { 0, 50, 500, 3000 };
	unsigned long m = max[rng_below(rng, ARRAY_LEN(max))];

	return m ? rng_below(rng, m) : 0;
}

/*
 * Round after round, a victim forked from the parent issues random
 * commands on the shared context and is killed with SIGKILL after a
 * random number of them and a random delay, most often inside one (the
 * count is logged); after each kill the context is checked against the
 * victim's log and the parent's model, cleaned of the victim's objects
 * and checked again; every 25 rounds the broker is the same one, alone.
 * A victim's pipe says when it has done a command: the parent waits on
 * it, so a victim stuck in a command stops the test's progress.
 */
TEST(kill_inside_commands)
{
	unsigned int rounds = test_iterations(300), inside = 0;
	unsigned int in_op[NR_OPS] = { 0 };
	uint64_t seed = test_seed();
	struct world w;
	struct vlog *log;
	struct rng rng;
	char text[400];
	size_t at = 0;

	rng_init(&rng, seed);
	log = log_new();
	world_init(&w);
	for (unsigned int n = 0; n != rounds; n++) {
		struct round r = { .n = n, .log = log };
		uint8_t priv_byte = 0x10 + n % 0x80;
		int tick[2], status;
		pid_t pid;

		memset(log, 0, sizeof(*log));
		ASSERT_EQ(0, pipe2(tick, O_CLOEXEC));
		pid = fork_child();
		ASSERT_LE(0, pid);
		if (!pid) {
			close(tick[0]);
			victim_main(&w, log, tick[1], seed ^ (n + 1) *
				    0x9e3779b97f4a7c15ULL, priv_byte);
		}
		close(tick[1]);
		status = kill_after(pid, tick[0], rng_below(&rng, 64),
				    kill_delay(&rng));
		close(tick[0]);
		R_ASSERT(&r, status == -SIGKILL);
		if (log->op != OP_NONE) {
			inside++;
			in_op[log->op < NR_OPS ? log->op : 0]++;
		}
		after_kill(&w, &r, priv_byte);
		if (n % 25 == 24)
			world_check_broker(&w);
		test_progress();
	}
	for (int op = 1; op != NR_OPS; op++)
		if (in_op[op] && at < sizeof(text))
			at += snprintf(text + at, sizeof(text) - at, " %s %u",
				       op_names[op], in_op[op]);
	TH_LOG("%u kills, %u inside commands:%s", rounds, inside,
	       at ? text : " none");
	/* Most kills land inside a command: a few hundred cannot all miss. */
	if (rounds >= 100)
		ASSERT_LT(0, inside);
	world_check_broker(&w);
	world_fini(&w);
}

/* ---- kill_while_mapping ---- */

#define BIG_LEN (2UL << 20)
#define BIG_IOVA (MOCK_APERTURE_START + 0x10000000)

/*
 * The victim maps and unmaps 2 MiB at BIG_IOVA of the shared IOAS, behind
 * the parent's domain, from fresh private memory (moved into a file at the
 * first map) or from the parent's big memfd; a byte after each command.
 */
static void big_victim(struct world *w, struct vlog *log, int tick,
		       char *mem)
{
	uint64_t iova = BIG_IOVA, len = 0;
	int rc;

	for (;;) {
		atomic_store(&log->slot[0].state, ST_PENDING);
		atomic_store(&log->op, OP_MAP);
		rc = ioas_map(w->fd, w->ioas, mem, BIG_LEN, &iova,
			      MAP_FIXED_RW);
		atomic_store(&log->op, OP_NONE);
		CHILD_CHECK(!rc);
		atomic_store(&log->slot[0].state, ST_LIVE);
		test_progress();
		CHILD_CHECK(write(tick, "", 1) == 1);
		/* Mapped a while: pinned once, behind the parent's domain. */
		CHILD_CHECK(!check_refs(w->fd, mem, BIG_LEN, 1));
		CHILD_CHECK(!check_map(w->fd, w->hwpt, iova, mem, BIG_LEN));
		atomic_store(&log->slot[0].state, ST_DYING);
		atomic_store(&log->op, OP_UNMAP);
		rc = ioas_unmap(w->fd, w->ioas, iova, BIG_LEN, &len);
		atomic_store(&log->op, OP_NONE);
		CHILD_CHECK(!rc && len == BIG_LEN);
		atomic_store(&log->slot[0].state, ST_NONE);
		test_progress();
		CHILD_CHECK(write(tick, "", 1) == 1);
	}
}

/*
 * A victim maps and unmaps 2 MiB (from memory it moves into a file at
 * the first map, or a shared memfd mapping) and is killed at a random
 * instant: a map is whole or not there at all, and either way nothing
 * of it stays pinned or open in the broker once it is unmapped.
 */
TEST(kill_while_mapping)
{
	unsigned int rounds = test_iterations(60), inside = 0;
	uint64_t seed = test_seed();
	struct world w;
	struct vlog *log;
	struct rng rng;
	char *big;
	int bigfd;

	rng_init(&rng, seed);
	log = log_new();
	bigfd = memfd_create("e2e-kill-big", MFD_CLOEXEC);
	ASSERT_GE(bigfd, 0);
	ASSERT_EQ(0, ftruncate(bigfd, BIG_LEN));
	big = mmap(NULL, BIG_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, bigfd,
		   0);
	ASSERT_NE(MAP_FAILED, big);
	memset(big, WIN_BYTE, BIG_LEN);
	world_init(&w);
	for (unsigned int n = 0; n != rounds; n++) {
		struct round r = { .n = n, .log = log };
		bool shared = n % 2;
		uint8_t byte = 0x10 + n % 0x80;
		uint64_t len = 0;
		int tick[2], status, rc;
		uint32_t state;
		pid_t pid;

		memset(log, 0, sizeof(*log));
		ASSERT_EQ(0, pipe2(tick, O_CLOEXEC));
		pid = fork_child();
		ASSERT_LE(0, pid);
		if (!pid) {
			char *mem = big;

			close(tick[0]);
			if (!shared) {
				mem = e2e_buffer(BIG_LEN);
				CHILD_CHECK(mem);
				memset(mem, byte, BIG_LEN);
			}
			big_victim(&w, log, tick[1], mem);
		}
		close(tick[1]);
		status = kill_after(pid, tick[0], rng_below(&rng, 3),
				    rng_below(&rng, 20000));
		close(tick[0]);
		R_ASSERT(&r, status == -SIGKILL);
		inside += log->op != OP_NONE;
		state = log->slot[0].state;
		/* A map is whole or not at all, after its maker too. */
		if (state == ST_LIVE) {
			static uint8_t tmp[PAGE_SZ];
			uint64_t last = BIG_IOVA + BIG_LEN - PAGE_SZ;

			/* A shared mapping's bytes: see pinned_memory_... */
			if (shared) {
				R_ASSERT(&r, !check_map(w.fd, w.hwpt, BIG_IOVA,
							big, BIG_LEN));
			} else {
				R_ASSERT(&r, !access_rw(w.fd, w.afd, last, tmp,
							PAGE_SZ, 0));
				R_ASSERT(&r, all_bytes(tmp, PAGE_SZ, byte));
			}
		}
		errno = 0;
		rc = ioas_unmap(w.fd, w.ioas, BIG_IOVA, BIG_LEN, &len);
		if (state == ST_LIVE)
			R_ASSERT(&r, !rc && len == BIG_LEN);
		else if (state == ST_NONE)
			R_ASSERT(&r, rc == -1 && errno == ENOENT);
		else
			R_ASSERT(&r, (!rc && len == BIG_LEN) ||
					     (rc == -1 && errno == ENOENT));
		R_ASSERT(&r, !check_refs(w.fd, big, BIG_LEN, 0));
		world_check(&w, &r);
		test_progress();
	}
	TH_LOG("%u kills, %u inside a map or an unmap", rounds, inside);
	world_check_broker(&w);
	world_fini(&w);
	ASSERT_EQ(0, munmap(big, BIG_LEN));
	ASSERT_EQ(0, close(bigfd));
}

/* ---- kill_while_holding_pins ---- */

/* What a pinning victim tells the parent once it holds its pins. */
struct pins_msg {
	uint32_t v, w, stdev, hwpt;
};

enum pins_case {
	PINS_IN_SHARED,		/* an access on the shared IOAS */
	PINS_IN_OWN,		/* on an IOAS of its own, no domain there */
	PINS_UNMAPPED_ALIVE,	/* the parent unmaps under the access */
};

#define PINS_BYTE 0x3c

/*
 * The victim: an access pinning the first memfd slot (and private memory
 * behind it) in the shared IOAS or in an IOAS of its own; in the latter
 * case another IOAS of its own, with a mock domain, maps the second slot.
 * Then it reports, and waits to be killed (after one more step for
 * PINS_UNMAPPED_ALIVE).
 */
static void pins_victim(struct world *w, enum pins_case c, int report,
			int go)
{
	uint64_t iova0 = ACTOR_IOVA(0), iova1 = iova0 + SLOT_LEN;
	struct pins_msg m = { 0 };
	uint32_t idev, item0 = 0, item1 = 0, ioas = w->ioas;
	uint8_t tmp[64];
	char *priv, c_;
	int afd = -1;

	priv = e2e_buffer(SLOT_LEN);
	CHILD_CHECK(priv);
	memset(priv, PINS_BYTE, SLOT_LEN);
	if (c != PINS_IN_SHARED) {
		CHILD_CHECK(!ioas_alloc(w->fd, &m.v));
		CHILD_CHECK(!ioas_alloc(w->fd, &m.w));
		CHILD_CHECK(!mock_domain_ids(w->fd, m.w, &m.stdev, &m.hwpt,
					     &idev));
		CHILD_CHECK(!ioas_map(w->fd, m.w, w->view + SLOT_LEN,
				      SLOT_LEN, &iova1, MAP_FIXED_RW));
		ioas = m.v;
	}
	CHILD_CHECK(!ioas_map(w->fd, ioas, w->view, SLOT_LEN, &iova0,
			      MAP_FIXED_RW));
	iova1 = iova0 + SLOT_LEN;
	CHILD_CHECK(!ioas_map(w->fd, ioas, priv, SLOT_LEN, &iova1,
			      MAP_FIXED_RW));
	CHILD_CHECK(!create_access(w->fd, ioas,
				   MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
				   &afd));
	CHILD_CHECK(!access_pages(w->fd, afd, iova0, SLOT_LEN, w->view,
				  MOCK_FLAGS_ACCESS_WRITE, &item0));
	CHILD_CHECK(!access_pages(w->fd, afd, iova1, SLOT_LEN, priv, 0,
				  &item1));
	CHILD_CHECK(write(report, &m, sizeof(m)) == sizeof(m));
	if (c == PINS_UNMAPPED_ALIVE) {
		CHILD_CHECK(read(go, &c_, 1) == 1);
		/* The unmap took the pins of the first slot from the access. */
		errno = 0;
		CHILD_CHECK(destroy_access_pages(w->fd, afd, item0) == -1 &&
			    errno == ENOENT);
		CHILD_CHECK(access_rw(w->fd, afd, iova0, tmp, sizeof(tmp),
				      0) == -1);
		CHILD_CHECK(access_pages(w->fd, afd, iova0, SLOT_LEN, w->view,
					 0, &item0) == -1);
		/* The second slot's are there (tmp set for valgrind). */
		memset(tmp, ~PINS_BYTE, sizeof(tmp));
		CHILD_CHECK(!access_rw(w->fd, afd, iova1, tmp, sizeof(tmp),
				       0));
		CHILD_CHECK(all_bytes(tmp, sizeof(tmp), PINS_BYTE));
		CHILD_CHECK(write(report, &m, sizeof(m)) == sizeof(m));
	}
	for (;;)
		pause();
}

static void pins_test(enum pins_case c)
{
	uint64_t iova0 = ACTOR_IOVA(0), iova1 = iova0 + SLOT_LEN, len = 0;
	bool gone[ID_MAX + 1] = { false };
	int report[2], go[2];
	struct pins_msg m;
	struct world w;
	uint32_t ioas;
	pid_t pid;

	world_init(&w);
	ASSERT_EQ(0, pipe2(report, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(go, O_CLOEXEC));
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid)
		pins_victim(&w, c, report[1], go[0]);
	close(report[1]);
	close(go[0]);
	ASSERT_EQ(sizeof(m), read(report[0], &m, sizeof(m)));
	ioas = c == PINS_IN_SHARED ? w.ioas : m.v;
	/* Pinned once: by the access (and the domain, in the shared IOAS). */
	ASSERT_EQ(0, check_refs(w.fd, w.view, SLOT_LEN, 1));
	ASSERT_EQ(0, check_refs(w.fd, w.view + SLOT_LEN, SLOT_LEN,
				c != PINS_IN_SHARED));
	if (c == PINS_UNMAPPED_ALIVE) {
		/* As the kernel's: the access is told, and lets go. */
		ASSERT_EQ(0, ioas_unmap(w.fd, ioas, iova0, SLOT_LEN, &len));
		ASSERT_EQ(SLOT_LEN, len);
		ASSERT_EQ(0, check_refs(w.fd, w.view, SLOT_LEN, 0));
		ASSERT_EQ(1, write(go[1], "", 1));
		ASSERT_EQ(sizeof(m), read(report[0], &m, sizeof(m)));
	}
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(-SIGKILL, wait_child(pid, WAIT_STALL_S));
	close(report[0]);
	close(go[1]);
	/*
	 * Its death closed the access's last descriptor: the access is gone
	 * before the next command, its pins with it. In the shared IOAS the
	 * domain still holds the memfd slot.
	 */
	ASSERT_EQ(0, check_refs(w.fd, w.view, SLOT_LEN,
				c == PINS_IN_SHARED));
	if (c == PINS_IN_SHARED)
		ASSERT_EQ(0, check_map(w.fd, w.hwpt, iova0, w.view, SLOT_LEN));
	/* What it mapped is there: the private slot reads its bytes. */
	if (c == PINS_IN_SHARED)
		check_bytes(&w, NULL, 0, 1, PINS_BYTE);
	if (c != PINS_IN_SHARED) {
		/* Its domain holds the second memfd slot, after it too. */
		ASSERT_EQ(0, check_refs(w.fd, w.view + SLOT_LEN, SLOT_LEN, 1));
		ASSERT_EQ(0, check_map(w.fd, m.hwpt, iova1, w.view + SLOT_LEN,
				       SLOT_LEN));
		/* No access holds its IOAS any more. */
		ASSERT_EQ(0, destroy(w.fd, m.v));
		ASSERT_ERRNO(EBUSY, destroy(w.fd, m.w));
		ASSERT_EQ(0, destroy(w.fd, m.stdev));
		ASSERT_EQ(0, check_refs(w.fd, w.view + SLOT_LEN, SLOT_LEN, 0));
		ASSERT_EQ(0, destroy(w.fd, m.w));
	} else {
		ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, iova0, 2 * SLOT_LEN,
					&len));
		ASSERT_EQ(2 * SLOT_LEN, len);
	}
	sweep(&w, NULL, w.next_id + ID_SWEEP, gone);
	for (uint32_t id = 1; id <= ID_MAX; id++)
		ASSERT_FALSE(gone[id]);
	world_check(&w, NULL);
	world_fini(&w);
}

TEST(kill_while_holding_pins)
{
	pins_test(PINS_IN_SHARED);
}

TEST(kill_while_holding_pins_in_its_ioas)
{
	pins_test(PINS_IN_OWN);
}

TEST(unmap_under_a_live_holders_pins)
{
	pins_test(PINS_UNMAPPED_ALIVE);
}

/* ---- kill_keeps_the_charge_of_pages_still_pinned ---- */

#define CHARGE_PAGES 32
#define VICTIM_PAGES 16

/*
 * Pinned pages charge their user's RLIMIT_MEMLOCK until they are
 * unpinned, as the kernel's user->locked_vm, whoever pinned them and
 * whether or not that process lives: a holder killed with pages pinned
 * in the shared IOAS leaves their charge, which goes when another holder
 * unmaps them; once the context is gone, nothing is charged. The limit
 * is 32 pages (the settings uiommufd-run passes through the environment,
 * read at a context's first command); the parent's buffer pins 8, mapped
 * after the fork here (before it, see the test after this one).
 */
TEST(kill_keeps_the_charge_of_pages_still_pinned)
{
	uint64_t iova = ACTOR_IOVA(0), len = 0;
	uint32_t ioas = 0, stdev = 0, hwpt = 0;
	char *more, byte;
	int ready[2], fd;
	struct world w;
	pid_t pid;

	ASSERT_EQ(0, setenv("UIOMMUFD_MEMLOCK", "128K", 1));
	ASSERT_EQ(0, setenv("UIOMMUFD_CAPS", "none", 1));
	more = e2e_buffer(CHARGE_PAGES * PAGE_SZ);
	ASSERT_NONNULL(more);
	world_init_as(&w, false);
	ASSERT_EQ(0, pipe2(ready, O_CLOEXEC));
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid) {
		char *buf = e2e_buffer(VICTIM_PAGES * PAGE_SZ);

		CHILD_CHECK(buf);
		CHILD_CHECK(!ioas_map(w.fd, w.ioas, buf, VICTIM_PAGES * PAGE_SZ,
				      &iova, MAP_FIXED_RW));
		CHILD_CHECK(write(ready[1], "", 1) == 1);
		for (;;)
			pause();
	}
	close(ready[1]);
	ASSERT_EQ(1, read(ready[0], &byte, 1));
	close(ready[0]);
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(-SIGKILL, wait_child(pid, WAIT_STALL_S));
	/* 8 + 16 pinned: 8 more fit, 9 do not. */
	iova = 0;
	ASSERT_ERRNO(ENOMEM, ioas_map(w.fd, w.ioas, more, 9 * PAGE_SZ, &iova,
				      MAP_RW));
	ASSERT_EQ(0, ioas_map(w.fd, w.ioas, more, 8 * PAGE_SZ, &iova,
			      MAP_RW));
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, iova, 8 * PAGE_SZ, NULL));
	/* Its pages unpinned, their charge goes. */
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, ACTOR_IOVA(0),
				VICTIM_PAGES * PAGE_SZ, &len));
	ASSERT_EQ(VICTIM_PAGES * PAGE_SZ, len);
	iova = 0;
	ASSERT_EQ(0, ioas_map(w.fd, w.ioas, more, 24 * PAGE_SZ, &iova,
			      MAP_RW));
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, iova, 24 * PAGE_SZ, NULL));
	world_check(&w, NULL);
	world_fini(&w);
	/* Nothing is charged any more: a new context pins the limit. */
	fd = open_iommu();
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(0, mock_domain(fd, ioas, &stdev, &hwpt));
	iova = 0;
	ASSERT_EQ(0, ioas_map(fd, ioas, more, CHARGE_PAGES * PAGE_SZ, &iova,
			      MAP_RW));
	ASSERT_EQ(0, close(fd));
}

/*
 * The charge of pages pinned before the context was shared stays while
 * they are pinned, and goes (theirs alone) when they are unpinned
 * through the broker, as the kernel's, where nothing happens to a charge
 * at a fork.
 */
TEST(promotion_keeps_the_charge_of_pages_pinned_before)
{
	uint32_t ioas = 0, stdev = 0, hwpt = 0;
	uint64_t iova = 0, more_iova = 0;
	int fd, rc, err;
	char *buf, *more;
	pid_t pid;

	ASSERT_EQ(0, setenv("UIOMMUFD_MEMLOCK", "128K", 1));
	ASSERT_EQ(0, setenv("UIOMMUFD_CAPS", "none", 1));
	buf = e2e_buffer(BUF_LEN);
	more = e2e_buffer(CHARGE_PAGES * PAGE_SZ);
	ASSERT_NONNULL(buf);
	ASSERT_NONNULL(more);
	fd = open_iommu();
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(0, mock_domain(fd, ioas, &stdev, &hwpt));
	ASSERT_EQ(0, ioas_map(fd, ioas, buf, BUF_LEN, &iova, MAP_RW));
	ASSERT_ERRNO(ENOMEM, ioas_map(fd, ioas, more, 25 * PAGE_SZ,
				      &more_iova, MAP_RW));
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(0);
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	/* 8 pinned: 24 more fit, 25 do not. */
	more_iova = 0;
	errno = 0;
	rc = ioas_map(fd, ioas, more, 25 * PAGE_SZ, &more_iova, MAP_RW);
	err = errno;
	if (!rc)
		ASSERT_EQ(0, ioas_unmap(fd, ioas, more_iova, 25 * PAGE_SZ,
					NULL));
	EXPECT_EQ(-1, rc);
	EXPECT_EQ(ENOMEM, err);
	more_iova = 0;
	ASSERT_EQ(0, ioas_map(fd, ioas, more, 24 * PAGE_SZ, &more_iova,
			      MAP_RW));
	ASSERT_EQ(0, ioas_unmap(fd, ioas, more_iova, 24 * PAGE_SZ, NULL));
	/* Unpinned: their charge goes, and no more than theirs. */
	ASSERT_EQ(0, ioas_unmap(fd, ioas, iova, BUF_LEN, NULL));
	more_iova = 0;
	ASSERT_EQ(0, ioas_map(fd, ioas, more, CHARGE_PAGES * PAGE_SZ,
			      &more_iova, MAP_RW));
	ASSERT_EQ(0, close(fd));
}

/* ---- the broker's descriptors ---- */

#define FD_LIST_MAX 128

/* The descriptors of @pid as "number:what it is": how many. */
static unsigned int fd_list(pid_t pid, char (*out)[96], unsigned int max)
{
	char path[300], link[80];
	struct dirent *de;
	unsigned int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((de = readdir(dir)) && n != max) {
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid,
			 de->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		link[len > 0 ? len : 0] = 0;
		snprintf(out[n++], sizeof(out[0]), "%.10s:%s", de->d_name,
			 link);
	}
	closedir(dir);
	return n;
}

/*
 * A command the broker runs for one holder closes none of the broker's
 * descriptors: not another holder's channel, not an access's file. The
 * context was used before the fork that shared it (the parent's map), as
 * a program sets up before it forks; then a child's IOAS_MAP_FILE, for
 * which the broker looks at its own memory, must leave every descriptor
 * the broker had, and the parent's accesses and commands keep working.
 */
TEST(map_file_leaves_the_brokers_descriptors)
{
	static char before[FD_LIST_MAX][96], after[FD_LIST_MAX][96];
	unsigned int nb, na, lost = 0;
	struct world w;
	int afd[8];
	pid_t pid;

	world_init_as(&w, true);
	/* Descriptors of the broker's at the numbers the home had open. */
	for (unsigned int i = 0; i != ARRAY_LEN(afd); i++)
		ASSERT_EQ(0, create_access(w.fd, w.ioas, 0, &afd[i]));
	/*
	 * One more command, so that the broker is done with the last one
	 * (its end of the last access's socket pair, sent, is closed).
	 */
	ASSERT_LT(w.next_id, next_free_id(w.fd));
	nb = fd_list(w.broker, before, FD_LIST_MAX);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid) {
		CHILD_CHECK(!map_file(w.fd, w.ioas, w.memfd, 0, SLOT_LEN,
				      ACTOR_IOVA(0)));
		_exit(0);
	}
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	na = fd_list(w.broker, after, FD_LIST_MAX);
	for (unsigned int i = 0; i != nb; i++) {
		bool kept = false;

		for (unsigned int j = 0; j != na; j++)
			kept |= !strcmp(before[i], after[j]);
		if (!kept)
			TH_LOG("the broker lost descriptor %s", before[i]);
		lost += !kept;
	}
	EXPECT_EQ(0, lost);
	for (unsigned int i = 0; i != ARRAY_LEN(afd); i++) {
		uint8_t byte = 0;

		EXPECT_EQ(0, access_rw(w.fd, afd[i], ACTOR_IOVA(0), &byte, 1,
				       0));
		EXPECT_EQ(WIN_BYTE, byte);
	}
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, ACTOR_IOVA(0), SLOT_LEN, NULL));
	for (unsigned int i = 0; i != ARRAY_LEN(afd); i++)
		ASSERT_EQ(0, close(afd[i]));
	world_check(&w, NULL);
	world_fini(&w);
}

/* ---- pinned_memory_outlives_its_holder ---- */

/*
 * A holder maps memory into the shared IOAS, behind the parent's domain,
 * and exits: the pages stay pinned, and an access reads what they hold,
 * as the kernel's pinned pages. Its private memory (moved into a file the
 * broker keeps) and its shared mapping of a memfd (the parent's too) both.
 */
TEST(pinned_memory_outlives_its_holder)
{
	uint64_t iova0 = ACTOR_IOVA(0), iova1 = iova0 + SLOT_LEN, len = 0;
	struct world w;
	pid_t pid;

	world_init(&w);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid) {
		char *priv = e2e_buffer(SLOT_LEN);

		CHILD_CHECK(priv);
		memset(priv, PINS_BYTE, SLOT_LEN);
		CHILD_CHECK(!ioas_map(w.fd, w.ioas, priv, SLOT_LEN, &iova0,
				      MAP_FIXED_RW));
		CHILD_CHECK(!ioas_map(w.fd, w.ioas, w.view + SLOT_LEN,
				      SLOT_LEN, &iova1, MAP_FIXED_RW));
		_exit(0);
	}
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	check_bytes(&w, NULL, 0, 0, PINS_BYTE);
	/* The memfd's pages, held by the domain. */
	ASSERT_EQ(0, check_map(w.fd, w.hwpt, iova1, w.view + SLOT_LEN,
			       SLOT_LEN));
	ASSERT_EQ(0, check_refs(w.fd, w.view + SLOT_LEN, SLOT_LEN, 1));
	check_bytes(&w, NULL, 0, 1, WIN_BYTE);
	/* The very pages: what the parent writes there, the access reads. */
	memset(w.view + SLOT_LEN, 0x5a, SLOT_LEN);
	check_bytes(&w, NULL, 0, 1, 0x5a);
	memset(w.view + SLOT_LEN, WIN_BYTE, SLOT_LEN);
	ASSERT_EQ(0, ioas_unmap(w.fd, w.ioas, iova0, 2 * SLOT_LEN, &len));
	ASSERT_EQ(2 * SLOT_LEN, len);
	world_check(&w, NULL);
	world_fini(&w);
}

/* ---- threads_in_several_processes ---- */

#define TP_PROCS 3
#define TP_THREADS 3
#define TP_WORKERS (TP_PROCS * TP_THREADS)

/* A worker's memfd and its shared mapping, made by the parent. */
struct tp_file {
	int memfd;
	char *view;
};

/* What a worker leaves in the context, for the parent to check. */
struct tp_result {
	bool done;
	char first_error[200];
	unsigned long ops;
	uint32_t ioas[NIOAS];	/* [IX_S] unused */
	uint32_t stdev;		/* 0: none */
	int s_src[NSLOT];	/* its areas in the shared IOAS, or -1 */
};

struct tp_worker {
	pthread_t thread;
	struct actor a;
	unsigned long iters;
	struct tp_result *res;
};

static uint8_t tp_priv_byte(unsigned int n)
{
	return 0x20 + n;
}

static uint8_t tp_win_byte(unsigned int n)
{
	return 0x80 + n;
}

static void *tp_worker_main(void *arg)
{
	struct tp_worker *t = arg;
	struct actor *a = &t->a;

	for (unsigned long i = 0; i != t->iters && !a->failed; i++) {
		actor_step(a);
		test_progress();
	}
	if (!a->failed)
		actor_verify(a);
	t->res->ops = a->ops;
	snprintf(t->res->first_error, sizeof(t->res->first_error), "%s",
		 a->first_error);
	for (int ix = IX_V0; ix != NIOAS; ix++)
		t->res->ioas[ix] = a->id[ix];
	t->res->stdev = a->dom ? a->stdev : 0;
	for (int k = 0; k != NSLOT; k++)
		t->res->s_src[k] = a->slot[IX_S][k] < 0 ?
					   -1 : a->pg[a->slot[IX_S][k]].src;
	t->res->done = !a->failed;
	return NULL;
}

/* What a process of workers is given with the context's descriptor. */
struct tp_setup {
	uint32_t ioas, hwpt;
};

/* Send @fd over @sock, with @setup. */
static int send_fd(int sock, int fd, const struct tp_setup *setup)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)setup, sizeof(*setup) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	memset(&u, 0, sizeof(u));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == sizeof(*setup) ? 0 : -1;
}

/* The descriptor sent over @sock, with *@setup; -1 if none came. */
static int recv_fd(int sock, struct tp_setup *setup)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { setup, sizeof(*setup) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c;
	int fd = -1;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != sizeof(*setup))
		return -1;
	c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/*
 * A process of workers: given the context over @sock, threads each on
 * objects of its own, on the one context the other processes' threads
 * use too; then it exits, leaving them (an access left open goes).
 */
static void tp_process(int sock, unsigned int p, const struct tp_file *files,
		       struct tp_result *res, uint64_t seed)
{
	struct tp_worker t[TP_THREADS];
	struct tp_setup setup;
	bool ok = true;
	int fd;

	fd = recv_fd(sock, &setup);
	CHILD_CHECK(fd >= 0);
	for (unsigned int i = 0; i != TP_THREADS; i++) {
		unsigned int n = p * TP_THREADS + i;

		CHILD_CHECK(actor_init(&t[i].a, fd, setup.ioas, setup.hwpt,
				       ACTOR_IOVA(n), files[n].memfd,
				       files[n].view, tp_win_byte(n),
				       tp_priv_byte(n),
				       seed ^ (n + 1) * 0x9e3779b97f4a7c15ULL));
		t[i].iters = test_iterations(400);
		t[i].res = &res[n];
	}
	for (unsigned int i = 0; i != TP_THREADS; i++)
		CHILD_CHECK(!pthread_create(&t[i].thread, NULL, tp_worker_main,
					    &t[i]));
	for (unsigned int i = 0; i != TP_THREADS; i++) {
		CHILD_CHECK(!pthread_join(t[i].thread, NULL));
		if (t[i].a.failed) {
			dprintf(1, "# process %u, thread %u: %s\n", p, i,
				t[i].a.first_error);
			ok = false;
		}
	}
	_exit(ok ? 0 : 1);
}

/*
 * Threads of several processes at once on one shared context, each on
 * objects of its own, every result checked as it comes (actor_step())
 * and everything once more at the end (actor_verify()). Then the parent
 * finds what each left, destroys it, and nothing is left.
 *
 * The processes are forked before the parent opens the context, then
 * given its descriptor over a socket (SCM_RIGHTS): no thread of the
 * shim's runs in the parent at their fork, so theirs are the first
 * threads of a process forked from a single-threaded one (as TSan
 * requires), whatever threads the shim starts with a context. Their
 * memory may then lie at the address of the parent's buffer, which is
 * mapped after the promotion here: pages mapped before it are known by
 * their address (a limit of this step, see test_shim_fork.c).
 */
TEST(threads_in_several_processes)
{
	bool gone[ID_MAX + 1] = { false };
	struct tp_file files[TP_WORKERS];
	uint64_t seed = test_seed();
	struct tp_setup setup;
	pid_t pid[TP_PROCS];
	int sock[TP_PROCS][2];
	struct tp_result *res;
	struct world w;

	res = mmap(NULL, TP_WORKERS * sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, res);
	for (unsigned int n = 0; n != TP_WORKERS; n++) {
		files[n].memfd = memfd_create("e2e-worker", MFD_CLOEXEC);
		ASSERT_GE(files[n].memfd, 0);
		ASSERT_EQ(0, ftruncate(files[n].memfd, WIN_LEN));
		files[n].view = mmap(NULL, WIN_LEN, PROT_READ | PROT_WRITE,
				     MAP_SHARED, files[n].memfd, 0);
		ASSERT_NE(MAP_FAILED, files[n].view);
		memset(files[n].view, tp_win_byte(n), WIN_LEN);
	}
	for (unsigned int p = 0; p != TP_PROCS; p++) {
		ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC,
					0, sock[p]));
		pid[p] = fork_child();
		ASSERT_LE(0, pid[p]);
		if (!pid[p]) {
			close(sock[p][0]);
			tp_process(sock[p][1], p, files, res, seed);
		}
		close(sock[p][1]);
	}
	world_init_as(&w, false);
	setup = (struct tp_setup){ .ioas = w.ioas, .hwpt = w.hwpt };
	for (unsigned int p = 0; p != TP_PROCS; p++) {
		ASSERT_EQ(0, send_fd(sock[p][0], w.fd, &setup));
		close(sock[p][0]);
	}
	for (unsigned int p = 0; p != TP_PROCS; p++)
		EXPECT_EQ(0, wait_child(pid[p], WAIT_STALL_S));
	for (unsigned int n = 0; n != TP_WORKERS; n++) {
		struct tp_result *t = &res[n];
		unsigned int mapped = 0;
		uint64_t len = 0;
		int rc;

		if (!t->done)
			TH_LOG("worker %u: %s", n, t->first_error);
		ASSERT_TRUE(t->done);
		ASSERT_LT(0, t->ops);
		/* Its areas in the shared IOAS outlive it. */
		for (int k = 0; k != NSLOT; k++) {
			uint64_t iova = ACTOR_IOVA(n) + (uint64_t)k * SLOT_LEN;

			if (t->s_src[k] < 0)
				continue;
			mapped++;
			if (t->s_src[k] != SRC_PRIV)
				ASSERT_EQ(0, check_map(w.fd, w.hwpt, iova,
						       files[n].view +
							       k * SLOT_LEN,
						       SLOT_LEN));
			/* A shared mapping's bytes: pinned_memory_... */
			if (t->s_src[k] != SRC_WIN)
				check_bytes(&w, NULL, n, k,
					    t->s_src[k] == SRC_PRIV ?
						    tp_priv_byte(n) :
						    tp_win_byte(n));
		}
		errno = 0;
		rc = ioas_unmap(w.fd, w.ioas, ACTOR_IOVA(n), RANGE_LEN, &len);
		if (mapped) {
			ASSERT_EQ(0, rc);
			ASSERT_EQ(mapped * SLOT_LEN, len);
		} else {
			ASSERT_EQ(-1, rc);
			ASSERT_EQ(ENOENT, errno);
		}
		/* Its objects are there; its access went with it. */
		if (t->stdev)
			ASSERT_EQ(0, destroy(w.fd, t->stdev));
		for (int ix = IX_V0; ix != NIOAS; ix++)
			if (t->ioas[ix])
				ASSERT_EQ(0, destroy(w.fd, t->ioas[ix]));
	}
	sweep(&w, NULL, w.next_id + ID_SWEEP, gone);
	for (uint32_t id = 1; id <= ID_MAX; id++)
		ASSERT_FALSE(gone[id]);
	for (unsigned int n = 0; n != TP_WORKERS; n++) {
		ASSERT_EQ(0, check_refs(w.fd, files[n].view, WIN_LEN, 0));
		ASSERT_EQ(0, munmap(files[n].view, WIN_LEN));
		ASSERT_EQ(0, close(files[n].memfd));
	}
	world_check(&w, NULL);
	world_check_broker(&w);
	world_fini(&w);
}
