// SPDX-License-Identifier: MIT
/*
 * wirelog-sensor's netdev mode: loads bpf/netdev.bpf.c (tp_btf programs on net:net_dev_start_xmit, or
 * net:net_dev_queue, and net:netif_receive_skb), which see every packet at every network device of every network namespace, kept by a
 * namespace set and a port set; writes WL_REC_NETDEV_PACKET records (or, with --text, one readable line per
 * packet), and with each stats record the per-device ring-buffer drops. Commands on stdin change both sets.
 *
 *   wirelog-sensor netdev [--netns all|NS[,NS...]] [-p PORTS|any] [--tx xmit|queue] [-s SNAPLEN] [-b RING_MB]
 *                         [--stats-ms N] [--text|--binary] [-v]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "wirelog_events.h"
#include "netdev.skel.h"
#include "common.h"
#include "modes.h"

#define MAX_NETNS 4096      /* the netns_set map's size */

static struct {
	struct port_set ports;
	bool tx_queue; /* --tx queue: tx events at net_dev_queue instead of net_dev_start_xmit */
	bool all_netns;
	uint64_t netns[MAX_NETNS];
	int nnetns;
	struct stream_opts s;
} opt = { .s = STREAM_OPTS_DEFAULT };

static struct netdev_bpf *skel;
static int ncpus;
static int64_t mono_to_real_ns; /* added to bpf_ktime_get_ns() values */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " netdev [--netns all|NS[,NS...]] [-p PORTS|any] [--tx xmit|queue] [-s SNAPLEN] [-b RING_MB]\n"
		"                      [--stats-ms N] [--text|--binary] [-v]\n"
		"  --netns all|NS TCP/UDP packets at every device of these network namespaces, repeatable: 'all' (default),\n"
		"                 or an inode number, a path (/run/netns/NAME, /proc/PID/ns/net) or an `ip netns` NAME\n"
		"  -p PORTS|any   comma-separated TCP/UDP ports, repeatable, or 'any' (default 80)\n"
		"  --tx xmit|queue  where tx is seen: net:net_dev_start_xmit (default: wire segments, as tcpdump sees\n"
		"                 them) or net:net_dev_queue (before the qdisc and software GSO: one event per GSO packet)\n"
		STREAM_OPTS_HELP("packet")
		"  (payload bytes come from the skb's linear data only; stats also list each device's ring buffer drops)\n"
		"stdin commands: 'ports 80,8080' | 'ports any' | 'netns all' | 'netns add NS,...' | 'netns del NS,...'\n"
		"                | 'netns set NS,...' (exactly these) | 'stats'\n",
		WL_MAX_SNAPLEN, WL_MAX_SNAPLEN);
}

/* ---- namespace sets ---- */

/* One namespace: an inode number, a path to a namespace file, or an `ip netns` name. 0 when unknown. */
static uint64_t netns_inode_of(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (end != s && !*end && !errno && v)
		return v;
	char path[300];
	if (s[0] == '/' || s[0] == '.')
		snprintf(path, sizeof(path), "%s", s);
	else
		snprintf(path, sizeof(path), "/run/netns/%s", s);
	struct stat st;
	return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* "all" (sets *all) or a comma-separated list into inodes. False (with errmsg) on a bad entry. */
static bool parse_netns(const char *s, uint64_t *inodes, int *n, bool *all)
{
	while (isspace((unsigned char)*s))
		s++;
	if (strcmp(s, "all") == 0) {
		*all = true;
		return true;
	}
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", s);
	char *save = NULL;
	for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		uint64_t ino = netns_inode_of(tok);
		if (!ino) {
			errmsg("no such network namespace: %s", tok);
			return false;
		}
		if (*n >= MAX_NETNS)
			return false;
		inodes[(*n)++] = ino;
	}
	return *n > 0 || *all;
}

/* bpf/netdev.bpf.c's struct wl_netdev_config, the one value of the `settings` map */
struct netdev_config {
	uint32_t any_port, all_netns;
};

static struct netdev_config get_config(void)
{
	uint32_t zero = 0;
	struct netdev_config cfg = { 0, 0 };
	bpf_map_lookup_elem(bpf_map__fd(skel->maps.settings), &zero, &cfg);
	return cfg;
}

static int put_config(struct netdev_config cfg)
{
	uint32_t zero = 0;
	return bpf_map_update_elem(bpf_map__fd(skel->maps.settings), &zero, &cfg, BPF_ANY) ? -errno : 0;
}

