/* SPDX-License-Identifier: MIT */
/*
 * What the packet mode (packet.c), the trace mode (trace.c) and the netdev mode (netdev.c) share: diagnostics on
 * stderr, the buffered stdout of framed records or text lines, the clocks, the poll loop that drains the ring
 * buffer until a stop signal or a closed stdout, the port set and the pieces of text lines. Each mode keeps its own
 * options, events and stats.
 */
#ifndef WIRELOG_SENSOR_COMMON_H
#define WIRELOG_SENSOR_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "wirelog_events.h"

#define PROG "wirelog-sensor"

/* set once the reader of stdout is gone (EPIPE, POLLERR): the modes then stop cleanly */
extern bool stdout_gone;
/* records (or text lines) written so far; the stats record counts them */
extern uint64_t records_written;

/* The options both modes take: -s SNAPLEN, -b RING_MB, --stats-ms N, --text|--binary, -v. */
struct stream_opts {
	unsigned snaplen;
	unsigned ring_mb;
	long stats_ms;
	int text; /* -1: decide from isatty(stdout) */
	bool verbose;
};
#define STREAM_OPTS_DEFAULT { .snaplen = WL_MAX_SNAPLEN, .ring_mb = 8, .stats_ms = 1000, .text = -1 }
/* The --help lines of -s, -b, --stats-ms, --text, --binary and -v for a mode whose events are `what` ("packet"):
 * printf arguments WL_MAX_SNAPLEN, WL_MAX_SNAPLEN follow the format. */
#define STREAM_OPTS_HELP(what)                                                                                  \
	"  -s SNAPLEN     payload bytes copied per " what ", 0..%d (default %d)\n"                                \
	"  -b RING_MB     ring buffer size in MiB, rounded up to a power of two (default 8)\n"                     \
	"  --stats-ms N   stats record interval in ms, 0 = only at exit (default 1000)\n"                          \
	"  --text         one readable line per " what " (default when stdout is a terminal)\n"                   \
	"  --binary       framed binary records (default otherwise)\n"                                             \
	"  -v             libbpf debug output on stderr\n"
/* getopt_long values of the long-only stream options; a mode numbers its own from OPT_MODE */
enum { OPT_STATS = 1000, OPT_TEXT, OPT_BINARY, OPT_MODE };
/* Applies a getopt_long result the mode did not handle: a stream option (exit 2 on a bad value), -h (usage on
 * stdout, exit 0), a missing value or an unknown option (exit 2). */
void stream_opt(int c, char **argv, struct stream_opts *o, void (*usage)(FILE *));
/* After getopt_long: no operands (exit 2); --text|--binary unset: text when stdout is a terminal. */
void stream_opts_end(int argc, char **argv, struct stream_opts *o);

/* One line "wirelog-sensor: ..." on stderr, in a single write. */
void errmsg(const char *fmt, ...);
/* errmsg(fmt with arg) + " (try --help)", then exit 2. */
__attribute__((noreturn)) void usage_error(const char *fmt, const char *arg);
/* Setting up BPF failed while doing `what` (err: an errno value): one line on stderr naming the likely fix, then
 * exit 1. EPERM: run as root or with `caps` (the mode's capability list); -v (verbose) adds libbpf's log. */
__attribute__((noreturn)) void load_failed(const char *what, int err, const char *caps, bool verbose);
/* A whole-number option value in [lo, hi], else usage_error(bad, arg). */
long num_arg(const char *arg, long lo, long hi, const char *bad);

/* ---- output: one 64 KiB buffer in front of stdout ---- */

bool write_all(const unsigned char *buf, size_t n);
void out_flush(void);
/* Room for n contiguous bytes at the end of the buffer (n <= 64 KiB). */
unsigned char *out_reserve(size_t n);
void out_text(const char *fmt, ...);
static inline uint32_t align8(uint32_t n) { return (n + 7) & ~7u; }
/* The hello record: first on stdout in binary mode. */
void write_hello(unsigned snaplen, unsigned ifindex, uint32_t ring_bytes);
/* A record of body1 + body2 (payload, may be empty), padded to 8; counts in records_written. */
void write_record(uint32_t type, const void *b1, uint32_t n1, const void *b2, uint32_t n2);

/* The dev_drops map (bpf/event_out.h, struct wl_dev_key → struct wl_dev_drops) as one WL_REC_NETDEV_DROPS record,
 * or text lines when text is set; nothing when no device lost an event. A device whose name the map lacks gets
 * name_of's (may be NULL, or return NULL). */
void emit_dev_drops(int map_fd, uint64_t now, bool text, const char *(*name_of)(uint64_t netns_ino, uint32_t ifindex));

/* ---- clocks ---- */

int64_t clock_ns(clockid_t c);
/* REALTIME - MONOTONIC: add to bpf_ktime_get_ns() values. */
int64_t measure_clock_offset(void);

/* ---- setup and main loop ---- */

