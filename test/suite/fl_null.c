// SPDX-License-Identifier: GPL-2.0
/*
 * fuselab: a "null" FUSE server, for fuse_bench. It has no backing store
 * and does no work per byte: READ is answered with writev() of the header
 * and a slice of a pattern buffer filled once, WRITE is acknowledged after
 * its length is checked (and, when asked, its bytes). So nearly all the
 * instructions a request costs are the kernel's.
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

/* The byte the null file holds at @off. */
unsigned char fl_null_byte(uint64_t off)
{
	return fl_pattern(off % FL_NULL_PERIOD, 1);
}

/* Offset of the first byte of @p that is not the file's at @off, or -1. */
long fl_null_check(const unsigned char *p, size_t len, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != fl_null_byte(off + i))
			return i;
	return -1;
}

static void nb_count(struct fl_null *nb, size_t len)
{
	unsigned long m = atomic_load(&nb->max_req);

	atomic_fetch_add(&nb->requests, 1);
	while (len > m && !atomic_compare_exchange_weak(&nb->max_req, &m, len))
		;
}

/* Reply to READ with @len bytes of the file at @off: no copy, no loop over bytes. */
static int nb_read_reply(struct fl_null *nb, uint64_t unique, uint64_t off,
			 size_t len)
{
	struct fuse_out_header oh = {
		.len = sizeof(oh) + len, .unique = unique,
	};
	struct iovec iov[2 + FL_NULL_MAX / FL_NULL_PIECE];
	unsigned char *p = nb->pat + off % FL_NULL_PERIOD;
	unsigned int n = 1;
	size_t done = 0;
	ssize_t w;

	iov[0].iov_base = &oh;
	iov[0].iov_len = sizeof(oh);
	while (done < len) {
		size_t c = nb->v.vec ? FL_NULL_PIECE : len;

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
		return fl_null_check(b->base + hdr, len, off) < 0;
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
		if (fl_null_check(p, c, off + done) >= 0)
			return false;
		done += c;
	}
	return done == len;
}

static int nb_write_reply(struct fl_null *nb, struct fl_buf *b,
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

	if (n != hdr + w->size || w->size > FL_NULL_MAX) {
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
	a->size = FL_NULL_FILE_SIZE;
	a->blocks = FL_NULL_FILE_SIZE / 512;
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
	struct fl_null *nb = arg;
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

struct fl_null *fl_null_start(const struct fl_null_variant *v)
{
	struct fl_config cfg = {
		.max_pages = FL_NULL_MAX / FL_PAGE,
		.direct_io = v->dio,
		.xport = v->vec ? FL_XP_VEC : FL_XP_RW,
		.niov = v->vec ? IOV_MAX : 1,
	};
	struct fl_null *nb = calloc(1, sizeof(*nb));
	int err = 0;

	if (!nb)
		return NULL;
	nb->v = *v;
	nb->pat = malloc(FL_NULL_PERIOD + FL_NULL_MAX);
	nb->fs = fl_mount(&cfg);
	if (!nb->pat || !nb->fs)
		goto fail;
	for (size_t i = 0; i < FL_NULL_PERIOD + FL_NULL_MAX; i++)
		nb->pat[i] = fl_null_byte(i);
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
int fl_null_stop(struct fl_null *nb)
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
