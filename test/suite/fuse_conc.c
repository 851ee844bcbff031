// SPDX-License-Identifier: GPL-2.0
/*
 * Concurrency. Several daemon threads and several client
 * processes; abort during traffic; umount -l during traffic. (The splice
 * transports run as variants of group 2's fixture.)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mount.h>

#include "fuselab.h"
#include "kselftest_harness.h"

#define NCLIENTS	4
#define CLIENT_LEN	(2u << 20)

FIXTURE(conc) {
	struct fl_fs *fs;
	pid_t pid[NCLIENTS];
};

FIXTURE_VARIANT(conc) {
	enum fl_xport xport;
	unsigned int niov;
};

FIXTURE_VARIANT_ADD(conc, rw) { .xport = FL_XP_RW, .niov = 1 };
FIXTURE_VARIANT_ADD(conc, vec) { .xport = FL_XP_VEC, .niov = 17 };
FIXTURE_VARIANT_ADD(conc, splice) { .xport = FL_XP_SPLICE_MOVE, .niov = 1 };

FIXTURE_SETUP(conc)
{
	struct fl_config cfg = {
		.max_pages = 64,
		.xport = variant->xport,
		.niov = variant->niov,
		.nthreads = 4,
	};

	self->fs = fl_mount(&cfg);
	ASSERT_TRUE(self->fs != NULL) TH_LOG("mount: %s", strerror(errno));
	ASSERT_EQ(0, fl_start(self->fs));
}

FIXTURE_TEARDOWN(conc)
{
	for (int i = 0; i < NCLIENTS; i++)
		if (self->pid[i] > 0)
			fl_wait(self->pid[i], 0);
	if (self->fs)
		fl_destroy(self->fs);
}

struct job {
	unsigned int file;	/* f<file> */
	unsigned int rounds;	/* 0: until an error */
	int opened;		/* > 0: a pipe to write a byte to once open */
};

/*
 * One client: write its file in chunks of varying size with a per-round
 * pattern, read it back and compare. Exit code: 0, an errno, or 200 for
 * corrupted data.
 */
static int client_job(struct fl_fs *fs, void *arg)
{
	const struct job *j = arg;
	unsigned char *p = malloc(CLIENT_LEN + 1);
	char path[96];
	int fd;

	if (!p)
		return ENOMEM;
	fl_path(fs, j->file, path, sizeof(path));
	fd = open(path, O_RDWR);
	if (fd < 0)
		return errno;
	if (j->opened > 0 && write(j->opened, "o", 1) != 1)
		return errno;
	for (unsigned int r = 0; !j->rounds || r < j->rounds; r++) {
		unsigned int seed = j->file * 1000 + r;
		size_t off = 0;

		fl_fill(p + 1, CLIENT_LEN, 0, seed);
		while (off < CLIENT_LEN) {
			size_t len = 4096 * (r % 5) + 777 * (off % 7) + 1;
			ssize_t n;

			if (len > CLIENT_LEN - off)
				len = CLIENT_LEN - off;
			n = pwrite(fd, p + 1 + off, len, off);
			if (n <= 0)
				return n < 0 ? errno : EIO;
			off += n;
		}
		/* drop this file's page cache: the read-back asks the daemon */
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		memset(p, 0, CLIENT_LEN + 1);
		for (off = 0; off < CLIENT_LEN;) {
			ssize_t n = pread(fd, p + 1 + off, CLIENT_LEN - off, off);

			if (n <= 0)
				return n < 0 ? errno : EIO;
			off += n;
		}
		if (fl_check(p + 1, CLIENT_LEN, 0, seed) != -1)
			return 200;
	}
	close(fd);
	return 0;
}

/*
 * Every client writes 2 MiB in chunks of varying size, reads back and
 * compares, 3 rounds; all exit 0.
 */
TEST_F_TIMEOUT(conc, threads_and_clients_keep_data_intact, 240)
{
	struct job jobs[NCLIENTS];

	/* half the files bypass the page cache */
	self->fs->cfg.direct_mask = 0xaa;
	for (int i = 0; i < NCLIENTS; i++) {
		jobs[i] = (struct job){ .file = i, .rounds = 3 };
		self->pid[i] = fl_spawn(self->fs, client_job, &jobs[i]);
		ASSERT_LT(0, self->pid[i]);
	}
	for (int i = 0; i < NCLIENTS; i++) {
		int rc = fl_wait(self->pid[i], 200000);

		self->pid[i] = 0;
		EXPECT_EQ(0, rc) TH_LOG("client %d: %s", i,
					rc == 200 ? "corrupted data" :
					rc < 0 ? "hung" : strerror(rc));
	}
	EXPECT_LT(NCLIENTS * 3UL, atomic_load(&self->fs->st.writes));
}

