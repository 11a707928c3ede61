// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * wirelog packet sensor: a socket filter on an AF_PACKET/SOCK_RAW socket bound to ETH_P_ALL.
 *
 * For every packet the socket sees it parses link (Ethernet, 802.1Q/802.1ad, or none for L3 devices), IPv4/IPv6
 * (with extension headers) and TCP/UDP, keeps the packets whose source or destination port is in the `ports` map
 * (or every port when config.any_port is set), and sends a struct wl_packet_event plus the first `snaplen`
 * payload bytes to the `events` ring buffer. It always returns 0, so nothing is ever queued on the socket itself:
 * the ring buffer is the only output.
 *
 * Frame mode (whole_frame, for the traced client's packet capture): the bytes copied are the frame from its
 * first byte (link header included) instead of the L4 payload, payload_len is the frame's length, and ICMP/ICMPv6
 * (keep_icmp) and ARP (keep_arp) packets can be kept too, with family/l4proto telling what they are.
 *
 * Offsets are relative to skb->data, which for AF_PACKET SOCK_RAW is the MAC header on devices with a link
 * header (Ethernet, loopback) and the network header on devices without (tun, wireguard, ip tunnels: the sensor
 * lists those in `l3_ifaces`). bpf_skb_load_bytes is used throughout because socket filters have no direct
 * packet access and received skbs are often non-linear.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "wirelog_events.h"
#include "net_headers.h"
#include "event_out.h"

#define PACKET_OUTGOING 4
#define MAX_VLAN_TAGS   2

/* Set before load by the sensor (rodata: fixed for the life of the program). */
const volatile __u32 snaplen = 4096;
const volatile __u32 lo_ifindex = 1;
const volatile __u32 whole_frame = 0; /* copy the frame from offset 0, not the L4 payload */
const volatile __u32 keep_icmp = 0;   /* also ICMP and ICMPv6 packets (any port setting) */
const volatile __u32 keep_arp = 0;    /* also ARP frames */
/* inode of the network namespace this load's socket is in: one load per watched namespace (--netns), and the sensor
 * sets its own namespace's inode without --netns, so every event says where it was seen */
const volatile __u32 netns_ino = 0;

/* Run-time configuration (a map so the agent can change it without a restart). */
struct wl_config {
	__u32 any_port; /* 1: keep every TCP/UDP packet, ignore `ports` */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wl_config);
} settings SEC(".maps");

WL_PORTS_MAP(ports);

/* Interfaces whose packets start at the network header (no link header). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);  /* ifindex */
	__type(value, __u8);
} l3_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WL_PKT_CNT_MAX); /* enum wl_packet_counter (wirelog_events.h), summed by the sensor */
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

WL_EVENT_MAPS(wl_packet_event);

WL_DEV_DROPS_MAP();

static __always_inline void count(enum wl_packet_counter c)
{
	__u32 idx = c;
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1;
}

/* The first four bytes of an HTTP/1 request line (a method of up to four letters and its space, or the method's
 * first four letters), little-endian as a __u32 load reads them. A packet lost in the ring that begins with one of
 * them (or with "HTTP/") most likely carried a message head: counting it here lets the agent say how many requests
 * and responses it could never log. A body segment that happens to start the same way is counted too. */
#define WL_W(a, b, c, d) ((__u32)(a) | (__u32)(b) << 8 | (__u32)(c) << 16 | (__u32)(d) << 24)

static __always_inline void count_lost_head(const __u8 *p)
{
	__u32 w = WL_W(p[0], p[1], p[2], p[3]);
	if (w == WL_W('H', 'T', 'T', 'P') && p[4] == '/') {
		count(WL_PKT_CNT_DROPPED_RESPONSE_HEADS);
		return;
	}
	switch (w) {
	case WL_W('G', 'E', 'T', ' '): case WL_W('P', 'O', 'S', 'T'): case WL_W('P', 'U', 'T', ' '):
	case WL_W('H', 'E', 'A', 'D'): case WL_W('D', 'E', 'L', 'E'): case WL_W('O', 'P', 'T', 'I'):
	case WL_W('P', 'A', 'T', 'C'): case WL_W('C', 'O', 'N', 'N'): case WL_W('T', 'R', 'A', 'C'):
		count(WL_PKT_CNT_DROPPED_REQUEST_HEADS);
	}
}

