// SPDX-License-Identifier: GPL-2.0
/*
 * fuselab: the order of flush_dcache_folio() and unpin_folio() calls on
 * each folio, from kprobe events with the folio (the first argument).  A
 * flush of a folio after its unpin is a flush of a page its owner may
 * already have released.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuselab.h"

#if defined(__arm__)
#define KP_ARG0		"%r0"
#elif defined(__aarch64__)
#define KP_ARG0		"%x0"
#elif defined(__x86_64__)
#define KP_ARG0		"%di"
#else
#define KP_ARG0		NULL
#endif

#define KP_TRACE	"/sys/kernel/tracing"

static const char *const kp_arg0 = KP_ARG0;

static int kp_write(const char *file, const char *val, bool append)
{
	char path[128];

	snprintf(path, sizeof(path), KP_TRACE "/%s", file);
	return fl_write(path, val, append);
}

/* Probe @sym as event fuselab/<name>, with its first argument as folio=. */
static int kp_add(const char *name, const char *sym)
{
	char def[128];

	if (!kp_arg0)
		return -EOPNOTSUPP;
	snprintf(def, sizeof(def), "p:fuselab/%s %s folio=%s\n", name, sym,
		 kp_arg0);
	return kp_write("kprobe_events", def, true);
}

static void kp_remove(void)
{
	kp_write("events/fuselab/enable", "0", false);
	kp_write("kprobe_events", "-:fuselab/fl_flush\n", true);
	kp_write("kprobe_events", "-:fuselab/fl_unpin\n", true);
}

int fl_folio_order_start(void)
{
	int ret;

	kp_remove();
	if ((ret = kp_add("fl_flush", "flush_dcache_folio")) ||
	    (ret = kp_add("fl_unpin", "unpin_folio")) ||
	    (ret = kp_write("current_tracer", "nop", false)) ||
	    (ret = kp_write("buffer_size_kb", "4096", false)) ||
	    (ret = kp_write("trace", "", false)) ||
	    (ret = kp_write("events/fuselab/enable", "1", false)) ||
	    (ret = kp_write("tracing_on", "1", false)))
		kp_remove();
	return ret;
}

/* The index of @folio in o->unpinned, or -1. */
static int kp_unpinned(const struct fl_folio_order *o, unsigned long folio)
{
	for (unsigned int i = 0; i < o->nunpinned; i++)
		if (o->unpinned[i] == folio)
			return i;
	return -1;
}

/*
 *   comm-pid [cpu] flags ts: fl_unpin: (unpin_folio+0x0/0x..) folio=0x...
 * Returns 'f' (a flush), 'u' (an unpin) or 0 (anything else).
 */
static char kp_event(const char *line, unsigned long *folio)
{
	const char *arg = strstr(line, " folio=0x");

	if (line[0] == '#' || !arg)
		return 0;
	*folio = strtoul(arg + 9, NULL, 16);
	if (strstr(line, " fl_flush: "))
		return 'f';
	return strstr(line, " fl_unpin: ") ? 'u' : 0;
}

/*
 * Stop and read the trace twice: first the unpins (the folios that matter,
 * each with the event number of its first unpin), then each flush of one of
 * those folios, as before or after that unpin.
 */
int fl_folio_order_stop(struct fl_folio_order *o)
{
	unsigned long in_buf, written, folio, n;
	char line[512], ev;
	int pass, i;

	memset(o, 0, sizeof(*o));
	kp_write("tracing_on", "0", false);
	for (pass = 0; pass < 2; pass++) {
		FILE *f = fopen(KP_TRACE "/trace", "r");

		if (!f)
			return -errno;
		for (n = 0; fgets(line, sizeof(line), f); n++) {
			if (sscanf(line, "# entries-in-buffer/entries-written: %lu/%lu",
				   &in_buf, &written) == 2)
				o->lost = written - in_buf;
			ev = kp_event(line, &folio);
			i = ev ? kp_unpinned(o, folio) : -1;
			if (!pass && ev == 'u' && i < 0 &&
			    o->nunpinned < FL_MAX_UNPINS) {
				o->unpinned[o->nunpinned] = folio;
				o->first_unpin[o->nunpinned++] = n;
			} else if (pass && ev == 'f' && i >= 0) {
				if (n < o->first_unpin[i])
					o->flushes_before++;
				else if (!o->flushes_after++)
					o->late_folio = folio;
			}
		}
		fclose(f);
	}
	kp_remove();
	return 0;
}

/* Can the first argument's register be named here? */
bool fl_folio_order_supported(void)
{
	return kp_arg0;
}
