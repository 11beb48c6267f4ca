// SPDX-License-Identifier: MIT
/*
 * PFN sources: the user source (process memory), the file source, the PFN
 * identity that makes one page one PFN however it is reached, the file-id
 * registry's reference counts, and the /proc/self/maps reader under them.
 */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/fault_inject.h"
#include "base/mem.h"
#include "harness/test.h"
#include "iopt/pfn_identity.h"
#include "iopt/pfn_source.h"
#include "iopt/proc_maps.h"

#define PS PAGE_SIZE

static char *map_anon(size_t pages, int prot)
{
	void *p = mmap(NULL, pages * PS, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);

	ASSERT_TRUE(p != MAP_FAILED);
	return p;
}

static int memfd_pages(size_t pages)
{
	int fd = memfd_create("pfn-source-test", MFD_CLOEXEC);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, pages * PS));
	return fd;
}

static char *map_file(int fd, size_t pages, u64 offset, int prot)
{
	void *p = mmap(NULL, pages * PS, prot, MAP_SHARED, fd, offset);

	ASSERT_TRUE(p != MAP_FAILED);
	return p;
}

static struct pfn_source *user_src(const void *p, u64 length)
{
	struct pfn_source *src = pfn_source_user_create((uintptr_t)p, length);

	ASSERT_FALSE(IS_ERR(src));
	return src;
}

static unsigned int resident_pages(const void *p, size_t pages)
{
	unsigned char vec[64];
	unsigned int n = 0;

	ASSERT_LE(pages, sizeof(vec));
	ASSERT_EQ(0, mincore((void *)p, pages * PS, vec));
	for (size_t i = 0; i != pages; i++)
		n += vec[i] & 1;
	return n;
}

static bool reason_has(const char *word)
{
	const char *reason = err_reason_get();

	if (!reason || !strstr(reason, word)) {
		TH_LOG("reason \"%s\" lacks \"%s\"", reason ? reason : "(none)",
		       word);
		return false;
	}
	return true;
}

static void expect_file_pfns(const u64 *pfns, u64 n, u32 id, u64 pgoff)
{
	for (u64 i = 0; i != n; i++) {
		ASSERT_TRUE(pfn_is_file(pfns[i]));
		ASSERT_EQ(id, pfn_file_id(pfns[i]));
		ASSERT_EQ(pgoff + i, pfn_file_pgoff(pfns[i]));
	}
}

/* A temporary regular file of @pages zeroed pages; its path in @path. */
static int temp_file(char *path, size_t size, size_t pages)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(path, size, "%s/pfn-source-XXXXXX", dir ? dir : "/tmp");
	fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, pages * PS));
	return fd;
}

/* ---- user source ---- */

TEST(user_pin_anon_is_address_and_populates)
{
	char *p = map_anon(4, PROT_READ | PROT_WRITE);
	char *q = map_anon(2, PROT_READ | PROT_WRITE);
	struct pfn_source *src = user_src(p, 4 * PS);
	struct pfn_source *src2 = user_src(q, 2 * PS);
	u64 pfns[4];

	ASSERT_EQ(4, src->npages);
	ASSERT_EQ(0, src->first_offset);
	ASSERT_EQ(getpid(), src->pid);
	ASSERT_EQ(0, resident_pages(p, 4));

	ASSERT_EQ(0, src->ops->pin(src, 1, 3, true, pfns));
	for (int i = 0; i != 3; i++)
		ASSERT_EQ(((uintptr_t)p >> PAGE_SHIFT) + 1 + i, pfns[i]);
	ASSERT_EQ(3, resident_pages(p + PS, 3));
	ASSERT_EQ(0, resident_pages(p, 1));
	src->ops->unpin(src, pfns[0], 3);

	/* A read pin makes pages present too. */
	ASSERT_EQ(0, src2->ops->pin(src2, 0, 2, false, pfns));
	ASSERT_EQ((uintptr_t)q >> PAGE_SHIFT, pfns[0]);
	ASSERT_EQ(2, resident_pages(q, 2));
	src2->ops->unpin(src2, pfns[0], 2);

	ASSERT_EQ(0, pfn_file_ids_live());
	pfn_source_destroy(src);
	pfn_source_destroy(src2);
	munmap(p, 4 * PS);
	munmap(q, 2 * PS);
}

TEST(user_pin_read_only_memory)
{
	char *p = map_anon(2, PROT_READ);
	struct pfn_source *src = user_src(p, 2 * PS);
	u64 pfns[2] = { 7, 7 };

	err_reason_clear();
	ASSERT_EQ(-EFAULT, src->ops->pin(src, 0, 2, true, pfns));
	ASSERT_TRUE(reason_has("read-only"));
	ASSERT_EQ(0, resident_pages(p, 2));

	ASSERT_EQ(0, src->ops->pin(src, 0, 2, false, pfns));
	ASSERT_EQ((uintptr_t)p >> PAGE_SHIFT, pfns[0]);
	src->ops->unpin(src, pfns[0], 2);
	pfn_source_destroy(src);
	munmap(p, 2 * PS);
}

TEST(user_pin_prot_none)
{
	char *p = map_anon(2, PROT_NONE);
	struct pfn_source *src = user_src(p, 2 * PS);
	u64 pfns[2];

	err_reason_clear();
	ASSERT_EQ(-EFAULT, src->ops->pin(src, 0, 2, false, pfns));
	ASSERT_TRUE(reason_has("not readable"));
	ASSERT_EQ(-EFAULT, src->ops->pin(src, 1, 1, true, pfns));
	/* identify only names pages: access is not its business. */
	ASSERT_EQ(0, src->ops->identify(src, 0, 2, pfns));
	ASSERT_EQ((uintptr_t)p >> PAGE_SHIFT, pfns[0]);
	pfn_source_destroy(src);
	munmap(p, 2 * PS);
}

TEST(user_pin_hole_pins_nothing)
{
	int fd = memfd_pages(4);
	char *p = map_file(fd, 4, 0, PROT_READ | PROT_WRITE);
	struct pfn_source *src = user_src(p, 4 * PS);
	long live = mem_live_count();
	u64 pfns[4], held[2];
	u32 id;

	ASSERT_EQ(0, munmap(p + 2 * PS, PS));
	err_reason_clear();
	ASSERT_EQ(-EFAULT, src->ops->pin(src, 0, 4, true, pfns));
	ASSERT_TRUE(reason_has("not mapped"));
	ASSERT_EQ(0, pfn_file_ids_live());
	ASSERT_EQ(live, mem_live_count());

	/* With the id alive, its count must not move either. */
	ASSERT_EQ(0, src->ops->pin(src, 0, 2, false, held));
	id = pfn_file_id(held[0]);
	ASSERT_EQ(2, pfn_file_id_refs(id));
	ASSERT_EQ(-EFAULT, src->ops->pin(src, 0, 4, false, pfns));
	ASSERT_EQ(-EFAULT, src->ops->pin(src, 2, 1, false, pfns));
	ASSERT_EQ(-EFAULT, src->ops->identify(src, 1, 3, pfns));
	ASSERT_EQ(2, pfn_file_id_refs(id));
	ASSERT_EQ(1, pfn_file_ids_live());

	src->ops->unpin(src, held[0], 2);
	ASSERT_EQ(0, pfn_file_ids_live());
	pfn_source_destroy(src);
	munmap(p, 2 * PS);
	munmap(p + 3 * PS, PS);
	close(fd);
}

