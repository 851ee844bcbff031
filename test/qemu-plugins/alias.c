// SPDX-License-Identifier: GPL-2.0
/*
 * alias.c - a QEMU TCG plugin that counts cross-alias loads.
 *
 * QEMU models no cache, so a guest run cannot show that a virtually
 * indexed cache would have returned stale data. What it can show is the
 * access pattern that needs cache maintenance there: a physical line
 * stored through one virtual address and then loaded through another.
 * This plugin keeps, for each line of the physical pages the guest asks it
 * to watch ("tagged" pages), the virtual line it was last stored through,
 * and counts loads through any other virtual line. Loads are classified by
 * the data address (user range below split=, kernel range above), never by
 * CPU mode: ARM's uaccess loads and stores user addresses with ldrt/strt,
 * which is the user's own line, not an alias.
 *
 * The guest talks to the plugin by storing bytes to a marker page at a
 * fixed user address (marker=). The address carries the message, not the
 * data (API v1 sees no values): a store to marker+0 starts a message, a
 * store to marker+0x100+c appends the character c, a store to marker+1
 * executes it. Messages:
 *
 *   reset                  untag every page (a window still open is an
 *                          error: its test died)
 *   tag <va> <len>         until "end", the physical page of each store
 *   untag <va> <len>       into [va, va+len) is tagged (untagged); the
 *   end                    guest then stores once to each of its pages
 *   open <expect> <name>   start counting; expect is the host's verdict
 *                          rule, logged as is (zero, nonzero, or
 *                          zero:<class>[,<class>] of k2u u2k k2k u2u)
 *   close                  write the window's counts to log= and stop
 *
 * Only stores and loads inside an open window are counted, so early boot
 * identity mappings and the set-up of a test do not count. Line state is
 * kept as long as a page is tagged, window or not.
 *
 * Debian 12's QEMU 7.2 ships no qemu-plugin.h: what this file uses of
 * plugin API version 1 is declared in qemu-plugin-api.h.
 *
 * Arguments: log=<file> split=<hex> line=<bytes> marker=<hex>
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QEMU_PLUGIN_API 1
#include "qemu-plugin-api.h"
#include "marker.h"

#define PAGE_SHIFT	12
#define PAGE_SIZE	(1ULL << PAGE_SHIFT)
#define MAX_PFN		(1ULL << 20)	/* 4 GiB of guest physical memory */
#define MAX_LINES	(PAGE_SIZE / 16)

/* The virtual line each physical line of a tagged page was last stored through. */
struct page_state {
	uint64_t line_va[MAX_LINES];
};

enum { K2U, U2K, K2K, U2U, NCLASS };
static const char *const class_name[NCLASS] = { "k2u", "u2k", "k2k", "u2u" };

static struct {
	FILE *log;
	uint64_t split, marker, line;
	pthread_mutex_t lock;

	struct page_state **page;	/* by physical page number */
	uint64_t ntagged;

	struct marker_msg msg;	/* being received through the marker page */

	enum { TAG_NONE, TAG_ADD, TAG_DEL } tagging;
	uint64_t tag_lo, tag_hi;

	bool open;
	char name[200];
	char expect[64];
	uint64_t loads, stores, count[NCLASS], max_tagged;
	uint64_t unresolved;	/* accesses whose physical address QEMU did not give */
	uint64_t first_store_va, first_load_va, first_pa;
	uint64_t windows;
} a = {
	.split = 0xbf000000,
	.marker = 0x5a000000,
	.line = 32,
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static void tag_page(uint64_t pfn, uint64_t va)
{
	struct page_state *s = a.page[pfn];

	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return;
		a.page[pfn] = s;
		a.ntagged++;
		if (a.ntagged > a.max_tagged)
			a.max_tagged = a.ntagged;
	}
	/* What the page holds now is the tagging mapping's. */
	for (uint64_t i = 0; i < PAGE_SIZE / a.line; i++)
		s->line_va[i] = (va & ~(PAGE_SIZE - 1)) + i * a.line;
}

static void untag_page(uint64_t pfn)
{
	if (!a.page[pfn])
		return;
	free(a.page[pfn]);
	a.page[pfn] = NULL;
	a.ntagged--;
}

