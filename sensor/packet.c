// SPDX-License-Identifier: MIT
/*
 * wirelog-sensor's packet mode (the default; sensor/main.c dispatches): loads bpf/packet.bpf.c as a socket filter
 * on an AF_PACKET socket, reads its ring buffer and writes the framed records of bpf/wirelog_events.h to stdout
 * (or, with --text, one readable line per packet). Commands on stdin change the port set at run time.
 *
 * With --netns the first load is never attached: it owns the maps every namespace's load shares (events, counters,
 * ports, settings, dev_drops); sensor/netns_watch.c finds the namespaces and enters each, and ns_open() below loads
 * another instance there (own rodata netns_ino and lo_ifindex, own l3_ifaces) on a socket opened inside it.
 *
 *   wirelog-sensor packet [-i IFNAME] [-p PORTS|any] [-s SNAPLEN] [-b RING_MB] [--stats-ms N] [--text|--binary] [-v]
 *   wirelog-sensor packet --netns all|PATH ... [--netns-scan-ms N] ...   (one socket in each network namespace)
 *   wirelog-sensor packet ... --frames [--icmp] [--arp]   (whole frames: the traced client's packet capture)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "wirelog_events.h"
#include "packet.skel.h"
#include "common.h"
#include "modes.h"
#include "netns_watch.h"

#define SENSOR_VERSION "0.1.0"
#define NETNS_SCAN_MS_DEFAULT 250 /* --netns-scan-ms: how soon a new namespace or device is watched */

/* ARPHRD_* link types whose AF_PACKET frames start at the network header (no link header) */
static const unsigned l3_link_types[] = { 512 /* PPP */, 519 /* RAWIP */, 768 /* TUNNEL */, 769 /* TUNNEL6 */,
					  776 /* SIT */, 65534 /* NONE: tun, wireguard */ };

static struct {
	const char *ifname;
	unsigned ifindex;
	struct port_set ports;
	bool frames, icmp, arp;
	bool netns;     /* --netns given: one socket per watched namespace */
	bool netns_all; /* --netns all */
	long netns_scan_ms;
	struct stream_opts s;
} opt = { .s = STREAM_OPTS_DEFAULT, .netns_scan_ms = NETNS_SCAN_MS_DEFAULT };

static struct packet_bpf *skel; /* the first load: its maps are the ones read here (and shared with --netns loads) */
static int ncpus;
static int64_t mono_to_real_ns; /* added to bpf_ktime_get_ns() values */
static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " packet [-i IFNAME] [-p PORTS|any] [-s SNAPLEN] [-b RING_MB] [--stats-ms N] [--text|--binary] [-v]\n"
		"                      [--frames [--icmp] [--arp]] [--netns all|PATH ... [--netns-scan-ms N]]\n"
		"  -i IFNAME      capture on this interface only (default: every interface of the network namespace)\n"
		"  --netns all|PATH  every device of these network namespaces, repeatable: 'all' (every /run/netns/NAME and\n"
		"                 /proc/PID/ns/net, rescanned) or a namespace file (/run/netns/NAME, /proc/PID/ns/net)\n"
		"  --netns-scan-ms N  with --netns: look for new or gone namespaces and devices every N ms (default 250)\n"
		"  -p PORTS|any   comma-separated TCP/UDP ports, repeatable, or 'any' (default 80)\n"
		STREAM_OPTS_HELP("packet")
		"  --frames       copy whole frames (link header on, SNAPLEN bytes of the frame) instead of the payload\n"
		"  --icmp         with --frames: also ICMP and ICMPv6 packets\n"
		"  --arp          with --frames: also ARP frames\n"
		"stdin commands: 'ports 80,8080' | 'ports any' | 'stats' | 'stop' (so does the end of a piped stdin)\n"
		"       " PROG " trace -p PID [...]: syscall and TLS tracing (" PROG " trace --help)\n"
		"       " PROG " conntrack: conntrack entries for 'tcp|udp SRC SPORT DST DPORT' lines on stdin\n"
		"       " PROG " netdev [...]: packets at every device of every network namespace (" PROG " netdev --help)\n",
		WL_MAX_SNAPLEN, WL_MAX_SNAPLEN);
}

