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
 *                                  Under the cache model (FUSELAB_PLUGIN=
 *                                  cache) each point's timed loop is a
 *                                  window of its own, fuse/DIR/IO/SERVER/
 *                                  SIZE, whose counts the plugin logs.
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
	const char *window;	/* the cache model's window around the timed
				 * loop (FUSELAB_PLUGIN=cache), or NULL */
	/* results */
	uint64_t ns, requests, max_req;
	char why[160];		/* set on failure */
};

/*
 * One point: a verified transfer, then @total bytes timed, sequentially,
 * from a file offset no earlier point used (so that nothing is cached),
 * then the last buffer verified (reads).
 */
static int nb_run(struct fl_null *nb, struct nb_point *pt, uint64_t *cursor)
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
	fl_path(nb->fs, pt->write ? FL_NULL_WRITE_FILE : FL_NULL_READ_FILE, path, sizeof(path));
	fd = open(path, flags);
	if (fd < 0) {
		snprintf(pt->why, sizeof(pt->why), "open %s: %m", path);
		goto out;
	}
	if (*cursor + (uint64_t)(calls + 1) * pt->size > FL_NULL_FILE_SIZE)
		*cursor = 0;
	off = *cursor;
	*cursor += (uint64_t)(calls + 1) * pt->size;
	/* writes: one verified by the server first, untimed */
	if (pt->write) {
		for (size_t i = 0; i < pt->size; i++)
			buf[i] = fl_null_byte(off + i);
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
	if (pt->window)
		fl_alias_open(pt->window, "timing");
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
	if (pt->window)
		fl_alias_close();
	pt->requests = atomic_load(&nb->requests);
	pt->max_req = atomic_load(&nb->max_req);
	if (!pt->write && (bad = fl_null_check(buf + pt->size, pt->size, first)) >= 0)
		snprintf(pt->why, sizeof(pt->why), "first read: byte %ld differs", bad);
	off -= pt->size;
	if (!pt->write && calls > 1 && (bad = fl_null_check(buf, pt->size, off)) >= 0)
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
	struct fl_null *nb;
	uint64_t cursor;
};

FIXTURE_VARIANT(nbt) {
	struct fl_null_variant v;
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
	self->nb = fl_null_start(&variant->v);
	ASSERT_TRUE(self->nb != NULL) TH_LOG("null server: %s", strerror(errno));
}

FIXTURE_TEARDOWN(nbt)
{
	if (self->nb)
		EXPECT_EQ(0, fl_null_stop(self->nb));
}

static void nbt_sizes(struct __test_metadata *_metadata, struct fl_null *nb,
		      uint64_t *cursor, bool write)
{
	static const size_t sizes[] = { 4096, 65536, FL_NULL_MAX };

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

/*
 * 2 reads each of 4 KiB, 64 KiB, 1 MiB: the first and last buffers hold the
 * pattern; with direct I/O, one request per call of the call's size.
 */
TEST_F(nbt, reads_carry_the_pattern)
{
	nbt_sizes(_metadata, self->nb, &self->cursor, false);
}

/*
 * 2 writes each of the same sizes plus one the server verifies byte by byte:
 * one WRITE per call of the call's size, none with a bad length.
 */
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

	fl_path(self->nb->fs, FL_NULL_WRITE_FILE, path, sizeof(path));
	fd = open(path, O_WRONLY);
	ASSERT_LE(0, fd);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = fl_null_byte(i);
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
	static const size_t sizes[] = { 4096, 16384, 65536, 262144, FL_NULL_MAX };
	static const struct { const char *name; struct fl_null_variant v; } vs[] = {
		{ "cache/t1", { .nthreads = 1 } },
		{ "cache/t2", { .nthreads = 2 } },
		{ "cache/vec", { .vec = true, .nthreads = 1 } },
		{ "dio/t1", { .dio = true, .nthreads = 1 } },
		{ "dio/t2", { .dio = true, .nthreads = 2 } },
		{ "dio/vec", { .dio = true, .vec = true, .nthreads = 1 } },
	};
	const unsigned int nv = sizeof(vs) / sizeof(vs[0]), ns = 5;
	const char *plugin = getenv("FUSELAB_PLUGIN");
	bool windows = plugin && !strcmp(plugin, "cache");
	uint64_t cursor = 0;
	int n = 0, failed = 0;

	if (mib < 1 || mib > 256)
		mib = 8;
	printf("TAP version 13\n1..%u\n", nv * 2 * ns + nv);
	for (unsigned int v = 0; v < nv; v++) {
		struct fl_null *nb = fl_null_start(&vs[v].v);
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
				char window[64];

				snprintf(window, sizeof(window), "fuse/%s/%s/%zu",
					 dir, vs[v].name, pt.size);
				if (windows)
					pt.window = window;
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
		err = fl_null_stop(nb);
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