TEST(user_create_rejects_bad_ranges)
{
	struct pfn_source *src;
	u64 pfns[1];
	long live = mem_live_count();

	err_reason_clear();
	ASSERT_EQ(-EINVAL, PTR_ERR(pfn_source_user_create(0x10000, 0)));
	ASSERT_TRUE(reason_has("zero length"));
	err_reason_clear();
	ASSERT_EQ(-EOVERFLOW, PTR_ERR(pfn_source_user_create(U64_MAX - 10, 100)));
	ASSERT_TRUE(reason_has("wraps"));
	ASSERT_EQ(-EOVERFLOW, PTR_ERR(pfn_source_user_create(U64_MAX, 2)));
	/* As the kernel: no room to round the length up a page. */
	ASSERT_EQ(-EINVAL, PTR_ERR(pfn_source_user_create(2, U64_MAX)));
	ASSERT_EQ(-EINVAL,
		  PTR_ERR(pfn_source_user_create(0, SIZE_MAX - PS + 1)));
	/* As the kernel: the exclusive end must not wrap to 0 either. */
	ASSERT_EQ(-EOVERFLOW, PTR_ERR(pfn_source_user_create(U64_MAX, 1)));
	ASSERT_EQ(-EOVERFLOW, PTR_ERR(pfn_source_user_create(U64_MAX - PS + 1,
							     PS)));
	ASSERT_EQ(live, mem_live_count());

	/* Ranges that do not wrap are accepted but never user memory. */
	src = pfn_source_user_create(U64_MAX - 1, 1);
	ASSERT_FALSE(IS_ERR(src));
	ASSERT_EQ(1, src->npages);
	ASSERT_EQ(PS - 2, src->first_offset);
	ASSERT_EQ(-EFAULT, src->ops->pin(src, 0, 1, false, pfns));
	ASSERT_EQ(-EFAULT, src->ops->identify(src, 0, 1, pfns));
	ASSERT_EQ(-EINVAL, src->ops->pin(src, 1, 1, false, pfns));
	pfn_source_destroy(src);

	/* The largest length the kernel takes. */
	src = pfn_source_user_create(0, SIZE_MAX - PS);
	ASSERT_FALSE(IS_ERR(src));
	ASSERT_EQ((1ULL << (64 - PAGE_SHIFT)) - 1, src->npages);
	ASSERT_EQ(-EFAULT, src->ops->pin(src, src->npages - 1, 1, true, pfns));
	/* The zero page is never mapped. */
	ASSERT_EQ(-EFAULT, src->ops->pin(src, 0, 1, true, pfns));
	pfn_source_destroy(src);
}

TEST(user_create_sub_page_geometry)
{
	static const struct {
		u64 offset, length, npages, first_offset;
	} cases[] = {
		{ 0, PS, 1, 0 },
		{ 1, PS, 2, 1 },
		{ 1, PS - 1, 1, 1 },
		{ PS - 1, 1, 1, PS - 1 },
		{ PS - 1, 2, 2, PS - 1 },
		{ 5, 10, 1, 5 },
		{ PS + 7, 2 * PS, 3, 7 },
		{ 0, 3 * PS, 3, 0 },
	};
	char *p = map_anon(4, PROT_READ | PROT_WRITE);
	u64 pfns[4];

	for (size_t i = 0; i != ARRAY_SIZE(cases); i++) {
		struct pfn_source *src =
			user_src(p + cases[i].offset, cases[i].length);

		EXPECT_EQ(cases[i].npages, src->npages);
		EXPECT_EQ(cases[i].first_offset, src->first_offset);
		ASSERT_EQ(0, src->ops->pin(src, 0, src->npages, true, pfns));
		/* Page 0 is the page that holds the first byte. */
		EXPECT_EQ(((uintptr_t)p + cases[i].offset) >> PAGE_SHIFT,
			  pfns[0]);
		src->ops->unpin(src, pfns[0], src->npages);
		pfn_source_destroy(src);
	}
	munmap(p, 4 * PS);
}

TEST(user_rw_at_sub_page_offsets)
{
	char *p = map_anon(2, PROT_READ | PROT_WRITE);
	struct pfn_source *src = user_src(p + 100, PS);
	char buf[8] = "abcdefg";
	u64 pfns[2];

	ASSERT_EQ(0, src->ops->pin(src, 0, 2, true, pfns));
	src->ops->rw(src, 1, 10, buf, 7, true);
	ASSERT_EQ(0, memcmp(p + PS + 10, "abcdefg", 7));
	p[PS - 1] = 'z';
	src->ops->rw(src, 0, PS - 1, buf, 1, false);
	ASSERT_EQ('z', buf[0]);
	src->ops->unpin(src, pfns[0], 2);
	pfn_source_destroy(src);
	munmap(p, 2 * PS);
}

/* ---- identity ---- */

TEST(identity_user_mapping_and_file_source_agree)
{
	int fd = memfd_pages(4);
	/* The user mapping starts at file page 1. */
	char *p = map_file(fd, 3, PS, PROT_READ | PROT_WRITE);
	struct pfn_source *usrc = user_src(p, 3 * PS);
	struct pfn_source *fsrc = pfn_source_file_create(fd, 0, 4 * PS, true);
	u64 upfns[3], fpfns[4];
	u32 id;

	ASSERT_FALSE(IS_ERR(fsrc));
	ASSERT_EQ(1, pfn_file_ids_live());
	ASSERT_EQ(0, usrc->ops->pin(usrc, 0, 3, true, upfns));
	ASSERT_EQ(0, fsrc->ops->pin(fsrc, 0, 4, false, fpfns));
	id = pfn_file_id(fpfns[0]);
	ASSERT_NE(PFN_FILE_ID_NONE, id);
	expect_file_pfns(fpfns, 4, id, 0);
	for (int i = 0; i != 3; i++)
		ASSERT_EQ(fpfns[i + 1], upfns[i]);
	/* The source's own reference, and one per pinned page. */
	ASSERT_EQ(1 + 3 + 4, pfn_file_id_refs(id));
	ASSERT_EQ(1, pfn_file_ids_live());

	usrc->ops->unpin(usrc, upfns[0], 3);
	fsrc->ops->unpin(fsrc, fpfns[0], 4);
	ASSERT_EQ(1, pfn_file_id_refs(id));
	pfn_source_destroy(fsrc);
	ASSERT_EQ(0, pfn_file_id_refs(id));
	ASSERT_EQ(0, pfn_file_ids_live());
	pfn_source_destroy(usrc);
	munmap(p, 3 * PS);
	close(fd);
}

TEST(identity_two_mappings_of_one_page)
{
	int fd = memfd_pages(2);
	char *a = map_file(fd, 1, PS, PROT_READ | PROT_WRITE);
	char *b = map_file(fd, 2, 0, PROT_READ);
	struct pfn_source *sa = user_src(a, PS);
	struct pfn_source *sb = user_src(b, 2 * PS);
	u64 pa[1], pb[2];

	ASSERT_EQ(0, sa->ops->pin(sa, 0, 1, true, pa));
	ASSERT_EQ(0, sb->ops->pin(sb, 0, 2, false, pb));
	ASSERT_TRUE(pfn_is_file(pa[0]));
	ASSERT_EQ(pb[1], pa[0]);
	ASSERT_EQ(pb[0] + 1, pb[1]);
	ASSERT_EQ(3, pfn_file_id_refs(pfn_file_id(pa[0])));
	sa->ops->unpin(sa, pa[0], 1);
	sb->ops->unpin(sb, pb[0], 2);
	ASSERT_EQ(0, pfn_file_ids_live());
	pfn_source_destroy(sa);
	pfn_source_destroy(sb);
	munmap(a, PS);
	munmap(b, 2 * PS);
	close(fd);
}