/* ---- text mode ---- */

static const char *ifname_of(unsigned ifindex)
{
	static char names[256][IF_NAMESIZE];
	static char tmp[IF_NAMESIZE + 8];
	if (ifindex < 256) {
		if (!names[ifindex][0] && !if_indextoname(ifindex, names[ifindex]))
			snprintf(names[ifindex], IF_NAMESIZE, "if%u", ifindex);
		return names[ifindex];
	}
	if (!if_indextoname(ifindex, tmp))
		snprintf(tmp, sizeof(tmp), "if%u", ifindex);
	return tmp;
}

/* where: "IFNAME(IFINDEX)", with --netns "ns INODE IFNAME(IFINDEX)" (the name in that namespace) */
static void text_packet(const struct wl_packet_event *ev, const char *where, const unsigned char *payload, uint32_t cap,
			int64_t real_ns)
{
	char flags[9] = "", when[32], preview[65];
	struct text_ends ends;
	text_ends(ev->family, ev->saddr, ev->sport, ev->daddr, ev->dport, &ends);
	text_clock(when, sizeof(when), real_ns);
	if (ev->l4proto == 6)
		tcp_flag_letters(ev->tcp_flags, flags);
	text_preview(payload, cap, preview);

	const char *dir = ev->direction == WL_DIR_OUT ? "out" : "in";
	if (ev->family == 0) { /* --arp: no IP header */
		out_text("%s %s %-3s ARP len %u cap %u\n", when, where, dir, ev->payload_len, cap);
		records_written++;
		return;
	}
	if (ev->l4proto != 6 && ev->l4proto != 17) { /* --icmp */
		out_text("%s %s %-3s ICMP%s %s > %s len %u cap %u\n", when, where, dir, ev->family == 6 ? "6" : "",
			 ends.src, ends.dst, ev->payload_len, cap);
		records_written++;
		return;
	}
	if (ev->l4proto == 6)
		out_text("%s %s %-3s TCP %s > %s [%s] seq %u ack %u win %u len %u cap %u%s \"%s\"\n", when, where, dir,
			 ends.src_ep, ends.dst_ep, flags, ev->seq, ev->ack, ev->window, ev->payload_len, cap,
			 ev->ip_flags & 1 ? " frag" : "", preview);
	else
		out_text("%s %s %-3s UDP %s > %s len %u cap %u%s \"%s\"\n", when, where, dir, ends.src_ep, ends.dst_ep,
			 ev->payload_len, cap, ev->ip_flags & 1 ? " frag" : "", preview);
	records_written++;
}

/* ---- ring buffer ---- */

static int on_event(void *ctx, void *data, size_t size)
{
	const struct wl_packet_event *ev = data;
	if (size < sizeof(*ev))
		return 0;
	uint32_t cap = ev->cap_len;
	if (cap > size - sizeof(*ev))
		cap = (uint32_t)(size - sizeof(*ev));
	int64_t real_ns = (int64_t)ev->ts_ns + mono_to_real_ns;
	const unsigned char *payload = (const unsigned char *)data + sizeof(*ev);

	/* --netns: the DEVICE record of a device comes before its first packet (this may rescan its namespace) */
	struct watched_ns *ns = opt.netns ? netns_watch_find(ev->netns_ino) : NULL;
	const char *ifname = ns ? netns_watch_ifname(ns, ev->ifindex) : NULL;

	if (opt.s.text) {
		char where[IF_NAMESIZE + 48];
		if (opt.netns)
			snprintf(where, sizeof(where), "ns %u %s(%u)", ev->netns_ino, ifname ? ifname : "?", ev->ifindex);
		else
			snprintf(where, sizeof(where), "%s(%u)", ifname_of(ev->ifindex), ev->ifindex);
		text_packet(ev, where, payload, cap, real_ns);
	} else {
		uint32_t body = sizeof(*ev) + cap;
		uint32_t len = align8(sizeof(struct wl_rec_hdr) + body);
		unsigned char *p = out_reserve(len);
		struct wl_rec_hdr h = { .type = WL_REC_PACKET, .len = len };
		memcpy(p, &h, sizeof(h));
		memcpy(p + sizeof(h), ev, sizeof(*ev));
		uint64_t ts = (uint64_t)real_ns;
		memcpy(p + sizeof(h) + offsetof(struct wl_packet_event, ts_ns), &ts, sizeof(ts));
		((struct wl_packet_event *)(p + sizeof(h)))->cap_len = cap;
		memcpy(p + sizeof(h) + sizeof(*ev), payload, cap);
		memset(p + sizeof(h) + body, 0, len - sizeof(h) - body);
		records_written++;
	}
	return stdout_gone ? -EPIPE : 0;
}

