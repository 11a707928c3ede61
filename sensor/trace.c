// SPDX-License-Identifier: MIT
/*
 * wirelog-sensor trace: loads bpf/trace.bpf.c (syscall tracepoints, sock/sched tracepoints, SSL uprobes) for a set
 * of processes and writes the framed records of bpf/wirelog_events.h (WL_REC_DATA, WL_REC_CONN, WL_REC_PROC,
 * WL_REC_TRACE_STATS) to stdout, or with --text one readable line per event.
 *
 *   wirelog-sensor trace -p PID [-p PID ...] [--follow] [--comm NAME] [-s SNAPLEN] [--no-tls] [-b RING_MB]
 *                        [--stats-ms N] [--text|--binary] [-v]
 *
 * Same stream rules as the packet mode: hello first, stats about once a second and at exit, a clean exit 0 on
 * SIGINT/SIGTERM/SIGHUP or a closed stdout after draining the ring buffer; 1 runtime failure, 2 usage or no such
 * process. The output helpers and the poll loop are the packet mode's (sensor/common.c).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "wirelog_events.h"
#include "trace.skel.h"
#include "common.h"
#include "modes.h"

#define MAX_PIDS 256
#define MAX_UPROBE_BINS 64
/* Trace mode's default ring (-b): a traced busy server emits several events per request, each with its payload
 * (HTTP heads: hundreds of bytes), and the agent parses them: 8 MiB (the capture default) filled during bursts
 * while the agent was descheduled on a 2-core host. */
#define TRACE_RING_MB 64

_Static_assert(sizeof(struct wl_data_event) == 112, "wl_data_event size");
_Static_assert(sizeof(struct wl_conn_event) == 88, "wl_conn_event size");
_Static_assert(sizeof(struct wl_proc_event) == 40, "wl_proc_event size");

static struct {
	pid_t pids[MAX_PIDS];
	int npids;
	bool follow;
	const char *comm;
	bool tls;
	struct stream_opts s;
} opt = { .tls = true, .s = STREAM_OPTS_DEFAULT };

static struct trace_bpf *skel;
static int ncpus;
static int64_t mono_to_real_ns;
static struct bpf_link *uprobe_links[MAX_UPROBE_BINS * 8];
static int nuprobe_links;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " trace -p PID [-p PID ...] [--follow] [--comm NAME] [-s SNAPLEN] [--no-tls] [-b RING_MB]\n"
		"                      [--stats-ms N] [--text|--binary] [-v]\n"
		"  -p PID         trace this process (repeatable; comma lists accepted)\n"
		"  --follow       trace the children the traced processes fork\n"
		"  --comm NAME    only tasks whose comm is NAME (alone: every process named NAME)\n"
		"  -s SNAPLEN     payload bytes copied per event, 0..%d (default %d)\n"
		"  --no-tls       no SSL_read/SSL_write uprobes\n"
		"  -b RING_MB     ring buffer size in MiB, rounded up to a power of two (default %d)\n"
		"  --stats-ms N   stats record interval in ms, 0 = only at exit (default 1000)\n"
		"  --text         one readable line per event (default when stdout is a terminal)\n"
		"  --binary       framed binary records (default otherwise)\n"
		"  -v             libbpf debug output on stderr\n"
		"stdin commands: 'stats' | 'stop' (so does the end of a piped stdin)\n",
		WL_MAX_SNAPLEN, WL_MAX_SNAPLEN, TRACE_RING_MB);
}

/* ---- text mode ---- */

static void fmt_when(char *buf, size_t n, int64_t real_ns)
{
	time_t sec = (time_t)(real_ns / 1000000000LL);
	struct tm tm;
	char hms[16];
	localtime_r(&sec, &tm);
	strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
	snprintf(buf, n, "%s.%06lld", hms, (long long)(real_ns % 1000000000LL) / 1000);
}

