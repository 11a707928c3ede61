/* SPDX-License-Identifier: MIT */
/*
 * wirelog wire ABI: shared by the kernel programs (bpf/*.bpf.c), the sensor (sensor/*.c) and the TypeScript
 * decoder (src/decode/sensor.ts). test/unit/sensor-abi.test.ts checks the TypeScript offsets and counter indexes
 * against this file, so change both together.
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

#define WL_ABI_VERSION 2

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
	__u32 netns_ino;     /* inode of the network namespace of the socket that saw it (ns inodes are 32-bit) */
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
	/* of ringbuf_drops, the TCP packets whose payload began like an HTTP/1 request line (a method and a space) or
	 * a status line ("HTTP/"): the messages the agent can never log, counted where they were lost */
	__u64 dropped_request_heads;
	__u64 dropped_response_heads;
};

/* Indexes of bpf/packet.bpf.c's per-CPU `counters` map; the sensor sums each over the CPUs into the struct wl_stats
 * field it is named after (WL_PKT_CNT_<FIELD> fills <field>). ts_ns and records_written are the sensor's own. */
enum wl_packet_counter {
	WL_PKT_CNT_PACKETS_SEEN,
	WL_PKT_CNT_PACKETS_MATCHED,
	WL_PKT_CNT_PACKETS_SENT,
	WL_PKT_CNT_RINGBUF_DROPS,
	WL_PKT_CNT_DROPPED_REQUEST_HEADS,
	WL_PKT_CNT_DROPPED_RESPONSE_HEADS,
	WL_PKT_CNT_MAX        /* number of counters: the map's max_entries */
};

/* ---- trace mode (wirelog-sensor trace): syscalls and TLS plaintext of chosen processes ----
 * A trace stream starts with the same WL_REC_HELLO (ifindex 0) and ends with a WL_REC_TRACE_STATS. */
#define WL_REC_DATA        4 /* body: struct wl_data_event + cap_len payload bytes */
#define WL_REC_CONN        5 /* body: struct wl_conn_event */
#define WL_REC_PROC        6 /* body: struct wl_proc_event */
#define WL_REC_TRACE_STATS 7 /* body: struct wl_trace_stats */

/* wl_data_event.source */
#define WL_SRC_SYSCALL 0     /* bytes a data syscall moved on a socket (encrypted when the connection is TLS) */
#define WL_SRC_TLS     1     /* plaintext of SSL_read/SSL_write(_ex) */

/* wl_data_event.flags */
#define WL_DF_TLS      1     /* syscall data on an fd known to carry TLS: the plaintext comes as WL_SRC_TLS */
#define WL_DF_FD_GUESS 2     /* TLS data: the SSL object's fd was inferred from the thread's last socket syscall */

/* wl_data_event.syscall: what produced the bytes */
#define WL_SYS_READ        1
#define WL_SYS_WRITE       2
#define WL_SYS_READV       3
#define WL_SYS_WRITEV      4
#define WL_SYS_RECVFROM    5
#define WL_SYS_SENDTO      6
#define WL_SYS_RECVMSG     7
#define WL_SYS_SENDMSG     8
#define WL_SYS_SENDFILE    9 /* no payload copied (the bytes come from a file): cap_len 0 */
#define WL_SYS_SSL_READ    16
#define WL_SYS_SSL_WRITE   17
#define WL_SYS_SSL_READ_EX 18
#define WL_SYS_SSL_WRITE_EX 19

#define WL_TRACE_MAX_IOV   16/* iovecs walked per readv/writev/sendmsg/recvmsg */

/* One data syscall or TLS call that moved len > 0 bytes on a TCP socket of a traced process. Addresses are those
 * of the socket (local/remote, IPv4-mapped IPv6 reported as family 4); family 0 = the fd is no longer a socket
 * (TLS data whose fd is unknown). Timestamps are wall clock after the sensor converted them. */