/* ---- maps ---- */

static void emit_stats(void)
{
	uint64_t c[WL_PKT_CNT_MAX]; /* indexed by enum wl_packet_counter */
	sum_percpu_counters(bpf_map__fd(skel->maps.counters), ncpus, c, WL_PKT_CNT_MAX);
	struct wl_stats st = {
		.ts_ns = (uint64_t)clock_ns(CLOCK_REALTIME),
		.packets_seen = c[WL_PKT_CNT_PACKETS_SEEN],
		.packets_matched = c[WL_PKT_CNT_PACKETS_MATCHED],
		.packets_sent = c[WL_PKT_CNT_PACKETS_SENT],
		.ringbuf_drops = c[WL_PKT_CNT_RINGBUF_DROPS],
		.dropped_request_heads = c[WL_PKT_CNT_DROPPED_REQUEST_HEADS],
		.dropped_response_heads = c[WL_PKT_CNT_DROPPED_RESPONSE_HEADS],
	};
	/* only with --netns: a single-namespace stream keeps the record types it always had */
	if (opt.netns)
		emit_dev_drops(bpf_map__fd(skel->maps.dev_drops), st.ts_ns, opt.s.text, netns_watch_known_ifname);
	if (opt.s.text) {
		records_written++;
		out_text("stats: seen %llu matched %llu sent %llu drops %llu written %llu\n",
			 (unsigned long long)st.packets_seen, (unsigned long long)st.packets_matched,
			 (unsigned long long)st.packets_sent, (unsigned long long)st.ringbuf_drops,
			 (unsigned long long)records_written);
	} else {
		/* counts itself: records_written includes this stats record */
		st.records_written = records_written + 1;
		write_record(WL_REC_STATS, &st, sizeof(st), NULL, 0);
	}
}

static int set_any_port(bool any)
{
	uint32_t zero = 0, anyv = any;
	return bpf_map_update_elem(bpf_map__fd(skel->maps.settings), &zero, &anyv, BPF_ANY) ? -errno : 0;
}

static int apply_ports(bool any, const uint16_t *ports, int nports)
{
	return replace_ports(bpf_map__fd(skel->maps.ports), any, ports, nports, set_any_port);
}

static bool is_l3_link_type(unsigned type)
{
	for (size_t i = 0; i < sizeof(l3_link_types) / sizeof(l3_link_types[0]); i++)
		if (type == l3_link_types[i])
			return true;
	return false;
}

static void mark_l3_interfaces(void)
{
	DIR *d = opendir("/sys/class/net");
	if (!d)
		return;
	int fd = bpf_map__fd(skel->maps.l3_ifaces);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[300];
		snprintf(path, sizeof(path), "/sys/class/net/%s/type", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		unsigned type = 0;
		int ok = fscanf(f, "%u", &type);
		fclose(f);
		if (ok != 1)
			continue;
		if (is_l3_link_type(type)) {
			uint32_t idx = if_nametoindex(e->d_name);
			uint8_t one = 1;
			if (idx)
				bpf_map_update_elem(fd, &idx, &one, BPF_ANY);
		}
	}
	closedir(d);
}

/* ---- loading and attaching ---- */

/* Opens and loads one instance of bpf/packet.bpf.c; share (NULL for the first load): the load whose events,
 * counters, ports, settings and dev_drops maps this one uses. 0 or -errno, *what naming the failed step. */