static int set_all_netns(bool all)
{
	struct netdev_config cfg = get_config();
	cfg.all_netns = all;
	return put_config(cfg);
}

static int set_any_port(bool any)
{
	struct netdev_config cfg = get_config();
	cfg.any_port = any;
	return put_config(cfg);
}

static int apply_ports(bool any, const uint16_t *ports, int nports)
{
	return replace_ports(bpf_map__fd(skel->maps.ports), any, ports, nports, set_any_port);
}

/* add: put the inodes in the set; else take them out. */
static int update_netns(const uint64_t *inodes, int n, bool add)
{
	int fd = bpf_map__fd(skel->maps.netns_set);
	uint8_t one = 1;
	for (int i = 0; i < n; i++) {
		if (add ? bpf_map_update_elem(fd, &inodes[i], &one, BPF_ANY) : bpf_map_delete_elem(fd, &inodes[i]))
			if (add || errno != ENOENT)
				return -errno;
	}
	return 0;
}

static void say_netns(void)
{
	if (get_config().all_netns) {
		errmsg("netns now all");
		return;
	}
	char list[512] = "";
	size_t o = 0;
	int fd = bpf_map__fd(skel->maps.netns_set), n = 0;
	uint64_t key, next;
	void *prev = NULL;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (o + 24 < sizeof(list))
			o += snprintf(list + o, sizeof(list) - o, "%s%llu", n ? "," : "", (unsigned long long)next);
		n++;
		key = next;
		prev = &key;
	}
	errmsg("netns now %s", n ? list : "none");
}

/* 'netns all' | 'netns add LIST' | 'netns del LIST' | 'netns set LIST'. False when line is another command. */
static bool netns_command(char *line)
{
	if (strncmp(line, "netns", 5) != 0 || (line[5] != ' ' && line[5] != '\t'))
		return false;
	char *arg = line + 6;
	while (isspace((unsigned char)*arg))
		arg++;
	int err = 0;
	if (strcmp(arg, "all") == 0) {
		err = set_all_netns(true);
	} else {
		bool add = strncmp(arg, "add ", 4) == 0, del = strncmp(arg, "del ", 4) == 0, set = strncmp(arg, "set ", 4) == 0;
		static uint64_t inodes[MAX_NETNS];
		int n = 0;
		bool all = false;
		if ((!add && !del && !set) || !parse_netns(arg + 4, inodes, &n, &all) || all) {
			errmsg("bad netns command: %s", line);
			return true;
		}
		if (set) {
			/* the new set is complete before the all-namespaces switch goes off; stale entries go last */
			err = update_netns(inodes, n, true);
			if (!err)
				err = set_all_netns(false);
			if (!err) {
				int fd = bpf_map__fd(skel->maps.netns_set);
				static uint64_t stale[MAX_NETNS];
				int nstale = 0;
				uint64_t key, next;
				void *prev = NULL;
				while (nstale < MAX_NETNS && bpf_map_get_next_key(fd, prev, &next) == 0) {
					bool keep = false;
					for (int i = 0; i < n; i++)
						keep |= inodes[i] == next;
					if (!keep)
						stale[nstale++] = next;
					key = next;
					prev = &key;
				}
				err = update_netns(stale, nstale, false);
			}
		} else {
			err = update_netns(inodes, n, add);
		}
	}
	if (err)
		errmsg("failed to update the netns set: %s", strerror(-err));
	else
		say_netns();
	return true;
}

/* ---- output ---- */

