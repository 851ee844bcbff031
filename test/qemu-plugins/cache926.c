// SPDX-License-Identifier: GPL-2.0
/*
 * cache926.c - a QEMU TCG plugin modelling the ARM926EJ-S data cache
 * (stage 2 of the alias tracer; needs QEMU >= 9.0, plugin API >= 2, for
 * register reads: Debian 12 gets QEMU 10.0 from bookworm-backports).
 *
 * What is modelled:
 *
 * - a VIVT data cache: sets indexed and lines tagged by virtual address
 *   (no ASID: Linux cleans and invalidates it on every switch_mm), 32-byte
 *   lines, 4 ways, round-robin replacement, dsize= bytes (default 16 KiB);
 * - read-allocate, write-back: a load that misses fills a line from memory,
 *   a store that hits dirties the line, a store that misses goes to memory
 *   (the write buffer, drained at once here);
 * - the cache on or off with SCTLR.M and SCTLR.C (MCR p15, 0, Rd, c1, c0, 0):
 *   off at reset and after the decompressor, whose own run with the cache
 *   on is modelled too; accesses with the cache off go to memory;
 * - the CP15 c7 operations Linux uses on ARMv5: clean / invalidate /
 *   clean+invalidate of a D line by MVA (the address read from the source
 *   register), invalidate of the whole D cache, and the "test, clean (and
 *   invalidate)" loops (MRC p15, 0, r15, c7, c10/c14, 3), taken as the
 *   whole-cache operation they loop to.
 *
 * Not modelled: page attributes (an uncached or write-through mapping is
 * taken as write-back), the write buffer's delay, random replacement
 * (Linux leaves SCTLR.RR clear on ARM926: the hardware picks a random way;
 * the model is round-robin, so runs repeat), the I-cache and the TLB.
 * DMA is not seen, but handled: see struct lost. docs/sanitizer.md.
 *
 * Every store gets a version per 4-byte word; per physical word the plugin
 * keeps the version in memory and the newest version anywhere (a byte
 * store makes its whole word newer). A load is stale, the verdict's
 * measure, when it would return older data than the newest store:
 *
 *   stale_hit    a load hits a line older than the newest store to it
 *   stale_fill   a load misses and fills from memory while a newer store
 *                sits dirty in another (aliasing) line
 *
 * and three events, counted apart:
 *
 *   clobber      a dirty half line is written back over newer data in memory
 *   lost         a dirty line was invalidated without a write-back, and
 *                the next access to its data is a load of what memory
 *                still holds (struct lost)
 *   remap        a virtual line hits on another physical line's data
 *
 * They are counted inside the same windows, on the same tagged pages and
 * with the same marker protocol as alias.c; "all_" counts cover every
 * page. Arguments: log=<file> marker=<hex> dsize=<bytes> show=<n> (log the
 * first n stale loads and events of each window, with their addresses and
 * the instruction's); whole-system mode (test/sanitize.py reads it):
 * sites=<file> text=<_stext>-<_etext> [dma_inv=<lo>-<hi>] [split=<hex>]
 * [page_offset=<hex>].
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QEMU_PLUGIN_API 2
#include "qemu-plugin-api.h"
#include "marker.h"

#define LINE		32u
#define WORDS		(LINE / 4)
#define HALF		(WORDS / 2)	/* words per dirty bit */
#define WAYS		4u
#define PAGE_SHIFT	12
#define PAGE_SIZE	(1u << PAGE_SHIFT)
#define RAM_BYTES	(256u << 20)	/* versatilepb -m 256M at 0 */
#define RAM_WORDS	(RAM_BYTES / 4)
#define NSTACK		32		/* words of the kernel stack kept */
#define NFRAMES		6		/* return addresses of a writer's */

/* A kernel writer's stack: the first text addresses above its SP */
struct wstack {
	uint32_t frame[NFRAMES];
};

struct line {
	bool valid;
	uint8_t dirty;		/* a bit per half-line, as the ARM926's */
	uint32_t va;		/* virtual line address (the tag) */
	uint32_t pa;		/* physical line address, for write-back */
	uint64_t ver[WORDS];	/* version of the data of each word */
	uint32_t dpc, dva, dstk;	/* its last store: what a clobber writes */
};

enum hazard { STALE_HIT, STALE_FILL, CLOBBER, LOST, REMAP, NHAZ };
static const char *const haz_name[NHAZ] = {
	"stale_hit", "stale_fill", "clobber", "lost", "remap"
};

/*
 * A site of whole-system mode: one kind of hazard at one instruction
 * (@rpc, the load, or the write-back or invalidation) against the store
 * that wrote the newer data (@wpc), within one window (@win, 0: none).
 */
struct site {
	uint32_t rpc, wpc, wstk;	/* wstk: the writer's stack, an id */
	uint16_t win;
	uint8_t kind;
	bool used;
	uint64_t count;
	uint32_t rva, wva, pa;	/* of the first occurrence */
	uint32_t sp, stack[NSTACK];
};

/*
 * A line invalidated with newer data than memory's in a dirty half: lost,
 * unless nothing loads it before it is overwritten. The ARMv4 WB page
 * clear and copy invalidate each line they then fill whole; DMA into a
 * buffer invalidates its lines and the device writes memory, which a
 * plugin cannot see. So a loss is judged at the word's next access: a
 * store overwrites it (no loss), a load of changed memory reads what DMA
 * wrote (no loss), a load of the very bytes the line held when it was
 * dropped reads what a real ARM926 would no longer have (lost).
 */
struct lost {
	uint32_t pa;		/* physical line address; 0: free slot */
	uint32_t ipc, iva;	/* the invalidating instruction, its address */
	uint32_t data[WORDS];	/* QEMU's memory then: the lost data */
	bool read;		/* data[] holds the snapshot */
	uint32_t sp, stack[NSTACK];	/* the invalidator's */
};