struct wl_data_event {
	__u64 ts_enter_ns;
	__u64 ts_exit_ns;
	__u64 ssl_ptr;       /* TLS: the SSL* (per process), 0 for syscalls */
	__u32 pid;           /* tgid */
	__u32 tid;
	__s32 fd;
	__u32 len;           /* bytes moved: the syscall's return value, or the SSL call's length */
	__u32 cap_len;       /* payload bytes that follow (<= snaplen) */
	__u16 syscall;       /* WL_SYS_* */
	__u8  source;        /* WL_SRC_* */
	__u8  direction;     /* WL_DIR_IN: read family (ingress), WL_DIR_OUT: write family (egress) */
	__u8  family;        /* 4, 6, 0 unknown */
	__u8  flags;         /* WL_DF_* */
	__u16 _pad0;
	__u16 lport;         /* host byte order */
	__u16 rport;
	__u8  laddr[16];     /* IPv4: first 4 bytes */
	__u8  raddr[16];
	__u8  comm[16];      /* NUL-padded */
	__u64 sock_id;       /* identifies the kernel socket for its lifetime (same value in wl_conn_event) */
	/* __u8 payload[cap_len]; */
};

/* wl_conn_event.kind */
#define WL_CONN_CONNECT 1  /* connect() returned (ret 0, or -EINPROGRESS for a non-blocking socket) */
#define WL_CONN_ACCEPT  2  /* accept()/accept4() returned fd */
#define WL_CONN_CLOSE   3  /* close() of a socket fd (tuple taken before the close) */
#define WL_CONN_STATE   4  /* sock:inet_sock_set_state (old_state → new_state, TCP_* numbers) */

struct wl_conn_event {
	__u64 ts_ns;
	__u64 sock_id;
	__u32 pid;           /* tgid; STATE in softirq context: the tgid the socket was last seen with */
	__u32 tid;           /* 0 for STATE events outside the process */
	__s32 fd;            /* -1 for STATE events */
	__s32 ret;           /* syscall return value */
	__u8  kind;          /* WL_CONN_* */
	__u8  family;
	__u8  old_state;
	__u8  new_state;
	__u16 lport;
	__u16 rport;
	__u8  laddr[16];
	__u8  raddr[16];
	__u8  comm[16];
};

/* wl_proc_event.kind */
#define WL_PROC_FORK 1     /* a traced process forked: pid is the child, now traced too (--follow) */
#define WL_PROC_EXIT 2     /* the last thread of a traced process exited */

struct wl_proc_event {
	__u64 ts_ns;
	__u32 kind;          /* WL_PROC_* */
	__u32 pid;
	__u32 ppid;          /* FORK: the parent's tgid */
	__u32 exit_code;     /* EXIT: wait status (code << 8 | signal) */
	__u8  comm[16];
};

/* Trace-mode counters since the sensor started; about once a second and once at exit. */
struct wl_trace_stats {
	__u64 ts_ns;
	__u64 events_sent;     /* events committed to the ring buffer */
	__u64 ringbuf_drops;   /* events lost because the ring buffer was full */
	__u64 records_written; /* records the sensor wrote to stdout */
	__u64 data_events;     /* syscall data events sent */
	__u64 tls_events;      /* TLS plaintext events sent */
	__u64 conn_events;
	__u64 proc_events;
	__u64 nonsock_skipped; /* data syscalls of traced processes on fds that are not TCP sockets */
	__u64 mmsg_calls;      /* sendmmsg/recvmmsg calls counted, not copied */
	__u64 truncated;       /* data events with cap_len < len */
	__u64 copy_failed;     /* user-memory reads that failed (payload left short) */
};

/* Indexes of bpf/trace.bpf.c's per-CPU `counters` map; the sensor sums each over the CPUs into the struct
 * wl_trace_stats field it is named after (WL_TRC_CNT_<FIELD> fills <field>). ts_ns and records_written are the
 * sensor's own. */
