// SPDX-License-Identifier: MIT
/* The pieces both sensor modes use: see common.h. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "wirelog_events.h"
#include "common.h"

#define OUT_BUF_SIZE (64 * 1024)
#define POLL_MS 10 /* most time an event waits in the ring buffer */

bool stdout_gone;
uint64_t records_written;
/* the "stop" command, or the end of a piped stdin: the agent asks for a clean stop. An agent that dropped root
 * cannot signal this process (docs/privileges.md), so its stdin is the way it stops us. */
static bool stop_requested;

static unsigned char out_buf[OUT_BUF_SIZE];
static size_t out_len;

/* ---- diagnostics ---- */

void errmsg(const char *fmt, ...)
{
	va_list ap;
	char line[1024];
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* one write per line so the agent never sees interleaved halves */
	dprintf(STDERR_FILENO, PROG ": %s\n", line);
}

void usage_error(const char *fmt, const char *arg)
{
	char m[256];
	snprintf(m, sizeof(m), fmt, arg);
	errmsg("%s (try --help)", m);
	exit(2);
}

void load_failed(const char *what, int err, const char *caps, bool verbose)
{
	if (err == EPERM)
		errmsg("permission denied %s: run as root or with %s", what, caps);
	else if (err == EACCES)
		errmsg("the kernel verifier rejected the BPF program (%s)%s", what, verbose ? "" : ": run with -v for the verifier log");
	else if (err == ENOSYS || err == EOPNOTSUPP)
		errmsg("BPF is not available in this kernel (%s: %s)", what, strerror(err));
	else
		errmsg("failed %s: %s%s", what, strerror(err), verbose ? "" : " (run with -v for libbpf's log)");
	exit(1);
}

long num_arg(const char *arg, long lo, long hi, const char *bad)
{
	char *end;
	long v = strtol(arg, &end, 10);
	if (*end || end == arg || v < lo || v > hi)
		usage_error(bad, arg);
	return v;
}

void stream_opt(int c, char **argv, struct stream_opts *o, void (*usage)(FILE *))
{
	switch (c) {
	case 's':
		o->snaplen = (unsigned)num_arg(optarg, 0, WL_MAX_SNAPLEN, "bad snaplen (0..4096): %s");
		break;
	case 'b':
		o->ring_mb = (unsigned)num_arg(optarg, 1, 1024, "bad ring buffer size in MiB (1..1024): %s");
		break;
	case OPT_STATS:
		o->stats_ms = num_arg(optarg, 0, LONG_MAX, "bad --stats-ms: %s");
		break;
	case OPT_TEXT:
		o->text = 1;
		break;
	case OPT_BINARY:
		o->text = 0;
		break;
	case 'v':
		o->verbose = true;
		break;
	case 'h':
		usage(stdout);
		exit(0);
	case ':':
		usage_error("option needs a value: %s", argv[optind - 1]);
	default:
		usage_error("unknown option: %s", argv[optind - 1]);
	}
}

void stream_opts_end(int argc, char **argv, struct stream_opts *o)
{
	if (optind < argc)
		usage_error("unexpected argument: %s", argv[optind]);
	if (o->text < 0)
		o->text = isatty(STDOUT_FILENO);
}

/* ---- output ---- */

/* Writes all of buf, riding out EINTR, partial writes and a non-blocking stdout. */
bool write_all(const unsigned char *buf, size_t n)
{
	while (n > 0 && !stdout_gone) {
		ssize_t w = write(STDOUT_FILENO, buf, n);
		if (w > 0) {
			buf += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = STDOUT_FILENO, .events = POLLOUT };
			poll(&p, 1, 1000);
		} else {
			/* EPIPE (reader gone) or worse: nobody to write to, stop cleanly */
			stdout_gone = true;
		}
	}
	return !stdout_gone;
}

void out_flush(void)
{
	if (out_len) {
		write_all(out_buf, out_len);
		out_len = 0;
	}
}

unsigned char *out_reserve(size_t n)
{
	if (out_len + n > OUT_BUF_SIZE)
		out_flush();
	unsigned char *p = out_buf + out_len;
	out_len += n;
	return p;
}

