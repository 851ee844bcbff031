// SPDX-License-Identifier: GPL-2.0
/*
 * /init of the SH-4 boots (test/arch/sh4.conf): which GUP path vmsplice()
 * takes, counted by the function tracer, as TAP.  Built against the
 * kernel tree's nolibc with the arch's GCC plugin (test/lib/boots.sh,
 * cmd_suite); Debian's sh4 libc is miscompiled (test/sh4/README.md).
 *
 * 1. mounts devtmpfs, proc, sysfs, tracefs;
 * 2. with "sh4_geometry=sh7751r trace_bcd=<&cpu_data> trace_shm=<&shm_align_mask>"
 *    on the kernel command line (the lab puts the addresses from System.map),
 *    writes the D-cache geometry of a real SH7751R (16 KiB per way:
 *    alias_mask 0x3000, n_aliases 4, shm_align_mask 0x3fff) into the running
 *    kernel through /dev/mem: QEMU's SH7751R reports a 4 KiB way, hence
 *    n_aliases 0, with which flush_anon_page() never calls
 *    __flush_anon_page();
 * 3. traces every function of pid 1 (on sh, set_ftrace_filter recorded
 *    nothing), vmsplice()s NPAGES anonymous pages into a pipe CHUNK pages at a
 *    time (iov_iter_get_pages2() -> get_user_pages_fast()) and reads them back;
 * 4. counts the entries of the GUP functions in the trace and prints one TAP
 *    line per assertion (each with its "measured:" counts) between the lab's
 *    markers, then the kernel log, and powers off.
 *
 * The assertions are the patched kernel's; test/expect/stock.xfail lists
 * those the stock kernel must fail.
 */
#include <sys/mount.h>
#include <sys/reboot.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NPAGES	64
#define CHUNK	16		/* PIPE_DEF_BUFFERS */
#define PGSZ	4096
#define T	"/sys/kernel/tracing/"
#define SUITE	"vmsplice_gup"

/* offsets in struct sh_cpuinfo (arch/sh/include/asm/processor.h, cache.h; 32-bit) */
#define OFF_DCACHE	64	/* 6 words + struct cache_info icache (40 bytes) */
#define CI_WAYS		0
#define CI_LINESZ	8
#define CI_ENTRY_MASK	24
#define CI_ALIAS_MASK	28
#define CI_N_ALIASES	32

struct my_iovec { void *base; unsigned long len; };

static int wfile(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_TRUNC);
	int r, len = strlen(val), done = 0;

	if (fd < 0) {
		printf("# open %s failed errno=%d\n", path, errno);
		return -1;
	}
	while (done < len) {
		r = write(fd, val + done, len - done);
		if (r <= 0) {
			printf("# write '%s' to %s failed errno=%d\n", val, path, errno);
			close(fd);
			return -1;
		}
		done += r;
	}
	close(fd);
	return 0;
}

static long rfile(const char *path, char *buf, long max)
{
	int fd = open(path, O_RDONLY);
	long n = 0, r;

	if (fd < 0)
		return -1;
	while (n < max - 1 && (r = read(fd, buf + n, max - 1 - n)) > 0)
		n += r;
	buf[n] = 0;
	close(fd);
	return n;
}

static unsigned long hexenv(const char *name)
{
	char *v = getenv(name);

	return v ? strtoul(v, NULL, 16) : 0;
}

static int mem_rw(int fd, unsigned long vaddr, unsigned int *val, int wr)
{
	unsigned long phys = vaddr & 0x1fffffff;	/* P1 -> physical */

	if (lseek(fd, phys, SEEK_SET) != (off_t)phys)
		return -1;
	return (wr ? write(fd, val, 4) : read(fd, val, 4)) == 4 ? 0 : -1;
}

/* the D-cache geometry the kernel uses, and SH7751R's written in if asked */
static unsigned int alias_mask, n_aliases, shm_mask;
static char geometry[256];

static int read_geometry(int fd, unsigned long bcd, unsigned long shm, unsigned int *w)
{
	int i;

	for (i = 0; i < 9; i++)
		if (mem_rw(fd, bcd + OFF_DCACHE + 4 * i, &w[i], 0))
			return -1;
	return mem_rw(fd, shm, &shm_mask, 0);
}

