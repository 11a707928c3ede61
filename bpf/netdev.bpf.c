// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * wirelog netdev sensor: every TCP/UDP packet at every network device of the chosen network namespaces.
 *
 * tp_btf programs get the struct sk_buff * of the tracepoints that fire for every device of every namespace:
 *   net:net_dev_start_xmit a packet handed to the driver of skb->dev ("tx", WL_DIR_OUT), after software GSO;
 *   or net:net_dev_queue   (the sensor's --tx queue) a packet queued for transmission, before the qdisc and GSO.
 *                          At both the link header is already in front (skb->data is the MAC header on Ethernet
 *                          devices), so the IP header is found at skb->head + skb->network_header; an unset
 *                          network header skips the packet.
 *   net:netif_receive_skb  a packet a device hands to the stack ("rx", WL_DIR_IN). The driver (eth_type_trans) has
 *                          pulled the link header: skb->data is the IP header. network_header is reset only after
 *                          this tracepoint, so it is not used here.
 * The headers are read with bpf_probe_read_kernel from the skb's linear data; packets whose headers are not all in
 * it are skipped and counted. Up to `snaplen` payload bytes are copied from the linear data only: when the payload
 * continues in page fragments the event carries WL_NDV_PAGED and the packet is counted.
 *
 * Filters: the `ports` map (or settings.any_port) and the `netns_set` map of namespace inodes (or
 * settings.all_netns); the sensor fills both at start and changes them from stdin commands.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "wirelog_events.h"
#include "net_headers.h"
#include "event_out.h"

#define NO_HEADER 0xffff /* (u16)~0U: skb->network_header unset */

/* Set before load by the sensor. */
const volatile __u32 snaplen = 4096;

/* Run-time configuration (a map so the sensor can change it without a restart). */
struct wl_netdev_config {
	__u32 any_port;  /* 1: keep every TCP/UDP packet, ignore `ports` */
	__u32 all_netns; /* 1: every namespace, ignore `netns_set` */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wl_netdev_config);
} settings SEC(".maps");

WL_PORTS_MAP(ports);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);  /* network namespace inode */
	__type(value, __u8);
} netns_set SEC(".maps");

WL_DEV_DROPS_MAP();

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WL_NDV_CNT_MAX); /* enum wl_netdev_counter (wirelog_events.h), summed by the sensor */
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

WL_EVENT_MAPS(wl_netdev_event);

static __always_inline void count(enum wl_netdev_counter c)
{
	__u32 idx = c;
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1;
}