/* what a window or the whole run costs a real ARM926: docs/perf.md */
struct timing {
	uint64_t load_hit, load_miss, store_hit, store_miss;
	uint64_t wb_halves;		/* dirty half-lines written back */
	uint64_t line_ops, cache_ops;	/* c7 operations: by MVA, whole */
};

static struct {
	FILE *log, *sites;
	uint32_t marker, dsize, nsets, split;
	struct line *set;		/* nsets * WAYS */
	uint8_t *rr;			/* round-robin victim per set */
	uint64_t *mem_ver, *new_ver;	/* per physical word */
	uint32_t *wr_pc, *wr_va;	/* the store that made new_ver */
	uint8_t *pending;		/* per physical word: lost, unjudged */
	uint32_t *wr_stk;		/* per physical word: its store's stack */
	uint8_t *user_page;		/* per physical page: user-mapped */
	uint32_t text_lo, text_hi;	/* the kernel's text, for stacks */
	struct wstack *stk;		/* stacks by id - 1 */
	uint32_t *stk_hash;		/* open addressing: id, nstk_max slots */
	unsigned int nstk, nstk_max;
	uint32_t last_sp, last_stk;	/* the stack last taken, and its SP */
	uint32_t last_pc;		/* of the access before */
	uint32_t last_frame_off, last_frame;	/* the first frame it found */
	uint32_t dma_lo, dma_hi;	/* the DMA API's invalidation: no loss */
	uint32_t page_offset;		/* the linear map: PA 0 is there */
	bool regs;			/* this callback may read registers */
	const struct lost *rd_lost;	/* a loss being reported: its stack */
	uint64_t outside_ram, stk_full, run_unresolved;
	uint32_t cpsr_reg;		/* index in reg[] of CPSR, 16 */
	struct lost *lost;		/* open addressing, nlost_max slots */
	unsigned int nlost, nlost_max;
	uint64_t ver;
	uint8_t *tagged;		/* per physical page: alias windows */
	struct qemu_plugin_register *reg[17];	/* r0-r15, cpsr */
	GByteArray *rbuf;

	struct marker_msg msg;	/* being received through the marker page */
	int tagging;			/* 1 tag, -1 untag */
	uint32_t tag_lo, tag_hi;
	bool open;
	char name[200], expect[64];
	uint64_t haz[NHAZ], all_haz[NHAZ], loads, stores, cacheops;
	uint64_t unresolved;		/* accesses without a physical address */
	uint64_t unknown_ops;
	struct timing win_t, run_t;
	bool enabled;			/* SCTLR.M and SCTLR.C: D-cache on */
	uint32_t cur_va, cur_pc;	/* the access being modelled */
	unsigned int show, shown;	/* hazards logged one by one */

	struct site *site;		/* open addressing, nsite_max slots */
	unsigned int nsite, nsite_max;
	char **win_name;		/* window names, win - 1 */
	unsigned int nwin, cur_win;
	uint64_t run_haz[NHAZ];
} c = {
	.marker = 0x5a000000,
	.dsize = 16384,
	.split = 0xbf000000,		/* TASK_SIZE: modules and kernel above */
	.page_offset = 0xc0000000,
};

static uint32_t reg(unsigned int r);

static bool kernel_pc(uint32_t pc)
{
	/* the kuser helpers, 0xffff0f60-0xffff0fff, run in user mode */
	return pc >= c.split && (pc >> 12) != 0xffff0;
}

static struct site *site_slot(struct site *tab, unsigned int max,
			      uint32_t rpc, uint32_t wpc, uint32_t wstk,
			      uint8_t kind, uint16_t win)
{
	uint64_t h = ((uint64_t)rpc * 0x9e3779b1u) ^ ((uint64_t)wpc << 7) ^
		     ((uint64_t)kind << 3) ^ ((uint64_t)win << 17) ^
		     ((uint64_t)wstk << 23);
	unsigned int i = (h ^ (h >> 29)) & (max - 1);

	while (tab[i].used && !(tab[i].rpc == rpc && tab[i].wpc == wpc &&
				tab[i].wstk == wstk && tab[i].kind == kind &&
				tab[i].win == win))
		i = (i + 1) & (max - 1);
	return &tab[i];
}

static void site_grow(void)
{
	unsigned int max = c.nsite_max * 2;
	struct site *tab = calloc(max, sizeof(*tab));

	if (!tab) {
		fprintf(stderr, "cache926: out of memory for sites\n");
		abort();
	}
	for (unsigned int i = 0; i < c.nsite_max; i++) {
		struct site *o = &c.site[i];

		if (o->used)
			*site_slot(tab, max, o->rpc, o->wpc, o->wstk, o->kind,
				   o->win) = *o;
	}
	free(c.site);
	c.site = tab;
	c.nsite_max = max;
}

/* The first time a site is seen in the kernel: its stack, for a backtrace */
static void site_stack(struct site *s)
{
	if (c.rd_lost) {
		s->sp = c.rd_lost->sp;
		memcpy(s->stack, c.rd_lost->stack, sizeof(s->stack));
		return;
	}
	/* a kernel access, in a callback that can read registers */
	if (!kernel_pc(s->rpc) || !c.regs || !c.reg[13])
		return;
	s->sp = reg(13);
	g_byte_array_set_size(c.rbuf, 0);
	if (!qemu_plugin_read_memory_vaddr(s->sp, c.rbuf, sizeof(s->stack)))
		return;
	memcpy(s->stack, c.rbuf->data, sizeof(s->stack));
}

static bool text_addr(uint32_t a)
{
	/* the modules lie below the kernel, from c.split */
	return !(a & 3) && a >= c.split && a < c.text_hi &&
	       (a < 0xc0000000u || a >= c.text_lo);
}