static void fmt_ep(char *buf, size_t n, uint8_t family, const uint8_t *addr, uint16_t port)
{
	char a[INET6_ADDRSTRLEN] = "?";
	if (family == 4)
		inet_ntop(AF_INET, addr, a, sizeof(a));
	else if (family == 6)
		inet_ntop(AF_INET6, addr, a, sizeof(a));
	snprintf(buf, n, family == 6 ? "[%s]:%u" : "%s:%u", a, port);
}

static const char *sys_name(unsigned s)
{
	switch (s) {
	case WL_SYS_READ: return "read";
	case WL_SYS_WRITE: return "write";
	case WL_SYS_READV: return "readv";
	case WL_SYS_WRITEV: return "writev";
	case WL_SYS_RECVFROM: return "recvfrom";
	case WL_SYS_SENDTO: return "sendto";
	case WL_SYS_RECVMSG: return "recvmsg";
	case WL_SYS_SENDMSG: return "sendmsg";
	case WL_SYS_SENDFILE: return "sendfile";
	case WL_SYS_SSL_READ: return "SSL_read";
	case WL_SYS_SSL_WRITE: return "SSL_write";
	case WL_SYS_SSL_READ_EX: return "SSL_read_ex";
	case WL_SYS_SSL_WRITE_EX: return "SSL_write_ex";
	default: return "?";
	}
}

static void text_data(const struct wl_data_event *ev, const unsigned char *payload, uint32_t cap, int64_t ts)
{
	char when[32], l[64], r[64], comm[17], preview[65];
	fmt_when(when, sizeof(when), ts);
	fmt_ep(l, sizeof(l), ev->family, ev->laddr, ev->lport);
	fmt_ep(r, sizeof(r), ev->family, ev->raddr, ev->rport);
	memcpy(comm, ev->comm, 16);
	comm[16] = 0;
	uint32_t pn = cap < 64 ? cap : 64;
	for (uint32_t i = 0; i < pn; i++)
		preview[i] = payload[i] >= 0x20 && payload[i] < 0x7f ? (char)payload[i] : '.';
	preview[pn] = 0;
	out_text("%s %s %d/%u %s fd %d %s %s %s %s len %u cap %u%s%s \"%s\"\n", when, comm, ev->pid, ev->tid,
		 ev->source == WL_SRC_TLS ? "tls" : "sys", ev->fd, sys_name(ev->syscall), l,
		 ev->direction == WL_DIR_OUT ? ">" : "<", r, ev->len, cap, ev->flags & WL_DF_TLS ? " [tls-bytes]" : "",
		 ev->flags & WL_DF_FD_GUESS ? " [fd-guess]" : "", preview);
}