TEST(identity_private_and_shared_anonymous)
{
	int fd = memfd_pages(1);
	char *priv = map_anon(1, PROT_READ | PROT_WRITE);
	char *shared = mmap(NULL, 2 * PS, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	/* A private mapping of a file: copy-on-write pages are our own. */
	char *cow = mmap(NULL, PS, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	struct pfn_source *sp, *ss, *ss2, *sc;
	u64 pfns[2], pfns2[1];

	ASSERT_TRUE(shared != MAP_FAILED);
	ASSERT_TRUE(cow != MAP_FAILED);
	sp = user_src(priv, PS);
	ss = user_src(shared, 2 * PS);
	ss2 = user_src(shared + PS, PS);
	sc = user_src(cow, PS);

	ASSERT_EQ(0, sp->ops->pin(sp, 0, 1, true, pfns));
	ASSERT_EQ((uintptr_t)priv >> PAGE_SHIFT, pfns[0]);
	ASSERT_FALSE(pfn_is_file(pfns[0]));
	sp->ops->unpin(sp, pfns[0], 1);
	ASSERT_EQ(0, sc->ops->pin(sc, 0, 1, true, pfns));
	ASSERT_EQ((uintptr_t)cow >> PAGE_SHIFT, pfns[0]);
	sc->ops->unpin(sc, pfns[0], 1);
	ASSERT_EQ(0, pfn_file_ids_live());

	/* MAP_SHARED | MAP_ANONYMOUS is shmem: a file, offset from 0. */
	ASSERT_EQ(0, ss->ops->pin(ss, 0, 2, true, pfns));
	ASSERT_EQ(0, ss2->ops->pin(ss2, 0, 1, false, pfns2));
	expect_file_pfns(pfns, 2, pfn_file_id(pfns[0]), 0);
	ASSERT_EQ(pfns[1], pfns2[0]);
	ASSERT_EQ(3, pfn_file_id_refs(pfn_file_id(pfns[0])));
	ss->ops->unpin(ss, pfns[0], 2);
	ss2->ops->unpin(ss2, pfns2[0], 1);
	ASSERT_EQ(0, pfn_file_ids_live());

	pfn_source_destroy(sp);
	pfn_source_destroy(ss);
	pfn_source_destroy(ss2);
	pfn_source_destroy(sc);
	munmap(priv, PS);
	munmap(shared, 2 * PS);
	munmap(cow, PS);
	close(fd);
}

TEST(identity_refs_count_pinned_pages)
{
	int fd = memfd_pages(8);
	char *p = map_file(fd, 8, 0, PROT_READ | PROT_WRITE);
	struct pfn_source *src = user_src(p, 8 * PS);
	u64 a[5], b[6], c[8];
	u32 id;

	ASSERT_EQ(0, src->ops->pin(src, 0, 5, true, a));
	id = pfn_file_id(a[0]);
	expect_file_pfns(a, 5, id, 0);
	ASSERT_EQ(5, pfn_file_id_refs(id));
	ASSERT_EQ(0, src->ops->pin(src, 2, 6, false, b));
	expect_file_pfns(b, 6, id, 2);
	ASSERT_EQ(11, pfn_file_id_refs(id));
	/* identify takes nothing. */
	ASSERT_EQ(0, src->ops->identify(src, 0, 8, c));
	expect_file_pfns(c, 8, id, 0);
	ASSERT_EQ(11, pfn_file_id_refs(id));

	/* Unpin in pieces, as a batch would. */
	src->ops->unpin(src, a[0], 2);
	ASSERT_EQ(9, pfn_file_id_refs(id));
	src->ops->unpin(src, a[2], 3);
	src->ops->unpin(src, b[0], 6);
	ASSERT_EQ(0, pfn_file_id_refs(id));
	ASSERT_EQ(0, pfn_file_ids_live());
	pfn_source_destroy(src);
	munmap(p, 8 * PS);
	close(fd);
}

TEST(identify_unknown_file_creates_nothing)
{
	int fd = memfd_pages(3);
	char *p = map_file(fd, 3, 0, PROT_READ | PROT_WRITE);
	char *anon = map_anon(2, PROT_READ | PROT_WRITE);
	struct pfn_source *src = user_src(p, 3 * PS);
	struct pfn_source *asrc = user_src(anon, 2 * PS);
	long live = mem_live_count();
	u64 pfns[3], pin[1];

	ASSERT_EQ(0, src->ops->identify(src, 0, 3, pfns));
	expect_file_pfns(pfns, 3, PFN_FILE_ID_NONE, 0);
	ASSERT_EQ(0, pfn_file_ids_live());
	ASSERT_EQ(live, mem_live_count());

	/* Once a page is pinned, every page of the file has its id. */
	ASSERT_EQ(0, src->ops->pin(src, 1, 1, false, pin));
	ASSERT_EQ(0, src->ops->identify(src, 0, 3, pfns));
	expect_file_pfns(pfns, 3, pfn_file_id(pin[0]), 0);
	src->ops->unpin(src, pin[0], 1);
	ASSERT_EQ(0, src->ops->identify(src, 0, 3, pfns));
	expect_file_pfns(pfns, 3, PFN_FILE_ID_NONE, 0);

	/* identify populates nothing. */
	ASSERT_EQ(0, asrc->ops->identify(asrc, 0, 2, pfns));
	ASSERT_EQ((uintptr_t)anon >> PAGE_SHIFT, pfns[0]);
	ASSERT_EQ(pfns[0] + 1, pfns[1]);
	ASSERT_EQ(0, resident_pages(anon, 2));

	pfn_source_destroy(src);
	pfn_source_destroy(asrc);
	munmap(p, 3 * PS);
	munmap(anon, 2 * PS);
	close(fd);
}

/* ---- file source ---- */

TEST(file_create_errors)
{
	long live = mem_live_count();
	int fd = memfd_pages(2), pipefd[2], rdonly, wronly;
	struct pfn_source *src;
	char path[64];

	err_reason_clear();
	ASSERT_EQ(-EBADF, PTR_ERR(pfn_source_file_create(-1, 0, PS, false)));
	ASSERT_NONNULL(err_reason_get());
	ASSERT_EQ(0, pipe(pipefd));
	close(pipefd[1]);
	ASSERT_EQ(-EBADF,
		  PTR_ERR(pfn_source_file_create(pipefd[1], 0, 1, false)));
	err_reason_clear();
	ASSERT_EQ(-EINVAL,
		  PTR_ERR(pfn_source_file_create(pipefd[0], 0, 1, false)));
	ASSERT_TRUE(reason_has("regular"));
	close(pipefd[0]);

	err_reason_clear();
	ASSERT_EQ(-EINVAL, PTR_ERR(pfn_source_file_create(fd, 0, 0, true)));
	ASSERT_TRUE(reason_has("zero length"));
	ASSERT_EQ(-EINVAL,
		  PTR_ERR(pfn_source_file_create(fd, U64_MAX - 10, 100, true)));
	ASSERT_EQ(-EINVAL, PTR_ERR(pfn_source_file_create(fd, 1, U64_MAX,
							  false)));
	err_reason_clear();
	ASSERT_EQ(-EINVAL,
		  PTR_ERR(pfn_source_file_create(fd, 0, 2 * PS + 1, true)));
	ASSERT_TRUE(reason_has("end of the file"));
	ASSERT_EQ(-EINVAL,
		  PTR_ERR(pfn_source_file_create(fd, 2 * PS, 1, true)));
	ASSERT_EQ(-EINVAL,
		  PTR_ERR(pfn_source_file_create(fd, PS + 1, PS, false)));

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rdonly = open(path, O_RDONLY);
	ASSERT_GE(rdonly, 0);
	err_reason_clear();
	ASSERT_EQ(-EPERM,
		  PTR_ERR(pfn_source_file_create(rdonly, 0, PS, true)));
	ASSERT_TRUE(reason_has("read-only"));
	wronly = open(path, O_WRONLY);
	ASSERT_GE(wronly, 0);
	ASSERT_EQ(-EPERM,
		  PTR_ERR(pfn_source_file_create(wronly, 0, PS, false)));
	ASSERT_EQ(0, pfn_file_ids_live());
	ASSERT_EQ(live, mem_live_count());

	/* The edges that are fine. */
	src = pfn_source_file_create(rdonly, PS, PS, false);
	ASSERT_FALSE(IS_ERR(src));
	ASSERT_EQ(1, src->npages);
	pfn_source_destroy(src);
	src = pfn_source_file_create(fd, 2 * PS - 1, 1, true);
	ASSERT_FALSE(IS_ERR(src));
	ASSERT_EQ(1, src->npages);
	ASSERT_EQ(PS - 1, src->first_offset);
	pfn_source_destroy(src);
	ASSERT_EQ(0, pfn_file_ids_live());
	close(rdonly);
	close(wronly);
	close(fd);
}

TEST(file_create_sealed_memfd_is_read_only)
{
	int fd = memfd_create("sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	struct pfn_source *src;
	u64 pfns[1];

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, PS));
	ASSERT_EQ(0, fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE));
	ASSERT_EQ(-EPERM, PTR_ERR(pfn_source_file_create(fd, 0, PS, true)));
	src = pfn_source_file_create(fd, 0, PS, false);
	ASSERT_FALSE(IS_ERR(src));
	ASSERT_EQ(0, src->ops->pin(src, 0, 1, false, pfns));
	src->ops->unpin(src, pfns[0], 1);
	pfn_source_destroy(src);
	close(fd);
}