/* Copies cap bytes from off, fills the common event fields and commits the event to the ring buffer. */
static __always_inline void emit(struct __sk_buff *skb, struct scratch *s, __u32 off, __u32 cap, __u32 payload_len,
				 __u8 l4proto, __u16 ip_flags)
{
	struct wl_packet_event *ev = &s->ev;
	if (cap > snaplen)
		cap = snaplen;
	if (cap > WL_MAX_SNAPLEN)
		cap = WL_MAX_SNAPLEN;

	ev->ts_ns = bpf_ktime_get_ns();
	ev->ifindex = skb->ifindex;
	ev->direction = skb->pkt_type == PACKET_OUTGOING ? WL_DIR_OUT : WL_DIR_IN;
	ev->l4proto = l4proto;
	ev->ip_flags = ip_flags;
	ev->payload_len = payload_len;
	ev->netns_ino = netns_ino;

	if (cap > 0 && bpf_skb_load_bytes(skb, off, s->payload, wl_copy_len(cap)) < 0)
		cap = 0;
	ev->cap_len = cap;

	if (wl_send(&events, s, sizeof(struct wl_packet_event) + (__u64)cap, sizeof(struct scratch)) < 0) {
		count(WL_PKT_CNT_RINGBUF_DROPS);
		wl_count_dev_drop(&dev_drops, netns_ino, ev->ifindex, NULL);
		if (!whole_frame && l4proto == IPPROTO_TCP && cap >= 5)
			count_lost_head(s->payload);
		return;
	}
	count(WL_PKT_CNT_PACKETS_SENT);
}

SEC("socket")
int wirelog_packet(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u32 ifindex = skb->ifindex;
	__u32 skb_len = skb->len;
	__u32 off = 0;       /* network header offset from skb->data */
	__u32 l4off, l4end;  /* transport header start and end */
	__u32 ip_end;        /* end of the IP datagram (excludes link padding) */
	__u16 l3proto;
	__u8 l4proto;
	__u16 ip_flags = 0;
	bool nofrag_l4 = true; /* false: non-first fragment, no transport header */

	count(WL_PKT_CNT_PACKETS_SEEN);

	/* Loopback shows each packet twice (outgoing, then incoming): keep the incoming copy only. */
	if (skb->pkt_type == PACKET_OUTGOING && ifindex == lo_ifindex)
		return 0;

	if (bpf_map_lookup_elem(&l3_ifaces, &ifindex)) {
		l3proto = bpf_ntohs(skb->protocol);
	} else {
		__be16 type;
		if (bpf_skb_load_bytes(skb, 12, &type, sizeof(type)) < 0)
			return 0;
		l3proto = bpf_ntohs(type);
		off = ETH_HLEN;
#pragma unroll
		for (int i = 0; i < MAX_VLAN_TAGS; i++) {
			if (l3proto != ETH_P_8021Q && l3proto != ETH_P_8021AD)
				break;
			/* tag: TCI (2), inner type (2) */
			if (bpf_skb_load_bytes(skb, off + 2, &type, sizeof(type)) < 0)
				return 0;
			l3proto = bpf_ntohs(type);
			off += 4;
		}
	}

	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	struct wl_packet_event *ev = &s->ev;

	if (l3proto == ETH_P_ARP && keep_arp && whole_frame) {
		count(WL_PKT_CNT_PACKETS_MATCHED);
		ev->family = 0;
		__builtin_memset(ev->saddr, 0, 16);
		__builtin_memset(ev->daddr, 0, 16);
		WL_CLEAR_L4(ev);
		emit(skb, s, 0, skb_len, skb_len, 0, 0);
		return 0;
	}

	if (l3proto == ETH_P_IP) {
		struct wl_ip4 ip;
		if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)) < 0)
			return 0;
		if ((ip.ver_ihl >> 4) != 4)
			return 0;
		__u32 ihl = (ip.ver_ihl & 0x0f) * 4;
		if (ihl < 20)
			return 0;
		wl_ip4_frag(&ip, &ip_flags, &nofrag_l4);
		__u32 tot = bpf_ntohs(ip.tot_len);
		/* tot_len 0: a GSO super-packet above 64 KiB (BIG TCP); trust the skb */
		ip_end = tot ? off + tot : skb_len;
		if (ip_end > skb_len)
			ip_end = skb_len;
		l4proto = ip.protocol;
		ev->family = 4;
		WL_SET_IP4_ADDRS(ev, &ip);
		l4off = off + ihl;
	} else if (l3proto == ETH_P_IPV6) {
		struct wl_ip6 ip6;
		if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)) < 0)
			return 0;
		__u32 plen = bpf_ntohs(ip6.payload_len);
		ip_end = plen ? off + 40 + plen : skb_len; /* 0: jumbogram / BIG TCP */
		if (ip_end > skb_len)
			ip_end = skb_len;
		__u8 nh = ip6.nexthdr;
		l4off = off + 40;