static const char *tcp_state(unsigned s)
{
	static const char *names[] = { "?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
				       "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV" };
	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static void text_conn(const struct wl_conn_event *ev, int64_t ts)
{
	static const char *kinds[] = { "?", "connect", "accept", "close", "state" };
	char when[32], l[64], r[64], comm[17];
	fmt_when(when, sizeof(when), ts);
	fmt_ep(l, sizeof(l), ev->family, ev->laddr, ev->lport);
	fmt_ep(r, sizeof(r), ev->family, ev->raddr, ev->rport);
	memcpy(comm, ev->comm, 16);
	comm[16] = 0;
	if (ev->kind == WL_CONN_STATE)
		out_text("%s %s %d/%u state %s - %s %s -> %s\n", when, comm[0] ? comm : "-", ev->pid, ev->tid, l, r,
			 tcp_state(ev->old_state), tcp_state(ev->new_state));
	else
		out_text("%s %s %d/%u %s fd %d %s - %s ret %d\n", when, comm, ev->pid, ev->tid,
			 ev->kind < 5 ? kinds[ev->kind] : "?", ev->fd, l, r, ev->ret);
}

static void text_proc(const struct wl_proc_event *ev, int64_t ts)
{
	char when[32], comm[17];
	fmt_when(when, sizeof(when), ts);
	memcpy(comm, ev->comm, 16);
	comm[16] = 0;
	if (ev->kind == WL_PROC_FORK)
		out_text("%s %s fork %u -> %u\n", when, comm, ev->ppid, ev->pid);
	else
		out_text("%s %s exit %u status %u (code %u signal %u)\n", when, comm, ev->pid, ev->exit_code,
			 (ev->exit_code >> 8) & 0xff, ev->exit_code & 0x7f);
}

/* ---- ring buffer: the three event kinds have distinct sizes (data >= 112, conn 88, proc 40) ---- */

static int on_event(void *ctx, void *data, size_t size)
{
	if (size >= sizeof(struct wl_data_event)) {
		struct wl_data_event ev;
		memcpy(&ev, data, sizeof(ev));
		uint32_t cap = ev.cap_len;
		if (cap > size - sizeof(ev))
			cap = (uint32_t)(size - sizeof(ev));
		ev.cap_len = cap;
		ev.ts_enter_ns = (uint64_t)((int64_t)ev.ts_enter_ns + mono_to_real_ns);
		ev.ts_exit_ns = (uint64_t)((int64_t)ev.ts_exit_ns + mono_to_real_ns);
		const unsigned char *payload = (const unsigned char *)data + sizeof(ev);
		if (opt.s.text) {
			text_data(&ev, payload, cap, (int64_t)ev.ts_exit_ns);
			records_written++;
		} else {
			write_record(WL_REC_DATA, &ev, sizeof(ev), payload, cap);
		}
	} else if (size == sizeof(struct wl_conn_event)) {
		struct wl_conn_event ev;
		memcpy(&ev, data, sizeof(ev));
		ev.ts_ns = (uint64_t)((int64_t)ev.ts_ns + mono_to_real_ns);
		if (opt.s.text) {
			text_conn(&ev, (int64_t)ev.ts_ns);
			records_written++;
		} else {
			write_record(WL_REC_CONN, &ev, sizeof(ev), NULL, 0);
		}
	} else if (size == sizeof(struct wl_proc_event)) {
		struct wl_proc_event ev;
		memcpy(&ev, data, sizeof(ev));
		ev.ts_ns = (uint64_t)((int64_t)ev.ts_ns + mono_to_real_ns);
		if (opt.s.text) {
			text_proc(&ev, (int64_t)ev.ts_ns);
			records_written++;
		} else {
			write_record(WL_REC_PROC, &ev, sizeof(ev), NULL, 0);
		}
	}
	return stdout_gone ? -EPIPE : 0;
}

static void emit_stats(void)
{
	uint64_t c[WL_TRC_CNT_MAX]; /* indexed by enum wl_trace_counter */
	sum_percpu_counters(bpf_map__fd(skel->maps.counters), ncpus, c, WL_TRC_CNT_MAX);
	struct wl_trace_stats st = {
		.ts_ns = (uint64_t)clock_ns(CLOCK_REALTIME),
		.events_sent = c[WL_TRC_CNT_EVENTS_SENT],
		.ringbuf_drops = c[WL_TRC_CNT_RINGBUF_DROPS],
		.data_events = c[WL_TRC_CNT_DATA_EVENTS],
		.tls_events = c[WL_TRC_CNT_TLS_EVENTS],
		.conn_events = c[WL_TRC_CNT_CONN_EVENTS],
		.proc_events = c[WL_TRC_CNT_PROC_EVENTS],
		.nonsock_skipped = c[WL_TRC_CNT_NONSOCK_SKIPPED],
		.mmsg_calls = c[WL_TRC_CNT_MMSG_CALLS],
		.truncated = c[WL_TRC_CNT_TRUNCATED],
		.copy_failed = c[WL_TRC_CNT_COPY_FAILED],
	};
	if (opt.s.text) {
		records_written++;
		out_text("stats: sent %llu drops %llu data %llu tls %llu conn %llu proc %llu nonsock %llu mmsg %llu "
			 "truncated %llu copyfail %llu written %llu\n",
			 (unsigned long long)st.events_sent, (unsigned long long)st.ringbuf_drops,
			 (unsigned long long)st.data_events, (unsigned long long)st.tls_events,
			 (unsigned long long)st.conn_events, (unsigned long long)st.proc_events,
			 (unsigned long long)st.nonsock_skipped, (unsigned long long)st.mmsg_calls,
			 (unsigned long long)st.truncated, (unsigned long long)st.copy_failed,
			 (unsigned long long)records_written);
	} else {
		st.records_written = records_written + 1;
		write_record(WL_REC_TRACE_STATS, &st, sizeof(st), NULL, 0);
	}
}

/* ---- stdin ---- */

/* one trimmed, non-empty line */
static void run_command(char *line)
{
	stats_command(line, emit_stats);
}

static bool read_commands(void)
{
	static char buf[4096];
	static size_t len;
	return read_stdin_lines(buf, sizeof(buf), &len, run_command, NULL);
}

/* ---- setup ---- */

static void add_pid(const char *s)
{
	const char *p = s;
	while (*p) {
		char *end;
		errno = 0;
		long v = strtol(p, &end, 10);
		if (end == p || errno || v < 1 || v > INT_MAX || (*end && *end != ','))
			usage_error("bad pid: %s", s);
		if (opt.npids >= MAX_PIDS)
			usage_error("too many pids (at most 256): %s", s);
		opt.pids[opt.npids++] = (pid_t)v;
		p = *end == ',' ? end + 1 : end;
	}
}

static void parse_args(int argc, char **argv)
{
	enum { OPT_FOLLOW = OPT_MODE, OPT_COMM, OPT_NOTLS };
	static const struct option longs[] = {
		{ "pid", required_argument, 0, 'p' },       { "snaplen", required_argument, 0, 's' },
		{ "ring-mb", required_argument, 0, 'b' },   { "stats-ms", required_argument, 0, OPT_STATS },
		{ "text", no_argument, 0, OPT_TEXT },       { "binary", no_argument, 0, OPT_BINARY },
		{ "follow", no_argument, 0, OPT_FOLLOW },   { "comm", required_argument, 0, OPT_COMM },
		{ "no-tls", no_argument, 0, OPT_NOTLS },    { "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' },            { 0, 0, 0, 0 },
	};
	opterr = 0;
	optind = 1;
	opt.s.ring_mb = TRACE_RING_MB; /* -b overrides */
	int c;
	while ((c = getopt_long(argc, argv, ":p:s:b:vh", longs, NULL)) != -1) {
		switch (c) {
		case 'p':
			add_pid(optarg);
			break;
		case OPT_FOLLOW: opt.follow = true; break;
		case OPT_COMM:
			if (!*optarg || strlen(optarg) > 15)
				usage_error("bad --comm (1..15 characters, as in /proc/PID/comm): %s", optarg);
			opt.comm = optarg;
			break;
		case OPT_NOTLS: opt.tls = false; break;
		default:
			stream_opt(c, argv, &opt.s, usage);
		}
	}
	stream_opts_end(argc, argv, &opt.s);
	if (!opt.npids && !opt.comm)
		usage_error("trace needs -p PID or --comm NAME%s", "");
	if (opt.follow && !opt.npids)
		usage_error("--follow needs -p PID%s", "");
}

/* what load_failed() tells a user without root to grant */
static const char load_caps[] = "CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN (uprobes)";

static const char *tracefs_root(void)
{
	static const char *roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	char p[128];
	for (int i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/events", roots[i]);
		if (access(p, F_OK) == 0)
			return roots[i];
	}
	return NULL;
}

/* Tracepoints need tracefs (libbpf reads their ids there): mount it when it is missing, then name any missing
 * tracepoint. Optional ones just lose their program. */
static void check_tracepoints(void)
{
	const char *root = tracefs_root();
	if (!root) {
		if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) && errno != EBUSY) {
			errmsg("tracefs is not mounted and mounting it on /sys/kernel/tracing failed: %s "
			       "(mount -t tracefs nodev /sys/kernel/tracing)", strerror(errno));
			exit(1);
		}
		root = tracefs_root();
		if (!root) {
			errmsg("tracefs has no events directory at /sys/kernel/tracing (kernel without tracepoints?)");
			exit(1);
		}
	}
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, skel->obj) {
		const char *sec = bpf_program__section_name(prog);
		if (strncmp(sec, "tracepoint/", 11) != 0)
			continue;
		char path[512];
		snprintf(path, sizeof(path), "%s/events/%s", root, sec + 11);
		if (access(path, F_OK) == 0)
			continue;
		/* dup2 is missing on arm64 (dup3 only), close_range before 5.9 */
		bool optional = strstr(sec, "mmsg") || strstr(sec, "sendfile") || strstr(sec, "dup2") ||
				strstr(sec, "close_range");
		const char *tp = sec + 11;
		char name[256];
		snprintf(name, sizeof(name), "%s", tp);
		char *slash = strchr(name, '/');
		if (slash)
			*slash = ':';
		if (optional) {
			bpf_program__set_autoload(prog, false);
			errmsg("note: tracepoint %s not found, not traced", name);
			continue;
		}
		errmsg("tracepoint %s not found in %s/events (kernel without CONFIG_FTRACE_SYSCALLS?)", name, root);
		exit(1);
	}
}