static int load_instance(struct packet_bpf **out, uint32_t ns_ino, uint32_t lo_ifindex, struct packet_bpf *share,
			 const char **what)
{
	*what = "opening the BPF object";
	struct packet_bpf *s = packet_bpf__open();
	if (!s)
		return -errno;
	s->rodata->snaplen = opt.s.snaplen;
	s->rodata->lo_ifindex = lo_ifindex;
	s->rodata->whole_frame = opt.frames;
	s->rodata->keep_icmp = opt.icmp;
	s->rodata->keep_arp = opt.arp;
	s->rodata->netns_ino = ns_ino;
	bpf_map__set_max_entries(s->maps.events, ring_bytes_for(opt.s.ring_mb));
	int err = 0;
	if (share) {
		*what = "sharing the maps of the first load";
		struct { struct bpf_map *mine, *theirs; } shared[] = {
			{ s->maps.events, share->maps.events },     { s->maps.counters, share->maps.counters },
			{ s->maps.ports, share->maps.ports },       { s->maps.settings, share->maps.settings },
			{ s->maps.dev_drops, share->maps.dev_drops },
		};
		for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]) && !err; i++)
			err = bpf_map__reuse_fd(shared[i].mine, bpf_map__fd(shared[i].theirs));
	}
	if (!err) {
		*what = "loading the BPF program";
		err = packet_bpf__load(s);
	}
	if (err) {
		packet_bpf__destroy(s);
		return err < 0 ? err : -EINVAL;
	}
	*out = s;
	return 0;
}

/* An AF_PACKET socket in the current network namespace with s's filter attached, bound to ifindex (0: every device
 * of the namespace). The socket or -errno, *what naming the failed step. */
static int open_socket(struct packet_bpf *s, unsigned ifindex, const char **what)
{
	/* Protocol 0 receives nothing until bind(): the filter is attached before the first packet can queue. */
	*what = "opening an AF_PACKET socket";
	int sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return -errno;
	int prog_fd = bpf_program__fd(s->progs.wirelog_packet);
	*what = "attaching the socket filter";
	if (setsockopt(sock, SOL_SOCKET, SO_ATTACH_BPF, &prog_fd, sizeof(prog_fd)))
		goto fail;
	int small = 1;
	setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)); /* never read: the filter keeps nothing */
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)ifindex };
	*what = "binding the AF_PACKET socket";
	if (bind(sock, (struct sockaddr *)&sll, sizeof(sll)))
		goto fail;
	return sock;
fail:;
	int err = -errno;
	close(sock);
	return err;
}

/* ---- --netns: one load and one socket per watched namespace (the hooks of sensor/netns_watch.c) ---- */

struct ns_load {
	struct packet_bpf *skel;
	int sock;
};

static struct ring_buffer *rb;

static void ns_mark_l3(struct watched_ns *ns, const struct ns_dev *d, bool present)
{
	struct ns_load *l = ns->priv;
	if (!l || !is_l3_link_type(d->type))
		return;
	uint32_t idx = d->ifindex;
	uint8_t one = 1;
	int fd = bpf_map__fd(l->skel->maps.l3_ifaces);
	if (present)
		bpf_map_update_elem(fd, &idx, &one, BPF_ANY);
	else
		bpf_map_delete_elem(fd, &idx);
}

/* inside the namespace: its own load (rodata netns_ino, lo_ifindex; l3_ifaces from its device list) and socket */
static int ns_open(struct watched_ns *ns, const char **what)
{
	struct ns_load *l = calloc(1, sizeof(*l));
	if (!l) {
		*what = NULL;
		return -ENOMEM;
	}
	int err = load_instance(&l->skel, (uint32_t)ns->ino, ns->lo_ifindex, skel, what);
	if (err) {
		free(l);
		return err;
	}
	ns->priv = l;
	for (int i = 0; i < ns->ndevs; i++)
		ns_mark_l3(ns, &ns->devs[i], true); /* before bind: the first packet is parsed right */
	l->sock = open_socket(l->skel, 0, what);
	if (l->sock < 0) {
		err = l->sock;
		packet_bpf__destroy(l->skel);
		free(l);
		ns->priv = NULL;
		return err;
	}
	return 0;
}