/* 0, or why the geometry could not be written */
static const char *write_geometry(void)
{
	unsigned long bcd = hexenv("trace_bcd"), shm = hexenv("trace_shm");
	unsigned int w[10], v;
	int fd;

	if (!bcd || !shm)
		return "no trace_bcd= and trace_shm= on the command line";
	fd = open("/dev/mem", O_RDWR | O_SYNC);
	if (fd < 0)
		return "cannot open /dev/mem";
	if (read_geometry(fd, bcd, shm, w)) {
		close(fd);
		return "cannot read cpu_data through /dev/mem";
	}
	snprintf(geometry, sizeof(geometry), "as probed: ways %u, line %u, entry_mask 0x%x, alias_mask 0x%x, n_aliases %u, shm_align_mask 0x%x",
		 w[CI_WAYS / 4], w[CI_LINESZ / 4], w[CI_ENTRY_MASK / 4], w[CI_ALIAS_MASK / 4],
		 w[CI_N_ALIASES / 4], shm_mask);
	if (w[CI_WAYS / 4] != 2 || w[CI_LINESZ / 4] != 32 || w[CI_ENTRY_MASK / 4] != 0x7e0) {
		close(fd);
		return "struct cache_info is not where this program expects it";
	}
	v = 0x3000;
	mem_rw(fd, bcd + OFF_DCACHE + CI_ALIAS_MASK, &v, 1);
	v = 4;
	mem_rw(fd, bcd + OFF_DCACHE + CI_N_ALIASES, &v, 1);
	v = 0x3fff;
	mem_rw(fd, shm, &v, 1);
	read_geometry(fd, bcd, shm, w);
	close(fd);
	alias_mask = w[CI_ALIAS_MASK / 4];
	n_aliases = w[CI_N_ALIASES / 4];
	return 0;
}

/* n_aliases as the kernel probed it: its boot line "D-cache : ... n_aliases=N" */
static void probed_geometry(char *log)
{
	char *d = strstr(log, "D-cache : "), *p;

	p = d ? strstr(d, "alias_mask=") : NULL;
	if (p)
		alias_mask = strtoul(p + 11, NULL, 16);
	p = d ? strstr(d, "n_aliases=") : NULL;
	n_aliases = p ? strtoul(p + 10, NULL, 10) : ~0u;
	snprintf(geometry, sizeof(geometry), "as probed: alias_mask 0x%x, n_aliases %d",
		 alias_mask, (int)n_aliases);
}

static int bad_bytes = -1;