static void text_packet(const struct wl_netdev_event *ev, const unsigned char *payload, uint32_t cap, int64_t real_ns)
{
	char flags[9] = "", when[32], preview[65], ifname[17];
	struct text_ends ends;
	text_ends(ev->family, ev->saddr, ev->sport, ev->daddr, ev->dport, &ends);
	text_clock(when, sizeof(when), real_ns);
	if (ev->l4proto == 6)
		tcp_flag_letters(ev->tcp_flags, flags);
	text_preview(payload, cap, preview);
	memcpy(ifname, ev->ifname, 16);
	ifname[16] = 0;
	/* one fixed shape for both protocols (UDP: flags "-", seq/ack/win 0): easy to split */
	out_text("%s netns %llu %s(%u) %s %s %s > %s [%s] seq %u ack %u win %u len %u cap %u%s%s \"%s\"\n", when,
		 (unsigned long long)ev->netns_ino, ifname, ev->ifindex, ev->direction == WL_DIR_OUT ? "tx" : "rx",
		 ev->l4proto == 6 ? "TCP" : "UDP", ends.src_ep, ends.dst_ep, ev->l4proto == 6 ? flags : "-", ev->seq, ev->ack,
		 ev->window, ev->payload_len, cap, ev->ip_flags & WL_NDV_FRAGMENT ? " frag" : "",
		 ev->ip_flags & WL_NDV_PAGED ? " paged" : "", preview);
	records_written++;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct wl_netdev_event ev;
	if (size < sizeof(ev))
		return 0;
	memcpy(&ev, data, sizeof(ev));
	if (ev.cap_len > size - sizeof(ev))
		ev.cap_len = (uint32_t)(size - sizeof(ev));
	int64_t real_ns = (int64_t)ev.ts_ns + mono_to_real_ns;
	const unsigned char *payload = (const unsigned char *)data + sizeof(ev);
	if (opt.s.text) {
		text_packet(&ev, payload, ev.cap_len, real_ns);
	} else {
		ev.ts_ns = (uint64_t)real_ns;
		write_record(WL_REC_NETDEV_PACKET, &ev, sizeof(ev), payload, ev.cap_len);
	}
	return stdout_gone ? -EPIPE : 0;
}

static void emit_stats(void)
{
	uint64_t c[WL_NDV_CNT_MAX]; /* indexed by enum wl_netdev_counter */
	sum_percpu_counters(bpf_map__fd(skel->maps.counters), ncpus, c, WL_NDV_CNT_MAX);
	struct wl_netdev_stats st = {
		.ts_ns = (uint64_t)clock_ns(CLOCK_REALTIME),
		.packets_seen = c[WL_NDV_CNT_PACKETS_SEEN],
		.packets_matched = c[WL_NDV_CNT_PACKETS_MATCHED],
		.packets_sent = c[WL_NDV_CNT_PACKETS_SENT],
		.ringbuf_drops = c[WL_NDV_CNT_RINGBUF_DROPS],
		.no_network_header = c[WL_NDV_CNT_NO_NETWORK_HEADER],
		.nonlinear_headers = c[WL_NDV_CNT_NONLINEAR_HEADERS],
		.paged_payload = c[WL_NDV_CNT_PAGED_PAYLOAD],
	};
	emit_dev_drops(bpf_map__fd(skel->maps.dev_drops), st.ts_ns, opt.s.text, NULL);
	if (opt.s.text) {
		records_written++;
		out_text("stats: seen %llu matched %llu sent %llu drops %llu no_nh %llu nonlinear_hdr %llu paged %llu "
			 "written %llu\n",
			 (unsigned long long)st.packets_seen, (unsigned long long)st.packets_matched,
			 (unsigned long long)st.packets_sent, (unsigned long long)st.ringbuf_drops,
			 (unsigned long long)st.no_network_header, (unsigned long long)st.nonlinear_headers,
			 (unsigned long long)st.paged_payload, (unsigned long long)records_written);
	} else {
		st.records_written = records_written + 1; /* counts itself */
		write_record(WL_REC_NETDEV_STATS, &st, sizeof(st), NULL, 0);
	}
}

/* ---- stdin commands ---- */

static char cmd_buf[8192];
static size_t cmd_len;

static void run_command(char *line)
{
	if (!ports_command(line, apply_ports) && !netns_command(line))
		stats_command(line, emit_stats);
}

static bool read_commands(void)
{
	return read_stdin_lines(cmd_buf, sizeof(cmd_buf), &cmd_len, run_command, "command line too long, ignored");
}

/* ---- main ---- */

static void parse_args(int argc, char **argv)
{
	enum { OPT_NETNS = OPT_MODE, OPT_TX };
	static const struct option longs[] = {
		{ "ports", required_argument, 0, 'p' },         { "snaplen", required_argument, 0, 's' },
		{ "ring-mb", required_argument, 0, 'b' },       { "netns", required_argument, 0, OPT_NETNS },
		{ "tx", required_argument, 0, OPT_TX },
		{ "stats-ms", required_argument, 0, OPT_STATS }, { "text", no_argument, 0, OPT_TEXT },
		{ "binary", no_argument, 0, OPT_BINARY },       { "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' },                { 0, 0, 0, 0 },
	};
	bool netns_given = false;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":p:s:b:vh", longs, NULL)) != -1) {
		switch (c) {
		case 'p':
			port_set_arg(&opt.ports, optarg);
			break;
		case OPT_NETNS:
			if (!parse_netns(optarg, opt.netns, &opt.nnetns, &opt.all_netns))
				usage_error("bad --netns: %s", optarg);
			netns_given = true;
			break;
		case OPT_TX:
			if (strcmp(optarg, "queue") != 0 && strcmp(optarg, "xmit") != 0)
				usage_error("bad --tx (xmit or queue): %s", optarg);
			opt.tx_queue = optarg[0] == 'q';
			break;
		default:
			stream_opt(c, argv, &opt.s, usage);
		}
	}
	stream_opts_end(argc, argv, &opt.s);
	port_set_default(&opt.ports);
	if (!netns_given)
		opt.all_netns = true;
}

