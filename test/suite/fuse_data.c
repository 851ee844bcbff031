// SPDX-License-Identifier: GPL-2.0
/*
 * Data integrity through the page cache and with FOPEN_DIRECT_IO,
 * 1 byte to several MiB at unaligned file offsets and unaligned client
 * buffers, with max_pages up to 256 (1 MiB requests).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/stat.h>

#include "fuselab.h"
#include "kselftest_harness.h"

static const size_t sizes[] = {
	1, 2, 511, 4095, 4096, 4097, 65535, 131073,
	(1u << 20) - 1, 1u << 20, (1u << 20) + 3, (3u << 20) + 5,
};
static const size_t offsets[] = { 0, 1, 4093, (1u << 20) - 1 };

FIXTURE(data) {
	struct fl_fs *fs;
	unsigned char *buf;	/* client buffer, deliberately misaligned */
	size_t buflen;
};

FIXTURE_VARIANT(data) {
	bool direct_io;
	unsigned int max_pages;
};

FIXTURE_VARIANT_ADD(data, cached_256) { .direct_io = false, .max_pages = 256 };
FIXTURE_VARIANT_ADD(data, direct_256) { .direct_io = true, .max_pages = 256 };
FIXTURE_VARIANT_ADD(data, direct_1) { .direct_io = true, .max_pages = 1 };

FIXTURE_SETUP(data)
{
	struct fl_config cfg = {
		.max_pages = variant->max_pages,
		.direct_io = variant->direct_io,
		.nthreads = 2,
	};

	self->fs = fl_mount(&cfg);
	ASSERT_TRUE(self->fs != NULL) TH_LOG("mount: %s", strerror(errno));
	ASSERT_EQ(0, fl_start(self->fs));
	self->buflen = (4u << 20) + FL_PAGE;
	self->buf = mmap(NULL, self->buflen, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(self->buf != MAP_FAILED);
}

FIXTURE_TEARDOWN(data)
{
	if (self->fs)
		fl_destroy(self->fs);
	munmap(self->buf, self->buflen);
}

static int open_file(struct fl_fs *fs, unsigned int i, int flags)
{
	char path[96];

	fl_path(fs, i, path, sizeof(path));
	return open(path, flags);
}

static ssize_t pwrite_all(int fd, const unsigned char *p, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, p + done, len - done, off + done);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += n;
	}
	return done;
}

static ssize_t pread_all(int fd, unsigned char *p, size_t len, off_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, p + done, len - done, off + done);

		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += n;
	}
	return done;
}

/*
 * Write the pattern, check what the daemon stored, reopen (which drops the
 * page cache: no FOPEN_KEEP_CACHE) and read it back through FUSE_READ.
 */
TEST_F_TIMEOUT(data, write_then_read_matches_pattern, 300)
{
	unsigned int seed = 1;

	for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
		for (size_t o = 0; o < ARRAY_SIZE(offsets); o++, seed++) {
			size_t len = sizes[s], off = offsets[o];
			/* client buffer misaligned by 1..7 bytes */
			unsigned char *p = self->buf + seed % 7 + 1;
			struct fl_file *f = &self->fs->files[seed % FL_NFILES];
			long long bad;
			struct stat st;
			int fd;

			fd = open_file(self->fs, seed % FL_NFILES,
				       O_RDWR | O_TRUNC);
			ASSERT_LE(0, fd) TH_LOG("open: %s", strerror(errno));
			fl_fill(p, len, off, seed);
			ASSERT_EQ((ssize_t)len, pwrite_all(fd, p, len, off))
				TH_LOG("pwrite %zu bytes at %zu", len, off);
			ASSERT_EQ(0, fstat(fd, &st));
			ASSERT_EQ(off + len, (size_t)st.st_size);
			ASSERT_EQ(0, close(fd));

			bad = fl_check(f->data + off, len, off, seed);
			ASSERT_EQ(-1, bad)
				TH_LOG("daemon got a wrong byte at %lld of %zu bytes written at offset %zu",
				       bad, len, off);

			memset(p, 0, len);
			fd = open_file(self->fs, seed % FL_NFILES, O_RDONLY);
			ASSERT_LE(0, fd);
			ASSERT_EQ((ssize_t)len, pread_all(fd, p, len, off))
				TH_LOG("pread %zu bytes at %zu", len, off);
			bad = fl_check(p, len, off, seed);
			ASSERT_EQ(-1, bad)
				TH_LOG("read back a wrong byte at %lld of %zu bytes at offset %zu",
				       bad, len, off);
			/* and the hole before the data reads as zeroes */
			if (off) {
				ASSERT_EQ(1, pread_all(fd, p, 1, off - 1));
				ASSERT_EQ(0, p[0]);
			}
			ASSERT_EQ(0, close(fd));
		}
	}
}

/* A 3 MiB transfer must be carried by max_pages sized requests. */
TEST_F(data, large_transfers_use_max_pages)
{
	size_t len = 3u << 20;
	unsigned long max = variant->max_pages * FL_PAGE;
	unsigned char *p = self->buf;
	int fd = open_file(self->fs, 0, O_RDWR | O_TRUNC);

	ASSERT_LE(0, fd);
	fl_fill(p, len, 0, 77);
	ASSERT_EQ((ssize_t)len, pwrite_all(fd, p, len, 0));
	ASSERT_EQ(0, close(fd));
	EXPECT_EQ(max, atomic_load(&self->fs->st.max_write))
		TH_LOG("largest WRITE payload");
	fd = open_file(self->fs, 0, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)len, pread_all(fd, p, len, 0));
	ASSERT_EQ(-1, fl_check(p, len, 0, 77));
	ASSERT_EQ(0, close(fd));
	/* page cache reads are bounded by readahead, direct reads are not */
	if (variant->direct_io) {
		EXPECT_EQ(max, atomic_load(&self->fs->st.max_read))
			TH_LOG("largest READ request");
	}
}

/* Shared mmap goes through the page cache: writeback and read_folio. */
TEST_F(data, mmap_roundtrip)
{
	size_t len = (1u << 20) + 3 * FL_PAGE;
	unsigned char *m;
	int fd;

	if (variant->direct_io)
		SKIP(return, "FOPEN_DIRECT_IO files refuse shared mmap");
	fd = open_file(self->fs, 1, O_RDWR | O_TRUNC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, len));
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_TRUE(m != MAP_FAILED);
	fl_fill(m, len, 0, 91);
	ASSERT_EQ(0, msync(m, len, MS_SYNC));
	ASSERT_EQ(0, munmap(m, len));
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(-1, fl_check(self->fs->files[1].data, len, 0, 91));

	fd = open_file(self->fs, 1, O_RDONLY);
	ASSERT_LE(0, fd);
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_TRUE(m != MAP_FAILED);
	ASSERT_EQ(-1, fl_check(m, len, 0, 91));
	munmap(m, len);
	close(fd);
}

TEST_HARNESS_MAIN
