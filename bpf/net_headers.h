/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/* Protocol numbers and the on-wire IPv4/IPv6/TCP/UDP headers the kernel programs parse (bpf/packet.bpf.c,
 * bpf/netdev.bpf.c). Multi-byte fields are network byte order. */
#ifndef WIRELOG_NET_HEADERS_H
#define WIRELOG_NET_HEADERS_H

#define ETH_HLEN        14
#define ETH_P_IP        0x0800
#define ETH_P_IPV6      0x86DD
#define ETH_P_8021Q     0x8100
#define ETH_P_8021AD    0x88A8
#define ETH_P_ARP       0x0806
#define IPPROTO_ICMP    1
#define IPPROTO_ICMPV6  58
#define IPPROTO_TCP     6
#define IPPROTO_UDP     17
#define IPV4_FRAG_MASK  0x3fff /* MF or offset */
#define IPV4_OFF_MASK   0x1fff
#define MAX_IPV6_EXT    6      /* IPv6 extension headers walked */

struct wl_ip4 {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__be16 check;
	__u8 saddr[4];
	__u8 daddr[4];
};

struct wl_ip6 {
	__be32 ver_tc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct wl_tcp {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff_res; /* data offset in the high nibble */
	__u8 flags;
	__be16 window;
};

struct wl_udp {
	__be16 source;
	__be16 dest;
	__be16 len;
	__be16 check;
};

/* ---- shared parsing steps (ev: a struct wl_packet_event or wl_netdev_event: the same field names) ---- */

/* IPv4 addresses into the 16-byte fields, zero-padded */
#define WL_SET_IP4_ADDRS(ev, ip) do {                                          \
		__builtin_memcpy((ev)->saddr, (ip)->saddr, 4);                 \
		__builtin_memcpy((ev)->daddr, (ip)->daddr, 4);                 \
		__builtin_memset((ev)->saddr + 4, 0, 12);                      \
		__builtin_memset((ev)->daddr + 4, 0, 12);                      \
	} while (0)

/* no transport fields (yet): ports, seq, ack, window and flags zero */
#define WL_CLEAR_L4(ev) do {                                                   \
		(ev)->seq = 0;                                                 \
		(ev)->ack = 0;                                                 \
		(ev)->window = 0;                                              \
		(ev)->tcp_flags = 0;                                           \
		(ev)->sport = 0;                                               \
		(ev)->dport = 0;                                               \
	} while (0)

/* the TCP header's fields, host byte order */
#define WL_SET_TCP(ev, th) do {                                                \
		(ev)->sport = bpf_ntohs((th)->source);                         \
		(ev)->dport = bpf_ntohs((th)->dest);                           \
		(ev)->seq = bpf_ntohl((th)->seq);                              \
		(ev)->ack = bpf_ntohl((th)->ack_seq);                          \
		(ev)->window = bpf_ntohs((th)->window);                        \
		(ev)->tcp_flags = (th)->flags;                                 \
	} while (0)

/* IPv4 fragment bits: bit 0 of *ip_flags for any fragment; *first_frag false for a non-first one (no L4 header) */
static __always_inline void wl_ip4_frag(const struct wl_ip4 *ip, __u16 *ip_flags, bool *first_frag)
{
	__u16 frag = bpf_ntohs(ip->frag_off);
	if (frag & IPV4_FRAG_MASK)
		*ip_flags |= 1;
	if (frag & IPV4_OFF_MASK)
		*first_frag = false;
}

/* IPv6 extension headers walked: hop-by-hop, routing, destination options, authentication, fragment */
static __always_inline bool wl_ipv6_is_ext(__u8 nh)
{
	return nh == 0 || nh == 43 || nh == 60 || nh == 51 || nh == 44;
}

/* Past extension header nh, whose first 4 bytes are ext: advances *off to the next header and returns its type.
 * A fragment header sets bit 0 of *ip_flags, and *first_frag false when its offset is not 0. */
static __always_inline __u8 wl_ipv6_ext_next(__u8 nh, const __u8 *ext, __u32 *off, __u16 *ip_flags, bool *first_frag)
{
	if (nh == 51) { /* authentication header: length in 4-byte units minus 2 */
		*off += ((__u32)ext[1] + 2) * 4;
	} else if (nh == 44) { /* fragment */
		*ip_flags |= 1;
		if (((((__u16)ext[2]) << 8 | ext[3]) & 0xfff8) != 0)
			*first_frag = false;
		*off += 8;
	} else { /* hop-by-hop, routing, destination options: length in 8-byte units minus 1 */
		*off += ((__u32)ext[1] + 1) * 8;
	}
	return ext[0];
}

/* The port set the sensor fills (sensor/common.c replace_ports) */
#define WL_PORTS_MAP(name)                                                             \
	struct {                                                                       \
		__uint(type, BPF_MAP_TYPE_HASH);                                       \
		__uint(max_entries, 1024);                                             \
		__type(key, __u16); /* port, host byte order */                        \
		__type(value, __u8);                                                   \
	} name SEC(".maps")

/* The port filter: either port in the `ports` hash map (WL_PORTS_MAP). */
static __always_inline bool wl_port_kept(void *ports, __u16 sp, __u16 dp)
{
	return bpf_map_lookup_elem(ports, &sp) || bpf_map_lookup_elem(ports, &dp);
}

#endif