static void untag_all(void)
{
	for (uint64_t pfn = 0; a.ntagged && pfn < MAX_PFN; pfn++)
		untag_page(pfn);
}

static void close_window(void)
{
	uint64_t cross = 0;

	if (!a.open)
		return;
	for (int c = 0; c < NCLASS; c++)
		cross += a.count[c];
	fprintf(a.log, "window %s expect=%s pages=%" PRIu64 " loads=%" PRIu64
		" stores=%" PRIu64 " unresolved=%" PRIu64 " cross=%" PRIu64,
		a.name, a.expect, a.max_tagged,
		a.loads, a.stores, a.unresolved, cross);
	for (int c = 0; c < NCLASS; c++)
		fprintf(a.log, " %s=%" PRIu64, class_name[c], a.count[c]);
	if (cross)
		fprintf(a.log, " first=0x%" PRIx64 "->0x%" PRIx64 "@pa:0x%" PRIx64,
			a.first_store_va, a.first_load_va, a.first_pa);
	fputc('\n', a.log);
	fflush(a.log);
	a.open = false;
}

static void execute(void)
{
	struct marker_cmd cmd;

	marker_parse(a.msg.text, &cmd);
	a.tagging = TAG_NONE;
	switch (cmd.kind) {
	case MARKER_RESET:
		if (a.open) {
			fprintf(a.log, "error: window %s was never closed\n", a.name);
			fflush(a.log);
			a.open = false;
		}
		untag_all();
		break;
	case MARKER_TAG:
	case MARKER_UNTAG:
		a.tagging = cmd.kind == MARKER_TAG ? TAG_ADD : TAG_DEL;
		a.tag_lo = cmd.va;
		a.tag_hi = cmd.va + cmd.len;
		break;
	case MARKER_END:
		/* tagging ended above */
		break;
	case MARKER_OPEN:
		if (a.open) {
			/* its test died before closing it: no verdict on it */
			fprintf(a.log, "error: window %s was never closed\n", a.name);
			fflush(a.log);
		}
		a.open = true;
		snprintf(a.name, sizeof(a.name), "%s", cmd.name);
		snprintf(a.expect, sizeof(a.expect), "%s", cmd.expect);
		a.loads = a.stores = a.unresolved = 0;
		memset(a.count, 0, sizeof(a.count));
		a.max_tagged = a.ntagged;
		a.windows++;
		break;
	case MARKER_CLOSE:
		close_window();
		break;
	case MARKER_UNKNOWN:
		fprintf(a.log, "error: unknown message '%s'\n", a.msg.text);
		fflush(a.log);
		break;
	}
}

static void access_line(uint64_t va, uint64_t pa, bool store)
{
	uint64_t pfn = pa >> PAGE_SHIFT;
	uint64_t lva = va & ~(a.line - 1);
	struct page_state *s;
	uint64_t *last;

	if (pfn >= MAX_PFN)
		return;
	if (store && a.tagging != TAG_NONE && va >= a.tag_lo && va < a.tag_hi) {
		if (a.tagging == TAG_ADD)
			tag_page(pfn, va);
		else
			untag_page(pfn);
		return;
	}
	s = a.page[pfn];
	if (!s)
		return;
	last = &s->line_va[(pa & (PAGE_SIZE - 1)) / a.line];
	if (store) {
		*last = lva;
		a.stores += a.open;
		return;
	}
	if (!a.open)
		return;
	a.loads++;
	if (*last != lva) {
		bool from_k = *last >= a.split, to_k = va >= a.split;
		int c = from_k ? (to_k ? K2K : K2U) : (to_k ? U2K : U2U);

		if (!a.count[K2U] && !a.count[U2K] && !a.count[K2K] &&
		    !a.count[U2U]) {
			a.first_store_va = *last;
			a.first_load_va = lva;
			a.first_pa = pa;
		}
		a.count[c]++;
	}
}

