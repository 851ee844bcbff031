// SPDX-License-Identifier: GPL-2.0
/*
 * fuselab: mount, INIT and the connection's control files. See fuselab.h.
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

static atomic_uint fl_seq;

static int fl_conn_id(const char *mnt, unsigned int *conn)
{
	char line[512], path[256];
	unsigned int ma, mi;
	FILE *f = fopen("/proc/self/mountinfo", "r");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%*u %*u %u:%u %*s %255s", &ma, &mi, path) == 3 &&
		    !strcmp(path, mnt)) {
			/* fusectl names the directory after the kernel's dev_t */
			*conn = ma << 20 | mi;
			ret = 0;
		}
	}
	fclose(f);
	return ret;
}

static int fl_init(struct fl_fs *fs)
{
	size_t size = FUSE_MIN_READ_BUFFER + FL_PAGE;
	unsigned char *buf = malloc(size);
	struct {
		struct fuse_out_header h;
		struct fuse_init_out o;
	} r;
	const struct fuse_in_header *in = (void *)buf;
	const struct fuse_init_in *ii = (void *)(in + 1);
	uint32_t want = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_MAX_PAGES |
			FUSE_INIT_EXT;
	ssize_t n;
	int err = 0;

	if (!buf)
		return -ENOMEM;
	n = read(fs->fd, buf, size);
	if (n < 0) {
		err = -errno;
		goto out;
	}
	if ((size_t)n < sizeof(*in) + 16 || in->opcode != FUSE_INIT) {
		err = -EPROTO;
		goto out;
	}
	if (fs->cfg.xport >= FL_XP_SPLICE_IN)
		want |= FUSE_SPLICE_READ | FUSE_SPLICE_WRITE | FUSE_SPLICE_MOVE;

	memset(&r, 0, sizeof(r));
	r.h.unique = in->unique;
	r.h.len = sizeof(r);
	r.o.major = FUSE_KERNEL_VERSION;
	r.o.minor = ii->minor < FUSE_KERNEL_MINOR_VERSION ?
		    ii->minor : FUSE_KERNEL_MINOR_VERSION;
	r.o.max_readahead = ii->max_readahead;
	/* want2: its low half adds to flags, its high half is flags2 */
	r.o.flags = (want | (uint32_t)fs->cfg.want2) & ii->flags;
	if (ii->flags & FUSE_INIT_EXT)
		r.o.flags2 = (uint32_t)(fs->cfg.want2 >> 32) & ii->flags2;
	r.o.max_background = 16;
	r.o.congestion_threshold = 12;
	r.o.max_pages = fs->cfg.max_pages;
	r.o.max_write = fs->cfg.max_pages * FL_PAGE;
	r.o.time_gran = 1;
	fs->minor = r.o.minor;
	fs->max_write = r.o.max_write;
	if (write(fs->fd, &r, sizeof(r)) != sizeof(r))
		err = -errno ? -errno : -EIO;
out:
	free(buf);
	return err;
}

struct fl_fs *fl_mount(const struct fl_config *cfg)
{
	struct fl_fs *fs = calloc(1, sizeof(*fs));
	char opts[128];
	int err = -ENOMEM;

	if (!fs)
		goto fail;
	/* a new connection: forget pages an earlier test left tagged */
	fl_alias_reset();
	fs->cfg = *cfg;
	if (!fs->cfg.max_pages)
		fs->cfg.max_pages = 32;
	if (!fs->cfg.niov)
		fs->cfg.niov = 1;
	fs->fd = -1;
	for (unsigned int i = 0; i < FL_NFILES; i++) {
		pthread_mutex_init(&fs->files[i].lock, NULL);
		fs->files[i].data = mmap(NULL, FL_FILE_CAP,
					 PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (fs->files[i].data == MAP_FAILED) {
			fs->files[i].data = NULL;
			goto fail;
		}
	}
	snprintf(fs->mnt, sizeof(fs->mnt), "/tmp/fl.%d.%u", getpid(),
		 atomic_fetch_add(&fl_seq, 1));
	if (mkdir(fs->mnt, 0755) && errno != EEXIST)
		goto fail_errno;
	fs->fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fs->fd < 0)
		goto fail_errno;
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other",
		 fs->fd);
	if (mount("fuselab", fs->mnt, "fuse.fuselab", MS_NOSUID | MS_NODEV,
		  opts))
		goto fail_errno;
	err = fl_init(fs);
	if (err)
		goto fail;
	err = fl_conn_id(fs->mnt, &fs->conn);
	if (err)
		goto fail;
	return fs;

fail_errno:
	err = -errno;
fail:
	if (fs)
		fl_destroy(fs);
	errno = -err;
	return NULL;
}

void fl_destroy(struct fl_fs *fs)
{
	atomic_store(&fs->stop, 1);
	if (fs->fd >= 0) {
		umount2(fs->mnt, MNT_DETACH);
		/* Wakes serving threads if clients still hold the super block. */
		fl_abort(fs);
		fl_join(fs);
		close(fs->fd);
	}
	rmdir(fs->mnt);
	for (unsigned int i = 0; i < FL_NFILES; i++)
		if (fs->files[i].data)
			munmap(fs->files[i].data, FL_FILE_CAP);
	free(fs);
}

void fl_path(struct fl_fs *fs, unsigned int i, char *out, size_t len)
{
	snprintf(out, len, "%s/f%u", fs->mnt, i);
}

static int fl_ctl_path(struct fl_fs *fs, const char *name, char *out,
		       size_t len)
{
	return snprintf(out, len, "/sys/fs/fuse/connections/%u/%s", fs->conn,
			name) >= (int)len ? -ENAMETOOLONG : 0;
}

long fl_waiting(struct fl_fs *fs)
{
	char path[96];
	long v = -1;
	FILE *f;

	if (fl_ctl_path(fs, "waiting", path, sizeof(path)))
		return -1;
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

int fl_abort(struct fl_fs *fs)
{
	char path[96];
	int fd, ret = 0;

	if (fl_ctl_path(fs, "abort", path, sizeof(path)))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	if (write(fd, "1", 1) != 1)
		ret = -errno;
	close(fd);
	return ret;
}
