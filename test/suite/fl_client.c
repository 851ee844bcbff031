// SPDX-License-Identifier: GPL-2.0
/*
 * fuselab: client processes and waiting for them. See fuselab.h.
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

pid_t fl_spawn(struct fl_fs *fs, fl_client_fn fn, void *arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		/* A client must not keep the daemon's end of the connection. */
		if (fs && fs->fd >= 0)
			close(fs->fd);
		_exit(fn(fs, arg) & 0xff);
	}
	return pid;
}

void fl_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

uint64_t fl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

int fl_wait(pid_t pid, unsigned int ms)
{
	uint64_t end = fl_now_ms() + ms;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0)
			return -1;
		if (fl_now_ms() >= end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		fl_sleep_ms(10);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

bool fl_still_blocked(pid_t pid, unsigned int ms)
{
	siginfo_t si = { 0 };

	fl_sleep_ms(ms);
	/* WNOWAIT: leave the exit status for fl_wait(). */
	if (waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT))
		return false;
	return si.si_pid == 0;
}

bool fl_readable(struct fl_fs *fs, int ms)
{
	struct pollfd p = { .fd = fs->fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

int fl_client_statfs(struct fl_fs *fs, void *arg)
{
	struct statfs s;

	(void)arg;
	return statfs(fs->mnt, &s) ? errno : 0;
}

int fl_client_rw(struct fl_fs *fs, void *arg)
{
	static unsigned char buf[FL_CLIENT_RW_LEN];
	char path[96];
	ssize_t n;
	int fd;

	fl_path(fs, 0, path, sizeof(path));
	fd = open(path, O_RDWR);
	if (fd < 0)
		return errno;
	fl_fill(buf, sizeof(buf), 0, 9);
	n = arg ? pwrite(fd, buf, sizeof(buf), 0) :
		  pread(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return errno;
	if (n != sizeof(buf) || fl_check(buf, sizeof(buf), 0, 9) != -1)
		return 200;
	return 0;
}

/*
 * Serve with buffer @b until a request of @opcode arrives (it is left
 * unanswered, copied to b->lin), or for FUSE_STATFS until anything is
 * queued (then nothing is read). 0, or -errno.
 */
int fl_serve_until(struct fl_fs *fs, struct fl_buf *b, uint32_t opcode)
{
	for (;;) {
		const struct fuse_in_header *in;
		ssize_t n;

		if (!fl_readable(fs, 5000))
			return -ETIMEDOUT;
		if (opcode == FUSE_STATFS)
			return 0;
		n = fl_recv(fs, b, &in);
		if (n < 0)
			return n;
		if (in->opcode == opcode) {
			memmove(b->lin, in, in->len);
			return 0;
		}
		n = fl_handle(fs, b, in);
		if (n)
			return n;
	}
}

/*
 * Keep serving with @b until client @pid exits; its exit code (an errno, 0
 * for success), or -1 if it still waits after 10 s (then the connection is
 * aborted to release it: a request the daemon has taken cannot be killed
 * from the client's side).
 */
int fl_serve_until_exit(struct fl_fs *fs, struct fl_buf *b, pid_t pid)
{
	uint64_t end = fl_now_ms() + 10000;

	while (fl_now_ms() < end) {
		const struct fuse_in_header *in;
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 300;
		if (fl_readable(fs, 10) && fl_recv(fs, b, &in) > 0)
			fl_handle(fs, b, in);
	}
	fl_abort(fs);
	fl_wait(pid, 5000);
	return -1;
}

/* The client's RELEASE may still be queued: "waiting" drains to 0. */
long fl_serve_until_drained(struct fl_fs *fs, struct fl_buf *b)
{
	uint64_t end = fl_now_ms() + 3000;
	long w = -1;

	while (fl_now_ms() < end) {
		const struct fuse_in_header *in;

		w = fl_waiting(fs);
		if (w == 0)
			break;
		if (fl_readable(fs, 10) && fl_recv(fs, b, &in) > 0)
			fl_handle(fs, b, in);
	}
	return w;
}