static uint32_t stk_hash(const struct wstack *k)
{
	uint32_t h = 0;

	for (unsigned int i = 0; i < NFRAMES; i++)
		h = (h ^ k->frame[i]) * 0x9e3779b1u;
	return h;
}

/* The id of stack @k, added if new; 0 if the table is full */
static uint32_t stk_id(const struct wstack *k)
{
	unsigned int i = stk_hash(k) & (c.nstk_max - 1);

	if (c.nstk * 2 >= c.nstk_max) {
		c.stk_full++;
		return 0;
	}
	while (c.stk_hash[i]) {
		if (!memcmp(&c.stk[c.stk_hash[i] - 1], k, sizeof(*k)))
			return c.stk_hash[i];
		i = (i + 1) & (c.nstk_max - 1);
	}
	c.stk[c.nstk] = *k;
	c.stk_hash[i] = ++c.nstk;
	return c.nstk;
}

/*
 * The stack of a kernel store through a kernel mapping to a page user
 * space has used: the one store of an alias whose reader will miss it.
 * Taken again only when the stack pointer moved: a copy loop's stores
 * share their caller's.
 */
static uint32_t writer_stack(void)
{
	struct wstack k = { 0 };
	uint32_t sp = reg(13), words[NSTACK];
	unsigned int n = 0;

	if (sp == c.last_sp) {
		uint32_t frame;

		/* the same caller still: its return address is still there */
		g_byte_array_set_size(c.rbuf, 0);
		if (qemu_plugin_read_memory_vaddr(sp + c.last_frame_off, c.rbuf, 4)) {
			memcpy(&frame, c.rbuf->data, 4);
			if (frame == c.last_frame)
				return c.last_stk;
		}
	}
	g_byte_array_set_size(c.rbuf, 0);
	if (!qemu_plugin_read_memory_vaddr(sp, c.rbuf, sizeof(words)))
		return 0;
	memcpy(words, c.rbuf->data, sizeof(words));
	c.last_frame_off = 0;
	c.last_frame = words[0];
	for (unsigned int i = 0; i < NSTACK && n < NFRAMES; i++) {
		if (!text_addr(words[i]))
			continue;
		if (!n) {
			c.last_frame_off = 4 * i;
			c.last_frame = words[i];
		}
		k.frame[n++] = words[i];
	}
	c.last_sp = sp;
	c.last_stk = stk_id(&k);
	return c.last_stk;
}

/* The store a hazard is about */
struct who {
	uint32_t pc, va, stk;
};

static struct who word_writer(uint32_t w)
{
	return (struct who){ c.wr_pc[w], c.wr_va[w], c.wr_stk[w] };
}

static void site_note(enum hazard h, uint32_t pa, struct who wr)
{
	struct site *s;

	if (!c.sites)
		return;
	if (c.nsite * 2 >= c.nsite_max)
		site_grow();
	s = site_slot(c.site, c.nsite_max, c.cur_pc, wr.pc, wr.stk, h,
		      c.cur_win);
	if (!s->used) {
		*s = (struct site){
			.used = true, .rpc = c.cur_pc, .wpc = wr.pc,
			.wstk = wr.stk,
			.kind = h, .win = c.cur_win, .rva = c.cur_va,
			.wva = wr.va, .pa = pa,
		};
		site_stack(s);
		c.nsite++;
	}
	s->count++;
}

static void hazard_by(enum hazard h, uint32_t pa, struct who wr)
{
	c.run_haz[h]++;
	site_note(h, pa, wr);
	if (!c.open)
		return;
	c.all_haz[h]++;
	if (c.tagged[pa >> PAGE_SHIFT])
		c.haz[h]++;
	if (c.shown < c.show) {
		c.shown++;
		fprintf(c.log, "hazard %s pa=%08x va=%08x pc=%08x%s\n",
			haz_name[h], pa, c.cur_va, c.cur_pc,
			c.tagged[pa >> PAGE_SHIFT] ? " tagged" : "");
	}
}

/* @w: the physical word whose newer store the hazard is about */
static void hazard(enum hazard h, uint32_t pa, uint32_t w)
{
	hazard_by(h, pa, word_writer(w));
}

#define TIME(f, n)	do {			\
		c.run_t.f += (n);		\
		if (c.open)			\
			c.win_t.f += (n);	\
	} while (0)

static struct line *set_of(uint32_t va)
{
	return &c.set[((va / LINE) % c.nsets) * WAYS];
}

static struct line *lookup(uint32_t va)
{
	struct line *s = set_of(va);

	for (unsigned int w = 0; w < WAYS; w++)
		if (s[w].valid && s[w].va == (va & ~(LINE - 1)))
			return &s[w];
	return NULL;
}

/*
 * Write the dirty halves of @l back. A word of them older than memory's
 * overwrites newer data, stored through another alias: clobbered.
 */
static void write_back(struct line *l)
{
	uint32_t w0 = l->pa / 4;

	if (!l->dirty)
		return;
	for (unsigned int h = 0; h < 2; h++) {
		if (!(l->dirty & (1u << h)))
			continue;
		TIME(wb_halves, 1);
		for (unsigned int j = h * HALF; j < (h + 1) * HALF; j++) {
			if (l->ver[j] < c.mem_ver[w0 + j]) {
				/* the line's store, written over the newer one */
				uint32_t va = c.cur_va;

				c.cur_va = l->va + 4 * j;
				hazard_by(CLOBBER, l->pa + 4 * j, (struct who){
						  l->dpc, l->dva, l->dstk });
				c.cur_va = va;
			}
			c.mem_ver[w0 + j] = l->ver[j];
		}
	}
	l->dirty = 0;
}

static struct lost *lost_slot(struct lost *tab, unsigned int max, uint32_t pa)
{
	unsigned int i = (pa / LINE * 0x9e3779b1u) & (max - 1);