enum wl_trace_counter {
	WL_TRC_CNT_EVENTS_SENT,
	WL_TRC_CNT_RINGBUF_DROPS,
	WL_TRC_CNT_DATA_EVENTS,
	WL_TRC_CNT_TLS_EVENTS,
	WL_TRC_CNT_CONN_EVENTS,
	WL_TRC_CNT_PROC_EVENTS,
	WL_TRC_CNT_NONSOCK_SKIPPED,
	WL_TRC_CNT_MMSG_CALLS,
	WL_TRC_CNT_TRUNCATED,
	WL_TRC_CNT_COPY_FAILED,
	WL_TRC_CNT_MAX        /* number of counters: the map's max_entries */
};

/* ---- netdev mode (wirelog-sensor netdev): packets at every network device of every network namespace ----
 * tp_btf programs: net:net_dev_start_xmit, or net:net_dev_queue (a packet leaving a device: "tx", WL_DIR_OUT), and
 * net:netif_receive_skb (a packet handed to the stack by a device: "rx", WL_DIR_IN). A netdev stream starts with
 * WL_REC_HELLO (ifindex 0, netns_ino the sensor's own); each stats time brings a WL_REC_NETDEV_DROPS (only when
 * some device lost events) then a WL_REC_NETDEV_STATS. */
#define WL_REC_NETDEV_PACKET 8  /* body: struct wl_netdev_event + cap_len payload bytes */
#define WL_REC_NETDEV_STATS  9  /* body: struct wl_netdev_stats */
#define WL_REC_NETDEV_DROPS  10 /* body: struct wl_netdev_drops + count struct wl_netdev_dev_drops */

/* wl_netdev_event.ip_flags */
#define WL_NDV_FRAGMENT 1       /* IP fragment (IPv4 MF or offset; IPv6 fragment header) */
#define WL_NDV_PAGED    2       /* part of the snaplen-wanted payload was in page fragments, not copied */

/* One TCP or UDP packet at one device. Timestamps: wall clock after the sensor converted them. */
struct wl_netdev_event {
	__u64 ts_ns;
	__u64 netns_ino;     /* inode of the device's network namespace */
	__u32 ifindex;       /* within that namespace */
	__u8  direction;     /* WL_DIR_OUT: tx (net_dev_start_xmit or net_dev_queue), WL_DIR_IN: rx (netif_receive_skb) */
	__u8  family;        /* 4 or 6 */
	__u8  l4proto;       /* 6 = TCP, 17 = UDP */
	__u8  tcp_flags;     /* as in wl_packet_event */
	__u8  ifname[16];    /* the device's name when the packet passed, NUL-padded */
	__u8  saddr[16];     /* IPv4: first 4 bytes */
	__u8  daddr[16];
	__u16 sport;         /* host byte order */
	__u16 dport;
	__u32 seq;
	__u32 ack;
	__u16 window;        /* raw, unscaled */
	__u16 ip_flags;      /* WL_NDV_* */
	__u32 ip_len;        /* IP datagram length from the header (IPv4 tot_len, IPv6 40 + payload_len); 0 for BIG TCP */
	__u32 payload_len;   /* L4 payload length (from the IP length fields; from skb->len when they are 0) */
	__u32 cap_len;       /* payload bytes that follow this struct (<= snaplen, linear data only) */
	__u32 skb_len;       /* skb->len at the tracepoint (tx: link header included) */
	/* __u8 payload[cap_len]; */
};

/* Netdev-mode counters since the sensor started; about once a second and once at exit. */
struct wl_netdev_stats {
	__u64 ts_ns;
	__u64 packets_seen;      /* skbs of the chosen namespaces the programs ran on (both tracepoints) */
	__u64 packets_matched;   /* TCP/UDP packets of the configured ports */
	__u64 packets_sent;      /* events committed to the ring buffer */
	__u64 ringbuf_drops;     /* events lost because the ring buffer was full (per device: WL_REC_NETDEV_DROPS) */
	__u64 no_network_header; /* tx skbs whose network header was unset: skipped */
	__u64 nonlinear_headers; /* IP/TCP/UDP headers not all in the linear data: skipped */
	__u64 paged_payload;     /* events whose payload copy stopped at the end of the linear data (WL_NDV_PAGED) */
	__u64 records_written;   /* records (or text lines) the sensor wrote */
};

