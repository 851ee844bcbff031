// SPDX-License-Identifier: GPL-2.0
/*
 * fuse_bench: a "null" FUSE server and a sequential client, to measure what
 * /dev/fuse costs per byte.
 *
 *   fuse_bench [harness options]   its tests: every variant moves the
 *                                  right bytes (kselftest harness, TAP)
 *   fuse_bench bench [MiB]         the matrix: read and write, through the
 *                                  page cache and with FOPEN_DIRECT_IO,
 *                                  4 KiB to 1 MiB per call, 1 and 2 server
 *                                  threads, and /dev/fuse read into and
 *                                  written from ~1 KiB iovecs; @MiB (8)
 *                                  per point. One "BENCH fuse ..." line
 *                                  and one TAP line per point.
 *
 * The server has no backing store and does no work per byte: READ is
 * answered with writev() of the header and a slice of a pattern buffer
 * filled once, WRITE is acknowledged after its length is checked (and, for
 * the transfer before each timed loop, its bytes). So nearly all the
 * instructions a point costs are the kernel's: the client's and the
 * server's own are a few hundred per call and per request, the same code
 * on every kernel.
 *
 * Under QEMU -icount shift=0 the guest's clock advances one nanosecond per
 * instruction: the lab runs the bench that way to count instructions, and
 * without -icount to measure throughput.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fuselab.h"
#include "kselftest_harness.h"

#define NB_PERIOD	65536u		/* the pattern repeats every 64 KiB */
#define NB_MAX		(1u << 20)	/* max_pages 256 */
#define NB_FILE_SIZE	(1u << 30)
#define NB_PIECE	1028u		/* ~1 KiB, not a divisor of the page */
#define NB_READ_FILE	0
#define NB_WRITE_FILE	1

struct nb_variant {
	bool dio;		/* FOPEN_DIRECT_IO, else the page cache */
	bool vec;		/* /dev/fuse through ~1 KiB iovecs */
	unsigned int nthreads;	/* server threads */
};

struct nb {
	struct fl_fs *fs;
	struct nb_variant v;
	unsigned char *pat;	/* NB_PERIOD + NB_MAX bytes of pattern */
	atomic_int verify;	/* check the bytes of WRITEs */
	atomic_ulong requests, max_req, bad_writes;
	atomic_int err;		/* the first error that ended a server thread */
};

/* The byte the null file holds at @off. */
static unsigned char nb_byte(uint64_t off)
{
	return fl_pattern(off % NB_PERIOD, 1);
}

/* Offset of the first byte of @p that is not the file's at @off, or -1. */
static long nb_check(const unsigned char *p, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != nb_byte(off + i))
			return i;
	return -1;
}

static void nb_count(struct nb *nb, size_t len)
{
	unsigned long m = atomic_load(&nb->max_req);

	atomic_fetch_add(&nb->requests, 1);
	while (len > m && !atomic_compare_exchange_weak(&nb->max_req, &m, len))
		;
}

/* Reply to READ with @len bytes of the file at @off: no copy, no loop over bytes. */
static int nb_read_reply(struct nb *nb, uint64_t unique, uint64_t off,
			 size_t len)
{
	struct fuse_out_header oh = {
		.len = sizeof(oh) + len, .unique = unique,
	};
	struct iovec iov[2 + NB_MAX / NB_PIECE];
	unsigned char *p = nb->pat + off % NB_PERIOD;
	unsigned int n = 1;
	size_t done = 0;
	ssize_t w;

	iov[0].iov_base = &oh;
	iov[0].iov_len = sizeof(oh);
	while (done < len) {
		size_t c = nb->v.vec ? NB_PIECE : len;

		if (c > len - done)
			c = len - done;
		iov[n].iov_base = p + done;
		iov[n].iov_len = c;
		done += c;
		n++;
	}
	w = writev(nb->fs->fd, iov, n);
	if (w < 0)
		return -errno;
	return (size_t)w == oh.len ? 0 : -EIO;
}