/* what load_failed() tells a user without root to grant */
static const char load_caps[] = "CAP_BPF and CAP_PERFMON";

int netdev_main(int argc, char **argv)
{
	parse_args(argc, argv);
	sensor_setup(opt.s.verbose);
	if (geteuid() != 0) {
		errmsg("permission denied: netdev needs root (or CAP_BPF and CAP_PERFMON)");
		return 1;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		errmsg("tp_btf programs need the kernel's BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF): not found");
		return 1;
	}

	ncpus = possible_cpus();
	if (ncpus <= 0)
		return 1;

	skel = netdev_bpf__open();
	if (!skel)
		load_failed("opening the BPF object", errno, load_caps, opt.s.verbose);
	skel->rodata->snaplen = opt.s.snaplen;
	uint32_t ring_bytes = ring_bytes_for(opt.s.ring_mb);
	bpf_map__set_max_entries(skel->maps.events, ring_bytes);
	bpf_program__set_autoload(opt.tx_queue ? skel->progs.wirelog_netdev_xmit : skel->progs.wirelog_netdev_queue, false);
	const char *tx_tp = opt.tx_queue ? "net_dev_queue" : "net_dev_start_xmit";

	int err = netdev_bpf__load(skel);
	if (err) {
		if (-err != EPERM)
			errmsg("the kernel did not load the tp_btf programs on net:%s and net:netif_receive_skb "
			       "(BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP): the netdev mode needs tp_btf", tx_tp);
		load_failed("loading the tp_btf programs", -err, load_caps, opt.s.verbose);
	}

	/* the filters go in before the programs are attached */
	err = update_netns(opt.netns, opt.nnetns, true);
	if (!err)
		err = set_all_netns(opt.all_netns);
	if (!err)
		err = apply_ports(opt.ports.any, opt.ports.ports, opt.ports.n);
	if (err)
		load_failed("filling the filter maps", -err, load_caps, opt.s.verbose);

	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
	if (!rb)
		load_failed("creating the ring buffer reader", errno, load_caps, opt.s.verbose);

	err = netdev_bpf__attach(skel);
	if (err) {
		errmsg("attaching tp_btf to net:%s and net:netif_receive_skb failed: the netdev mode needs tp_btf", tx_tp);
		load_failed("attaching the tp_btf programs", -err, load_caps, opt.s.verbose);
	}

	int sfd = stop_signal_fd();
	if (sfd < 0)
		return 1;
	mono_to_real_ns = measure_clock_offset();

	char plist[MAX_PORTS * 6 + 8], nlist[256] = "";
	format_ports(plist, sizeof(plist), opt.ports.any, opt.ports.ports, opt.ports.n);
	size_t o = 0;
	for (int i = 0; i < opt.nnetns && o + 24 < sizeof(nlist); i++)
		o += snprintf(nlist + o, sizeof(nlist) - o, "%s%llu", i ? "," : "", (unsigned long long)opt.netns[i]);
	const char *ns = opt.all_netns ? "all" : nlist;
	if (opt.s.text)
		out_text(PROG ": abi %d netdev netns %s ports %s snaplen %u ring %u MiB\n", WL_ABI_VERSION, ns, plist,
			 opt.s.snaplen, ring_bytes >> 20);
	else
		write_hello(opt.s.snaplen, 0, ring_bytes);
	out_flush();
	errmsg("attached mode=netdev netns=%s ports=%s tx=%s snaplen=%u ring_mb=%u", ns, plist, tx_tp, opt.s.snaplen,
	       ring_bytes >> 20);

	run_loop(rb, sfd, opt.s.stats_ms, emit_stats, read_commands);

	/* Detach first (no new events), then drain everything already committed. */
	netdev_bpf__detach(skel);
	drain(rb, emit_stats);
	ring_buffer__free(rb);
	netdev_bpf__destroy(skel);
	return 0;
}