void out_text(const char *fmt, ...)
{
	va_list ap;
	if (OUT_BUF_SIZE - out_len < 1024)
		out_flush();
	va_start(ap, fmt);
	int n = vsnprintf((char *)out_buf + out_len, OUT_BUF_SIZE - out_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		out_len += (size_t)n < OUT_BUF_SIZE - out_len ? (size_t)n : OUT_BUF_SIZE - out_len - 1;
}

void write_hello(unsigned snaplen, unsigned ifindex, uint32_t ring_bytes)
{
	struct wl_hello h = { .abi_version = WL_ABI_VERSION, .snaplen = snaplen, .ifindex = ifindex,
			      .ring_bytes = ring_bytes, .netns_ino = netns_ino() };
	write_record(WL_REC_HELLO, &h, sizeof(h), NULL, 0);
}

void write_record(uint32_t type, const void *b1, uint32_t n1, const void *b2, uint32_t n2)
{
	uint32_t len = align8(sizeof(struct wl_rec_hdr) + n1 + n2);
	unsigned char *p = out_reserve(len);
	struct wl_rec_hdr h = { .type = type, .len = len };
	memcpy(p, &h, sizeof(h));
	memcpy(p + sizeof(h), b1, n1);
	if (n2)
		memcpy(p + sizeof(h) + n1, b2, n2);
	memset(p + sizeof(h) + n1 + n2, 0, len - sizeof(h) - n1 - n2);
	records_written++;
}

/* ---- clocks ---- */

int64_t clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Taken from the tightest of a few monotonic brackets around a realtime read. */
int64_t measure_clock_offset(void)
{
	int64_t best_gap = INT64_MAX, best = 0;
	for (int i = 0; i < 5; i++) {
		int64_t m1 = clock_ns(CLOCK_MONOTONIC), r = clock_ns(CLOCK_REALTIME), m2 = clock_ns(CLOCK_MONOTONIC);
		if (m2 - m1 < best_gap) {
			best_gap = m2 - m1;
			best = r - (m1 + (m2 - m1) / 2);
		}
	}
	return best;
}

/* ---- setup and main loop ---- */

static bool libbpf_verbose;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (!libbpf_verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

void sensor_setup(bool verbose)
{
	libbpf_verbose = verbose;
	libbpf_set_print(libbpf_print);
	signal(SIGPIPE, SIG_IGN);
	/* the agent gone (even killed): SIGTERM, a clean stop once the signalfd takes it; a closed stdout or stdin
	 * says the same when they are pipes */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
}

int possible_cpus(void)
{
	int n = libbpf_num_possible_cpus();
	if (n <= 0) {
		errmsg("cannot count possible CPUs: %s", strerror(-n));
		return -1;
	}
	return n;
}

void sum_percpu_counters(int fd, int ncpus, uint64_t *out, uint32_t n)
{
	uint64_t vals[ncpus];
	for (uint32_t k = 0; k < n; k++) {
		out[k] = 0;
		if (bpf_map_lookup_elem(fd, &k, vals) == 0)
			for (int c = 0; c < ncpus; c++)
				out[k] += vals[c];
	}
}

void stats_command(const char *line, void (*emit_stats)(void))
{
	if (strcmp(line, "stats") == 0) {
		emit_stats();
		out_flush();
	} else {
		errmsg("unknown command: %s", line);
	}
}

bool read_stdin_lines(char *buf, size_t cap, size_t *len, void (*run)(char *line), const char *too_long)
{
	ssize_t r = read(STDIN_FILENO, buf + *len, cap - 1 - *len);
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (r <= 0) {
		/* a pipe or socket that ends is the agent's control channel closing: stop. A terminal or /dev/null
		 * (stdin of a sensor run by hand) only stops being read. */
		struct stat st;
		if (r == 0 && fstat(STDIN_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
			stop_requested = true;
		return false;
	}
	*len += (size_t)r;
	char *start = buf, *nl;
	while ((nl = memchr(start, '\n', *len - (size_t)(start - buf)))) {
		*nl = 0;
		char *line = start;
		while (isspace((unsigned char)*line))
			line++;
		size_t n = strlen(line);
		while (n && isspace((unsigned char)line[n - 1]))
			line[--n] = 0;
		if (n && strcmp(line, "stop") == 0)
			stop_requested = true;
		else if (n)
			run(line);
		start = nl + 1;
	}
	*len -= (size_t)(start - buf);
	memmove(buf, start, *len);
	if (*len == cap - 1) {
		if (too_long)
			errmsg("%s", too_long);
		*len = 0;
	}
	return true;
}

uint32_t ring_bytes_for(unsigned ring_mb)
{
	uint32_t ring_bytes = 1u << 20;
	while (ring_bytes < ring_mb * (1u << 20))
		ring_bytes <<= 1;
	return ring_bytes;
}

uint64_t netns_ino(void)
{
	struct stat nst;
	return stat("/proc/self/ns/net", &nst) == 0 ? (uint64_t)nst.st_ino : 0;
}

int stop_signal_fd(void)
{
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		errmsg("signalfd: %s", strerror(errno));
	return sfd;
}

void run_loop(struct ring_buffer *rb, int sfd, long stats_ms, void (*emit_stats)(void), bool (*read_commands)(void))
{
	run_loop_tick(rb, sfd, stats_ms, emit_stats, read_commands, 0, NULL);
}

void run_loop_tick(struct ring_buffer *rb, int sfd, long stats_ms, void (*emit_stats)(void), bool (*read_commands)(void),
		   long tick_ms, void (*tick)(void))
{
	struct stat ost;
	bool watch_stdout = fstat(STDOUT_FILENO, &ost) == 0 && (S_ISFIFO(ost.st_mode) || S_ISSOCK(ost.st_mode));
	bool stdin_open = true;
	int64_t next_stats = stats_ms ? clock_ns(CLOCK_MONOTONIC) + stats_ms * 1000000LL : INT64_MAX;
	int64_t next_tick = tick && tick_ms ? clock_ns(CLOCK_MONOTONIC) + tick_ms * 1000000LL : INT64_MAX;
	enum { P_RB, P_SIG, P_OUT, P_IN, P_MAX };

	while (!stdout_gone && !stop_requested) {
		struct pollfd pfd[P_MAX] = {
			[P_RB] = { .fd = ring_buffer__epoll_fd(rb), .events = POLLIN },
			[P_SIG] = { .fd = sfd, .events = POLLIN },
			[P_OUT] = { .fd = watch_stdout ? STDOUT_FILENO : -1, .events = 0 }, /* POLLERR: reader gone */
			[P_IN] = { .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
		};
		/* the kernel side wakes us only for a batch (WAKE_BYTES in packet.bpf.c and trace.bpf.c): look every
		 * POLL_MS anyway */
		int timeout = POLL_MS;
		if (next_stats != INT64_MAX) {
			int64_t left = (next_stats - clock_ns(CLOCK_MONOTONIC)) / 1000000LL;
			timeout = left < 0 ? 0 : left > POLL_MS ? POLL_MS : (int)left;
		}
		int n = poll(pfd, P_MAX, timeout);
		if (n < 0 && errno != EINTR) {
			errmsg("poll: %s", strerror(errno));
			break;
		}
		if (n >= 0) {
			if (ring_buffer__consume(rb) < 0 && !stdout_gone)
				errmsg("ring buffer: %s", strerror(errno));
			out_flush(); /* nothing more right now: hand what we have to the reader */
		}
		if (clock_ns(CLOCK_MONOTONIC) >= next_tick) {
			tick();
			out_flush();
			next_tick = clock_ns(CLOCK_MONOTONIC) + tick_ms * 1000000LL;
		}
		if (n > 0 && (pfd[P_IN].revents & (POLLIN | POLLHUP | POLLERR)))
			stdin_open = read_commands();
		if (n > 0 && (pfd[P_OUT].revents & (POLLERR | POLLHUP)))
			stdout_gone = true;
		if (clock_ns(CLOCK_MONOTONIC) >= next_stats) {
			emit_stats();
			out_flush();
			next_stats += stats_ms * 1000000LL;
			if (next_stats < clock_ns(CLOCK_MONOTONIC))
				next_stats = clock_ns(CLOCK_MONOTONIC) + stats_ms * 1000000LL;
		}
		if (n > 0 && (pfd[P_SIG].revents & POLLIN)) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				break;
		}
	}
}

void drain(struct ring_buffer *rb, void (*emit_stats)(void))
{
	if (!stdout_gone) {
		while (ring_buffer__consume(rb) > 0 && !stdout_gone)
			;
		emit_stats();
		out_flush();
	}
}

/* ---- ports ---- */

/* Parses "80,8080" or "any" into ports/any. Returns false on a bad list. */
bool parse_ports(const char *s, uint16_t *ports, int *nports, bool *any)
{
	while (isspace((unsigned char)*s))
		s++;
	if (strncmp(s, "any", 3) == 0 && (s[3] == 0 || isspace((unsigned char)s[3]))) {
		*any = true;
		return true;
	}
	const char *p = s;
	while (*p && !isspace((unsigned char)*p)) {
		char *end;
		errno = 0;
		long v = strtol(p, &end, 10);
		if (end == p || errno || v < 1 || v > 65535 || (*end && *end != ',' && !isspace((unsigned char)*end)))
			return false;
		bool dup = false;
		for (int i = 0; i < *nports; i++)
			dup |= ports[i] == v;
		if (!dup) {
			if (*nports >= MAX_PORTS)
				return false;
			ports[(*nports)++] = (uint16_t)v;
		}
		p = end;
		if (*p == ',')
			p++;
	}
	return *nports > 0 || *any;
}

void format_ports(char *buf, size_t n, bool any, const uint16_t *ports, int nports)
{
	if (any) {
		snprintf(buf, n, "any");
		return;
	}
	size_t o = 0;
	buf[0] = 0;
	for (int i = 0; i < nports && o + 7 < n; i++)
		o += snprintf(buf + o, n - o, "%s%u", i ? "," : "", ports[i]);
}

int replace_ports(int pfd, bool any, const uint16_t *ports, int nports, int (*set_any)(bool any))
{
	uint8_t one = 1;
	for (int i = 0; i < nports && !any; i++)
		if (bpf_map_update_elem(pfd, &ports[i], &one, BPF_ANY))
			return -errno;
	int err = set_any(any);
	if (err)
		return err;
	uint16_t key, next, stale[MAX_PORTS];
	int nstale = 0;
	void *prev = NULL;
	while (bpf_map_get_next_key(pfd, prev, &next) == 0) {
		bool keep = false;
		for (int i = 0; i < nports && !any; i++)
			keep |= ports[i] == next;
		if (!keep && nstale < MAX_PORTS)
			stale[nstale++] = next;
		key = next;
		prev = &key;
	}
	for (int i = 0; i < nstale; i++)
		bpf_map_delete_elem(pfd, &stale[i]);
	return 0;
}

void port_set_arg(struct port_set *ps, const char *arg)
{
	if (!parse_ports(arg, ps->ports, &ps->n, &ps->any))
		usage_error("bad port list: %s", arg);
	ps->given = true;
}

void port_set_default(struct port_set *ps)
{
	if (!ps->given) {
		ps->ports[0] = 80;
		ps->n = 1;
	}
}

bool ports_command(char *line, int (*apply)(bool any, const uint16_t *ports, int nports))
{
	if (strncmp(line, "ports", 5) != 0 || (line[5] != ' ' && line[5] != '\t'))
		return false;
	uint16_t ports[MAX_PORTS];
	int nports = 0;
	bool any = false;
	if (!parse_ports(line + 6, ports, &nports, &any)) {
		errmsg("bad ports command: %s", line);
		return true;
	}
	int err = apply(any, ports, nports);
	if (err) {
		errmsg("failed to update ports: %s", strerror(-err));
		return true;
	}
	char list[MAX_PORTS * 6 + 8];
	format_ports(list, sizeof(list), any, ports, nports);
	errmsg("ports now %s", list);
	return true;
}

/* ---- text lines ---- */

void text_clock(char *buf, size_t n, int64_t real_ns)
{
	time_t sec = (time_t)(real_ns / 1000000000LL);
	struct tm tm;
	localtime_r(&sec, &tm);
	size_t o = strftime(buf, n, "%H:%M:%S", &tm);
	snprintf(buf + o, n - o, ".%06lld", (long long)(real_ns % 1000000000LL) / 1000);
}

void tcp_flag_letters(uint8_t flags, char out[9])
{
	static const char names[] = "FSRP.UEW"; /* tcpdump letters, ACK as '.' */
	int f = 0;
	for (int i = 0; i < 8; i++)
		if (flags & (1 << i))
			out[f++] = names[i];
	out[f] = 0;
}

void text_ends(uint8_t family, const uint8_t saddr[16], uint16_t sport, const uint8_t daddr[16], uint16_t dport,
	       struct text_ends *out)
{
	int af = family == 6 ? AF_INET6 : AF_INET;
	inet_ntop(af, saddr, out->src, sizeof(out->src));
	inet_ntop(af, daddr, out->dst, sizeof(out->dst));
	const char *fmt = af == AF_INET6 ? "[%s]:%u" : "%s:%u";
	snprintf(out->src_ep, sizeof(out->src_ep), fmt, out->src, sport);
	snprintf(out->dst_ep, sizeof(out->dst_ep), fmt, out->dst, dport);
}

void text_preview(const unsigned char *payload, uint32_t cap, char out[65])
{
	uint32_t pn = cap < 64 ? cap : 64;
	for (uint32_t i = 0; i < pn; i++)
		out[i] = payload[i] >= 0x20 && payload[i] < 0x7f ? (char)payload[i] : '.';
	out[pn] = 0;
}

/* ---- per-device drops ---- */

#define MAX_DEV_DROPS 4096 /* bpf/event_out.h's WL_MAX_DEV_DROPS */

void emit_dev_drops(int map_fd, uint64_t now, bool text, const char *(*name_of)(uint64_t netns_ino, uint32_t ifindex))
{
	static struct wl_netdev_dev_drops ent[MAX_DEV_DROPS];
	struct { uint64_t netns_ino; uint32_t ifindex, _pad; } key, next; /* struct wl_dev_key */
	struct { uint64_t drops; uint8_t ifname[16]; } val;              /* struct wl_dev_drops */
	uint32_t n = 0;
	void *prev = NULL;
	while (n < MAX_DEV_DROPS && bpf_map_get_next_key(map_fd, prev, &next) == 0) {
		if (bpf_map_lookup_elem(map_fd, &next, &val) == 0 && val.drops) {
			ent[n] = (struct wl_netdev_dev_drops){ .netns_ino = next.netns_ino, .drops = val.drops, .ifindex = next.ifindex };
			memcpy(ent[n].ifname, val.ifname, sizeof(ent[n].ifname));
			const char *name = !val.ifname[0] && name_of ? name_of(next.netns_ino, next.ifindex) : NULL;
			if (name)
				strncpy((char *)ent[n].ifname, name, sizeof(ent[n].ifname));
			n++;
		}
		key = next;
		prev = &key;
	}
	if (!n)
		return;
	if (text) {
		for (uint32_t i = 0; i < n; i++) {
			char ifname[sizeof(ent[i].ifname) + 1];
			memcpy(ifname, ent[i].ifname, sizeof(ent[i].ifname));
			ifname[sizeof(ent[i].ifname)] = 0;
			out_text("drops: netns %llu %s(%u) %llu\n", (unsigned long long)ent[i].netns_ino, ifname, ent[i].ifindex,
				 (unsigned long long)ent[i].drops);
		}
		records_written++;
		return;
	}
	struct wl_netdev_drops h = { .ts_ns = now, .count = n };
	write_record(WL_REC_NETDEV_DROPS, &h, sizeof(h), ent, n * (uint32_t)sizeof(ent[0]));
}