#pragma unroll
		for (int i = 0; i < MAX_IPV6_EXT; i++) {
			__u8 ext[4];
			if (!wl_ipv6_is_ext(nh))
				break;
			if (bpf_skb_load_bytes(skb, l4off, ext, 4) < 0)
				return 0;
			nh = wl_ipv6_ext_next(nh, ext, &l4off, &ip_flags, &nofrag_l4);
		}
		l4proto = nh;
		ev->family = 6;
		__builtin_memcpy(ev->saddr, ip6.saddr, 16);
		__builtin_memcpy(ev->daddr, ip6.daddr, 16);
	} else {
		return 0;
	}

	if ((l4proto == IPPROTO_ICMP || l4proto == IPPROTO_ICMPV6) && keep_icmp && whole_frame) {
		count(WL_PKT_CNT_PACKETS_MATCHED);
		WL_CLEAR_L4(ev);
		emit(skb, s, 0, skb_len, skb_len, l4proto, ip_flags);
		return 0;
	}
	if (l4proto != IPPROTO_TCP && l4proto != IPPROTO_UDP)
		return 0;

	struct wl_config *cfg = bpf_map_lookup_elem(&settings, &zero);
	bool any = cfg && cfg->any_port;

	WL_CLEAR_L4(ev);
	if (!nofrag_l4) {
		/* non-first fragment: no ports to filter on */
		if (!any)
			return 0;
		l4end = l4off;
	} else if (l4proto == IPPROTO_TCP) {
		struct wl_tcp th;
		if (bpf_skb_load_bytes(skb, l4off, &th, sizeof(th)) < 0)
			return 0;
		__u32 doff = (th.doff_res >> 4) * 4;
		if (doff < 20)
			return 0;
		WL_SET_TCP(ev, &th);
		l4end = l4off + doff;
	} else {
		struct wl_udp uh;
		if (bpf_skb_load_bytes(skb, l4off, &uh, sizeof(uh)) < 0)
			return 0;
		ev->sport = bpf_ntohs(uh.source);
		ev->dport = bpf_ntohs(uh.dest);
		l4end = l4off + 8;
	}

	if (!any && nofrag_l4 && !wl_port_kept(&ports, ev->sport, ev->dport))
		return 0;
	count(WL_PKT_CNT_PACKETS_MATCHED);

	if (whole_frame) {
		emit(skb, s, 0, skb_len, skb_len, l4proto, ip_flags);
		return 0;
	}
	__u32 payload_len = ip_end > l4end ? ip_end - l4end : 0;
	emit(skb, s, l4end, payload_len, payload_len, l4proto, ip_flags);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
