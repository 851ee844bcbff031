// SPDX-License-Identifier: GPL-2.0
/*
 * fuselab: the test data, the kinds of memory and the daemon's buffers. See fuselab.h.
 */
#define _GNU_SOURCE
#include "fuselab.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FL_HUGE		(2u << 20)
#define FL_GAP_MAX	5

void fl_fill(unsigned char *p, size_t len, uint64_t off, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = fl_pattern(off + i, seed);
}

long long fl_check(const unsigned char *p, size_t len, uint64_t off,
		   unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != fl_pattern(off + i, seed))
			return (long long)i;
	return -1;
}

void *fl_map(enum fl_mem mem, size_t len)
{
	void *p;
	int fd;

	switch (mem) {
	case FL_MEM_ANON:
		return mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	case FL_MEM_MEMFD:
	case FL_MEM_SECRET:
		/* memfd_secret(): 447 on every architecture, no libc wrapper */
		fd = mem == FL_MEM_MEMFD ? memfd_create("fuselab", 0) :
					   syscall(447, 0);
		if (fd < 0)
			return MAP_FAILED;
		if (ftruncate(fd, len)) {
			close(fd);
			return MAP_FAILED;
		}
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		return p;
	case FL_MEM_THP: {
		size_t span = (len + FL_HUGE - 1) & ~(size_t)(FL_HUGE - 1);
		unsigned char *raw, *aligned;

		raw = mmap(NULL, span + FL_HUGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (raw == MAP_FAILED)
			return MAP_FAILED;
		aligned = (unsigned char *)(((uintptr_t)raw + FL_HUGE - 1) &
					    ~(uintptr_t)(FL_HUGE - 1));
		/* Keep exactly [aligned, aligned + span) so unmap knows it. */
		if (aligned > raw)
			munmap(raw, aligned - raw);
		if (raw + FL_HUGE > aligned)
			munmap(aligned + span, raw + FL_HUGE - aligned);
		if (madvise(aligned, span, MADV_HUGEPAGE)) {
			munmap(aligned, span);
			return MAP_FAILED;
		}
		memset(aligned, 0, span);
		return aligned;
	}
	}
	errno = EINVAL;
	return MAP_FAILED;
}

void fl_unmap(enum fl_mem mem, void *p, size_t len)
{
	if (mem == FL_MEM_THP)
		len = (len + FL_HUGE - 1) & ~(size_t)(FL_HUGE - 1);
	munmap(p, len);
}

bool fl_thp_backed(const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;
	unsigned long lo, hi;
	bool in = false, ret = false;
	char line[256];
	FILE *f;

	f = fopen("/proc/self/smaps", "r");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long kb;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = lo < a + len && a < hi;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %lu kB", &kb) == 1 &&
		    kb > 0)
			ret = true;
	}
	fclose(f);
	return ret;
}

size_t fl_buf_size(struct fl_fs *fs)
{
	size_t need = sizeof(struct fuse_in_header) +
		      sizeof(struct fuse_write_in) + fs->max_write;

	if (need < FUSE_MIN_READ_BUFFER)
		need = FUSE_MIN_READ_BUFFER;
	/* One spare page: the SPLICE_F_MOVE layout puts payload on a page. */
	return ((need + FL_PAGE - 1) & ~(size_t)(FL_PAGE - 1)) + FL_PAGE;
}

/*
 * FL_XP_VEC: cut the buffer into niov pieces of odd lengths (L-2, L, L+2),
 * separated by gaps of 1..5 bytes so that no two pieces are contiguous and
 * most of them straddle a page boundary at a different offset.
 */
static size_t fl_vec_layout(struct fl_buf *b, size_t size, unsigned int niov,
			    unsigned char *base)
{
	size_t l = (size / niov + 3) | 1, off = 0;

	for (unsigned int i = 0; i < niov; i++) {
		size_t len = niov == 1 ? size : l + 2 * (i % 3) - 2;

		off += i % FL_GAP_MAX + 1;
		if (b) {
			b->iov[i].iov_base = base + off;
			b->iov[i].iov_len = len;
		}
		off += len;
	}
	return off + FL_PAGE;
}

int fl_buf_init(struct fl_fs *fs, struct fl_buf *b)
{
	size_t size = fl_buf_size(fs);

	memset(b, 0, sizeof(*b));
	b->pipe[0] = b->pipe[1] = -1;
	b->niov = fs->cfg.xport == FL_XP_VEC ? fs->cfg.niov : 0;
	b->size = b->niov ? fl_vec_layout(NULL, size, b->niov, NULL) : size;
	b->mem = fs->cfg.mem;
	b->base = fl_map(b->mem, b->size);
	if (b->base == MAP_FAILED)
		return -errno;
	b->lin = malloc(size);
	b->out = malloc(size);
	if (!b->lin || !b->out)
		return -ENOMEM;
	if (b->niov) {
		b->iov = calloc(b->niov, sizeof(*b->iov));
		if (!b->iov)
			return -ENOMEM;
		fl_vec_layout(b, size, b->niov, b->base);
	}
	if (fs->cfg.alias_tag) {
		fl_alias_tag(b->base, b->size, true);
		b->alias_tagged = true;
	}
	if (fs->cfg.xport >= FL_XP_SPLICE_IN) {
		/* non-blocking: a failed splice leaves a pipe we must drain */
		if (pipe2(b->pipe, O_NONBLOCK))
			return -errno;
		/* A whole request or reply must fit in the pipe at once. */
		if (fcntl(b->pipe[1], F_SETPIPE_SZ, 2 * size) < 0)
			return -errno;
	}
	return 0;
}

void fl_buf_free(struct fl_buf *b)
{
	if (b->base && b->base != MAP_FAILED) {
		if (b->alias_tagged)
			fl_alias_tag(b->base, b->size, false);
		fl_unmap(b->mem, b->base, b->size);
	}
	free(b->lin);
	free(b->out);
	free(b->iov);
	if (b->pipe[0] >= 0) {
		close(b->pipe[0]);
		close(b->pipe[1]);
	}
	memset(b, 0, sizeof(*b));
}

/* @p with @tag in bits 59:56, where MTE looks for a pointer's tag */
void *fl_mte_tagged(void *p, unsigned long tag)
{
#ifdef __aarch64__
	return (void *)(((uintptr_t)p & ~(0xfUL << 56)) | tag << 56);
#else
	(void)tag;
	return p;
#endif
}

/* Give [p, p + len) the allocation tag of p's pointer tag (STG). */
void fl_mte_set_tags(void *p, size_t len)
{
#ifdef __aarch64__
	for (uintptr_t a = (uintptr_t)p; a < (uintptr_t)p + len;
	     a += FL_MTE_GRANULE)
		asm volatile(".arch armv8.5-a+memtag\n\tstg %0, [%0]"
			     : : "r"(a) : "memory");
#else
	(void)p;
	(void)len;
#endif
}

/* The allocation tag of @p's granule (LDG, which is not tag checked). */
unsigned int fl_mte_get_tag(void *p)
{
#ifdef __aarch64__
	asm volatile(".arch armv8.5-a+memtag\n\tldg %0, [%0]"
		     : "+r"(p) : : "memory");
	return ((uintptr_t)p >> 56) & 0xf;
#else
	(void)p;
	return 0;
#endif
}