TEST(file_pages_survive_close_and_munmap)
{
	int fd = memfd_pages(3);
	char *p = map_file(fd, 3, 0, PROT_READ | PROT_WRITE);
	struct pfn_source *src;
	char buf[16];
	u64 pfns[3];

	for (int i = 0; i != 3; i++)
		memset(p + i * PS, 'a' + i, PS);
	src = pfn_source_file_create(fd, 100, 2 * PS, true);
	ASSERT_FALSE(IS_ERR(src));
	ASSERT_EQ(3, src->npages);
	ASSERT_EQ(100, src->first_offset);
	munmap(p, 3 * PS);
	close(fd);

	ASSERT_EQ(0, src->ops->pin(src, 0, 3, true, pfns));
	expect_file_pfns(pfns, 3, pfn_file_id(pfns[0]), 0);
	src->ops->rw(src, 2, 5, buf, 4, false);
	ASSERT_EQ(0, memcmp(buf, "cccc", 4));
	src->ops->rw(src, 1, PS - 3, "xyz", 3, true);
	src->ops->rw(src, 1, PS - 4, buf, 4, false);
	ASSERT_EQ(0, memcmp(buf, "bxyz", 4));
	src->ops->unpin(src, pfns[0], 3);
	pfn_source_destroy(src);
	ASSERT_EQ(0, pfn_file_ids_live());
}

TEST(file_rw_visible_through_fresh_mapping)
{
	char path[256];
	int fd = temp_file(path, sizeof(path), 3);
	struct pfn_source *src, *usrc;
	char *p, buf[4];
	u64 pfns[2], upfns[1];

	ASSERT_EQ(4, pwrite(fd, "wxyz", 4, PS + 20));
	src = pfn_source_file_create(fd, PS + 10, PS, true);
	ASSERT_FALSE(IS_ERR(src));
	ASSERT_EQ(2, src->npages);
	ASSERT_EQ(10, src->first_offset);
	close(fd);

	ASSERT_EQ(0, src->ops->pin(src, 0, 2, true, pfns));
	src->ops->rw(src, 0, 20, buf, 4, false);
	ASSERT_EQ(0, memcmp(buf, "wxyz", 4));
	src->ops->rw(src, 0, 0, "A", 1, true);
	src->ops->rw(src, 0, PS - 1, "B", 1, true);
	src->ops->rw(src, 1, 0, "C", 1, true);

	fd = open(path, O_RDWR);
	ASSERT_GE(fd, 0);
	p = map_file(fd, 3, 0, PROT_READ);
	ASSERT_EQ('A', p[PS]);
	ASSERT_EQ('B', p[2 * PS - 1]);
	ASSERT_EQ('C', p[2 * PS]);

	/* A regular file on disk: one identity for both ways in, too. */
	usrc = user_src(p + PS, PS);
	ASSERT_EQ(0, usrc->ops->pin(usrc, 0, 1, false, upfns));
	ASSERT_EQ(pfns[0], upfns[0]);
	usrc->ops->unpin(usrc, upfns[0], 1);
	pfn_source_destroy(usrc);

	src->ops->unpin(src, pfns[0], 2);
	pfn_source_destroy(src);
	ASSERT_EQ(0, pfn_file_ids_live());
	munmap(p, 3 * PS);
	close(fd);
	unlink(path);
}

TEST(file_write_pin_of_read_only_source)
{
	int fd = memfd_pages(2);
	struct pfn_source *src = pfn_source_file_create(fd, 0, 2 * PS, false);
	u64 pfns[2];
	u32 id;

	ASSERT_FALSE(IS_ERR(src));
	ASSERT_FALSE(src->writable);
	ASSERT_EQ(0, src->ops->identify(src, 0, 2, pfns));
	id = pfn_file_id(pfns[0]);
	ASSERT_EQ(1, pfn_file_id_refs(id));
	err_reason_clear();
	ASSERT_EQ(-EFAULT, src->ops->pin(src, 0, 2, true, pfns));
	ASSERT_TRUE(reason_has("read-only"));
	ASSERT_EQ(1, pfn_file_id_refs(id));
	ASSERT_EQ(0, src->ops->pin(src, 1, 1, false, pfns));
	expect_file_pfns(pfns, 1, id, 1);
	ASSERT_EQ(2, pfn_file_id_refs(id));
	src->ops->unpin(src, pfns[0], 1);
	pfn_source_destroy(src);
	close(fd);
}

