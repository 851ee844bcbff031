/* /init for the traced GUP-fast run on sh4 (QEMU -M r2d), built against the kernel's nolibc
 * with the no_treg_combine gcc plugin (see test/sh4/README.md).
 *
 * 1. mounts devtmpfs, proc, sysfs, tracefs;
 * 2. optionally (kernel cmdline "trace_bcd=<hex &cpu_data> trace_shm=<hex &shm_align_mask>")
 *    pokes, through /dev/mem, the D-cache geometry of a real SH7751R (16 KB per way:
 *    alias_mask 0x3000, n_aliases 4, shm_align_mask 0x3fff) into the running kernel, because
 *    QEMU's SH7751R model reports CVR 0x00110000 (4 KB D-cache -> n_aliases 0), with which
 *    flush_anon_page() never calls __flush_anon_page();
 * 3. sets up the function tracer on gup_fast_fallback, __get_user_pages, __flush_anon_page
 *    with func_stack_trace;
 * 4. mmaps NPAGES private anonymous pages, fills them, vmsplice()s them into a pipe 16 pages
 *    at a time (vmsplice -> iter_to_pipe -> iov_iter_get_pages2 -> get_user_pages_fast) and
 *    reads the pipe back and verifies it;
 * 5. stops tracing, counts hits in /sys/kernel/tracing/trace, prints a summary and the first
 *    lines of the trace, powers off.
 */
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NPAGES 64
#define CHUNK 16		/* PIPE_DEF_BUFFERS */
#define PGSZ 4096
#define T "/sys/kernel/tracing/"

/* offsets in struct sh_cpuinfo (arch/sh/include/asm/processor.h, cache.h; 32-bit) */
#define OFF_DCACHE	64	/* 6 words + struct cache_info icache (40 bytes) */
#define CI_WAYS		0
#define CI_SETS		4
#define CI_LINESZ	8
#define CI_ENTRY_MASK	24
#define CI_ALIAS_MASK	28
#define CI_N_ALIASES	32

struct my_iovec { void *base; unsigned long len; };

static char *my_strcat(char *d, const char *s)
{
	strcpy(d + strlen(d), s);
	return d;
}
#define strcat my_strcat