/* ---- TLS uprobes ---- */

struct bin { dev_t dev; ino_t ino; char path[PATH_MAX]; };
static struct bin bins[MAX_UPROBE_BINS];
static int nbins;
static int ssl_bins_attached;

static void add_bin(const char *path)
{
	struct stat st;
	if (nbins >= MAX_UPROBE_BINS || stat(path, &st) || !S_ISREG(st.st_mode))
		return;
	for (int i = 0; i < nbins; i++)
		if (bins[i].dev == st.st_dev && bins[i].ino == st.st_ino)
			return;
	bins[nbins].dev = st.st_dev;
	bins[nbins].ino = st.st_ino;
	snprintf(bins[nbins].path, sizeof(bins[nbins].path), "%s", path);
	nbins++;
}

/* The process's executable (node links OpenSSL statically) and every libssl it has mapped. */
static void collect_bins(pid_t pid)
{
	char p[64], exe[PATH_MAX];
	snprintf(p, sizeof(p), "/proc/%d/exe", pid);
	ssize_t n = readlink(p, exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		/* through /proc/PID/root so a process in another mount namespace resolves too */
		char rooted[PATH_MAX + 32];
		snprintf(rooted, sizeof(rooted), "/proc/%d/root%s", pid, exe);
		add_bin(access(rooted, R_OK) == 0 ? rooted : exe);
	}
	snprintf(p, sizeof(p), "/proc/%d/maps", pid);
	FILE *f = fopen(p, "r");
	if (!f)
		return;
	char line[PATH_MAX + 128];
	while (fgets(line, sizeof(line), f)) {
		char *path = strchr(line, '/');
		if (!path || !strstr(path, "libssl.so"))
			continue;
		path[strcspn(path, "\n")] = 0;
		char rooted[PATH_MAX + 32];
		snprintf(rooted, sizeof(rooted), "/proc/%d/root%s", pid, path);
		add_bin(access(rooted, R_OK) == 0 ? rooted : path);
	}
	fclose(f);
}