	while (tab[i].pa && tab[i].pa != pa)
		i = (i + 1) & (max - 1);
	return &tab[i];
}

static struct lost *lost_find(uint32_t pa)
{
	struct lost *e = lost_slot(c.lost, c.nlost_max, pa & ~(LINE - 1));

	return e->pa ? e : NULL;
}

static struct lost *lost_add(uint32_t pa)
{
	struct lost *e;

	if (c.nlost * 2 >= c.nlost_max) {
		unsigned int max = c.nlost_max * 2;
		struct lost *tab = calloc(max, sizeof(*tab));

		if (!tab) {
			fprintf(stderr, "cache926: out of memory for lost lines\n");
			abort();
		}
		for (unsigned int i = 0; i < c.nlost_max; i++)
			if (c.lost[i].pa)
				*lost_slot(tab, max, c.lost[i].pa) = c.lost[i];
		free(c.lost);
		c.lost = tab;
		c.nlost_max = max;
	}
	e = lost_slot(c.lost, c.nlost_max, pa);
	if (!e->pa)
		c.nlost++;
	return e;
}

/* Free @e's slot, moving later entries of its run back (linear probing) */
static void lost_del(struct lost *e)
{
	unsigned int max = c.nlost_max, i = e - c.lost, j = i;

	e->pa = 0;
	c.nlost--;
	for (;;) {
		struct lost *n;

		j = (j + 1) & (max - 1);
		n = &c.lost[j];
		if (!n->pa)
			return;
		if (lost_slot(c.lost, max, n->pa) != n) {
			struct lost tmp = *n;

			n->pa = 0;
			*lost_slot(c.lost, max, tmp.pa) = tmp;
		}
	}
}

/* QEMU's memory at physical @pa, through the linear map: @len bytes */
static bool read_phys(uint32_t pa, void *buf, unsigned int len)
{
	g_byte_array_set_size(c.rbuf, 0);
	if (!qemu_plugin_read_memory_vaddr(c.page_offset + pa, c.rbuf, len))
		return false;
	memcpy(buf, c.rbuf->data, len);
	return true;
}

/* A pending loss of @l's dirty data: what it was, who dropped it */
static struct lost *lost_note(const struct line *l)
{
	struct lost *e = lost_add(l->pa);

	/* a second drop of the line keeps the first's snapshot */
	if (e->pa)
		return e;
	e->pa = l->pa;
	e->ipc = c.cur_pc;
	e->iva = l->va;
	e->read = read_phys(l->pa, e->data, LINE);
	e->sp = c.regs && c.reg[13] ? reg(13) : 0;
	memset(e->stack, 0, sizeof(e->stack));
	if (e->sp && !(g_byte_array_set_size(c.rbuf, 0),
		       qemu_plugin_read_memory_vaddr(e->sp, c.rbuf,
						     sizeof(e->stack))))
		e->sp = 0;
	else if (e->sp)
		memcpy(e->stack, c.rbuf->data, sizeof(e->stack));
	return e;
}

/*
 * Invalidate @l, cleaning it first if @clean. Newer data in a dirty half
 * dropped without a write-back is pending: judged at its next access.
 */
static void drop(struct line *l, bool clean)
{
	uint32_t w0 = l->pa / 4;
	struct lost *e = NULL;

	if (!l->valid)
		return;
	if (clean) {
		write_back(l);
	} else if (c.cur_pc >= c.dma_lo && c.cur_pc < c.dma_hi) {
		/*
		 * The DMA API hands the buffer to a device that will write
		 * it: its dirty data is dropped on purpose, and memory, which
		 * the device writes where this plugin cannot see, is the data.
		 */
		for (unsigned int j = 0; j < WORDS; j++)
			if (l->ver[j] > c.mem_ver[w0 + j])
				c.new_ver[w0 + j] = c.mem_ver[w0 + j] = ++c.ver;
	} else {
		for (unsigned int j = 0; j < WORDS; j++) {
			if (!(l->dirty & (1u << (j / HALF))) ||
			    l->ver[j] <= c.mem_ver[w0 + j])
				continue;
			if (!e)
				e = lost_note(l);
			c.pending[w0 + j] = 1;
		}
	}
	l->valid = false;
	l->dirty = 0;
}

/*
 * The next access to pending words: @n words from physical word @w, a
 * load unless @store (memory is read through the linear map).
 */
static void judge_lost(uint32_t w, unsigned int n, bool store)
{
	struct lost *e = lost_find(w * 4);
	uint32_t line_w = (w * 4 & ~(LINE - 1)) / 4;
	bool left = false;

	for (unsigned int j = 0; j < n; j++) {
		uint32_t now;

		if (!c.pending[w + j])
			continue;
		c.pending[w + j] = 0;
		if (store || !e)
			continue;
		if (e->read && read_phys((w + j) * 4, &now, 4) &&
		    now != e->data[w + j - line_w]) {
			/* DMA rewrote it: the device's data, newest */
			c.mem_ver[w + j] = c.new_ver[w + j] = ++c.ver;
			c.wr_pc[w + j] = 0;
			c.wr_stk[w + j] = 0;
			continue;
		}
		{
			uint32_t pc = c.cur_pc, cva = c.cur_va;

			/* the site: the invalidation, with its stack */
			c.cur_pc = e->ipc;
			c.cur_va = e->iva + 4 * (w + j - line_w);
			c.rd_lost = e;
			hazard(LOST, w * 4 + 4 * j, w + j);
			c.rd_lost = NULL;
			c.cur_pc = pc;
			c.cur_va = cva;
		}
		/* reported once: memory is the word's data from now on */
		c.new_ver[w + j] = c.mem_ver[w + j];
	}
	if (!e)
		return;
	for (unsigned int j = 0; j < WORDS; j++)
		left |= c.pending[line_w + j];
	if (!left)
		lost_del(e);
}