/* Check the payload of a WRITE, which may be spread over the iovecs. */
static bool nb_write_ok(struct fl_buf *b, bool vec, size_t hdr, size_t len,
			uint64_t off)
{
	size_t skip = hdr, done = 0;

	if (!vec)
		return nb_check(b->base + hdr, len, off) < 0;
	for (unsigned int i = 0; i < b->niov && done < len; i++) {
		size_t c = b->iov[i].iov_len;
		unsigned char *p = b->iov[i].iov_base;

		if (skip >= c) {
			skip -= c;
			continue;
		}
		p += skip;
		c -= skip;
		skip = 0;
		if (c > len - done)
			c = len - done;
		if (nb_check(p, c, off + done) >= 0)
			return false;
		done += c;
	}
	return done == len;
}

static int nb_write_reply(struct nb *nb, struct fl_buf *b,
			  const struct fuse_in_header *in, size_t n)
{
	const struct fuse_write_in *w = (const void *)(in + 1);
	size_t hdr = sizeof(*in) + sizeof(*w);
	struct {
		struct fuse_out_header oh;
		struct fuse_write_out wo;
	} r = {
		.oh = { .len = sizeof(r), .unique = in->unique },
		.wo = { .size = w->size },
	};

	if (n != hdr + w->size || w->size > NB_MAX) {
		r.oh.error = -EIO;
		r.oh.len = sizeof(r.oh);
		atomic_fetch_add(&nb->bad_writes, 1);
	} else if (atomic_load(&nb->verify) &&
		   !nb_write_ok(b, nb->v.vec, hdr, w->size, w->offset)) {
		r.oh.error = -EIO;
		r.oh.len = sizeof(r.oh);
		atomic_fetch_add(&nb->bad_writes, 1);
	}
	if (write(nb->fs->fd, &r, r.oh.len) != (ssize_t)r.oh.len)
		return -errno;
	return 0;
}

/* Write a reply of @len payload bytes at @data, in one piece. */
static int nb_reply(struct fl_fs *fs, uint64_t unique, int error,
		    const void *data, size_t len)
{
	struct fuse_out_header oh = {
		.len = sizeof(oh) + len, .error = error, .unique = unique,
	};
	struct iovec iov[2] = {
		{ &oh, sizeof(oh) }, { (void *)data, len },
	};

	if (writev(fs->fd, iov, len ? 2 : 1) != (ssize_t)oh.len)
		return errno == ENOENT ? 0 : -errno;
	return 0;
}

static void nb_attr(uint64_t nodeid, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = nodeid;
	a->blksize = FL_PAGE;
	a->nlink = 1;
	if (nodeid == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
		return;
	}
	a->mode = S_IFREG | 0666;
	a->size = NB_FILE_SIZE;
	a->blocks = NB_FILE_SIZE / 512;
}

/* Everything but READ and WRITE: two files, f0 and f1, in the root. */
static int nb_other(struct fl_fs *fs, const struct fuse_in_header *in)
{
	union {
		struct fuse_entry_out e;
		struct fuse_attr_out a;
		struct fuse_open_out o;
	} r;
	const char *name = (const char *)(in + 1);

	memset(&r, 0, sizeof(r));
	switch (in->opcode) {
	case FUSE_LOOKUP:
		if (in->nodeid != FUSE_ROOT_ID || name[0] != 'f' ||
		    (name[1] != '0' && name[1] != '1') || name[2])
			return nb_reply(fs, in->unique, -ENOENT, NULL, 0);
		r.e.nodeid = 2 + name[1] - '0';
		r.e.generation = 1;
		r.e.entry_valid = 3600;
		r.e.attr_valid = 3600;
		nb_attr(r.e.nodeid, &r.e.attr);
		return nb_reply(fs, in->unique, 0, &r.e, sizeof(r.e));
	case FUSE_GETATTR:
	case FUSE_SETATTR:
		r.a.attr_valid = 3600;
		nb_attr(in->nodeid, &r.a.attr);
		return nb_reply(fs, in->unique, 0, &r.a, sizeof(r.a));
	case FUSE_OPEN:
	case FUSE_OPENDIR:
		r.o.fh = in->nodeid;
		if (in->opcode == FUSE_OPEN && fs->cfg.direct_io)
			r.o.open_flags = FOPEN_DIRECT_IO;
		return nb_reply(fs, in->unique, 0, &r.o, sizeof(r.o));
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		return 0;
	case FUSE_FLUSH:
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
	case FUSE_FSYNC:
	case FUSE_DESTROY:
		return nb_reply(fs, in->unique, 0, NULL, 0);
	default:
		return nb_reply(fs, in->unique, -ENOSYS, NULL, 0);
	}
}