/* Programs started or exec'd later load the system's libssl: probe the usual places. */
static void collect_system_libssl(void)
{
	static const char *dirs[] = { "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
				      "/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib64", "/lib" };
	static const char *names[] = { "libssl.so.3", "libssl.so.1.1" };
	char p[256];
	for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++)
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			snprintf(p, sizeof(p), "%s/%s", dirs[d], names[i]);
			add_bin(p);
		}
}

static bool attach_one(struct bpf_program *prog, const char *path, const char *func, bool ret)
{
	LIBBPF_OPTS(bpf_uprobe_opts, o, .func_name = func, .retprobe = ret);
	/* pid -1: every process mapping the binary; the program filters by tgid (children started later included) */
	struct bpf_link *l = bpf_program__attach_uprobe_opts(prog, -1, path, 0, &o);
	if (!l)
		return false;
	uprobe_links[nuprobe_links++] = l;
	return true;
}

static void attach_tls(void)
{
	for (int i = 0; i < opt.npids; i++)
		collect_bins(opt.pids[i]);
	/* always, as sslsniff does: a traced process may exec a program that loads libssl later (sh → exec curl),
	 * and a probe set up once serves every such process; untraced callers pay a trap and a tgid lookup */
	collect_system_libssl();
	static const struct { const char *fn; int which; } funcs[] = {
		{ "SSL_read", 0 }, { "SSL_write", 1 }, { "SSL_read_ex", 2 }, { "SSL_write_ex", 3 },
	};
	struct bpf_program *enters[4] = { skel->progs.ssl_read_enter, skel->progs.ssl_write_enter,
					  skel->progs.ssl_read_ex_enter, skel->progs.ssl_write_ex_enter };
	for (int b = 0; b < nbins; b++) {
		int ok = 0;
		for (int f = 0; f < 4; f++) {
			/* entry and return together, or neither: a return without its entry is useless */
			if (!attach_one(enters[funcs[f].which], bins[b].path, funcs[f].fn, false))
				continue;
			if (!attach_one(skel->progs.ssl_ret, bins[b].path, funcs[f].fn, true)) {
				bpf_link__destroy(uprobe_links[--nuprobe_links]);
				continue;
			}
			ok++;
		}
		if (ok) {
			ssl_bins_attached++;
			errmsg("tls: %d SSL functions probed in %s", ok, bins[b].path);
		}
	}
}