static void whole_cache(bool clean, bool invalidate)
{
	TIME(cache_ops, 1);
	for (uint32_t i = 0; i < c.nsets * WAYS; i++) {
		if (invalidate)
			drop(&c.set[i], clean);
		else if (clean && c.set[i].valid)
			write_back(&c.set[i]);
	}
}

/* The first stale word of the @n words from @w0, or -1 */
static int stale_word(const uint64_t *have, uint32_t w0, unsigned int n)
{
	for (unsigned int j = 0; j < n; j++)
		if (have[j] != c.new_ver[w0 + j])
			return j;
	return -1;
}

static void access(uint32_t va, uint32_t pa, unsigned int size, bool store)
{
	uint32_t w = pa / 4, off = (pa % LINE) / 4;
	unsigned int n = size > 4 ? size / 4 : 1, j;
	struct line *l, *s;
	int k;

	if (pa >= RAM_BYTES) {
		c.outside_ram++;
		return;
	}
	/* not the decompressor's, which runs on an identity map */
	if (!kernel_pc(c.cur_pc) && va != pa)
		c.user_page[pa >> PAGE_SHIFT] = 1;
	else if (!kernel_pc(va) || !kernel_pc(c.last_pc))
		c.last_sp = 0;	/* uaccess, or a new entry: a new stack */
	c.last_pc = c.cur_pc;
	if (off + n > WORDS)
		n = WORDS - off;	/* ARMv5: no access crosses a line */
	for (j = 0; j < n; j++) {
		if (c.pending[w + j]) {
			judge_lost(w, n, store);
			break;
		}
	}
	if (!c.enabled) {
		/* cache off (reset, the decompressor's exit): memory only */
		if (store) {
			c.ver++;
			for (j = 0; j < n; j++) {
				c.mem_ver[w + j] = c.new_ver[w + j] = c.ver;
				c.wr_pc[w + j] = c.cur_pc;
				c.wr_va[w + j] = va;
				c.wr_stk[w + j] = 0;
			}
		} else {
			k = stale_word(&c.mem_ver[w], w, n);
			if (k >= 0)
				hazard(STALE_FILL, pa, w + k);
		}
		return;
	}
	l = lookup(va);
	if (l && l->pa != (pa & ~(LINE - 1))) {
		/*
		 * The virtual line holds another physical line: the mapping
		 * changed without a flush, and the hardware would hit on the
		 * old page's data. Report it, then take it as a miss.
		 */
		hazard(REMAP, pa, w);
		drop(l, true);
		l = NULL;
	}
	if (store) {
		uint32_t stk = 0;

		if (c.sites && kernel_pc(c.cur_pc) && kernel_pc(va) &&
		    c.user_page[pa >> PAGE_SHIFT])
			stk = writer_stack();
		c.stores += c.open;
		c.ver++;
		for (j = 0; j < n; j++) {
			c.new_ver[w + j] = c.ver;
			c.wr_pc[w + j] = c.cur_pc;
			c.wr_va[w + j] = va;
			c.wr_stk[w + j] = stk;
		}
		if (l) {
			TIME(store_hit, 1);
			for (j = 0; j < n; j++)
				l->ver[off + j] = c.ver;
			l->dpc = c.cur_pc;
			l->dva = va;
			l->dstk = stk;
			l->dirty |= 1u << (off / HALF);
			if ((off + n - 1) / HALF != off / HALF)
				l->dirty |= 2;
		} else {
			TIME(store_miss, 1);
			for (j = 0; j < n; j++)	/* write buffer, drained */
				c.mem_ver[w + j] = c.ver;
		}
		return;
	}
	c.loads += c.open;
	if (l) {
		TIME(load_hit, 1);
		k = stale_word(&l->ver[off], w, n);
		if (k >= 0)
			hazard(STALE_HIT, pa, w + k);
		return;
	}
	/* read-allocate: evict round-robin, fill from memory */
	TIME(load_miss, 1);
	s = set_of(va);
	l = &s[c.rr[(va / LINE) % c.nsets]++ % WAYS];
	drop(l, true);
	k = stale_word(&c.mem_ver[w], w, n);
	if (k >= 0)
		hazard(STALE_FILL, pa, w + k);
	*l = (struct line){ .valid = true, .va = va & ~(LINE - 1),
			    .pa = pa & ~(LINE - 1) };
	memcpy(l->ver, &c.mem_ver[(pa & ~(LINE - 1)) / 4], sizeof(l->ver));
}

/* ------------------------------------------------ the marker protocol */

static void print_timing(FILE *f, const struct timing *t)
{
	fprintf(f, " load_hit=%" PRIu64 " load_miss=%" PRIu64
		" store_hit=%" PRIu64 " store_miss=%" PRIu64
		" wb_halves=%" PRIu64 " line_ops=%" PRIu64 " cache_ops=%" PRIu64,
		t->load_hit, t->load_miss, t->store_hit, t->store_miss,
		t->wb_halves, t->line_ops, t->cache_ops);
}

/* The index + 1 of window @name in c.win_name, added if new */
static unsigned int window_index(const char *name)
{
	char **n;

	for (unsigned int i = 0; i < c.nwin; i++)
		if (!strcmp(c.win_name[i], name))
			return i + 1;
	if (c.nwin == UINT16_MAX)
		return 0;
	n = realloc(c.win_name, (c.nwin + 1) * sizeof(*n));
	if (!n || !(n[c.nwin] = strdup(name)))
		return 0;
	c.win_name = n;
	return ++c.nwin;
}

