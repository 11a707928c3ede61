/* SPDX-License-Identifier: MIT */
/*
 * wirelog wire ABI: shared by the kernel programs (bpf/*.bpf.c), the sensor (sensor/*.c) and the TypeScript
 * decoder (src/decode/sensor.ts). test/unit/sensor-abi.test.ts checks the TypeScript offsets against this file,
 * so change both together.
 *
 * The sensor writes to stdout a stream of records, each one:
 *     struct wl_rec_hdr  (8 bytes, little-endian host order)
 *     body               (hdr.len - sizeof(struct wl_rec_hdr) bytes)
 * Records are 8-byte aligned in length (the sensor pads the body with zeros).
 */
#ifndef WIRELOG_EVENTS_H
#define WIRELOG_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define WL_ABI_VERSION 1

/* record types */
#define WL_REC_HELLO  1  /* body: struct wl_hello, first record of a stream */
#define WL_REC_PACKET 2  /* body: struct wl_packet_event + cap_len payload bytes */
#define WL_REC_STATS  3  /* body: struct wl_stats */

#define WL_DIR_IN  0     /* received by this host (PACKET_HOST, BROADCAST, MULTICAST, OTHERHOST) */
#define WL_DIR_OUT 1     /* sent by this host (PACKET_OUTGOING) */

#define WL_MAX_SNAPLEN 4096 /* most payload bytes one packet event can carry */

struct wl_rec_hdr {
	__u32 type;
	__u32 len; /* whole record, header included, multiple of 8 */
};

struct wl_hello {
	__u32 abi_version;   /* WL_ABI_VERSION */
	__u32 snaplen;       /* payload bytes copied per packet at most */
	__u32 ifindex;       /* interface bound to, 0 = all of the network namespace */
	__u32 ring_bytes;    /* ring buffer size */
	__u64 netns_ino;     /* inode of the sensor's network namespace (0 when unknown) */
};

/* One TCP or UDP packet, as seen by the AF_PACKET socket filter. Filled by the kernel program;
 * ts_ns is converted to wall-clock (CLOCK_REALTIME) nanoseconds by the sensor before writing. */
struct wl_packet_event {
	__u64 ts_ns;
	__u32 ifindex;
	__u8  direction;     /* WL_DIR_* */
	__u8  family;        /* 4 or 6 */
	__u8  l4proto;       /* 6 = TCP, 17 = UDP */
	__u8  tcp_flags;     /* FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 ECE 0x40 CWR 0x80 */
	__u8  saddr[16];     /* IPv4: first 4 bytes */
	__u8  daddr[16];
	__u16 sport;         /* host byte order */
	__u16 dport;
	__u32 seq;
	__u32 ack;
	__u16 window;        /* raw, unscaled */
	__u16 ip_flags;      /* bit 0: IP fragment (IPv4: MF set or offset != 0; IPv6: fragment header) */
	__u32 payload_len;   /* L4 payload length on the wire (from the IP length fields) */
	__u32 cap_len;       /* payload bytes that follow this struct (<= snaplen) */
	__u32 _pad;
	/* __u8 payload[cap_len]; */
};

/* Counters since the sensor started; sent about once a second and once at exit. */
struct wl_stats {
	__u64 ts_ns;          /* wall clock */
	__u64 packets_seen;   /* packets the filter ran on (all protocols) */
	__u64 packets_matched;/* TCP/UDP packets of the configured ports */
	__u64 packets_sent;   /* events committed to the ring buffer */
	__u64 ringbuf_drops;  /* events lost because the ring buffer was full */
	__u64 records_written;/* records the sensor wrote to stdout */
};

#endif /* WIRELOG_EVENTS_H */