static __always_inline int handle(struct sk_buff *skb, __u8 direction)
{
	__u32 zero = 0;
	struct net_device *dev = BPF_CORE_READ(skb, dev);
	if (!dev)
		return 0;
	__u64 netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);

	struct wl_netdev_config *cfg = bpf_map_lookup_elem(&settings, &zero);
	if (!cfg)
		return 0;
	if (!cfg->all_netns && !bpf_map_lookup_elem(&netns_set, &netns))
		return 0;
	count(WL_NDV_CNT_PACKETS_SEEN);

	__u16 l3proto = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	if (l3proto != ETH_P_IP && l3proto != ETH_P_IPV6)
		return 0;

	unsigned char *head = BPF_CORE_READ(skb, head);
	unsigned char *data = BPF_CORE_READ(skb, data);
	__u32 len = BPF_CORE_READ(skb, len);
	__u32 data_len = BPF_CORE_READ(skb, data_len);
	/* offsets from head: l3 = the IP header, lin_end = the end of the linear data */
	__u64 data_off = data - head;
	__u64 l3;
	if (direction == WL_DIR_OUT) {
		__u16 nh = BPF_CORE_READ(skb, network_header);
		if (nh == NO_HEADER) {
			count(WL_NDV_CNT_NO_NETWORK_HEADER);
			return 0;
		}
		l3 = nh;
	} else {
		l3 = data_off;
	}
	__u64 lin_end = data_off + (len - data_len);
	/* skb bytes from the IP header to the end of the skb (for the IP length fields that are 0) */
	__u64 l3_to_end = data_off + len > l3 ? data_off + len - l3 : 0;

	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	struct wl_netdev_event *ev = &s->ev;
	__u16 ip_flags = 0;
	bool first_frag = true; /* false: non-first fragment, no transport header */
	__u32 l4;               /* transport header offset from head */
	__u64 ip_end;           /* end of the IP datagram, offset from head */
	__u8 l4proto;
	__u32 ip_len;

	if (l3proto == ETH_P_IP) {
		struct wl_ip4 ip;
		if (l3 + sizeof(ip) > lin_end || bpf_probe_read_kernel(&ip, sizeof(ip), head + l3) < 0) {
			count(WL_NDV_CNT_NONLINEAR_HEADERS);
			return 0;
		}
		if ((ip.ver_ihl >> 4) != 4)
			return 0;
		__u32 ihl = (ip.ver_ihl & 0x0f) * 4;
		if (ihl < 20)
			return 0;
		wl_ip4_frag(&ip, &ip_flags, &first_frag); /* bit 0: WL_NDV_FRAGMENT */
		ip_len = bpf_ntohs(ip.tot_len);
		l4proto = ip.protocol;
		ev->family = 4;
		WL_SET_IP4_ADDRS(ev, &ip);
		l4 = (__u32)l3 + ihl;
	} else {
		struct wl_ip6 ip6;
		if (l3 + sizeof(ip6) > lin_end || bpf_probe_read_kernel(&ip6, sizeof(ip6), head + l3) < 0) {
			count(WL_NDV_CNT_NONLINEAR_HEADERS);
			return 0;
		}
		__u32 plen = bpf_ntohs(ip6.payload_len);
		ip_len = plen ? 40 + plen : 0; /* 0: jumbogram / BIG TCP */
		__u8 nh = ip6.nexthdr;
		l4 = (__u32)l3 + 40;
#pragma unroll
		for (int i = 0; i < MAX_IPV6_EXT; i++) {
			__u8 ext[4];
			if (!wl_ipv6_is_ext(nh))
				break;
			if (l4 + 4 > lin_end || bpf_probe_read_kernel(ext, 4, head + l4) < 0) {
				count(WL_NDV_CNT_NONLINEAR_HEADERS);
				return 0;
			}
			nh = wl_ipv6_ext_next(nh, ext, &l4, &ip_flags, &first_frag);
		}
		l4proto = nh;
		ev->family = 6;
		__builtin_memcpy(ev->saddr, ip6.saddr, 16);
		__builtin_memcpy(ev->daddr, ip6.daddr, 16);
	}
	if (l4proto != IPPROTO_TCP && l4proto != IPPROTO_UDP)
		return 0;
	ip_end = l3 + (ip_len ? ip_len : l3_to_end);
	if (ip_end > data_off + len)
		ip_end = data_off + len;

	bool any = cfg->any_port;
	__u32 l4end = l4;
	WL_CLEAR_L4(ev);
	if (!first_frag) {
		if (!any) /* no ports to filter on */
			return 0;
	} else if (l4proto == IPPROTO_TCP) {
		struct wl_tcp th;
		if (l4 + sizeof(th) > lin_end || bpf_probe_read_kernel(&th, sizeof(th), head + l4) < 0) {
			count(WL_NDV_CNT_NONLINEAR_HEADERS);
			return 0;
		}
		__u32 doff = (th.doff_res >> 4) * 4;
		if (doff < 20)
			return 0;
		WL_SET_TCP(ev, &th);
		l4end = l4 + doff;
	} else {
		struct wl_udp uh;
		if (l4 + sizeof(uh) > lin_end || bpf_probe_read_kernel(&uh, sizeof(uh), head + l4) < 0) {
			count(WL_NDV_CNT_NONLINEAR_HEADERS);
			return 0;
		}
		ev->sport = bpf_ntohs(uh.source);
		ev->dport = bpf_ntohs(uh.dest);
		l4end = l4 + 8;
	}
	if (!any && first_frag && !wl_port_kept(&ports, ev->sport, ev->dport))
		return 0;
	count(WL_NDV_CNT_PACKETS_MATCHED);

	ev->ts_ns = bpf_ktime_get_ns();
	ev->netns_ino = netns;
	ev->ifindex = BPF_CORE_READ(dev, ifindex);
	ev->direction = direction;
	ev->l4proto = l4proto;
	ev->ip_len = ip_len;
	ev->skb_len = len;
	bpf_probe_read_kernel(ev->ifname, sizeof(ev->ifname), dev->name);

	__u32 payload_len = ip_end > l4end ? ip_end - l4end : 0;
	__u32 want = payload_len < snaplen ? payload_len : snaplen;
	__u32 linear = lin_end > l4end ? lin_end - l4end : 0;
	__u32 cap = want < linear ? want : linear;
	if (cap < want) {
		ip_flags |= WL_NDV_PAGED;
		count(WL_NDV_CNT_PAGED_PAYLOAD);
	}
	if (cap > WL_MAX_SNAPLEN)
		cap = WL_MAX_SNAPLEN;
	if (cap > 0 && bpf_probe_read_kernel(s->payload, wl_copy_len(cap), head + l4end) < 0)
		cap = 0;
	ev->ip_flags = ip_flags;
	ev->payload_len = payload_len;
	ev->cap_len = cap;

	if (wl_send(&events, s, sizeof(struct wl_netdev_event) + (__u64)cap, sizeof(struct scratch)) < 0) {
		count(WL_NDV_CNT_RINGBUF_DROPS);
		wl_count_dev_drop(&dev_drops, ev->netns_ino, ev->ifindex, ev->ifname);
		return 0;
	}
	count(WL_NDV_CNT_PACKETS_SENT);
	return 0;
}

/* tx at net_dev_start_xmit (the default): the packet as handed to the driver, after software GSO, one event per
 * segment that goes on the wire, where tcpdump's tap sees it. */
SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(wirelog_netdev_xmit, struct sk_buff *skb, struct net_device *dev)
{
	return handle(skb, WL_DIR_OUT);
}

/* tx at net_dev_queue (--tx queue): before the qdisc and before software GSO, so a TCP GSO packet is one event for
 * several wire segments; it also sees packets the qdisc then drops. */
SEC("tp_btf/net_dev_queue")
int BPF_PROG(wirelog_netdev_queue, struct sk_buff *skb)
{
	return handle(skb, WL_DIR_OUT);
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(wirelog_netdev_rx, struct sk_buff *skb)
{
	return handle(skb, WL_DIR_IN);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
