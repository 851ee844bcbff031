// SPDX-License-Identifier: GPL-2.0
/*
 * fuselab: requests read from and replies written to /dev/fuse. See fuselab.h.
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

static ssize_t read_full(int fd, void *p, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		done += n;
	}
	return done;
}

ssize_t fl_recv(struct fl_fs *fs, struct fl_buf *b,
		const struct fuse_in_header **in)
{
	size_t size = fl_buf_size(fs);
	ssize_t n, done = 0;

	switch (fs->cfg.xport) {
	case FL_XP_VEC:
		n = readv(fs->fd, b->iov, b->niov);
		if (n < 0)
			return -errno;
		for (unsigned int i = 0; i < b->niov && done < n; i++) {
			size_t c = b->iov[i].iov_len;

			if (c > (size_t)(n - done))
				c = n - done;
			memcpy(b->lin + done, b->iov[i].iov_base, c);
			done += c;
		}
		*in = (const struct fuse_in_header *)b->lin;
		break;
	case FL_XP_SPLICE_IN:
		n = splice(fs->fd, NULL, b->pipe[1], NULL, size, 0);
		if (n < 0)
			return -errno;
		if (read_full(b->pipe[0], b->base, n) < 0)
			return -EIO;
		*in = (const struct fuse_in_header *)b->base;
		break;
	default:
		n = read(fs->fd, b->base, size);
		if (n < 0)
			return -errno;
		*in = (const struct fuse_in_header *)b->base;
		break;
	}
	if ((size_t)n < sizeof(**in) || (*in)->len != (size_t)n)
		return -EPROTO;
	atomic_fetch_add(&fs->st.requests, 1);
	return n;
}

static int fl_send_vec(struct fl_fs *fs, struct fl_buf *b, size_t total)
{
	struct iovec *iov = b->iov;
	size_t done = 0;
	unsigned int n = 0;
	struct iovec *out = calloc(b->niov, sizeof(*out));
	ssize_t w;

	if (!out)
		return -ENOMEM;
	while (done < total && n < b->niov) {
		size_t c = iov[n].iov_len;

		if (c > total - done)
			c = total - done;
		memcpy(iov[n].iov_base, b->out + done, c);
		out[n].iov_base = iov[n].iov_base;
		out[n].iov_len = c;
		done += c;
		n++;
	}
	w = writev(fs->fd, out, n);
	free(out);
	if (w < 0)
		return -errno;
	return (size_t)w == total ? 0 : -EIO;
}

/* Splice @total bytes of b->out to /dev/fuse through the pipe. */
static int fl_send_splice(struct fl_fs *fs, struct fl_buf *b, size_t total,
			  bool move)
{
	size_t hdr = sizeof(struct fuse_out_header);
	struct iovec iov[2];
	unsigned char *p = b->base, *fresh = NULL;
	size_t maplen = 0;
	int niov = 1;
	ssize_t n;

	if (move && total > hdr) {
		/*
		 * Gift whole pages: header at the end of one page, payload
		 * page-aligned on the next ones, so that the kernel may try to
		 * steal them (fuse_try_move_folio). They stay mapped here
		 * until the splice is done, like a real daemon's buffers.
		 */
		maplen = FL_PAGE + ((total - hdr + FL_PAGE - 1) &
				    ~(size_t)(FL_PAGE - 1));
		fresh = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (fresh == MAP_FAILED)
			return -errno;
		memcpy(fresh + FL_PAGE - hdr, b->out, hdr);
		memcpy(fresh + FL_PAGE, b->out + hdr, total - hdr);
		iov[0].iov_base = fresh + FL_PAGE - hdr;
		iov[0].iov_len = hdr;
		iov[1].iov_base = fresh + FL_PAGE;
		iov[1].iov_len = total - hdr;
		niov = 2;
	} else {
		memcpy(p, b->out, total);
		iov[0].iov_base = p;
		iov[0].iov_len = total;
	}
	n = vmsplice(b->pipe[1], iov, niov, move ? SPLICE_F_GIFT : 0);
	if (n >= 0 && (size_t)n != total)
		n = -1, errno = EIO;
	if (n >= 0)
		n = splice(b->pipe[0], NULL, fs->fd, NULL, total,
			   move ? SPLICE_F_MOVE : 0);
	if (fresh)
		munmap(fresh, maplen);
	if (n < 0) {
		int err = -errno;
		char sink[4096];

		/* Drain what the kernel refused so the pipe stays usable. */
		while (read(b->pipe[0], sink, sizeof(sink)) > 0)
			;
		return err;
	}
	return (size_t)n == total ? 0 : -EIO;
}

int fl_reply(struct fl_fs *fs, struct fl_buf *b, uint64_t unique, int error,
	     const void *data, size_t len)
{
	struct fuse_out_header oh = {
		.len = sizeof(oh) + len, .error = error, .unique = unique,
	};
	ssize_t w;

	if (fs->reply && b->priv)
		return fs->reply(fs, b, &oh, data, len);
	if (data != b->out + sizeof(oh))
		memmove(b->out + sizeof(oh), data, len);
	memcpy(b->out, &oh, sizeof(oh));

	switch (fs->cfg.xport) {
	case FL_XP_VEC:
		return fl_send_vec(fs, b, oh.len);
	case FL_XP_SPLICE_OUT:
		return fl_send_splice(fs, b, oh.len, false);
	case FL_XP_SPLICE_MOVE:
		return fl_send_splice(fs, b, oh.len, true);
	default:
		memcpy(b->base, b->out, oh.len);
		w = write(fs->fd, b->base, oh.len);
		if (w < 0)
			return -errno;
		return (size_t)w == oh.len ? 0 : -EIO;
	}
}
