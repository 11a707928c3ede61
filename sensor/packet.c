// SPDX-License-Identifier: MIT
/*
 * wirelog-sensor's packet mode (the default; sensor/main.c dispatches): loads bpf/packet.bpf.c as a socket filter
 * on an AF_PACKET socket, reads its ring buffer and writes the framed records of bpf/wirelog_events.h to stdout
 * (or, with --text, one readable line per packet). Commands on stdin change the port set at run time.
 *
 *   wirelog-sensor packet [-i IFNAME] [-p PORTS|any] [-s SNAPLEN] [-b RING_MB] [--stats-ms N] [--text|--binary] [-v]
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

#define SENSOR_VERSION "0.1.0"

/* ARPHRD_* link types whose AF_PACKET frames start at the network header (no link header) */
static const unsigned l3_link_types[] = { 512 /* PPP */, 519 /* RAWIP */, 768 /* TUNNEL */, 769 /* TUNNEL6 */,
					  776 /* SIT */, 65534 /* NONE: tun, wireguard */ };

static struct {
	const char *ifname;
	unsigned ifindex;
	struct port_set ports;
	bool frames, icmp, arp;
	struct stream_opts s;
} opt = { .s = STREAM_OPTS_DEFAULT };

static struct packet_bpf *skel;
static int ncpus;
static int64_t mono_to_real_ns; /* added to bpf_ktime_get_ns() values */
static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " packet [-i IFNAME] [-p PORTS|any] [-s SNAPLEN] [-b RING_MB] [--stats-ms N] [--text|--binary] [-v]\n"
		"                      [--frames [--icmp] [--arp]]\n"
		"  -i IFNAME      capture on this interface only (default: every interface of the network namespace)\n"
		"  -p PORTS|any   comma-separated TCP/UDP ports, repeatable, or 'any' (default 80)\n"
		STREAM_OPTS_HELP("packet")
		"  --frames       copy whole frames (link header on, SNAPLEN bytes of the frame) instead of the payload\n"
		"  --icmp         with --frames: also ICMP and ICMPv6 packets\n"
		"  --arp          with --frames: also ARP frames\n"
		"stdin commands: 'ports 80,8080' | 'ports any' | 'stats'\n"
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