TEST(pin_after_truncate_fails_cleanly)
{
	int fd = memfd_pages(4);
	char *p = map_file(fd, 4, 0, PROT_READ | PROT_WRITE);
	struct pfn_source *usrc = user_src(p, 4 * PS);
	struct pfn_source *fsrc = pfn_source_file_create(fd, 0, 4 * PS, true);
	long live = mem_live_count();
	u64 pfns[4];
	u32 id;

	ASSERT_FALSE(IS_ERR(fsrc));
	ASSERT_EQ(0, fsrc->ops->identify(fsrc, 0, 1, pfns));
	id = pfn_file_id(pfns[0]);
	ASSERT_EQ(0, ftruncate(fd, PS));

	/* The VMAs are still there; making the pages present is not. */
	err_reason_clear();
	ASSERT_EQ(-EFAULT, usrc->ops->pin(usrc, 0, 4, false, pfns));
	ASSERT_TRUE(reason_has("cannot fault in"));
	ASSERT_EQ(-EFAULT, fsrc->ops->pin(fsrc, 2, 2, true, pfns));
	ASSERT_EQ(1, pfn_file_id_refs(id));
	ASSERT_EQ(live, mem_live_count());
	ASSERT_EQ(0, usrc->ops->pin(usrc, 0, 1, true, pfns));
	ASSERT_EQ(2, pfn_file_id_refs(id));
	usrc->ops->unpin(usrc, pfns[0], 1);

	pfn_source_destroy(usrc);
	pfn_source_destroy(fsrc);
	ASSERT_EQ(0, pfn_file_ids_live());
	munmap(p, 4 * PS);
	close(fd);
}

/* ---- the owning process ---- */

static pid_t exited_child(void)
{
	pid_t pid = fork();
	int status;

	ASSERT_GE(pid, 0);
	if (!pid)
		_exit(0);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	return pid;
}

TEST(pin_for_another_process)
{
	int fd = memfd_pages(1);
	char *p = map_anon(1, PROT_READ | PROT_WRITE);
	struct pfn_source *usrc = user_src(p, PS);
	struct pfn_source *fsrc = pfn_source_file_create(fd, 0, PS, true);
	pid_t self = getpid(), gone = exited_child();
	u64 pfns[1];
	u32 id;

	ASSERT_FALSE(IS_ERR(fsrc));
	ASSERT_EQ(0, fsrc->ops->identify(fsrc, 0, 1, pfns));
	id = pfn_file_id(pfns[0]);
	usrc->pid = gone;
	fsrc->pid = gone;
	err_reason_clear();
	ASSERT_EQ(-EFAULT, usrc->ops->pin(usrc, 0, 1, true, pfns));
	ASSERT_TRUE(reason_has("has exited"));
	ASSERT_EQ(-EFAULT, usrc->ops->identify(usrc, 0, 1, pfns));
	err_reason_clear();
	ASSERT_EQ(-EFAULT, fsrc->ops->pin(fsrc, 0, 1, false, pfns));
	ASSERT_TRUE(reason_has("has exited"));
	ASSERT_EQ(1, pfn_file_id_refs(id));

	/*
	 * A live process that is not this one is asked for its own maps
	 * (a forked child working on mappings its parent made): the
	 * harness's parent has nothing at @p.
	 */
	usrc->pid = getppid();
	err_reason_clear();
	ASSERT_EQ(-EFAULT, usrc->ops->pin(usrc, 0, 1, false, pfns));
	ASSERT_TRUE(reason_has("not mapped"));
	{
		/* A child forked after @p was mapped has its own @p. */
		int sync[2];
		pid_t child;
		char c = 0;

		ASSERT_EQ(0, pipe(sync));
		child = fork();
		ASSERT_GE(child, 0);
		if (!child) {
			p[0] = 'c';
			if (write(sync[1], "1", 1) != 1)
				_exit(1);
			pause();
			_exit(0);
		}
		ASSERT_EQ(1, read(sync[0], &c, 1));
		usrc->pid = child;
		ASSERT_EQ(0, usrc->ops->pin(usrc, 0, 1, true, pfns));
		ASSERT_EQ((uintptr_t)p >> PAGE_SHIFT, pfns[0]);
		usrc->ops->rw(usrc, 0, 0, &c, 1, false);
		ASSERT_EQ('c', c);
		c = 'w';
		usrc->ops->rw(usrc, 0, 1, &c, 1, true);
		c = 0;
		usrc->ops->rw(usrc, 0, 1, &c, 1, false);
		ASSERT_EQ('w', c);
		/* Not this process's copy. */
		ASSERT_NE('c', p[0]);
		usrc->ops->unpin(usrc, pfns[0], 1);
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		close(sync[0]);
		close(sync[1]);
	}

	usrc->pid = self;
	fsrc->pid = self;
	ASSERT_EQ(0, usrc->ops->pin(usrc, 0, 1, true, pfns));
	usrc->ops->unpin(usrc, pfns[0], 1);
	pfn_source_destroy(usrc);
	pfn_source_destroy(fsrc);
	ASSERT_EQ(0, pfn_file_ids_live());
	munmap(p, PS);
	close(fd);
}

/* ---- fault injection ---- */

/* unpin() takes contiguous runs, as a batch hands them back. */
static void unpin_runs(struct pfn_source *src, const u64 *pfns, u64 n)
{
	u64 start = 0;

	for (u64 i = 1; i <= n; i++) {
		if (i != n && pfns[i] == pfns[i - 1] + 1)
			continue;
		src->ops->unpin(src, pfns[start], i - start);
		start = i;
	}
}

/* Two memfds side by side, so one pin takes two ids. */
static char *map_two_files(int fa, int fb)
{
	char *p = map_anon(6, PROT_NONE);

	ASSERT_TRUE(mmap(p + PS, 2 * PS, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, fa, 0) != MAP_FAILED);
	ASSERT_TRUE(mmap(p + 3 * PS, 2 * PS, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, fb, 0) != MAP_FAILED);
	return p + PS;
}

static unsigned int sweep_pin(struct pfn_source *src, u64 npages, u32 held_id)
{
	u64 held_refs = pfn_file_id_refs(held_id);
	unsigned int live_ids = pfn_file_ids_live();
	long live = mem_live_count();
	u64 pfns[8];
	unsigned int nth;
	int rc;

	for (nth = 1;; nth++) {
		fault_fail_nth_set(nth);
		rc = src->ops->pin(src, 0, npages, true, pfns);
		if (!fault_fail_nth_fired()) {
			fault_fail_nth_set(0);
			ASSERT_EQ(0, rc);
			break;
		}
		fault_fail_nth_set(0);
		ASSERT_NE(0, rc);
		ASSERT_TRUE(rc == -EFAULT || rc == -ENOMEM);
		ASSERT_NONNULL(err_reason_get());
		ASSERT_EQ(held_refs, pfn_file_id_refs(held_id));
		ASSERT_EQ(live_ids, pfn_file_ids_live());
		ASSERT_EQ(live, mem_live_count());
	}
	unpin_runs(src, pfns, npages);
	ASSERT_EQ(held_refs, pfn_file_id_refs(held_id));
	ASSERT_EQ(live_ids, pfn_file_ids_live());
	return nth;
}

TEST(fault_inject_user_pin)
{
	int fa = memfd_pages(2), fb = memfd_pages(2);
	char *p = map_two_files(fa, fb);
	struct pfn_source *src = user_src(p, 4 * PS);
	struct pfn_source *fsrc;
	u64 pfns[1];
	unsigned int n;

	/* Both ids created by the pin: every allocation is a failure point. */
	n = sweep_pin(src, 4, PFN_FILE_ID_NONE);
	ASSERT_GE(n, 4);
	ASSERT_EQ(0, pfn_file_ids_live());

	/* With the first file's id held elsewhere, its count must hold. */
	fsrc = pfn_source_file_create(fa, 0, 2 * PS, false);
	ASSERT_FALSE(IS_ERR(fsrc));
	ASSERT_EQ(0, fsrc->ops->identify(fsrc, 0, 1, pfns));
	n = sweep_pin(src, 4, pfn_file_id(pfns[0]));
	ASSERT_GE(n, 3);
	pfn_source_destroy(fsrc);

	pfn_source_destroy(src);
	ASSERT_EQ(0, pfn_file_ids_live());
	munmap(p - PS, 6 * PS);
	close(fa);
	close(fb);
}