static void close_window(void)
{
	unsigned int pages = 0;

	if (!c.open)
		return;
	for (uint32_t p = 0; p < RAM_BYTES >> PAGE_SHIFT; p++)
		pages += c.tagged[p];
	fprintf(c.log, "window %s expect=%s pages=%u loads=%" PRIu64
		" stores=%" PRIu64 " unresolved=%" PRIu64 " cacheops=%" PRIu64,
		c.name, c.expect, pages, c.loads, c.stores, c.unresolved,
		c.cacheops);
	for (int h = 0; h < NHAZ; h++)
		fprintf(c.log, " %s=%" PRIu64, haz_name[h], c.haz[h]);
	for (int h = 0; h < NHAZ; h++)
		fprintf(c.log, " all_%s=%" PRIu64, haz_name[h], c.all_haz[h]);
	print_timing(c.log, &c.win_t);
	fputc('\n', c.log);
	fflush(c.log);
	c.open = false;
	c.cur_win = 0;
}

static void execute(void)
{
	struct marker_cmd cmd;

	marker_parse(c.msg.text, &cmd);
	c.tagging = 0;
	switch (cmd.kind) {
	case MARKER_RESET:
		if (c.open) {
			fprintf(c.log, "error: window %s was never closed\n", c.name);
			fflush(c.log);
			c.open = false;
		}
		memset(c.tagged, 0, RAM_BYTES >> PAGE_SHIFT);
		break;
	case MARKER_TAG:
	case MARKER_UNTAG:
		c.tagging = cmd.kind == MARKER_TAG ? 1 : -1;
		c.tag_lo = cmd.va;
		c.tag_hi = cmd.va + cmd.len;
		break;
	case MARKER_END:
		/* tagging ended above */
		break;
	case MARKER_OPEN:
		if (c.open) {
			/* its test died before closing it: no verdict on it */
			fprintf(c.log, "error: window %s was never closed\n", c.name);
			fflush(c.log);
		}
		c.open = true;
		snprintf(c.name, sizeof(c.name), "%s", cmd.name);
		snprintf(c.expect, sizeof(c.expect), "%s", cmd.expect);
		c.loads = c.stores = c.cacheops = c.unresolved = 0;
		c.shown = 0;
		c.cur_win = window_index(c.name);
		memset(&c.win_t, 0, sizeof(c.win_t));
		memset(c.haz, 0, sizeof(c.haz));
		memset(c.all_haz, 0, sizeof(c.all_haz));
		break;
	case MARKER_CLOSE:
		close_window();
		break;
	case MARKER_UNKNOWN:
		fprintf(c.log, "error: unknown message '%s'\n", c.msg.text);
		fflush(c.log);
		break;
	}
}

static void mem_cb(unsigned int vcpu, qemu_plugin_meminfo_t info,
		   uint64_t va, void *udata)
{
	bool store = qemu_plugin_mem_is_store(info);
	struct qemu_plugin_hwaddr *hw;
	uint32_t pa;

	if (store && (va >> PAGE_SHIFT) == (c.marker >> PAGE_SHIFT)) {
		if (marker_msg_store(&c.msg, va & (PAGE_SIZE - 1)))
			execute();
		return;
	}
	c.cur_va = va;
	c.cur_pc = (uint32_t)(uintptr_t)udata;
	/* as tb_trans registered it: with registers for the kernel's */
	c.regs = c.sites && kernel_pc(c.cur_pc);
	hw = qemu_plugin_get_hwaddr(info, va);
	if (!hw) {
		c.unresolved += c.open;
		c.run_unresolved++;
		return;
	}
	if (qemu_plugin_hwaddr_is_io(hw))
		return;
	pa = qemu_plugin_hwaddr_phys_addr(hw);
	if (store && c.tagging && va >= c.tag_lo && va < c.tag_hi &&
	    pa < RAM_BYTES)
		c.tagged[pa >> PAGE_SHIFT] = c.tagging > 0;
	access(va, pa, 1u << qemu_plugin_mem_size_shift(info), store);
}

/* ------------------------------------------------ CP15 c1 and c7 */

static uint32_t reg(unsigned int r)
{
	/* qemu_plugin_read_register() appends to the array */
	g_byte_array_set_size(c.rbuf, 0);
	if (!c.reg[r] || qemu_plugin_read_register(c.reg[r], c.rbuf) < 4)
		return 0;
	return c.rbuf->data[0] | c.rbuf->data[1] << 8 |
	       c.rbuf->data[2] << 16 | (uint32_t)c.rbuf->data[3] << 24;
}

/*
 * Does an instruction with condition @cond execute? QEMU calls an
 * instruction's callbacks before it runs, whatever its condition
 * (arm926_dma_inv_range cleans its partial lines with MCRNE).
 */
static bool cond_passed(unsigned int cond)
{
	uint32_t cpsr = reg(16);
	bool n = cpsr >> 31 & 1, z = cpsr >> 30 & 1, cf = cpsr >> 29 & 1,
	     v = cpsr >> 28 & 1, r;

	switch (cond >> 1) {
	case 0: r = z; break;
	case 1: r = cf; break;
	case 2: r = n; break;
	case 3: r = v; break;
	case 4: r = cf && !z; break;
	case 5: r = n == v; break;
	case 6: r = !z && n == v; break;
	default: return true;		/* AL (and the unconditional space) */
	}
	return (cond & 1) ? !r : r;
}

/* @udata: the instruction word of an MCR p15, 0, Rd, c1, c0, 0 */
static void cp15_c1(unsigned int vcpu, void *udata)
{
	uint32_t insn = (uint32_t)(uintptr_t)udata, sctlr;

	if (!cond_passed(insn >> 28))
		return;
	sctlr = reg((insn >> 12) & 0xf);

	c.enabled = (sctlr & 5) == 5;	/* M (MMU) and C (D-cache) */
}

struct c7_insn {
	uint32_t insn, pc;
};