/* Indexes of bpf/netdev.bpf.c's per-CPU `counters` map; the sensor sums each over the CPUs into the struct
 * wl_netdev_stats field it is named after (WL_NDV_CNT_<FIELD> fills <field>). */
enum wl_netdev_counter {
	WL_NDV_CNT_PACKETS_SEEN,
	WL_NDV_CNT_PACKETS_MATCHED,
	WL_NDV_CNT_PACKETS_SENT,
	WL_NDV_CNT_RINGBUF_DROPS,
	WL_NDV_CNT_NO_NETWORK_HEADER,
	WL_NDV_CNT_NONLINEAR_HEADERS,
	WL_NDV_CNT_PAGED_PAYLOAD,
	WL_NDV_CNT_MAX        /* number of counters: the map's max_entries */
};

/* Ring-buffer drops of one device since the sensor started (bpf/netdev.bpf.c's `dev_drops` map). */
struct wl_netdev_drops {
	__u64 ts_ns;
	__u32 count;         /* struct wl_netdev_dev_drops entries that follow */
	__u32 _pad;
};

struct wl_netdev_dev_drops {
	__u64 netns_ino;
	__u64 drops;
	__u32 ifindex;
	__u32 _pad;
	__u8  ifname[16];
};

/* ---- packet mode over several network namespaces (wirelog-sensor packet --netns all|PATH ...) ----
 * One AF_PACKET socket per watched namespace, opened inside it (setns), each with its own load of
 * bpf/packet.bpf.c (rodata netns_ino, its own l3_ifaces map) sharing the events ring, counters, ports, settings and
 * dev_drops maps of the first load. `--netns all` rescans /run/netns/ * and /proc/ * /ns/net (every --netns-scan-ms,
 * default 250): namespaces and devices that appear while it runs are watched within that interval.
 * The stream is WL_REC_HELLO (ifindex 0, netns_ino the sensor's own), then, in this order for any namespace:
 * WL_REC_NETNS (WL_NS_WATCHED) before the WL_REC_DEVICE records of its devices, before any packet of the namespace;
 * a WL_REC_DEVICE (WL_DEV_PRESENT) comes before the first packet of a device (the sensor rescans a namespace's
 * devices when a packet names an ifindex it has not announced). Stats times bring WL_REC_NETDEV_DROPS (same body as
 * in netdev mode; per device, only when some device lost events) then WL_REC_STATS. */
#define WL_REC_NETNS  11 /* body: struct wl_netns_event */
#define WL_REC_DEVICE 12 /* body: struct wl_device_event */

/* wl_netns_event.state */
#define WL_NS_WATCHED 1  /* a socket is open in it */
#define WL_NS_GONE    2  /* no longer reachable by any path (no process, no bind mount): its socket is closed */
#define WL_NS_FAILED  3  /* could not be entered or watched: err is the errno */

struct wl_netns_event {
	__u64 ts_ns;         /* wall clock */
	__u64 netns_ino;
	__u32 state;         /* WL_NS_* */
	__s32 err;           /* errno for WL_NS_FAILED, else 0 */
	__u8  path[112];     /* how the sensor reached it: /run/netns/NAME, /proc/PID/ns/net or the path given; NUL-padded */
};

/* wl_device_event.state */
#define WL_DEV_PRESENT 1 /* the device exists in the namespace (first seen, or renamed: ifname is the new name) */
#define WL_DEV_GONE    2

struct wl_device_event {
	__u64 ts_ns;         /* wall clock */
	__u64 netns_ino;
	__u32 ifindex;
	__u32 state;         /* WL_DEV_* */
	__u8  ifname[16];    /* NUL-padded */
};

#endif /* WIRELOG_EVENTS_H */