static void text_packet(const struct wl_packet_event *ev, const unsigned char *payload, uint32_t cap, int64_t real_ns)
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
		out_text("%s %s(%u) %-3s ARP len %u cap %u\n", when, ifname_of(ev->ifindex), ev->ifindex, dir,
			 ev->payload_len, cap);
		records_written++;
		return;
	}
	if (ev->l4proto != 6 && ev->l4proto != 17) { /* --icmp */
		out_text("%s %s(%u) %-3s ICMP%s %s > %s len %u cap %u\n", when, ifname_of(ev->ifindex),
			 ev->ifindex, dir, ev->family == 6 ? "6" : "", ends.src, ends.dst, ev->payload_len, cap);
		records_written++;
		return;
	}
	if (ev->l4proto == 6)
		out_text("%s %s(%u) %-3s TCP %s > %s [%s] seq %u ack %u win %u len %u cap %u%s \"%s\"\n", when,
			 ifname_of(ev->ifindex), ev->ifindex, dir, ends.src_ep, ends.dst_ep, flags, ev->seq, ev->ack, ev->window,
			 ev->payload_len, cap, ev->ip_flags & 1 ? " frag" : "", preview);
	else
		out_text("%s %s(%u) %-3s UDP %s > %s len %u cap %u%s \"%s\"\n", when, ifname_of(ev->ifindex),
			 ev->ifindex, dir, ends.src_ep, ends.dst_ep, ev->payload_len, cap, ev->ip_flags & 1 ? " frag" : "", preview);
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

	if (opt.s.text) {
		text_packet(ev, payload, cap, real_ns);
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
	};
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
		for (size_t i = 0; i < sizeof(l3_link_types) / sizeof(l3_link_types[0]); i++) {
			if (type == l3_link_types[i]) {
				uint32_t idx = if_nametoindex(e->d_name);
				uint8_t one = 1;
				if (idx)
					bpf_map_update_elem(fd, &idx, &one, BPF_ANY);
			}
		}
	}
	closedir(d);
}

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
	enum { OPT_VERSION = OPT_MODE, OPT_FRAMES, OPT_ICMP, OPT_ARP };
	static const struct option longs[] = {
		{ "interface", required_argument, 0, 'i' }, { "ports", required_argument, 0, 'p' },
		{ "snaplen", required_argument, 0, 's' },   { "ring-mb", required_argument, 0, 'b' },
		{ "stats-ms", required_argument, 0, OPT_STATS }, { "text", no_argument, 0, OPT_TEXT },
		{ "binary", no_argument, 0, OPT_BINARY },   { "verbose", no_argument, 0, 'v' },
		{ "help", no_argument, 0, 'h' },            { "version", no_argument, 0, OPT_VERSION },
		{ "frames", no_argument, 0, OPT_FRAMES },   { "icmp", no_argument, 0, OPT_ICMP },
		{ "arp", no_argument, 0, OPT_ARP },         { 0, 0, 0, 0 },
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
		default:
			stream_opt(c, argv, &opt.s, usage);
		}
	}
	stream_opts_end(argc, argv, &opt.s);
	if ((opt.icmp || opt.arp) && !opt.frames)
		usage_error("%s needs --frames (ICMP and ARP packets have no TCP/UDP payload to copy)", opt.icmp ? "--icmp" : "--arp");
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

	skel = packet_bpf__open();
	if (!skel)
		load_failed("opening the BPF object", errno, load_caps, opt.s.verbose);
	skel->rodata->snaplen = opt.s.snaplen;
	skel->rodata->lo_ifindex = if_nametoindex("lo");
	skel->rodata->whole_frame = opt.frames;
	skel->rodata->keep_icmp = opt.icmp;
	skel->rodata->keep_arp = opt.arp;
	uint32_t ring_bytes = ring_bytes_for(opt.s.ring_mb);
	bpf_map__set_max_entries(skel->maps.events, ring_bytes);

	int err = packet_bpf__load(skel);
	if (err)
		load_failed("loading the BPF program", -err, load_caps, opt.s.verbose);

	err = apply_ports(opt.ports.any, opt.ports.ports, opt.ports.n);
	if (err)
		load_failed("setting the port map", -err, load_caps, opt.s.verbose);
	mark_l3_interfaces();

	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
	if (!rb)
		load_failed("creating the ring buffer reader", errno, load_caps, opt.s.verbose);

	/* Protocol 0 receives nothing until bind(): the filter is attached before the first packet can queue. */
	int sock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (sock < 0)
		load_failed("opening an AF_PACKET socket", errno, load_caps, opt.s.verbose);
	int prog_fd = bpf_program__fd(skel->progs.wirelog_packet);
	if (setsockopt(sock, SOL_SOCKET, SO_ATTACH_BPF, &prog_fd, sizeof(prog_fd)))
		load_failed("attaching the socket filter", errno, load_caps, opt.s.verbose);
	int small = 1;
	setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)); /* never read: the filter keeps nothing */
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)opt.ifindex };
	if (bind(sock, (struct sockaddr *)&sll, sizeof(sll)))
		load_failed("binding the AF_PACKET socket", errno, load_caps, opt.s.verbose);

	int sfd = stop_signal_fd();
	if (sfd < 0)
		return 1;

	mono_to_real_ns = measure_clock_offset();

	char list[MAX_PORTS * 6 + 8];
	format_ports(list, sizeof(list), opt.ports.any, opt.ports.ports, opt.ports.n);
	if (opt.s.text) {
		out_text("wirelog-sensor: abi %d iface %s snaplen %u ring %u MiB netns %llu\n", WL_ABI_VERSION,
			 opt.ifname ? opt.ifname : "any", opt.s.snaplen, ring_bytes >> 20, (unsigned long long)netns_ino());
	} else {
		write_hello(opt.s.snaplen, opt.ifindex, ring_bytes);
	}
	out_flush();
	errmsg("attached iface=%s ifindex=%u ports=%s snaplen=%u ring_mb=%u%s%s%s", opt.ifname ? opt.ifname : "any",
	       opt.ifindex, list, opt.s.snaplen, ring_bytes >> 20, opt.frames ? " frames=1" : "", opt.icmp ? " icmp=1" : "",
	       opt.arp ? " arp=1" : "");

	run_loop(rb, sfd, opt.s.stats_ms, emit_stats, read_commands);

	/* Stop the filter first (close waits for in-flight runs), then drain every committed event. */
	close(sock);
	drain(rb, emit_stats);
	ring_buffer__free(rb);
	packet_bpf__destroy(skel);
	return 0;
}