static void *nb_serve(void *arg)
{
	struct nb *nb = arg;
	struct fl_fs *fs = nb->fs;
	struct fl_buf b;
	intptr_t err;

	err = fl_buf_init(fs, &b);
	if (!err && b.niov && b.iov[0].iov_len < 256)
		err = -EINVAL;
	atomic_fetch_add(&fs->started, 1);
	while (!err && !atomic_load(&fs->stop)) {
		uint64_t hdr[32];	/* aligned: 256 bytes */
		const struct fuse_in_header *in;
		ssize_t n;

		if (b.niov)
			n = readv(fs->fd, b.iov, b.niov);
		else
			n = read(fs->fd, b.base, fl_buf_size(fs));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			err = errno == ENODEV ? 0 : -errno;
			break;
		}
		/*
		 * The header, and any request but WRITE's payload, is in the
		 * first piece, which starts at an odd address: copy it out
		 * (ARMv5 cannot load a u64 from there).
		 */
		in = (const void *)b.base;
		if (b.niov) {
			memcpy(hdr, b.iov[0].iov_base,
			       n < (ssize_t)sizeof(hdr) ? (size_t)n : sizeof(hdr));
			in = (const void *)hdr;
		}
		if ((size_t)n < sizeof(*in) || in->len != (size_t)n ||
		    (b.niov && in->opcode != FUSE_WRITE && (size_t)n > sizeof(hdr))) {
			err = -EPROTO;
			break;
		}
		if (in->opcode == FUSE_READ) {
			const struct fuse_read_in *r = (const void *)(in + 1);

			nb_count(nb, r->size);
			err = nb_read_reply(nb, in->unique, r->offset, r->size);
		} else if (in->opcode == FUSE_WRITE) {
			nb_count(nb, n - sizeof(*in) - sizeof(struct fuse_write_in));
			err = nb_write_reply(nb, &b, in, n);
		} else {
			err = nb_other(fs, in);
		}
		if (err == -ENOENT)	/* interrupted meanwhile */
			err = 0;
	}
	fl_buf_free(&b);
	if (err && !atomic_load(&fs->stop)) {
		int zero = 0;

		/* no client may wait for a server that is gone */
		atomic_compare_exchange_strong(&nb->err, &zero, (int)err);
		fl_abort(fs);
	}
	return (void *)err;
}

static struct nb *nb_start(const struct nb_variant *v)
{
	struct fl_config cfg = {
		.max_pages = NB_MAX / FL_PAGE,
		.direct_io = v->dio,
		.xport = v->vec ? FL_XP_VEC : FL_XP_RW,
		.niov = v->vec ? IOV_MAX : 1,
	};
	struct nb *nb = calloc(1, sizeof(*nb));
	int err = 0;