static void vmsplice_pages(void)
{
	unsigned char *buf, *rb;
	int p[2], i, j;

	buf = mmap(NULL, NPAGES * PGSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	rb = mmap(NULL, CHUNK * PGSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || rb == MAP_FAILED || pipe(p)) {
		printf("# mmap or pipe failed errno=%d\n", errno);
		return;
	}
	/* first touch in reverse order: the page allocator hands out
	 * consecutive PFNs, so user and kernel colours differ for most pages */
	for (i = NPAGES - 1; i >= 0; i--)
		memset(buf + i * PGSZ, 0x11 + i, PGSZ);
	bad_bytes = 0;
	wfile(T "trace", "");
	wfile(T "tracing_on", "1");
	for (i = 0; i < NPAGES; i += CHUNK) {
		struct my_iovec iov = { buf + i * PGSZ, CHUNK * PGSZ };
		long n = syscall(__NR_vmsplice, p[1], &iov, 1, 0), got = 0, r;

		if (n != CHUNK * PGSZ)
			printf("# vmsplice returned %ld errno=%d\n", n, errno);
		while (got < n && (r = read(p[0], rb + got, n - got)) > 0)
			got += r;
		bad_bytes += CHUNK * PGSZ - got;
		for (j = 0; j < got; j++)
			if (rb[j] != (unsigned char)(0x11 + i + j / PGSZ))
				bad_bytes++;
	}
	wfile(T "tracing_on", "0");
}

/*
 * Entries of F in the trace.  Function-tracer lines are "TASK-PID [CPU]
 * FLAGS TS: <ip> <-<parent_ip>"; on sh, mcount.S passes them swapped, so
 * the entry into F reads "<caller of F> <-F": an entry into F is a line
 * ending in "<-F", from caller C one that also holds ": C <-F".
 */
enum { VMSPLICE, FAST, FAST_WALK, SLOW, FLUSH, NCOUNT };
static const char *const counted[NCOUNT][2] = {
	[VMSPLICE]	= { "sys_vmsplice", "syscall_call" },
	[FAST]		= { "gup_fast_fallback", NULL },
	[FAST_WALK]	= { "__pte_offset_map", "gup_fast_fallback" },	/* gup_fast()'s walk */
	[SLOW]		= { "__get_user_pages", NULL },
	[FLUSH]		= { "__flush_anon_page", NULL },
};
static int count[NCOUNT];
static long lines, overrun = -1;

static void count_line(const char *l)
{
	char pat[80];
	const char *q;
	int k;

	lines++;
	if (*l == '#')
		return;
	for (k = 0; k < NCOUNT; k++) {
		strcpy(pat, "<-");
		strcpy(pat + 2, counted[k][0]);
		q = strstr(l, pat);
		if (!q || q[strlen(pat)] || q == l || q[-1] != ' ')
			continue;
		if (counted[k][1]) {
			strcpy(pat, ": ");
			strcpy(pat + 2, counted[k][1]);
			strcpy(pat + strlen(pat), " <-");
			if (!strstr(l, pat))
				continue;
		}
		count[k]++;
	}
}

static void count_trace(void)
{
	static char rbuf[65536], line[1024], stats[4096];
	int fd = open(T "trace", O_RDONLY), ll = 0;
	long r, i;
	char *p;

	if (fd < 0) {
		printf("# cannot open " T "trace\n");
		return;
	}
	while ((r = read(fd, rbuf, sizeof(rbuf))) > 0) {
		for (i = 0; i < r; i++) {
			if (rbuf[i] != '\n') {
				if (ll < (int)sizeof(line) - 1)
					line[ll++] = rbuf[i];
				continue;
			}
			line[ll] = 0;
			ll = 0;
			count_line(line);
		}
	}
	close(fd);
	rfile(T "per_cpu/cpu0/stats", stats, sizeof(stats));
	p = strstr(stats, "overrun: ");
	if (p)
		overrun = strtol(p + 9, NULL, 10);
}

static int tap_n, tap_failed;

static void tap(int ok, const char *name, const char *why)
{
	tap_n++;
	tap_failed += !ok;
	printf("# measured: entries of sys_vmsplice %d, gup_fast_fallback %d, __get_user_pages %d, __flush_anon_page %d; GUP-fast walks (gup_fast_fallback -> __pte_offset_map) %d; n_aliases %d, alias_mask 0x%x; %d of %d bytes read back wrong; %ld trace lines, %ld overrun\n",
	       count[VMSPLICE], count[FAST], count[SLOW], count[FLUSH], count[FAST_WALK],
	       (int)n_aliases, alias_mask, bad_bytes, NPAGES * PGSZ, lines, overrun);
	if (!ok)
		printf("# %s\n", why);
	printf("%s %d - %s\n", ok ? "ok" : "not ok", tap_n, name);
}

static void dump_kernel_log(char *log, long n)
{
	char *l, *e;

	printf("FUSELAB-DMESG-BEGIN\n");
	for (l = log; l < log + n; l = e + 1) {
		e = strchr(l, '\n');
		if (!e)
			e = log + n;
		*e = 0;
		if (*l == '<' && strchr(l, '>'))	/* "<6>[    0.000000] ..." */
			l = strchr(l, '>') + 1;
		printf("%s\n", l);
	}
	printf("FUSELAB-DMESG-END\n");
}

int main(void)
{
	static char log[1 << 17];
	const char *geo = getenv("sh4_geometry"), *err = NULL;
	char why[160];
	long n;
	int fd, chunks = NPAGES / CHUNK;

	mkdir("/dev", 0755);
	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	fd = open("/dev/console", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
	}
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL);
	printf("FUSELAB-TAP-BEGIN " SUITE "\nTAP version 13\n");
	n = syscall(__NR_syslog, 3, log, sizeof(log) - 1);	/* SYSLOG_ACTION_READ_ALL */
	log[n > 0 ? n : 0] = 0;
	if (geo)
		err = write_geometry();
	else
		probed_geometry(log);
	printf("# D-cache: %s; %s\n", geometry, geo ? err ? err : "SH7751R's written in" : "QEMU's");

	/* every function of pid 1, into a buffer that holds the whole run */
	wfile(T "tracing_on", "0");
	wfile(T "buffer_size_kb", "8192");
	wfile(T "set_ftrace_pid", "1");
	wfile(T "current_tracer", "function");
	vmsplice_pages();
	count_trace();
	wfile(T "current_tracer", "nop");

	printf("1..%d\n", geo ? 5 : 4);
	if (geo)
		tap(!err && alias_mask == 0x3000 && n_aliases == 4 && shm_mask == 0x3fff,
		    "dcache_has_sh7751r_aliases",
		    err ? err : "expected alias_mask 0x3000, n_aliases 4, shm_align_mask 0x3fff");
	else
		tap(n_aliases == 0, "dcache_has_no_aliases",
		    "expected QEMU's n_aliases 0 (the kernel's boot line \"D-cache : ... n_aliases=\")");
	tap(bad_bytes == 0, "vmsplice_data_reads_back_intact",
	    "the pipe gave other bytes than the pages held (-1: the test did not run)");
	snprintf(why, sizeof(why), "expected %d entries of sys_vmsplice and at least %d of gup_fast_fallback, an overrun of 0",
		 chunks, chunks);
	tap(count[VMSPLICE] == chunks && count[FAST] >= chunks && overrun == 0,
	    "tracer_sees_each_vmsplice_enter_gup", why);
	if (geo) {
		tap(count[SLOW] >= chunks && count[FAST_WALK] == 0, "gup_takes_the_slow_path",
		    "expected __get_user_pages for each vmsplice and no GUP-fast walk");
		snprintf(why, sizeof(why), "expected a __flush_anon_page for each of the %d pages", NPAGES);
		tap(count[FLUSH] >= NPAGES, "gup_flushes_each_anon_page", why);
	} else {
		tap(count[SLOW] == 0 && count[FAST_WALK] > 0, "gup_fast_pins_the_pages",
		    "expected GUP-fast walks and no __get_user_pages: the D-cache has no aliases");
	}
	printf("FUSELAB-TAP-END " SUITE " rc=%d\n", tap_failed ? 1 : 0);

	n = syscall(__NR_syslog, 3, log, sizeof(log) - 1);
	dump_kernel_log(log, n > 0 ? n : 0);
	printf("FUSELAB-DONE\n");
	syscall(__NR_sync);
	reboot(LINUX_REBOOT_CMD_POWER_OFF);
	return 0;
}