TEST(fault_inject_file_pin_and_create)
{
	int fd = memfd_pages(3);
	long live = mem_live_count();
	struct pfn_source *src;
	unsigned int nth;
	u64 pfns[1];

	for (nth = 1;; nth++) {
		fault_fail_nth_set(nth);
		src = pfn_source_file_create(fd, 0, 3 * PS, true);
		if (!fault_fail_nth_fired())
			break;
		fault_fail_nth_set(0);
		ASSERT_TRUE(IS_ERR(src));
		ASSERT_EQ(-ENOMEM, PTR_ERR(src));
		ASSERT_EQ(0, pfn_file_ids_live());
		ASSERT_EQ(live, mem_live_count());
	}
	fault_fail_nth_set(0);
	ASSERT_FALSE(IS_ERR(src));
	ASSERT_GE(nth, 3);

	ASSERT_EQ(0, src->ops->identify(src, 0, 1, pfns));
	/* Taking more references allocates nothing: one failure point. */
	ASSERT_EQ(2, sweep_pin(src, 3, pfn_file_id(pfns[0])));
	pfn_source_destroy(src);
	ASSERT_EQ(0, pfn_file_ids_live());
	close(fd);
}

/* ---- the file-id registry ---- */

TEST(file_ids_registry)
{
	long live = mem_live_count();
	u32 a, b, c, found;

	ASSERT_EQ(0, pfn_file_id_refs(PFN_FILE_ID_NONE));
	ASSERT_EQ(-ENOENT, pfn_file_id_find(makedev(9, 9), 1, &found));
	ASSERT_EQ(0, pfn_file_id_get(makedev(9, 9), 1, 2, &a));
	ASSERT_EQ(0, pfn_file_id_get(makedev(9, 9), 2, 1, &b));
	ASSERT_EQ(0, pfn_file_id_get(makedev(9, 8), 1, 1, &c));
	ASSERT_EQ(1, a);
	ASSERT_EQ(2, b);
	ASSERT_EQ(3, c);
	ASSERT_EQ(0, pfn_file_id_get(makedev(9, 9), 1, 3, &found));
	ASSERT_EQ(a, found);
	ASSERT_EQ(5, pfn_file_id_refs(a));
	ASSERT_EQ(0, pfn_file_id_find(makedev(9, 8), 1, &found));
	ASSERT_EQ(c, found);
	ASSERT_EQ(3, pfn_file_ids_live());

	pfn_file_id_put(b, 1);
	ASSERT_EQ(0, pfn_file_id_refs(b));
	ASSERT_EQ(-ENOENT, pfn_file_id_find(makedev(9, 9), 2, &found));
	/* Freed ids are reused, lowest first. */
	ASSERT_EQ(0, pfn_file_id_get(makedev(1, 2), 3, 1, &found));
	ASSERT_EQ(b, found);
	pfn_file_id_hold(b, 4);
	ASSERT_EQ(5, pfn_file_id_refs(b));

	pfn_file_id_put(a, 4);
	ASSERT_EQ(1, pfn_file_id_refs(a));
	pfn_file_id_put(a, 1);
	pfn_file_id_put(b, 5);
	pfn_file_id_put(c, 1);
	ASSERT_EQ(0, pfn_file_ids_live());
	ASSERT_EQ(live, mem_live_count());
}

TEST(file_ids_unpin_run_across_ids)
{
	u32 a, b;
	u64 pfns[5];

	ASSERT_EQ(0, pfn_file_id_get(makedev(7, 7), 1, 2, &a));
	ASSERT_EQ(0, pfn_file_id_get(makedev(7, 7), 2, 3, &b));
	ASSERT_EQ(a + 1, b);
	/* The last two offsets of a, then the first three of b: one run. */
	for (int i = 0; i != 5; i++)
		pfns[i] = pfn_make_file(a, 0xfffffffeULL) + i;
	ASSERT_EQ(b, pfn_file_id(pfns[2]));
	ASSERT_EQ(0, pfn_file_pgoff(pfns[2]));
	pfn_put_run(pfns[0], 5);
	ASSERT_EQ(0, pfn_file_ids_live());

	/* Arrays put per id, and skip address PFNs. */
	ASSERT_EQ(0, pfn_file_id_get(makedev(7, 7), 1, 2, &a));
	ASSERT_EQ(0, pfn_file_id_get(makedev(7, 7), 2, 1, &b));
	pfns[0] = pfn_make_file(a, 3);
	pfns[1] = 0x1234;
	pfns[2] = pfn_make_file(b, 9);
	pfns[3] = pfn_make_file(a, 4);
	pfn_put_pfns(pfns, 4);
	ASSERT_EQ(0, pfn_file_ids_live());
	/* Address PFNs hold nothing. */
	pfn_put_run(0x1234, 100);
}

TEST(file_ids_run_out)
{
	u32 id, i;

	for (i = 1; i <= PFN_FILE_ID_MAX; i++) {
		ASSERT_EQ(0, pfn_file_id_get(makedev(3, 3), i, 1, &id));
		ASSERT_EQ(i, id);
	}
	err_reason_clear();
	ASSERT_EQ(-ENOSPC, pfn_file_id_get(makedev(3, 4), 1, 1, &id));
	ASSERT_TRUE(reason_has("file ids"));
	ASSERT_EQ(0, pfn_file_id_get(makedev(3, 3), 77, 1, &id));
	ASSERT_EQ(77, id);
	pfn_file_id_put(77, 2);
	ASSERT_EQ(0, pfn_file_id_get(makedev(3, 4), 1, 1, &id));
	ASSERT_EQ(77, id);
	for (i = 1; i <= PFN_FILE_ID_MAX; i++)
		pfn_file_id_put(i, 1);
	ASSERT_EQ(0, pfn_file_ids_live());
}

/* ---- populating without MADV_POPULATE_* ---- */

TEST(populate_by_touching)
{
	char *p = map_anon(4, PROT_READ | PROT_WRITE);
	char *ro = map_anon(1, PROT_READ);
	struct pfn_source *src = user_src(p, 4 * PS);
	struct pfn_source *rsrc = user_src(ro, PS);
	u64 pfns[4];

	pfn_populate_force_touch(true);
	p[3 * PS + 1] = 'k';
	ASSERT_EQ(1, resident_pages(p, 4));
	ASSERT_EQ(0, src->ops->pin(src, 0, 2, false, pfns));
	ASSERT_EQ(3, resident_pages(p, 4));
	ASSERT_EQ(0, src->ops->pin(src, 2, 2, true, pfns + 2));
	ASSERT_EQ(4, resident_pages(p, 4));
	/* Touching for write leaves the bytes as they were. */
	ASSERT_EQ(0, p[3 * PS]);
	ASSERT_EQ('k', p[3 * PS + 1]);
	src->ops->unpin(src, pfns[0], 4);

	/* The access checks come first: this must not fault. */
	ASSERT_EQ(-EFAULT, rsrc->ops->pin(rsrc, 0, 1, true, pfns));
	ASSERT_EQ(0, rsrc->ops->pin(rsrc, 0, 1, false, pfns));
	ASSERT_EQ(1, resident_pages(ro, 1));
	rsrc->ops->unpin(rsrc, pfns[0], 1);
	pfn_populate_force_touch(false);

	pfn_source_destroy(src);
	pfn_source_destroy(rsrc);
	munmap(p, 4 * PS);
	munmap(ro, PS);
}