/* @udata: a struct c7_insn of an MCR/MRC p15, 0, Rd, c7, CRm, opc2 */
static void cp15_c7(unsigned int vcpu, void *udata)
{
	const struct c7_insn *op = udata;
	uint32_t insn = op->insn;
	bool mrc = insn & (1u << 20);
	unsigned int crm = insn & 0xf, opc2 = (insn >> 5) & 7;
	unsigned int rd = (insn >> 12) & 0xf;
	struct line *l;

	if (!cond_passed(insn >> 28))
		return;
	c.cur_pc = op->pc;	/* the site of what it loses or clobbers */
	c.cur_va = reg(rd);
	c.regs = true;
	c.cacheops += c.open;
	if (!mrc && (crm == 6 || crm == 10 || crm == 14) && opc2 == 1)
		TIME(line_ops, 1);
	if (mrc) {
		/* test and clean / test, clean and invalidate: whole cache */
		if (rd == 15 && crm == 10 && opc2 == 3)
			whole_cache(true, false);
		else if (rd == 15 && crm == 14 && opc2 == 3)
			whole_cache(true, true);
		else
			c.unknown_ops++;
		return;
	}
	switch (crm << 4 | opc2) {
	case 0x50: case 0x51: case 0x52:	/* I cache */
	case 0xa4:				/* drain write buffer */
	case 0x00: case 0x04:			/* wait for interrupt */
		return;
	case 0x60:				/* invalidate D */
	case 0x70:				/* invalidate I + D */
		whole_cache(false, true);
		return;
	case 0x61:				/* invalidate D line, MVA */
		l = lookup(reg(rd));
		if (l)
			drop(l, false);
		return;
	case 0xa1:				/* clean D line, MVA */
		l = lookup(reg(rd));
		if (l)
			write_back(l);
		return;
	case 0xe1:				/* clean + invalidate D line, MVA */
		l = lookup(reg(rd));
		if (l)
			drop(l, true);
		return;
	default:
		c.unknown_ops++;
	}
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb);

	for (size_t i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
		uint64_t pc = qemu_plugin_insn_vaddr(insn);
		uint32_t w;

		/* sites: the kernel's stack pointer, read at a new site */
		qemu_plugin_register_vcpu_mem_cb(insn, mem_cb,
						 c.sites && kernel_pc(pc) ?
						 QEMU_PLUGIN_CB_R_REGS :
						 QEMU_PLUGIN_CB_NO_REGS,
						 QEMU_PLUGIN_MEM_RW,
						 (void *)(uintptr_t)pc);
		if (qemu_plugin_insn_size(insn) != 4 ||
		    qemu_plugin_insn_data(insn, &w, 4) != 4)
			continue;
		if ((w & 0x0ff00fff) == 0x0e000f10 && ((w >> 16) & 0xf) == 1)
			/* MCR p15, 0, Rd, c1, c0, 0 */
			qemu_plugin_register_vcpu_insn_exec_cb(insn, cp15_c1,
							       QEMU_PLUGIN_CB_R_REGS,
							       (void *)(uintptr_t)w);
		/* MCR/MRC p15, 0, Rd, c7, CRm, opc2 (any condition) */
		else if ((w & 0x0fe00f10) == 0x0e000f10 && ((w >> 16) & 0xf) == 7) {
			/* kept for the TB's life: kernel code, translated once */
			struct c7_insn *op = malloc(sizeof(*op));

			if (!op)
				continue;
			*op = (struct c7_insn){ .insn = w, .pc = pc };
			qemu_plugin_register_vcpu_insn_exec_cb(insn, cp15_c7,
							       QEMU_PLUGIN_CB_R_REGS,
							       op);
		}
	}
}

static void vcpu_init(qemu_plugin_id_t id, unsigned int vcpu)
{
	GArray *regs = qemu_plugin_get_registers();
	qemu_plugin_reg_descriptor *d = (void *)regs->data;
	static const char *const alt[16] = {
		[13] = "sp", [14] = "lr", [15] = "pc",
	};

	for (unsigned int i = 0; i < regs->len; i++) {
		for (unsigned int r = 0; r < 16; r++) {
			char name[8];

			snprintf(name, sizeof(name), "r%u", r);
			if (!strcmp(d[i].name, name) ||
			    (alt[r] && !strcmp(d[i].name, alt[r])))
				c.reg[r] = d[i].handle;
		}
	}
	for (unsigned int i = 0; i < regs->len; i++)
		if (!strcmp(d[i].name, "cpsr"))
			c.reg[16] = d[i].handle;
	for (unsigned int r = 0; r < 15; r++)
		if (!c.reg[r])
			fprintf(c.log, "error: no handle for r%u\n", r);
	if (!c.reg[16])
		fprintf(c.log, "error: no handle for cpsr\n");
	fflush(c.log);
}