static void ns_stop(struct watched_ns *ns)
{
	struct ns_load *l = ns->priv;
	if (l && l->sock >= 0) {
		close(l->sock); /* waits for filter runs in flight: nothing of it is committed after this */
		l->sock = -1;
	}
}

static void ns_drain(void)
{
	while (ring_buffer__consume(rb) > 0 && !stdout_gone)
		;
}

static void ns_release(struct watched_ns *ns)
{
	struct ns_load *l = ns->priv;
	if (!l)
		return;
	ns_stop(ns);
	packet_bpf__destroy(l->skel);
	free(l);
	ns->priv = NULL;
}

static const struct netns_hooks ns_hooks = {
	.open = ns_open, .device = ns_mark_l3, .stop = ns_stop, .drain = ns_drain, .release = ns_release,
};

/* ---- stdin commands ---- */

static char cmd_buf[8192];
static size_t cmd_len;

/* one trimmed, non-empty line */
static void run_command(char *line)
{
	if (!ports_command(line, apply_ports))
		stats_command(line, emit_stats);
}

static bool read_commands(void)
{
	return read_stdin_lines(cmd_buf, sizeof(cmd_buf), &cmd_len, run_command, "command line too long, ignored");
}

/* ---- main ---- */

static void parse_args(int argc, char **argv)
{
	enum { OPT_VERSION = OPT_MODE, OPT_FRAMES, OPT_ICMP, OPT_ARP, OPT_NETNS, OPT_NETNS_SCAN };
	static const struct option longs[] = {
		{ "interface", required_argument, 0, 'i' }, { "ports", required_argument, 0, 'p' },
		{ "snaplen", required_argument, 0, 's' },   { "ring-mb", required_argument, 0, 'b' },
		{ "stats-ms", required_argument, 0, OPT_STATS }, { "text", no_argument, 0, OPT_TEXT },
		{ "binary", no_argument, 0, OPT_BINARY },   { "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' },            { "version", no_argument, 0, OPT_VERSION },
		{ "frames", no_argument, 0, OPT_FRAMES },   { "icmp", no_argument, 0, OPT_ICMP },
		{ "arp", no_argument, 0, OPT_ARP },         { "netns", required_argument, 0, OPT_NETNS },
		{ "netns-scan-ms", required_argument, 0, OPT_NETNS_SCAN }, { 0, 0, 0, 0 },
	};
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf(PROG " " SENSOR_VERSION " (abi %d)\n", WL_ABI_VERSION);
		exit(0);
	}
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		exit(0);
	}
	if (argc < 2 || strcmp(argv[1], "packet") != 0)
		usage_error("expected a mode: packet, trace, conntrack or netdev%s", "");
	argc--;
	argv++;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":i:p:s:b:vh", longs, NULL)) != -1) {
		switch (c) {
		case 'i':
			opt.ifname = optarg;
			break;
		case 'p':
			port_set_arg(&opt.ports, optarg);
			break;
		case OPT_FRAMES:
			opt.frames = true;
			break;
		case OPT_ICMP:
			opt.icmp = true;
			break;
		case OPT_ARP:
			opt.arp = true;
			break;
		case OPT_NETNS:
			opt.netns = true;
			if (strcmp(optarg, "all") == 0)
				opt.netns_all = true;
			else if (optarg[0])
				netns_watch_add_path(optarg);
			else
				usage_error("bad --netns (all or a namespace file): '%s'", optarg);
			break;
		case OPT_NETNS_SCAN:
			opt.netns_scan_ms = num_arg(optarg, 1, LONG_MAX / 1000000L, "bad --netns-scan-ms: %s");
			break;
		default:
			stream_opt(c, argv, &opt.s, usage);
		}
	}
	stream_opts_end(argc, argv, &opt.s);
	if ((opt.icmp || opt.arp) && !opt.frames)
		usage_error("%s needs --frames (ICMP and ARP packets have no TCP/UDP payload to copy)", opt.icmp ? "--icmp" : "--arp");
	if (opt.ifname && opt.netns)
		usage_error("-i and --netns cannot be combined (--netns watches every device of each namespace)%s", "");
	port_set_default(&opt.ports);
}