static void mem_cb(unsigned int vcpu, qemu_plugin_meminfo_t info,
		   uint64_t va, void *udata)
{
	bool store = qemu_plugin_mem_is_store(info);
	uint64_t size = 1ULL << qemu_plugin_mem_size_shift(info);
	struct qemu_plugin_hwaddr *hw;
	uint64_t pa;

	if (store && (va >> PAGE_SHIFT) == (a.marker >> PAGE_SHIFT)) {
		pthread_mutex_lock(&a.lock);
		if (marker_msg_store(&a.msg, va & (PAGE_SIZE - 1)))
			execute();
		pthread_mutex_unlock(&a.lock);
		return;
	}
	/* the common case: nothing tagged, nothing being tagged */
	if (!__atomic_load_n(&a.ntagged, __ATOMIC_RELAXED) &&
	    __atomic_load_n(&a.tagging, __ATOMIC_RELAXED) == TAG_NONE)
		return;
	hw = qemu_plugin_get_hwaddr(info, va);
	if (!hw) {
		/* counted: a window that misses accesses must say so */
		__atomic_add_fetch(&a.unresolved, a.open, __ATOMIC_RELAXED);
		return;
	}
	if (qemu_plugin_hwaddr_is_io(hw))
		return;
	pa = qemu_plugin_hwaddr_phys_addr(hw);
	pthread_mutex_lock(&a.lock);
	access_line(va, pa, store);
	pthread_mutex_unlock(&a.lock);
	/* an unaligned access that reaches into the next line */
	if (((va & (a.line - 1)) + size) > a.line) {
		uint64_t va2 = (va | (a.line - 1)) + 1;

		/* the next virtual page is not the next physical one */
		hw = (va2 & (PAGE_SIZE - 1)) ? hw : qemu_plugin_get_hwaddr(info, va2);
		if (!hw) {
			__atomic_add_fetch(&a.unresolved, a.open, __ATOMIC_RELAXED);
			return;
		}
		pa = (va2 & (PAGE_SIZE - 1)) ? (pa | (a.line - 1)) + 1 :
			qemu_plugin_hwaddr_phys_addr(hw);
		pthread_mutex_lock(&a.lock);
		access_line(va2, pa, store);
		pthread_mutex_unlock(&a.lock);
	}
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb);

	for (size_t i = 0; i < n; i++)
		qemu_plugin_register_vcpu_mem_cb(qemu_plugin_tb_get_insn(tb, i),
						 mem_cb, QEMU_PLUGIN_CB_NO_REGS,
						 QEMU_PLUGIN_MEM_RW, NULL);
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
	pthread_mutex_lock(&a.lock);
	if (a.open) {
		fprintf(a.log, "error: window %s still open at exit\n", a.name);
		a.open = false;
	}
	fprintf(a.log, "exit windows=%" PRIu64 "\n", a.windows);
	fflush(a.log);
	pthread_mutex_unlock(&a.lock);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
					   const qemu_info_t *info,
					   int argc, char **argv)
{
	const char *log = NULL;

	for (int i = 0; i < argc; i++) {
		char *v = strchr(argv[i], '=');

		if (v)
			v++;
		if (!v) {
			/* fall through to the error below */
		} else if (!strncmp(argv[i], "log=", 4))
			log = v;
		else if (!strncmp(argv[i], "split=", 6))
			a.split = strtoull(v, NULL, 16);
		else if (!strncmp(argv[i], "marker=", 7))
			a.marker = strtoull(v, NULL, 16);
		else if (!strncmp(argv[i], "line=", 5))
			a.line = strtoull(v, NULL, 0);
		else
			v = NULL;
		if (!v) {
			fprintf(stderr, "alias: unknown argument '%s' (log= split= line= marker=)\n",
				argv[i]);
			return -1;
		}
	}
	if (a.line < 16 || a.line > PAGE_SIZE || (a.line & (a.line - 1))) {
		fprintf(stderr, "alias: line=%" PRIu64 ": a power of two from 16 to 4096\n",
			a.line);
		return -1;
	}
	a.log = log ? fopen(log, "w") : stderr;
	if (!a.log) {
		perror(log);
		return -1;
	}
	a.page = calloc(MAX_PFN, sizeof(*a.page));
	if (!a.page)
		return -1;
	fprintf(a.log, "alias: split=0x%" PRIx64 " line=%" PRIu64 " marker=0x%" PRIx64 "\n",
		a.split, a.line, a.marker);
	fflush(a.log);
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