/* Errors a client may see when its connection is aborted under it. */
static bool abort_errno(int rc)
{
	return rc == ENOTCONN || rc == ECONNABORTED || rc == EIO ||
	       rc == ENODEV;
}

/*
 * Abort after 1.5 s of traffic: every client ends within 20 s with
 * ENOTCONN/ECONNABORTED/EIO/ENODEV, every daemon thread ends with ENODEV or
 * ECONNABORTED, waiting is 0.
 */
TEST_F_TIMEOUT(conc, abort_during_traffic_ends_everyone, 120)
{
	struct job jobs[NCLIENTS];
	long w;

	for (int i = 0; i < NCLIENTS; i++) {
		jobs[i] = (struct job){ .file = i, .rounds = 0 };
		self->pid[i] = fl_spawn(self->fs, client_job, &jobs[i]);
		ASSERT_LT(0, self->pid[i]);
	}
	fl_sleep_ms(1500);
	ASSERT_LT(0UL, atomic_load(&self->fs->st.writes)) TH_LOG("no traffic");
	ASSERT_EQ(0, fl_abort(self->fs));
	for (int i = 0; i < NCLIENTS; i++) {
		int rc = fl_wait(self->pid[i], 20000);

		self->pid[i] = 0;
		EXPECT_TRUE(abort_errno(rc))
			TH_LOG("client %d ended with %d (-1: hung)", i, rc);
	}
	fl_join(self->fs);
	for (unsigned int i = 0; i < 4; i++) {
		EXPECT_TRUE(self->fs->thr_err[i] == ECONNABORTED ||
			    self->fs->thr_err[i] == ENODEV)
			TH_LOG("daemon thread %u ended with %d", i,
			       self->fs->thr_err[i]);
	}
	w = fl_waiting(self->fs);
	EXPECT_EQ(0, w);
}

/*
 * umount -l while clients hold open files: they finish their rounds
 * correctly; after the last close the daemon threads see ENODEV.
 */
TEST_F_TIMEOUT(conc, umount_lazy_during_traffic, 240)
{
	struct job jobs[NCLIENTS];
	int opened[2];
	char c;

	/*
	 * Detach only once every client has its file open: a client still
	 * opening it would find nothing at the detached path (ENOENT). The
	 * count of WRITEs served was no such proof: one client's many small
	 * first writes reached it while another had not yet opened its file.
	 */
	ASSERT_EQ(0, pipe(opened));
	for (int i = 0; i < NCLIENTS; i++) {
		jobs[i] = (struct job){ .file = i, .rounds = 2,
					.opened = opened[1] };
		self->pid[i] = fl_spawn(self->fs, client_job, &jobs[i]);
		ASSERT_LT(0, self->pid[i]);
	}
	close(opened[1]);
	for (int i = 0; i < NCLIENTS; i++)
		ASSERT_EQ(1, read(opened[0], &c, 1))
			TH_LOG("a client could not open its file");
	close(opened[0]);
	ASSERT_EQ(0, umount2(self->fs->mnt, MNT_DETACH));
	/* open files keep working on the detached mount */
	for (int i = 0; i < NCLIENTS; i++) {
		int rc = fl_wait(self->pid[i], 200000);

		self->pid[i] = 0;
		EXPECT_EQ(0, rc) TH_LOG("client %d: %d", i, rc);
	}
	/*
	 * The last close releases the super block: the daemon sees ENODEV.
	 * A thread whose read() took a request off the input queue just
	 * before the abort at umount disconnected the processing queue gets
	 * ECONNABORTED instead (fuse_dev_do_read(), "Must not put request on
	 * fpq->io queue"), code the series does not touch: seen in 1 of 10
	 * runs of this test on x86_64.
	 */
	fl_join(self->fs);
	for (unsigned int i = 0; i < 4; i++) {
		EXPECT_TRUE(self->fs->thr_err[i] == ENODEV ||
			    self->fs->thr_err[i] == ECONNABORTED)
			TH_LOG("daemon thread %u ended with %d", i,
			       self->fs->thr_err[i]);
	}
}

TEST_HARNESS_MAIN
