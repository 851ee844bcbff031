// SPDX-License-Identifier: GPL-2.0
/*
 * fuselab: messages to the QEMU plugins (test/qemu-plugins/marker.h). See fuselab.h.
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

#define FL_ALIAS_MARKER		0x5a000000UL	/* test/qemu-plugins/alias.c marker= */
#define FL_ALIAS_BEGIN		0x000		/* store offsets: message start, */
#define FL_ALIAS_EXEC		0x001		/* its end, */
#define FL_ALIAS_CHAR		0x100		/* and each character c at +c */

static volatile unsigned char *fl_alias_page;
static pthread_mutex_t fl_alias_lock = PTHREAD_MUTEX_INITIALIZER;

/* Send one message; called with fl_alias_lock held. */
static void fl_alias_send(const char *msg)
{
	if (!fl_alias_page) {
		void *p = mmap((void *)FL_ALIAS_MARKER, FL_PAGE,
			       PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE |
			       MAP_FIXED_NOREPLACE, -1, 0);

		if (p != (void *)FL_ALIAS_MARKER) {
			fprintf(stderr, "# alias: marker page: %s\n",
				p == MAP_FAILED ? strerror(errno) : "moved");
			if (p != MAP_FAILED)
				munmap(p, FL_PAGE);
			return;
		}
		fl_alias_page = p;
	}
	fl_alias_page[FL_ALIAS_BEGIN] = 1;
	for (const unsigned char *c = (const void *)msg; *c; c++)
		fl_alias_page[FL_ALIAS_CHAR + *c] = 1;
	fl_alias_page[FL_ALIAS_EXEC] = 1;
}

static void fl_alias_say(const char *msg)
{
	pthread_mutex_lock(&fl_alias_lock);
	fl_alias_send(msg);
	pthread_mutex_unlock(&fl_alias_lock);
}

void fl_alias_reset(void)
{
	fl_alias_say("reset");
}

void fl_alias_tag(void *p, size_t len, bool tag)
{
	volatile unsigned char *c = p;
	char msg[64];

	if (!len)
		return;
	snprintf(msg, sizeof(msg), "%s %lx %zx", tag ? "tag" : "untag",
		 (unsigned long)p, len);
	pthread_mutex_lock(&fl_alias_lock);
	fl_alias_send(msg);
	/* one store into each page, of the byte it holds */
	for (size_t off = 0; off < len; off = (off | (FL_PAGE - 1)) + 1)
		c[off] = c[off];
	c[len - 1] = c[len - 1];
	fl_alias_send("end");
	pthread_mutex_unlock(&fl_alias_lock);
}

void fl_alias_open(const char *name, const char *expect)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "open %s %s", expect, name);
	fprintf(stderr, "# alias window opened: %s\n", name);
	fl_alias_say(msg);
}

void fl_alias_close(void)
{
	fl_alias_say("close");
}