static int wfile(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_TRUNC);
	int r, len = strlen(val), done = 0;

	if (fd < 0) {
		printf("open %s failed errno=%d\n", path, errno);
		return -1;
	}
	/* ftrace's regex files take one word per write(): loop */
	while (done < len) {
		r = write(fd, val + done, len - done);
		if (r <= 0) {
			printf("write '%s' to %s failed at %d r=%d errno=%d\n", val, path, done, r, errno);
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

/* is "name" a whole line (first word) of available_filter_functions? */
static int in_aff(const char *buf, const char *name)
{
	const char *p = buf;
	size_t l = strlen(name);

	while (p && *p) {
		if (!strncmp(p, name, l) && (p[l] == '\n' || p[l] == ' ' || p[l] == 0))
			return 1;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return 0;
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

static void poke_aliases(void)
{
	unsigned long bcd = hexenv("trace_bcd"), shm = hexenv("trace_shm");
	unsigned int w[10], v;
	int fd, i;

	if (!bcd || !shm) {
		printf("SH4-TRACE no poke: D-cache geometry as probed (QEMU)\n");
		return;
	}
	fd = open("/dev/mem", O_RDWR | O_SYNC);
	if (fd < 0) {
		printf("open /dev/mem failed errno=%d\n", errno);
		return;
	}
	for (i = 0; i < 9; i++)
		mem_rw(fd, bcd + OFF_DCACHE + 4 * i, &w[i], 0);
	mem_rw(fd, shm, &v, 0);
	printf("SH4-TRACE before poke: dcache ways=%u sets=%u linesz=%u entry_mask=0x%x alias_mask=0x%x n_aliases=%u shm_align_mask=0x%x\n",
	       w[0], w[1], w[2], w[6], w[7], w[8], v);
	if (w[0] != 2 || w[2] != 32 || w[6] != 0x7e0) {
		printf("SH4-TRACE unexpected cache_info layout, not poking\n");
		close(fd);
		return;
	}
	v = 0x3000; mem_rw(fd, bcd + OFF_DCACHE + CI_ALIAS_MASK, &v, 1);
	v = 4;      mem_rw(fd, bcd + OFF_DCACHE + CI_N_ALIASES, &v, 1);
	v = 0x3fff; mem_rw(fd, shm, &v, 1);
	for (i = 0; i < 9; i++)
		mem_rw(fd, bcd + OFF_DCACHE + 4 * i, &w[i], 0);
	mem_rw(fd, shm, &v, 0);
	printf("SH4-TRACE after poke:  dcache alias_mask=0x%x n_aliases=%u shm_align_mask=0x%x (as a real SH7751R, 16 KB/way)\n",
	       w[7], w[8], v);
	close(fd);
}

/* colours of the user and kernel (P1) addresses of each page, from /proc/self/pagemap */
static void colours(unsigned char *buf)
{
	int fd = open("/proc/self/pagemap", O_RDONLY), i, differ = 0, known = 0;
	unsigned long long e;

	if (fd < 0) {
		printf("no pagemap\n");
		return;
	}
	printf("SH4-TRACE colours (user:kernel, colour = (addr>>12)&3):");
	for (i = 0; i < NPAGES; i++) {
		unsigned long va = (unsigned long)buf + i * PGSZ;
		unsigned long long pfn;

		if (lseek(fd, (va / PGSZ) * 8, SEEK_SET) < 0 || read(fd, &e, 8) != 8)
			break;
		pfn = e & ((1ULL << 55) - 1);
		if (!(e >> 63) || !pfn) {
			printf(" ?");
			continue;
		}
		known++;
		printf(" %lu:%lu", (va >> 12) & 3, (unsigned long)(pfn & 3));
		if (((va >> 12) & 3) != (pfn & 3))
			differ++;
	}
	printf("\nSH4-TRACE pages=%d known=%d colour_differs=%d\n", NPAGES, known, differ);
	close(fd);
}

static int gup_test(void)
{
	unsigned char *buf, *rb;
	int p[2], i, j, bad = 0;

	buf = mmap(NULL, NPAGES * PGSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	rb = mmap(NULL, CHUNK * PGSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || rb == MAP_FAILED) {
		printf("mmap failed\n");
		return -1;
	}
	/* first touch in reverse order: the page allocator hands out consecutive PFNs, so this
	 * makes user colour - kernel colour vary from page to page (some pages must alias) */
	for (i = NPAGES - 1; i >= 0; i--)
		memset(buf + i * PGSZ, 0x11 + i, PGSZ);
	memset(rb, 0, CHUNK * PGSZ);
	printf("SH4-TRACE buf=%p (%d pages), rb=%p\n", buf, NPAGES, rb);
	colours(buf);
	if (pipe(p)) {
		printf("pipe failed\n");
		return -1;
	}

	wfile(T "trace", "");
	wfile(T "tracing_on", "1");
	for (i = 0; i < NPAGES; i += CHUNK) {
		struct my_iovec iov = { buf + i * PGSZ, CHUNK * PGSZ };
		long n = syscall(__NR_vmsplice, p[1], &iov, 1, 0), got = 0, r;

		if (n != CHUNK * PGSZ)
			printf("vmsplice returned %ld errno=%d\n", n, errno);
		while (got < n && (r = read(p[0], rb + got, n - got)) > 0)
			got += r;
		for (j = 0; j < got; j++)
			if (rb[j] != (unsigned char)(0x11 + i + j / PGSZ))
				bad++;
		printf("SH4-TRACE chunk %d: vmsplice=%ld read=%ld mismatches_so_far=%d\n", i / CHUNK, n, got, bad);
	}
	wfile(T "tracing_on", "0");
	printf("SH4-TRACE data %s (%d bad bytes)\n", bad ? "MISMATCH" : "ok", bad);
	return bad;
}

/* Stream /sys/kernel/tracing/trace line by line.
 * Function-tracer lines are "TASK-PID [CPU] FLAGS TS: <ip> <-<parent_ip>".  On sh, mcount.S passes
 * (r4 = caller's return address, r5 = return address into the traced function), i.e. ip and
 * parent_ip swapped, so the line for an entry into F reads "<caller of F> <-F".  Count both forms. */
/* call edges ("caller <-callee" on sh) counted over the whole trace */
static const char *edges[] = {
	"__iov_iter_get_pages_alloc <-get_user_pages_fast",
	"get_user_pages_fast <-gup_fast_fallback",
	"gup_fast_fallback <-__pte_offset_map",		/* inlined gup_fast() walking the page table */
	"gup_fast_fallback <-__gup_longterm_locked",	/* slow path */
	"__gup_longterm_locked <-__get_user_pages",
	"__get_user_pages <-__flush_anon_page",
	"__flush_anon_page <-kmap_coherent",
	"kunmap_coherent <-sh4__flush_purge_region",
	"__flush_anon_page <-sh4__flush_purge_region",
	"__get_user_pages <-flush_dcache_folio",
	"sys_vmsplice <-add_to_pipe",
	"syscall_call <-sys_vmsplice",
};
#define NEDGES (sizeof(edges) / sizeof(edges[0]))

static void count_trace(int all)
{
	int ecount[NEDGES] = { 0 };
	static const char *fn[3] = { "gup_fast_fallback", "__get_user_pages", "__flush_anon_page" };
	static char rbuf[65536], line[1024];
	int hits[3] = { 0 }, swp[3] = { 0 }, vms[3] = { 0 }, cur = -1, curvm = 0;
	long printed = 0, total = 0, shown = 0, chunk1 = -1;
	int fd = open(T "trace", O_RDONLY), ll = 0, k;
	long r, i;

	if (fd < 0) {
		printf("cannot open trace\n");
		return;
	}
	printf("----- selected lines of " T "trace (first 40 lines, then the whole first vmsplice() call, then every line naming a traced function or vmsplice, max 700) -----\n");
	while ((r = read(fd, rbuf, sizeof(rbuf))) > 0) {
		for (i = 0; i < r; i++) {
			char pat[64], *l = line;
			int sel = 0;

			if (rbuf[i] != '\n') {
				if (ll < (int)sizeof(line) - 1)
					line[ll++] = rbuf[i];
				continue;
			}
			line[ll] = 0;
			ll = 0;
			total++;
			if (*l == '#') {
				if (printed < 40)
					printf("%s\n", l), printed++;
				continue;
			}
			if (strstr(l, " => ")) {
				if (cur >= 0 && !curvm && strstr(l, "vmsplice"))
					curvm = 1, vms[cur]++;
				if (cur >= 0 && shown < 300)
					printf("%s\n", l), shown++;
				continue;
			}
			cur = -1;
			for (k = 0; k < (int)NEDGES; k++) {
				char *q = strstr(l, edges[k]);

				if (q && q[strlen(edges[k])] == 0 && q > l && q[-1] == ' ')
					ecount[k]++;
			}
			for (k = 0; k < 3; k++) {
				strcpy(pat, ": ");
				strcat(pat, fn[k]);
				strcat(pat, " <-");	/* normal: "F <-caller" */
				if (strstr(l, pat)) {
					hits[k]++;
					cur = k;
					curvm = 0;
					sel = 1;
				}
				strcpy(pat, "<-");
				strcat(pat, fn[k]);	/* sh swapped: "caller <-F" (line must end there) */
				{
					char *q = strstr(l, pat);

					if (q && q[strlen(pat)] == 0) {
						swp[k]++;
						sel = 1;
					}
				}
			}
			if (strstr(l, "vmsplice"))
				sel = 1;
			/* print the whole first vmsplice() call (up to 400 lines) */
			if (chunk1 < 0 && strstr(l, "syscall_call <-sys_vmsplice"))
				chunk1 = 0;
			if (chunk1 >= 0 && chunk1 < 400 && shown < 400) {
				printf("%s\n", l);
				shown++;
				if (strstr(l, "sys_vmsplice <-kfree"))
					chunk1 = 400;	/* end of the first call */
				else
					chunk1++;
				continue;
			}
			if (printed < 40)
				printf("%s\n", l), printed++;
			else if (sel && shown < 700)
				printf("%s\n", l), shown++;
		}
	}
	close(fd);
	printf("----- end (%ld lines) -----\n", total);
	printf("SH4-TRACE mode=%s\n", all ? "all-functions(pid-filtered)" : "set_ftrace_filter");
	printf("SH4-TRACE gup_fast_fallback=%d __get_user_pages=%d __flush_anon_page=%d\n",
	       all ? swp[0] : hits[0], all ? swp[1] : hits[1], all ? swp[2] : hits[2]);
	for (k = 0; k < (int)NEDGES; k++)
		printf("SH4-TRACE edge %5d  %s\n", ecount[k], edges[k]);
	printf("SH4-TRACE as-ip(F <-x): gup_fast_fallback=%d __get_user_pages=%d __flush_anon_page=%d; as-parent(x <-F): %d %d %d; with-vmsplice-frame: %d %d %d\n",
	       hits[0], hits[1], hits[2], swp[0], swp[1], swp[2], vms[0], vms[1], vms[2]);
}

int main(void)
{
	static char aff[1 << 20];
	static const char *fn[3] = { "gup_fast_fallback", "__get_user_pages", "__flush_anon_page" };
	int fd, k, have[3], all;
	char filt[128] = "";
	struct stat st;

	mkdir("/dev", 0755); mkdir("/proc", 0755); mkdir("/sys", 0755);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	fd = open("/dev/console", O_RDWR);
	if (fd >= 0) { dup2(fd, 0); dup2(fd, 1); dup2(fd, 2); }
	if (mount("proc", "/proc", "proc", 0, NULL))
		printf("mount proc failed\n");
	if (mount("sysfs", "/sys", "sysfs", 0, NULL))
		printf("mount sysfs failed\n");
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL))
		printf("mount tracefs failed errno=%d\n", errno);
	printf("SH4-TRACE trace init start\n");
	rfile("/proc/version", aff, sizeof(aff));
	printf("SH4-TRACE %s", aff);

	poke_aliases();

	if (rfile(T "available_filter_functions", aff, sizeof(aff)) < 0)
		printf("cannot read available_filter_functions\n");
	for (k = 0; k < 3; k++) {
		have[k] = in_aff(aff, fn[k]);
		printf("SH4-TRACE available_filter_functions: %s %s\n", fn[k], have[k] ? "yes" : "NO");
		if (have[k]) {
			strcat(filt, fn[k]);
			strcat(filt, " ");
		}
	}
	wfile(T "tracing_on", "0");
	all = getenv("trace_all") != NULL;
	if (all) {
		/* sh's filtered function tracing never fires (see count_trace): trace every function,
		 * but only for this task (pid 1) */
		wfile(T "buffer_size_kb", "8192");
		wfile(T "set_ftrace_pid", "1");
		filt[0] = 0;
	}
	wfile(T "set_ftrace_filter", filt);
	rfile(T "set_ftrace_filter", aff, sizeof(aff));
	printf("SH4-TRACE set_ftrace_filter now:\n%s", aff);
	wfile(T "current_tracer", "function");
	if (all && !getenv("trace_stack"))
		printf("SH4-TRACE func_stack_trace: left off (all-functions mode)\n");
	else if (stat(T "options/func_stack_trace", &st) == 0)
		printf("SH4-TRACE func_stack_trace: %s\n",
		       wfile(T "options/func_stack_trace", "1") ? "failed" : "on");
	else
		printf("SH4-TRACE func_stack_trace: not available\n");

	if (getenv("trace_extra")) {	/* debugging: add one more function to the filter */
		strcat(filt, getenv("trace_extra"));
		wfile(T "set_ftrace_filter", filt);
	}
	gup_test();
	rfile(T "current_tracer", aff, 256); printf("SH4-TRACE current_tracer=%s", aff);
	rfile(T "set_ftrace_filter", aff, 4096); printf("SH4-TRACE set_ftrace_filter (first lines):\n%.300s\n", aff);
	rfile(T "per_cpu/cpu0/stats", aff, 4096); printf("SH4-TRACE cpu0 stats:\n%s", aff);
	count_trace(all);

	syscall(__NR_sync);
	reboot(LINUX_REBOOT_CMD_POWER_OFF);
	printf("reboot(POWER_OFF) returned\n");
	return 0;
}