static int by_count(const void *a, const void *b)
{
	const struct site *x = a, *y = b;

	if (x->used != y->used)
		return y->used - x->used;
	return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

/*
 * Whole-system mode's report: a line per site, most frequent first;
 * test/sanitize.py symbolizes and judges them.
 */
static void write_sites(void)
{
	FILE *f = c.sites;

	qsort(c.site, c.nsite_max, sizeof(*c.site), by_count);
	fprintf(f, "run split=%08x dsize=%u unknown_cp15_c7_ops=%" PRIu64
		" unresolved=%" PRIu64 " outside_ram=%" PRIu64
		" stacks_dropped=%" PRIu64 " text=%x-%x", c.split, c.dsize,
		c.unknown_ops, c.run_unresolved, c.outside_ram, c.stk_full,
		c.text_lo, c.text_hi);
	for (int h = 0; h < NHAZ; h++)
		fprintf(f, " %s=%" PRIu64, haz_name[h], c.run_haz[h]);
	print_timing(f, &c.run_t);
	fputc('\n', f);
	/* every window opened, reports or not */
	for (unsigned int i = 0; i < c.nwin; i++)
		fprintf(f, "window %s\n", c.win_name[i]);
	for (unsigned int i = 0; i < c.nsite; i++) {
		const struct site *s = &c.site[i];

		fprintf(f, "site kind=%s count=%" PRIu64 " window=%s rpc=%08x"
			" rva=%08x wpc=%08x wva=%08x pa=%08x sp=%08x stack=",
			haz_name[s->kind], s->count,
			s->win ? c.win_name[s->win - 1] : "-", s->rpc, s->rva,
			s->wpc, s->wva, s->pa, s->sp);
		for (unsigned int j = 0; j < NSTACK; j++)
			fprintf(f, "%s%08x", j ? "," : "", s->stack[j]);
		fprintf(f, " wstack=");
		for (unsigned int j = 0; j < NFRAMES; j++)
			fprintf(f, "%s%08x", j ? "," : "",
				s->wstk ? c.stk[s->wstk - 1].frame[j] : 0);
		fputc('\n', f);
	}
	fprintf(f, "end sites=%u stacks=%u\n", c.nsite, c.nstk);
	fclose(f);
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
	if (c.open)
		fprintf(c.log, "error: window %s still open at exit\n", c.name);
	fprintf(c.log, "exit unknown_cp15_c7_ops=%" PRIu64 "\n", c.unknown_ops);
	fflush(c.log);
	if (c.sites)
		write_sites();
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
					   const qemu_info_t *info,
					   int argc, char **argv)
{
	const char *log = NULL, *sites = NULL;

	for (int i = 0; i < argc; i++) {
		const char *v = strchr(argv[i], '=');

		if (v && !strncmp(argv[i], "log=", 4))
			log = v + 1;
		else if (v && !strncmp(argv[i], "marker=", 7))
			c.marker = strtoul(v + 1, NULL, 16);
		else if (v && !strncmp(argv[i], "dsize=", 6))
			c.dsize = strtoul(v + 1, NULL, 0);
		else if (v && !strncmp(argv[i], "show=", 5))
			c.show = strtoul(v + 1, NULL, 0);
		else if (v && !strncmp(argv[i], "sites=", 6))
			sites = v + 1;
		else if (v && !strncmp(argv[i], "split=", 6))
			c.split = strtoul(v + 1, NULL, 16);
		else if (v && !strncmp(argv[i], "text=", 5) &&
			 sscanf(v + 1, "%x-%x", &c.text_lo, &c.text_hi) == 2)
			;
		else if (v && !strncmp(argv[i], "dma_inv=", 8) &&
			 sscanf(v + 1, "%x-%x", &c.dma_lo, &c.dma_hi) == 2)
			;
		else if (v && !strncmp(argv[i], "page_offset=", 12))
			c.page_offset = strtoul(v + 1, NULL, 16);
		else {
			fprintf(stderr, "cache926: unknown argument '%s' (log= marker= dsize= show= sites= split= text=LO-HI dma_inv=LO-HI page_offset=)\n",
				argv[i]);
			return -1;
		}
	}
	if (c.dsize < LINE * WAYS || (c.dsize & (c.dsize - 1))) {
		fprintf(stderr, "cache926: dsize=%u: a power of two >= %u\n",
			c.dsize, LINE * WAYS);
		return -1;
	}
	c.log = log ? fopen(log, "w") : stderr;
	if (!c.log) {
		perror(log);
		return -1;
	}
	if (sites) {
		c.sites = fopen(sites, "w");
		if (!c.sites) {
			perror(sites);
			return -1;
		}
		c.nsite_max = 1024;
		c.site = calloc(c.nsite_max, sizeof(*c.site));
		c.nstk_max = 1u << 22;
		c.stk = calloc(c.nstk_max / 2, sizeof(*c.stk));
		c.stk_hash = calloc(c.nstk_max, sizeof(*c.stk_hash));
		if (!c.text_hi) {
			fprintf(stderr, "cache926: sites= needs text=LO-HI, the kernel's _stext-_etext\n");
			return -1;
		}
	}
	c.nsets = c.dsize / LINE / WAYS;
	c.set = calloc(c.nsets * WAYS, sizeof(*c.set));
	c.rr = calloc(c.nsets, 1);
	c.mem_ver = calloc(RAM_WORDS, sizeof(*c.mem_ver));
	c.new_ver = calloc(RAM_WORDS, sizeof(*c.new_ver));
	c.wr_pc = calloc(RAM_WORDS, sizeof(*c.wr_pc));
	c.wr_va = calloc(RAM_WORDS, sizeof(*c.wr_va));
	c.pending = calloc(RAM_WORDS, 1);
	c.wr_stk = calloc(RAM_WORDS, sizeof(*c.wr_stk));
	c.user_page = calloc(RAM_BYTES >> PAGE_SHIFT, 1);
	c.nlost_max = 1024;
	c.lost = calloc(c.nlost_max, sizeof(*c.lost));
	c.tagged = calloc(RAM_BYTES >> PAGE_SHIFT, 1);
	c.rbuf = g_byte_array_new();
	if (!c.set || !c.rr || !c.mem_ver || !c.new_ver || !c.wr_pc ||
	    !c.wr_va || !c.pending || !c.lost || !c.tagged || !c.rbuf ||
	    !c.wr_stk || !c.user_page ||
	    (sites && (!c.site || !c.stk || !c.stk_hash)))
		return -1;
	fprintf(c.log, "cache926: VIVT D-cache %u bytes, %u ways, %u-byte lines\n",
		c.dsize, WAYS, LINE);
	fflush(c.log);
	qemu_plugin_register_vcpu_init_cb(id, vcpu_init);
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
