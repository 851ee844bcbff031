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
 * taken as write-back), the write buffer's delay, DMA. Versions are per
 * line, so a store to one word of a line makes the line's other words
 * "newer" too: a stale load is one that would return an older line.
 *
 * Every store gets a version; per physical line the plugin keeps the
 * version in memory and the newest version anywhere. A load is stale, the
 * verdict's measure, when it would return older data than the newest store:
 *
 *   stale_hit    a load hits a line older than the newest store to it
 *   stale_fill   a load misses and fills from memory while a newer store
 *                sits dirty in another (aliasing) line, or was lost
 *
 * and two events that lead to stale loads later are counted apart:
 *
 *   clobber      a dirty line is written back over newer data in memory
 *   lost         a dirty line is invalidated without a write-back
 *
 * They are counted inside the same windows, on the same tagged pages and
 * with the same marker protocol as alias.c; "all_" counts cover every
 * page. Arguments: log=<file> marker=<hex> dsize=<bytes> show=<n> (log the
 * first n stale loads and events of each window, with their addresses and
 * the instruction's).
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
#define WAYS		4u
#define PAGE_SHIFT	12
#define PAGE_SIZE	(1u << PAGE_SHIFT)
#define RAM_LINES	((256u << 20) / LINE)	/* versatilepb -m 256M at 0 */

struct line {
	bool valid, dirty;
	uint32_t va;		/* virtual line address (the tag) */
	uint32_t pa;		/* physical line address, for write-back */
	uint64_t ver;		/* version of the data it holds */
};

enum hazard { STALE_HIT, STALE_FILL, CLOBBER, LOST, NHAZ };
static const char *const haz_name[NHAZ] = {
	"stale_hit", "stale_fill", "clobber", "lost"
};

static struct {
	FILE *log;
	uint32_t marker, dsize, nsets;
	struct line *set;		/* nsets * WAYS */
	uint8_t *rr;			/* round-robin victim per set */
	uint64_t *mem_ver, *new_ver;	/* per physical line */
	uint64_t ver;
	uint8_t *tagged;		/* per physical page: alias windows */
	struct qemu_plugin_register *reg[16];
	GByteArray *rbuf;

	struct marker_msg msg;	/* being received through the marker page */
	int tagging;			/* 1 tag, -1 untag */
	uint32_t tag_lo, tag_hi;
	bool open;
	char name[200], expect[64];
	uint64_t haz[NHAZ], all_haz[NHAZ], loads, stores, cacheops;
	uint64_t unresolved;		/* accesses without a physical address */
	uint64_t unknown_ops;
	bool enabled;			/* SCTLR.M and SCTLR.C: D-cache on */
	uint32_t cur_va, cur_pc;	/* the access being modelled */
	unsigned int show, shown;	/* hazards logged one by one */
} c = {
	.marker = 0x5a000000,
	.dsize = 16384,
};

static void hazard(enum hazard h, uint32_t pa)
{
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

static void write_back(struct line *l)
{
	uint32_t i = l->pa / LINE;

	if (!l->dirty)
		return;
	if (l->ver != c.new_ver[i])
		hazard(CLOBBER, l->pa);
	c.mem_ver[i] = l->ver;
	l->dirty = false;
}

static void drop(struct line *l, bool clean)
{
	if (!l->valid)
		return;
	if (clean)
		write_back(l);
	else if (l->dirty)
		hazard(LOST, l->pa);
	l->valid = l->dirty = false;
}

static void whole_cache(bool clean, bool invalidate)
{
	for (uint32_t i = 0; i < c.nsets * WAYS; i++) {
		if (invalidate)
			drop(&c.set[i], clean);
		else if (clean && c.set[i].valid)
			write_back(&c.set[i]);
	}
}

static void access(uint32_t va, uint32_t pa, bool store)
{
	uint32_t i = pa / LINE;
	struct line *l, *s;
	unsigned int w;

	if (i >= RAM_LINES)
		return;
	if (!c.enabled) {
		/* cache off (reset, the decompressor's exit): memory only */
		if (store)
			c.mem_ver[i] = c.new_ver[i] = ++c.ver;
		else if (c.mem_ver[i] != c.new_ver[i])
			hazard(STALE_FILL, pa);
		return;
	}
	l = lookup(va);
	if (store) {
		c.stores += c.open;
		c.new_ver[i] = ++c.ver;
		if (l) {
			l->ver = c.ver;
			l->dirty = true;
		} else {
			c.mem_ver[i] = c.ver;	/* write buffer, drained */
		}
		return;
	}
	c.loads += c.open;
	if (l) {
		if (l->ver != c.new_ver[i])
			hazard(STALE_HIT, pa);
		return;
	}
	/* read-allocate: evict round-robin, fill from memory */
	s = set_of(va);
	w = c.rr[(va / LINE) % c.nsets]++ % WAYS;
	drop(&s[w], true);
	if (c.mem_ver[i] != c.new_ver[i])
		hazard(STALE_FILL, pa);
	s[w] = (struct line){ .valid = true, .va = va & ~(LINE - 1),
			      .pa = pa & ~(LINE - 1), .ver = c.mem_ver[i] };
}

/* ------------------------------------------------ the marker protocol */

static void close_window(void)
{
	unsigned int pages = 0;

	if (!c.open)
		return;
	for (uint32_t p = 0; p < (RAM_LINES * LINE) >> PAGE_SHIFT; p++)
		pages += c.tagged[p];
	fprintf(c.log, "window %s expect=%s pages=%u loads=%" PRIu64
		" stores=%" PRIu64 " unresolved=%" PRIu64 " cacheops=%" PRIu64,
		c.name, c.expect, pages, c.loads, c.stores, c.unresolved,
		c.cacheops);
	for (int h = 0; h < NHAZ; h++)
		fprintf(c.log, " %s=%" PRIu64, haz_name[h], c.haz[h]);
	for (int h = 0; h < NHAZ; h++)
		fprintf(c.log, " all_%s=%" PRIu64, haz_name[h], c.all_haz[h]);
	fputc('\n', c.log);
	fflush(c.log);
	c.open = false;
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
		memset(c.tagged, 0, (RAM_LINES * LINE) >> PAGE_SHIFT);
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
	hw = qemu_plugin_get_hwaddr(info, va);
	if (!hw) {
		c.unresolved += c.open;
		return;
	}
	if (qemu_plugin_hwaddr_is_io(hw))
		return;
	pa = qemu_plugin_hwaddr_phys_addr(hw);
	if (store && c.tagging && va >= c.tag_lo && va < c.tag_hi &&
	    pa < RAM_LINES * LINE)
		c.tagged[pa >> PAGE_SHIFT] = c.tagging > 0;
	/* ARMv5 has no unaligned accesses that cross a line */
	access(va, pa, store);
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

/* @udata: Rd of an MCR p15, 0, Rd, c1, c0, 0 (write of the control register) */
static void cp15_c1(unsigned int vcpu, void *udata)
{
	uint32_t sctlr = reg((uintptr_t)udata);

	c.enabled = (sctlr & 5) == 5;	/* M (MMU) and C (D-cache) */
}

/* @udata: the instruction word of an MCR/MRC p15, 0, Rd, c7, CRm, opc2 */
static void cp15_c7(unsigned int vcpu, void *udata)
{
	uint32_t insn = (uint32_t)(uintptr_t)udata;
	bool mrc = insn & (1u << 20);
	unsigned int crm = insn & 0xf, opc2 = (insn >> 5) & 7;
	unsigned int rd = (insn >> 12) & 0xf;
	struct line *l;

	c.cacheops += c.open;
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
		uint32_t w;

		qemu_plugin_register_vcpu_mem_cb(insn, mem_cb,
						 QEMU_PLUGIN_CB_NO_REGS,
						 QEMU_PLUGIN_MEM_RW,
						 (void *)(uintptr_t)qemu_plugin_insn_vaddr(insn));
		if (qemu_plugin_insn_size(insn) != 4 ||
		    qemu_plugin_insn_data(insn, &w, 4) != 4)
			continue;
		if ((w & 0x0ff00fff) == 0x0e000f10 && ((w >> 16) & 0xf) == 1)
			/* MCR p15, 0, Rd, c1, c0, 0 */
			qemu_plugin_register_vcpu_insn_exec_cb(insn, cp15_c1,
							       QEMU_PLUGIN_CB_R_REGS,
							       (void *)(uintptr_t)((w >> 12) & 0xf));
		/* MCR/MRC p15, 0, Rd, c7, CRm, opc2 (any condition) */
		else if ((w & 0x0fe00f10) == 0x0e000f10 && ((w >> 16) & 0xf) == 7)
			qemu_plugin_register_vcpu_insn_exec_cb(insn, cp15_c7,
							       QEMU_PLUGIN_CB_R_REGS,
							       (void *)(uintptr_t)w);
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
	for (unsigned int r = 0; r < 15; r++)
		if (!c.reg[r])
			fprintf(c.log, "error: no handle for r%u\n", r);
	fflush(c.log);
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
	if (c.open)
		fprintf(c.log, "error: window %s still open at exit\n", c.name);
	fprintf(c.log, "exit unknown_cp15_c7_ops=%" PRIu64 "\n", c.unknown_ops);
	fflush(c.log);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
					   const qemu_info_t *info,
					   int argc, char **argv)
{
	const char *log = NULL;

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
		else {
			fprintf(stderr, "cache926: unknown argument '%s' (log= marker= dsize= show=)\n",
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
	c.nsets = c.dsize / LINE / WAYS;
	c.set = calloc(c.nsets * WAYS, sizeof(*c.set));
	c.rr = calloc(c.nsets, 1);
	c.mem_ver = calloc(RAM_LINES, sizeof(*c.mem_ver));
	c.new_ver = calloc(RAM_LINES, sizeof(*c.new_ver));
	c.tagged = calloc((RAM_LINES * LINE) >> PAGE_SHIFT, 1);
	c.rbuf = g_byte_array_new();
	if (!c.set || !c.rr || !c.mem_ver || !c.new_ver || !c.tagged || !c.rbuf)
		return -1;
	fprintf(c.log, "cache926: VIVT D-cache %u bytes, %u ways, %u-byte lines\n",
		c.dsize, WAYS, LINE);
	fflush(c.log);
	qemu_plugin_register_vcpu_init_cb(id, vcpu_init);
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