/* libbpf's log on stderr only with -v; a closed stdout is an EPIPE write, not a signal. */
void sensor_setup(bool verbose);
/* Possible CPUs (per-CPU map values), or -1 after saying why. */
int possible_cpus(void);
/* out[k] = the sum over ncpus of key k of the per-CPU array map fd, for k < n (0 when the lookup fails). */
void sum_percpu_counters(int fd, int ncpus, uint64_t *out, uint32_t n);
/* The "stats" command (a stats record now), or "unknown command" on stderr. */
void stats_command(const char *line, void (*emit_stats)(void));
/* Reads what stdin has into buf (cap bytes, *len of them in use) and runs each complete line, trimmed, empty ones
 * skipped. A line that fills buf is dropped, with errmsg(too_long) unless that is NULL. Returns false at EOF or
 * on a read error: stdin is then no longer polled. The line "stop", and the end of a stdin that is a pipe or a
 * socket, make run_loop return as a stop signal does (the agent's way to stop a sensor it may not signal). */
bool read_stdin_lines(char *buf, size_t cap, size_t *len, void (*run)(char *line), const char *too_long);

/* The ring buffer size in bytes: ring_mb MiB rounded up to a power of two, at least 1 MiB. */
uint32_t ring_bytes_for(unsigned ring_mb);
/* The inode of this process's network namespace, 0 when unknown. */
uint64_t netns_ino(void);
/* Blocks SIGINT, SIGTERM and SIGHUP and returns a signalfd for them, or -1 (errmsg said why). */
int stop_signal_fd(void);
/* Consumes rb, flushes stdout, runs stdin commands (read_commands returns false at EOF) and writes a stats record
 * every stats_ms (0: never), until a stop signal arrives on sfd, stdin asks for a stop, or stdout is gone. */
void run_loop(struct ring_buffer *rb, int sfd, long stats_ms, void (*emit_stats)(void), bool (*read_commands)(void));
/* run_loop, and tick() every tick_ms (0 or tick NULL: never), after the ring buffer was consumed (the packet mode's
 * --netns rescan). */
void run_loop_tick(struct ring_buffer *rb, int sfd, long stats_ms, void (*emit_stats)(void), bool (*read_commands)(void),
		   long tick_ms, void (*tick)(void));
/* After the events are stopped: drain every committed event, then the final stats record. */
void drain(struct ring_buffer *rb, void (*emit_stats)(void));


/* ---- the TCP/UDP port set (packet and netdev modes) ---- */

#define MAX_PORTS 1024
/* Parses "80,8080" or "any" into ports/any (appending to *nports, duplicates skipped). False on a bad list. */
bool parse_ports(const char *s, uint16_t *ports, int *nports, bool *any);
/* "any" or "80,8080" into buf. */
void format_ports(char *buf, size_t n, bool any, const uint16_t *ports, int nports);
/* Replaces the set in the hash map pfd (key: u16 port, value: u8): adds the new ports, calls set_any(any) (a
 * negative errno on failure), then removes stale ports, so that a port in both sets is never briefly missing. */
int replace_ports(int pfd, bool any, const uint16_t *ports, int nports, int (*set_any)(bool any));
/* The -p option: ports or any, `given` once -p was seen. */
struct port_set {
	bool any;
	bool given;
	int n;
	uint16_t ports[MAX_PORTS];
};
/* One -p LIST|any (repeatable): exit 2 on a bad list. */
void port_set_arg(struct port_set *ps, const char *arg);
/* After the options: port 80 when -p was not given. */
void port_set_default(struct port_set *ps);
/* The "ports LIST|any" command: apply(...) and "ports now ..." on stderr. False when line is another command. */
bool ports_command(char *line, int (*apply)(bool any, const uint16_t *ports, int nports));

/* ---- text lines ---- */

/* "HH:MM:SS.uuuuuu" (local time) of a wall-clock ns value. */
void text_clock(char *buf, size_t n, int64_t real_ns);
/* tcpdump's flag letters (FSRP.UEW, ACK as '.'), NUL-terminated. */
void tcp_flag_letters(uint8_t flags, char out[9]);
/* The first 64 payload bytes, non-printable ones as '.', NUL-terminated. */
void text_preview(const unsigned char *payload, uint32_t cap, char out[65]);

/* A packet's two ends as text: the bare addresses, and "addr:port" / "[addr]:port" (IPv6). */
#define TEXT_ADDR_LEN 46 /* INET6_ADDRSTRLEN */
#define TEXT_EP_LEN (TEXT_ADDR_LEN + 10)
struct text_ends {
	char src[TEXT_ADDR_LEN], dst[TEXT_ADDR_LEN];
	char src_ep[TEXT_EP_LEN], dst_ep[TEXT_EP_LEN];
};
void text_ends(uint8_t family, const uint8_t saddr[16], uint16_t sport, const uint8_t daddr[16], uint16_t dport,
	       struct text_ends *out);

#endif