/* what load_failed() tells a user without root to grant */
static const char load_caps[] = "CAP_BPF, CAP_PERFMON, CAP_NET_RAW and CAP_NET_ADMIN";

int packet_main(int argc, char **argv)
{
	parse_args(argc, argv);
	sensor_setup(opt.s.verbose);

	if (opt.ifname) {
		opt.ifindex = if_nametoindex(opt.ifname);
		if (!opt.ifindex) {
			errmsg("no such interface: %s", opt.ifname);
			return 2;
		}
	}

	ncpus = possible_cpus();
	if (ncpus <= 0)
		return 1;

	/* without --netns every event still names its namespace: the sensor's own */
	const char *what;
	int err = load_instance(&skel, (uint32_t)netns_ino(), if_nametoindex("lo"), NULL, &what);
	if (err)
		load_failed(what, -err, load_caps, opt.s.verbose);
	uint32_t ring_bytes = ring_bytes_for(opt.s.ring_mb);

	err = apply_ports(opt.ports.any, opt.ports.ports, opt.ports.n);
	if (err)
		load_failed("setting the port map", -err, load_caps, opt.s.verbose);
	if (!opt.netns)
		mark_l3_interfaces();

	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
	if (!rb)
		load_failed("creating the ring buffer reader", errno, load_caps, opt.s.verbose);

	int sock = -1;
	if (!opt.netns) {
		sock = open_socket(skel, opt.ifindex, &what);
		if (sock < 0)
			load_failed(what, -sock, load_caps, opt.s.verbose);
	}

	int sfd = stop_signal_fd();
	if (sfd < 0)
		return 1;

	mono_to_real_ns = measure_clock_offset();

	char list[MAX_PORTS * 6 + 8];
	format_ports(list, sizeof(list), opt.ports.any, opt.ports.ports, opt.ports.n);
	if (opt.s.text) {
		out_text("wirelog-sensor: abi %d iface %s snaplen %u ring %u MiB netns %llu%s\n", WL_ABI_VERSION,
			 opt.ifname ? opt.ifname : "any", opt.s.snaplen, ring_bytes >> 20, (unsigned long long)netns_ino(),
			 !opt.netns ? "" : opt.netns_all ? " watch all" : " watch paths");
	} else {
		write_hello(opt.s.snaplen, opt.ifindex, ring_bytes);
	}
	char nsinfo[32] = "";
	if (opt.netns) {
		/* after the hello: the NETNS and DEVICE records of the namespaces found now, then their packets */
		netns_watch_init(&ns_hooks, opt.s.text, opt.netns_all);
		netns_watch_start();
		if (opt.netns_all)
			snprintf(nsinfo, sizeof(nsinfo), " netns=all");
		else
			snprintf(nsinfo, sizeof(nsinfo), " netns=%d", netns_watch_count());
	}
	out_flush();
	errmsg("attached iface=%s ifindex=%u ports=%s snaplen=%u ring_mb=%u%s%s%s%s", opt.ifname ? opt.ifname : "any",
	       opt.ifindex, list, opt.s.snaplen, ring_bytes >> 20, opt.frames ? " frames=1" : "", opt.icmp ? " icmp=1" : "",
	       opt.arp ? " arp=1" : "", nsinfo);

	run_loop_tick(rb, sfd, opt.s.stats_ms, emit_stats, read_commands, opt.netns ? opt.netns_scan_ms : 0,
		      opt.netns_all || opt.netns ? netns_watch_scan : NULL);

	/* Stop the filters first (close waits for in-flight runs), then drain every committed event. */
	if (sock >= 0)
		close(sock);
	if (opt.netns)
		netns_watch_stop_all();
	drain(rb, emit_stats);
	ring_buffer__free(rb);
	if (opt.netns)
		netns_watch_free_all();
	packet_bpf__destroy(skel);
	return 0;
}
