// SPDX-License-Identifier: GPL-2.0
/*
 * fuselab: GUP calls counted with the function tracer. See fuselab.h.
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

#define FL_TRACE "/sys/kernel/tracing"

/*
 * Everything mm/gup.c of 7.2 offers to take references on user pages: the
 * "traced" rows of test/gup_functions.tsv.  The iov_iter helpers
 * (iov_iter_get_pages2(), iov_iter_extract_pages()) end in these; they
 * cannot be traced themselves, since lib/Makefile builds lib/ without the
 * ftrace hooks.
 */
static const char *const fl_gup_syms[] = {
#include "fl_gup_syms.h"
};

int fl_write(const char *path, const char *val, bool append)
{
	int fd, ret = 0;

	fd = open(path, O_WRONLY | (append ? O_APPEND : O_TRUNC));
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		ret = -errno;
	close(fd);
	return ret;
}

static int fl_trace_write(const char *file, const char *val, bool append)
{
	char path[160];

	snprintf(path, sizeof(path), FL_TRACE "/%s", file);
	return fl_write(path, val, append);
}

/*
 * The function tracer, filtered to the GUP entry points, with a stack trace
 * per call (func_stack_trace).  Kprobe events were tried first: on 7.2.13
 * (x86_64, TCG) re-arming a kprobe on get_user_pages_fast() or
 * pin_user_pages_fast() made the next hit jump to a bad address, on stock
 * and patched alike.
 */
int fl_calls_start(struct fl_gup *g, const char *const *syms, size_t nsyms,
		   const char *frame)
{
	char sym[80];
	int ret;

	memset(g, 0, sizeof(*g));
	if (frame)
		snprintf(g->frame, sizeof(g->frame), "%s", frame);
	fl_trace_write("tracing_on", "0", false);
	fl_trace_write("current_tracer", "nop", false);
	fl_trace_write("set_ftrace_filter", "", false);
	for (size_t i = 0; i < nsyms; i++) {
		snprintf(sym, sizeof(sym), "%s\n", syms[i]);
		ret = fl_trace_write("set_ftrace_filter", sym, true);
		if (ret) {
			/* e.g. an empty inline on this architecture */
			if (!frame)
				fprintf(stderr, "fl_gup: cannot trace %s: %s\n",
					syms[i], strerror(-ret));
			continue;
		}
		g->probes++;
		snprintf(g->probed + strlen(g->probed),
			 sizeof(g->probed) - strlen(g->probed), "%s%s",
			 g->probes > 1 ? " " : "", syms[i]);
	}
	if (!g->probes) {
		if (!frame)
			fprintf(stderr, "fl_gup: no GUP entry point can be traced\n");
		return -ENOENT;
	}
	if ((ret = fl_trace_write("buffer_size_kb", "4096", false)) ||
	    (ret = fl_trace_write("current_tracer", "function", false)) ||
	    (ret = fl_trace_write("options/func_stack_trace", "1", false)) ||
	    (ret = fl_trace_write("trace", "", false)) ||
	    (ret = fl_trace_write("tracing_on", "1", false))) {
		fprintf(stderr, "fl_gup: cannot start tracing: %s\n", strerror(-ret));
		return ret;
	}
	return 0;
}

int fl_gup_start(struct fl_gup *g)
{
	return fl_calls_start(g, fl_gup_syms,
			      sizeof(fl_gup_syms) / sizeof(fl_gup_syms[0]), NULL);
}

/*
 * The frames that make a hit "dev": by default any frame of /dev/fuse
 * read/write or of the io_uring transport's copies; with g->frame, only the
 * immediate caller, if it is that function.
 */
static bool fl_dev_frame(const struct fl_gup *g, const char *f)
{
	if (g->frame[0])
		return strcspn(f, "+ \n") == strlen(g->frame) &&
		       !strncmp(f, g->frame, strlen(g->frame));
	return !strncmp(f, "fuse_dev_", 9) || !strncmp(f, "fuse_copy_", 10) ||
	       !strncmp(f, "fuse_uring_", 11);
}

/* Events lost to a full ring buffer would make "0 hits" meaningless. */
static long fl_trace_overruns(void)
{
	char path[96], line[128];
	long total = 0, v;

	for (int cpu = 0; cpu < 64; cpu++) {
		FILE *f;

		snprintf(path, sizeof(path), FL_TRACE "/per_cpu/cpu%d/stats", cpu);
		f = fopen(path, "r");
		if (!f)
			break;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "overrun: %ld", &v) == 1)
				total += v;
		fclose(f);
	}
	return total;
}

int fl_gup_stop(struct fl_gup *g)
{
	char line[512], sym[64] = "", frame[96];
	bool in_hit = false, is_dev = false;
	long lost;
	FILE *f;

	fl_trace_write("tracing_on", "0", false);
	f = fopen(FL_TRACE "/trace", "r");
	if (!f)
		return -errno;
	/*
	 *   comm-pid [cpu] flags ts: get_user_pages_fast <-caller
	 *   comm-pid [cpu] flags ts: <stack trace>
	 *  => caller
	 */
	while (fgets(line, sizeof(line), f)) {
		char *arrow = strstr(line, " <-");
		char *p;

		if (line[0] != '#' && arrow) {
			if (in_hit)
				is_dev ? g->dev++ : g->other++;
			in_hit = true;
			*arrow = '\0';
			p = strrchr(line, ' ');
			snprintf(sym, sizeof(sym), "%.63s", p ? p + 1 : line);
			is_dev = fl_dev_frame(g, arrow + 3);
			if (is_dev && !g->dev_example[0])
				snprintf(g->dev_example, sizeof(g->dev_example),
					 "%s <- %.*s", sym,
					 (int)strcspn(arrow + 3, "+\n"), arrow + 3);
		} else if (in_hit && sscanf(line, " => %95[^+ \n]", frame) == 1 &&
			   !is_dev && !g->frame[0] && fl_dev_frame(g, frame)) {
			is_dev = true;
			if (!g->dev_example[0])
				snprintf(g->dev_example, sizeof(g->dev_example),
					 "%s <- %s", sym, frame);
		}
	}
	if (in_hit)
		is_dev ? g->dev++ : g->other++;
	fclose(f);
	lost = fl_trace_overruns();
	fl_trace_write("options/func_stack_trace", "0", false);
	fl_trace_write("current_tracer", "nop", false);
	fl_trace_write("set_ftrace_filter", "", false);
	if (lost) {
		fprintf(stderr, "fl_gup: %ld trace events lost\n", lost);
		return -ENOBUFS;
	}
	return 0;
}

/* Is @name a function of the running kernel (/proc/kallsyms)? */
bool fl_kernel_has_function(const char *name)
{
	char line[256], sym[128];
	bool found = false;
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%*s %*[tT] %127s", sym) == 1 &&
			!strcmp(sym, name);
	fclose(f);
	return found;
}