	if (!nb)
		return NULL;
	nb->v = *v;
	nb->pat = malloc(NB_PERIOD + NB_MAX);
	nb->fs = fl_mount(&cfg);
	if (!nb->pat || !nb->fs)
		goto fail;
	for (size_t i = 0; i < NB_PERIOD + NB_MAX; i++)
		nb->pat[i] = nb_byte(i);
	for (nb->fs->nthr = 0; nb->fs->nthr < v->nthreads; nb->fs->nthr++)
		if (pthread_create(&nb->fs->thr[nb->fs->nthr], NULL, nb_serve, nb))
			goto fail;
	while (atomic_load(&nb->fs->started) < (int)v->nthreads)
		fl_sleep_ms(1);
	return nb;
fail:
	err = errno;
	if (nb->fs)
		fl_destroy(nb->fs);
	free(nb->pat);
	free(nb);
	errno = err;
	return NULL;
}

/* Stop the server; the first error of its threads, or 0. */
static int nb_stop(struct nb *nb)
{
	intptr_t err = 0, e;
	unsigned int i;

	atomic_store(&nb->fs->stop, 1);
	umount2(nb->fs->mnt, MNT_DETACH);
	fl_abort(nb->fs);
	for (i = 0; i < nb->fs->nthr; i++) {
		void *ret;

		pthread_join(nb->fs->thr[i], &ret);
		e = (intptr_t)ret;
		if (e && e != -ECONNABORTED && !err)
			err = e;
	}
	nb->fs->nthr = 0;
	fl_destroy(nb->fs);
	free(nb->pat);
	free(nb);
	return err;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

struct nb_point {
	bool write;
	size_t size;		/* bytes per read()/write() */
	size_t total;		/* bytes timed */
	/* results */
	uint64_t ns, requests, max_req;
	char why[160];		/* set on failure */
};

/*
 * One point: a verified transfer, then @total bytes timed, sequentially,
 * from a file offset no earlier point used (so that nothing is cached),
 * then the last buffer verified (reads).
 */
static int nb_run(struct nb *nb, struct nb_point *pt, uint64_t *cursor)
{
	unsigned int calls = pt->total / pt->size;
	int fd, flags = pt->write ? O_WRONLY : O_RDONLY;
	unsigned char *buf;
	uint64_t off, first, t0;
	char path[96];
	long bad;
	ssize_t n;

	buf = mmap(NULL, 2 * pt->size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (buf == MAP_FAILED)
		return snprintf(pt->why, sizeof(pt->why), "mmap: %m"), -1;
	fl_path(nb->fs, pt->write ? NB_WRITE_FILE : NB_READ_FILE, path, sizeof(path));
	fd = open(path, flags);
	if (fd < 0) {
		snprintf(pt->why, sizeof(pt->why), "open %s: %m", path);
		goto out;
	}
	if (*cursor + (uint64_t)(calls + 1) * pt->size > NB_FILE_SIZE)
		*cursor = 0;
	off = *cursor;
	*cursor += (uint64_t)(calls + 1) * pt->size;
	/* writes: one verified by the server first, untimed */
	if (pt->write) {
		for (size_t i = 0; i < pt->size; i++)
			buf[i] = nb_byte(off + i);
		atomic_store(&nb->verify, 1);
		n = pwrite(fd, buf, pt->size, off);
		atomic_store(&nb->verify, 0);
		if (n != (ssize_t)pt->size || atomic_load(&nb->bad_writes)) {
			snprintf(pt->why, sizeof(pt->why),
				 "first write: %zd (%m), %lu bad WRITEs", n,
				 atomic_load(&nb->bad_writes));
			goto out_close;
		}
		off += pt->size;
	}
	/* reads: the first call's buffer and the last one's are checked */
	first = off;
	atomic_store(&nb->requests, 0);
	atomic_store(&nb->max_req, 0);
	t0 = now_ns();
	for (unsigned int i = 0; i < calls; i++, off += pt->size) {
		unsigned char *p = i ? buf : buf + pt->size;

		n = pt->write ? pwrite(fd, p, pt->size, off) :
				pread(fd, p, pt->size, off);
		if (n != (ssize_t)pt->size) {
			snprintf(pt->why, sizeof(pt->why), "%s %u at %llu: %zd (%m)",
				 pt->write ? "write" : "read", i,
				 (unsigned long long)off, n);
			goto out_close;
		}
	}
	pt->ns = now_ns() - t0;
	pt->requests = atomic_load(&nb->requests);
	pt->max_req = atomic_load(&nb->max_req);
	if (!pt->write && (bad = nb_check(buf + pt->size, pt->size, first)) >= 0)
		snprintf(pt->why, sizeof(pt->why), "first read: byte %ld differs", bad);
	off -= pt->size;
	if (!pt->write && calls > 1 && (bad = nb_check(buf, pt->size, off)) >= 0)
		snprintf(pt->why, sizeof(pt->why), "last read: byte %ld differs", bad);
	if (atomic_load(&nb->bad_writes))
		snprintf(pt->why, sizeof(pt->why), "%lu bad WRITE requests",
			 atomic_load(&nb->bad_writes));
out_close:
	/* leave nothing cached for the next point */
	if (!nb->v.dio)
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
out:
	munmap(buf, 2 * pt->size);
	if (!pt->why[0] && atomic_load(&nb->err))
		snprintf(pt->why, sizeof(pt->why), "a server thread ended: %s",
			 strerror(-atomic_load(&nb->err)));
	else if (pt->why[0] && atomic_load(&nb->err))
		snprintf(pt->why + strlen(pt->why), sizeof(pt->why) - strlen(pt->why),
			 "; a server thread ended: %s", strerror(-atomic_load(&nb->err)));
	return pt->why[0] ? -1 : 0;
}

/* ------------------------------------------------------------------ tests */

FIXTURE(nbt) {
	struct nb *nb;
	uint64_t cursor;
};

FIXTURE_VARIANT(nbt) {
	struct nb_variant v;
};

FIXTURE_VARIANT_ADD(nbt, cache_t1) { .v = { .nthreads = 1 } };
FIXTURE_VARIANT_ADD(nbt, cache_t2) { .v = { .nthreads = 2 } };
FIXTURE_VARIANT_ADD(nbt, cache_vec) { .v = { .vec = true, .nthreads = 1 } };
FIXTURE_VARIANT_ADD(nbt, dio_t1) { .v = { .dio = true, .nthreads = 1 } };
FIXTURE_VARIANT_ADD(nbt, dio_t2) { .v = { .dio = true, .nthreads = 2 } };
FIXTURE_VARIANT_ADD(nbt, dio_vec) { .v = { .dio = true, .vec = true, .nthreads = 1 } };

FIXTURE_SETUP(nbt)
{
	self->cursor = 0;
	self->nb = nb_start(&variant->v);
	ASSERT_TRUE(self->nb != NULL) TH_LOG("null server: %s", strerror(errno));
}

FIXTURE_TEARDOWN(nbt)
{
	if (self->nb)
		EXPECT_EQ(0, nb_stop(self->nb));
}

static void nbt_sizes(struct __test_metadata *_metadata, struct nb *nb,
		      uint64_t *cursor, bool write)
{
	static const size_t sizes[] = { 4096, 65536, NB_MAX };

	for (unsigned int i = 0; i < 3; i++) {
		struct nb_point pt = {
			.write = write, .size = sizes[i], .total = 2 * sizes[i],
		};

		ASSERT_EQ(0, nb_run(nb, &pt, cursor)) TH_LOG("%zu: %s", sizes[i], pt.why);
		/* FOPEN_DIRECT_IO: one request per call, of the call's size */
		if (nb->v.dio || write) {
			ASSERT_EQ(2u, pt.requests);
			ASSERT_EQ(sizes[i], pt.max_req);
		}
	}
}

TEST_F(nbt, reads_carry_the_pattern)
{
	nbt_sizes(_metadata, self->nb, &self->cursor, false);
}

TEST_F(nbt, writes_arrive_whole)
{
	nbt_sizes(_metadata, self->nb, &self->cursor, true);
}

/* The server's check is live: a wrong byte in a verified WRITE fails. */
TEST_F(nbt, a_wrong_byte_written_is_seen)
{
	unsigned char buf[4096];
	char path[96];
	int fd;

	fl_path(self->nb->fs, NB_WRITE_FILE, path, sizeof(path));
	fd = open(path, O_WRONLY);
	ASSERT_LE(0, fd);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = nb_byte(i);
	buf[100] ^= 1;
	atomic_store(&self->nb->verify, 1);
	ASSERT_EQ(-1, pwrite(fd, buf, sizeof(buf), 0));
	ASSERT_EQ(EIO, errno);
	atomic_store(&self->nb->verify, 0);
	ASSERT_EQ(1ul, atomic_load(&self->nb->bad_writes));
	atomic_store(&self->nb->bad_writes, 0);
	close(fd);
}

/* ------------------------------------------------------------------ bench */

static int bench(size_t mib)
{
	static const size_t sizes[] = { 4096, 16384, 65536, 262144, NB_MAX };
	static const struct { const char *name; struct nb_variant v; } vs[] = {
		{ "cache/t1", { .nthreads = 1 } },
		{ "cache/t2", { .nthreads = 2 } },
		{ "cache/vec", { .vec = true, .nthreads = 1 } },
		{ "dio/t1", { .dio = true, .nthreads = 1 } },
		{ "dio/t2", { .dio = true, .nthreads = 2 } },
		{ "dio/vec", { .dio = true, .vec = true, .nthreads = 1 } },
	};
	const unsigned int nv = sizeof(vs) / sizeof(vs[0]), ns = 5;
	uint64_t cursor = 0;
	int n = 0, failed = 0;

	if (mib < 1 || mib > 256)
		mib = 8;
	printf("TAP version 13\n1..%u\n", nv * 2 * ns + nv);
	for (unsigned int v = 0; v < nv; v++) {
		struct nb *nb = nb_start(&vs[v].v);
		int err;

		if (!nb) {
			printf("Bail out! null server %s: %s\n", vs[v].name, strerror(errno));
			return 1;
		}
		for (int w = 0; w < 2; w++) {
			for (unsigned int s = 0; s < ns; s++) {
				struct nb_point pt = {
					.write = w, .size = sizes[s], .total = mib << 20,
				};
				const char *dir = w ? "write" : "read";

				n++;
				if (nb_run(nb, &pt, &cursor)) {
					failed++;
					printf("not ok %d - %s/%s/%zu\n# %s\n", n, dir,
					       vs[v].name, pt.size, pt.why);
					continue;
				}
				printf("BENCH fuse dir=%s io=%.*s server=%s size=%zu bytes=%zu ns=%llu requests=%llu max_request=%llu\n",
				       dir, vs[v].v.dio ? 3 : 5, vs[v].name,
				       strchr(vs[v].name, '/') + 1, pt.size, pt.total,
				       (unsigned long long)pt.ns,
				       (unsigned long long)pt.requests,
				       (unsigned long long)pt.max_req);
				printf("ok %d - %s/%s/%zu\n# measured: %.3f ns/byte, %llu requests of up to %llu bytes\n",
				       n, dir, vs[v].name, pt.size,
				       (double)pt.ns / pt.total,
				       (unsigned long long)pt.requests,
				       (unsigned long long)pt.max_req);
				fflush(stdout);
			}
		}
		err = nb_stop(nb);
		n++;
		if (err)
			failed++;
		printf("%sok %d - %s/server_stopped_cleanly\n", err ? "not " : "",
		       n, vs[v].name);
		if (err)
			printf("# %s\n", strerror((int)-err));
	}
	return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "bench"))
		return bench(argc > 2 ? strtoul(argv[2], NULL, 0) : 8);
	return test_harness_run(argc, argv);
}