#define PAGEMAP_PRESENT (1ULL << 63)
#define PAGEMAP_FILE (1ULL << 61)

/* Unprivileged bits of /proc/self/pagemap for the page at @p. */
static u64 pagemap_flags(const void *p)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	u64 entry = 0;

	ASSERT_GE(fd, 0);
	ASSERT_EQ(sizeof(entry), pread(fd, &entry, sizeof(entry),
				       ((uintptr_t)p >> PAGE_SHIFT) * 8));
	close(fd);
	return entry & (PAGEMAP_PRESENT | PAGEMAP_FILE);
}

/*
 * In a private file mapping a read fault maps the file's page and a write
 * fault a private copy: pagemap tells which a pin did, by madvise or by
 * touching.
 */
TEST(write_pin_breaks_cow_read_pin_does_not)
{
	static char data[4 * PS];
	int fd = memfd_pages(4);

	memset(data, 'q', sizeof(data));
	ASSERT_EQ(sizeof(data), pwrite(fd, data, sizeof(data), 0));
	for (int touch = 0; touch != 2; touch++) {
		char *p = mmap(NULL, 4 * PS, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE, fd, 0);
		struct pfn_source *src = user_src(p, 4 * PS);
		u64 rd[2], wr[3];

		ASSERT_TRUE(p != MAP_FAILED);
		pfn_populate_force_touch(touch);
		ASSERT_EQ(0, pagemap_flags(p));
		ASSERT_EQ(0, src->ops->pin(src, 0, 2, false, rd));
		ASSERT_EQ(PAGEMAP_PRESENT | PAGEMAP_FILE, pagemap_flags(p));
		ASSERT_EQ(PAGEMAP_PRESENT | PAGEMAP_FILE,
			  pagemap_flags(p + PS));
		ASSERT_EQ(0, src->ops->pin(src, 1, 3, true, wr));
		ASSERT_EQ(PAGEMAP_PRESENT | PAGEMAP_FILE, pagemap_flags(p));
		for (int i = 1; i != 4; i++) {
			ASSERT_EQ(PAGEMAP_PRESENT, pagemap_flags(p + i * PS));
			ASSERT_EQ('q', p[i * PS]);
		}
		src->ops->unpin(src, rd[0], 2);
		src->ops->unpin(src, wr[0], 3);
		pfn_source_destroy(src);
		munmap(p, 4 * PS);
	}
	close(fd);
}

/* ---- /proc/self/maps ---- */

static unsigned int walk(u64 start, u64 last, struct proc_maps_vma *vmas,
			 unsigned int max)
{
	struct proc_maps_iter it;
	unsigned int n = 0;
	int rc;

	ASSERT_EQ(0, proc_maps_open(&it, start, last));
	while ((rc = proc_maps_next(&it, &vmas[n])) == 1)
		ASSERT_LT(++n, max);
	proc_maps_close(&it);
	ASSERT_EQ(0, rc);
	return n;
}