/* the pid state array covers every tgid below pid_max (8 per word); the whole PID_MAX_LIMIT when unreadable */
static uint32_t pid_map_words(void)
{
	long max = 4194304;
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
	if (f) {
		long v;
		if (fscanf(f, "%ld", &v) == 1 && v > 0 && v <= 4194304)
			max = v;
		fclose(f);
	}
	return (uint32_t)((max + 7) / 8);
}

static bool pid_exists(pid_t pid)
{
	char p[32];
	snprintf(p, sizeof(p), "/proc/%d", pid);
	return access(p, F_OK) == 0;
}

int trace_main(int argc, char **argv)
{
	parse_args(argc, argv);
	sensor_setup(opt.s.verbose);

	for (int i = 0; i < opt.npids; i++) {
		if (!pid_exists(opt.pids[i])) {
			errmsg("no such process: %d", opt.pids[i]);
			return 2;
		}
	}
	if (geteuid() != 0) {
		errmsg("permission denied: trace needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN for uprobes)");
		return 1;
	}

	ncpus = possible_cpus();
	if (ncpus <= 0)
		return 1;

	skel = trace_bpf__open();
	if (!skel)
		load_failed("opening the BPF object", errno, load_caps, opt.s.verbose);
	skel->rodata->snaplen = opt.s.snaplen;
	skel->rodata->self_tgid = (uint32_t)getpid();
	skel->rodata->filter_pids = opt.npids > 0;
	skel->rodata->filter_comm = opt.comm != NULL;
	skel->rodata->follow = opt.follow;
	skel->rodata->tls = opt.tls;
	if (opt.comm)
		strncpy((char *)skel->rodata->comm, opt.comm, sizeof(skel->rodata->comm) - 1);
	uint64_t key = 0;
	if (getrandom(&key, sizeof(key), 0) != sizeof(key))
		key = (uint64_t)clock_ns(CLOCK_MONOTONIC) * 0x9e3779b97f4a7c15ULL;
	skel->rodata->id_key = key;
	bpf_map__set_max_entries(skel->maps.pids, pid_map_words());
	uint32_t ring_bytes = ring_bytes_for(opt.s.ring_mb);
	bpf_map__set_max_entries(skel->maps.events, ring_bytes);
	if (!opt.tls) {
		bpf_program__set_autoload(skel->progs.ssl_read_enter, false);
		bpf_program__set_autoload(skel->progs.ssl_write_enter, false);
		bpf_program__set_autoload(skel->progs.ssl_read_ex_enter, false);
		bpf_program__set_autoload(skel->progs.ssl_write_ex_enter, false);
		bpf_program__set_autoload(skel->progs.ssl_ret, false);
	}
	check_tracepoints();

	int err = trace_bpf__load(skel);
	if (err)
		load_failed("loading the BPF programs", -err, load_caps, opt.s.verbose);

	/* the pid set goes in before anything is attached: no event of a traced process is missed after "attached".
	 * One state byte per tgid, 8 to a word; bit 7 (PS_ON in trace.bpf.c) = traced. */
	int pfd = bpf_map__fd(skel->maps.pids);
	for (int i = 0; i < opt.npids; i++) {
		uint32_t k = (uint32_t)opt.pids[i], w = k >> 3;
		uint64_t word = 0;
		if (bpf_map_lookup_elem(pfd, &w, &word))
			load_failed("reading the pid map (pid above pid_max?)", errno, load_caps, opt.s.verbose);
		((uint8_t *)&word)[k & 7] |= 0x80;
		if (bpf_map_update_elem(pfd, &w, &word, BPF_ANY))
			load_failed("filling the pid map", errno, load_caps, opt.s.verbose);
	}

	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
	if (!rb)
		load_failed("creating the ring buffer reader", errno, load_caps, opt.s.verbose);

	err = trace_bpf__attach(skel);
	if (err)
		load_failed("attaching the tracepoints", -err, load_caps, opt.s.verbose);
	if (opt.tls)
		attach_tls();

	/* a pid may have exited between the check and the attach: say so now rather than trace nothing */
	for (int i = 0; i < opt.npids; i++) {
		if (!pid_exists(opt.pids[i])) {
			errmsg("no such process: %d", opt.pids[i]);
			return 2;
		}
	}

	int sfd = stop_signal_fd();
	if (sfd < 0)
		return 1;

	mono_to_real_ns = measure_clock_offset();

	char list[MAX_PIDS * 12 + 8] = "";
	size_t o = 0;
	for (int i = 0; i < opt.npids && o + 12 < sizeof(list); i++)
		o += snprintf(list + o, sizeof(list) - o, "%s%d", i ? "," : "", opt.pids[i]);
	if (opt.s.text) {
		out_text(PROG ": abi %d trace pids %s comm %s follow %d tls %d snaplen %u ring %u MiB\n", WL_ABI_VERSION,
			 o ? list : "-", opt.comm ? opt.comm : "-", opt.follow, ssl_bins_attached, opt.s.snaplen,
			 ring_bytes >> 20);
	} else {
		write_hello(opt.s.snaplen, 0, ring_bytes);
	}
	out_flush();
	errmsg("attached mode=trace pids=%s comm=%s follow=%d tls_binaries=%d snaplen=%u ring_mb=%u", o ? list : "-",
	       opt.comm ? opt.comm : "-", opt.follow, ssl_bins_attached, opt.s.snaplen, ring_bytes >> 20);

	run_loop(rb, sfd, opt.s.stats_ms, emit_stats, read_commands);

	/* Detach first (no new events), then drain everything already committed. */
	for (int i = 0; i < nuprobe_links; i++)
		bpf_link__destroy(uprobe_links[i]);
	nuprobe_links = 0;
	trace_bpf__detach(skel);
	drain(rb, emit_stats);
	ring_buffer__free(rb);
	trace_bpf__destroy(skel);
	return 0;
}