/* Each walk test runs on PROCMAP_QUERY (where the kernel has it) and text. */
static void finds_each_vma(void)
{
	char *guard = map_anon(5, PROT_NONE);
	char *p = guard + PS;
	int fd = memfd_pages(3);
	struct proc_maps_vma vmas[8], vma;
	struct stat st;
	uintptr_t a = (uintptr_t)p;

	ASSERT_EQ(0, mprotect(p, 3 * PS, PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, mprotect(p + PS, PS, PROT_READ));

	ASSERT_EQ(3, walk(a, a + 3 * PS - 1, vmas, 8));
	ASSERT_EQ(a, vmas[0].start);
	ASSERT_EQ(a + PS, vmas[0].end);
	ASSERT_EQ(PROT_READ | PROT_WRITE, vmas[0].prot);
	ASSERT_EQ(a + PS, vmas[1].start);
	ASSERT_EQ(a + 2 * PS, vmas[1].end);
	ASSERT_EQ(PROT_READ, vmas[1].prot);
	ASSERT_EQ(a + 2 * PS, vmas[2].start);
	ASSERT_EQ(a + 3 * PS, vmas[2].end);
	ASSERT_EQ(PROT_READ | PROT_WRITE, vmas[2].prot);
	for (int i = 0; i != 3; i++) {
		ASSERT_FALSE(vmas[i].shared);
		ASSERT_EQ(0, vmas[i].ino);
	}
	/* Partial overlap at both ends still counts. */
	ASSERT_EQ(2, walk(a + PS - 1, a + PS, vmas, 8));
	ASSERT_EQ(1, walk(a + PS + 5, a + PS + 6, vmas, 8));
	ASSERT_EQ(PROT_READ, vmas[0].prot);
	ASSERT_EQ(5, walk((uintptr_t)guard, a + 4 * PS - 1, vmas, 8));
	ASSERT_EQ(0, vmas[0].prot);

	/* A shared file mapping: device, inode, offset. */
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_TRUE(mmap(p + PS, PS, PROT_READ, MAP_SHARED | MAP_FIXED, fd,
			 2 * PS) != MAP_FAILED);
	ASSERT_EQ(0, proc_maps_find(a + PS + 100, &vma));
	ASSERT_EQ(a + PS, vma.start);
	ASSERT_TRUE(vma.shared);
	ASSERT_EQ(PROT_READ, vma.prot);
	ASSERT_EQ(2 * PS, vma.offset);
	ASSERT_EQ(st.st_ino, vma.ino);
	ASSERT_EQ(st.st_dev, vma.dev);

	ASSERT_EQ(0, munmap(p + PS, PS));
	err_reason_clear();
	ASSERT_EQ(-EFAULT, proc_maps_find(a + PS, &vma));
	ASSERT_TRUE(reason_has("not mapped"));
	ASSERT_EQ(0, walk(a + PS, a + 2 * PS - 1, vmas, 8));
	munmap(guard, 5 * PS);
	close(fd);
}

#define LONG_NAME_LEN 200

struct long_path {
	char base[256];
	int dirfds[64];
	unsigned int depth;
	size_t len;
};

/* A file whose path is longer than the reader's buffer. */
static int long_path_file(struct long_path *lp)
{
	const char *tmp = getenv("TMPDIR");
	char name[LONG_NAME_LEN + 1];
	int fd;

	memset(name, 'd', LONG_NAME_LEN);
	name[LONG_NAME_LEN] = 0;
	snprintf(lp->base, sizeof(lp->base), "%s/pfn-maps-XXXXXX",
		 tmp ? tmp : "/tmp");
	ASSERT_NONNULL(mkdtemp(lp->base));
	lp->dirfds[0] = open(lp->base, O_DIRECTORY | O_RDONLY);
	ASSERT_GE(lp->dirfds[0], 0);
	lp->len = strlen(lp->base);
	/* openat() chains, so the path may even pass PATH_MAX. */
	for (lp->depth = 1; lp->len <= PROC_MAPS_BUF_SIZE + LONG_NAME_LEN;
	     lp->depth++) {
		ASSERT_LT(lp->depth, ARRAY_SIZE(lp->dirfds));
		ASSERT_EQ(0, mkdirat(lp->dirfds[lp->depth - 1], name, 0700));
		lp->dirfds[lp->depth] = openat(lp->dirfds[lp->depth - 1], name,
					       O_DIRECTORY | O_RDONLY);
		ASSERT_GE(lp->dirfds[lp->depth], 0);
		lp->len += 1 + LONG_NAME_LEN;
	}
	fd = openat(lp->dirfds[lp->depth - 1], "f", O_RDWR | O_CREAT, 0600);
	ASSERT_GE(fd, 0);
	ASSERT_GT(lp->len, PROC_MAPS_BUF_SIZE);
	return fd;
}

static void long_path_remove(struct long_path *lp)
{
	char name[LONG_NAME_LEN + 1];

	memset(name, 'd', LONG_NAME_LEN);
	name[LONG_NAME_LEN] = 0;
	unlinkat(lp->dirfds[lp->depth - 1], "f", 0);
	for (unsigned int i = lp->depth - 1; i; i--) {
		close(lp->dirfds[i]);
		unlinkat(lp->dirfds[i - 1], name, AT_REMOVEDIR);
	}
	close(lp->dirfds[0]);
	rmdir(lp->base);
}

static void lines_longer_than_buffer(void)
{
	struct long_path lp;
	struct proc_maps_vma vmas[16];
	int fd = long_path_file(&lp);
	char *guard = map_anon(11, PROT_NONE);
	uintptr_t a = (uintptr_t)guard + PS;
	struct stat st;

	ASSERT_EQ(0, ftruncate(fd, 8 * PS));
	ASSERT_EQ(0, fstat(fd, &st));
	/* Eight long lines in a row (alternate protections split them). */
	ASSERT_TRUE(mmap((void *)a, 8 * PS, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, fd, 0) != MAP_FAILED);
	for (int i = 1; i < 8; i += 2)
		ASSERT_EQ(0, mprotect((void *)(a + i * PS), PS, PROT_READ));
	ASSERT_TRUE(mmap((void *)(a + 8 * PS), PS, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
			 0) != MAP_FAILED);

	ASSERT_EQ(9, walk(a, a + 9 * PS - 1, vmas, 16));
	for (int i = 0; i != 8; i++) {
		ASSERT_EQ(a + i * PS, vmas[i].start);
		ASSERT_EQ(a + (i + 1) * PS, vmas[i].end);
		ASSERT_EQ(i * PS, vmas[i].offset);
		/* st_dev can differ from the maps' device (btrfs). */
		ASSERT_EQ(st.st_ino, vmas[i].ino);
		ASSERT_TRUE(vmas[i].shared);
		ASSERT_EQ(i & 1 ? PROT_READ : PROT_READ | PROT_WRITE,
			  vmas[i].prot);
	}
	/* The line after the long ones parses from its first byte. */
	ASSERT_EQ(a + 8 * PS, vmas[8].start);
	ASSERT_EQ(PROT_READ, vmas[8].prot);
	ASSERT_EQ(0, vmas[8].ino);
	ASSERT_FALSE(vmas[8].shared);

	munmap(guard, 11 * PS);
	close(fd);
	long_path_remove(&lp);
}

/* ---- threads ---- */

struct thread_arg {
	struct pfn_source *src;	/* 16 pages of memfd A */
	int fd_b;		/* memfd B: ids come and go */
	char *b;		/* a user mapping of B */
	unsigned int nr;
	u64 iterations;
	u32 id_a;
};

static void *pin_thread(void *arg)
{
	struct thread_arg *ta = arg;
	struct pfn_source *bsrc = user_src(ta->b, 2 * PS);
	u64 pfns[16];

	for (u64 it = 0; it != ta->iterations; it++) {
		u64 index = (it * 3 + ta->nr) % 8, n = 1 + (it + ta->nr) % 8;

		ASSERT_EQ(0,
			  ta->src->ops->pin(ta->src, index, n, it & 1, pfns));
		expect_file_pfns(pfns, n, ta->id_a, index);
		ta->src->ops->unpin(ta->src, pfns[0], n);

		if (ta->nr & 1) {
			struct pfn_source *f =
				pfn_source_file_create(ta->fd_b, 0, PS, true);

			ASSERT_FALSE(IS_ERR(f));
			pfn_source_destroy(f);
		} else {
			ASSERT_EQ(0, bsrc->ops->pin(bsrc, 0, 2, true, pfns));
			ASSERT_EQ(pfn_file_id(pfns[0]), pfn_file_id(pfns[1]));
			bsrc->ops->unpin(bsrc, pfns[0], 2);
		}
	}
	pfn_source_destroy(bsrc);
	return NULL;
}

TEST(threads_pin_and_unpin_shared_files)
{
	int fa = memfd_pages(16), fb = memfd_pages(2);
	char *a = map_file(fa, 16, 0, PROT_READ | PROT_WRITE);
	char *b = map_file(fb, 2, 0, PROT_READ | PROT_WRITE);
	struct pfn_source *src = user_src(a, 16 * PS);
	struct thread_arg args[4];
	pthread_t threads[4];
	u64 pfns[1];

	/* Hold A's id so every thread sees the same one. */
	ASSERT_EQ(0, src->ops->pin(src, 15, 1, false, pfns));
	for (unsigned int i = 0; i != 4; i++) {
		args[i] = (struct thread_arg){
			.src = src,
			.fd_b = fb,
			.b = b,
			.nr = i,
			.iterations = test_iterations(200),
			.id_a = pfn_file_id(pfns[0]),
		};
		ASSERT_EQ(0, pthread_create(&threads[i], NULL, pin_thread,
					    &args[i]));
	}
	for (unsigned int i = 0; i != 4; i++)
		ASSERT_EQ(0, pthread_join(threads[i], NULL));
	ASSERT_EQ(1, pfn_file_id_refs(pfn_file_id(pfns[0])));
	ASSERT_EQ(1, pfn_file_ids_live());
	src->ops->unpin(src, pfns[0], 1);
	ASSERT_EQ(0, pfn_file_ids_live());
	pfn_source_destroy(src);
	munmap(a, 16 * PS);
	munmap(b, 2 * PS);
	close(fa);
	close(fb);
}

TEST(proc_maps_finds_each_vma)
{
	finds_each_vma();
}

TEST(proc_maps_finds_each_vma_text)
{
	proc_maps_force_text(true);
	finds_each_vma();
}

TEST(proc_maps_lines_longer_than_buffer)
{
	lines_longer_than_buffer();
}

TEST(proc_maps_lines_longer_than_buffer_text)
{
	proc_maps_force_text(true);
	lines_longer_than_buffer();
}

/* Pinning names pages the same whichever way the VMAs are read. */
TEST(pin_identity_same_with_text_maps)
{
	int fd = memfd_pages(4);
	char *p = mmap(NULL, 4 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	struct pfn_source *src;
	u64 a[4], b[4];

	ASSERT_TRUE(p != MAP_FAILED);
	src = pfn_source_user_create((uintptr_t)p, 4 * PS);
	ASSERT_FALSE(IS_ERR(src));
	ASSERT_EQ(0, src->ops->pin(src, 0, 4, true, a));
	proc_maps_force_text(true);
	ASSERT_EQ(0, src->ops->pin(src, 0, 4, true, b));
	proc_maps_force_text(false);
	ASSERT_EQ(0, memcmp(a, b, sizeof(a)));
	ASSERT_TRUE(pfn_is_file(a[0]));
	for (int i = 0; i != 4; i++) {
		src->ops->unpin(src, a[i], 1);
		src->ops->unpin(src, b[i], 1);
	}
	pfn_source_destroy(src);
	munmap(p, 4 * PS);
	close(fd);
}
