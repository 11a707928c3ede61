// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * wirelog trace sensor: what chosen processes send and receive on their TCP sockets, from syscall tracepoints,
 * plus TLS plaintext from uprobes on SSL_read/SSL_write(_ex). No kprobes, no fentry.
 *
 * Filter first, cheaply: every program starts with a byte test in `pids` (an array lookup the verifier inlines,
 * no hashing), or the comm check, so untraced processes on the host cost a few nanoseconds. Data syscalls save
 * their arguments on sys_enter in task storage and emit on sys_exit when they moved bytes on a TCP socket: the fd is
 * resolved in the kernel (task → files → fdt → file → socket → sock) to the socket's addresses and ports once per
 * (tgid, fd) and kept in `fd_cache` (non-sockets too), dropped on close/dup2/dup3 and made stale on exec and
 * close_range by the process's generation number. Payloads are copied into a per-CPU scratch map, never the
 * 512-byte stack, and sent with their real size.
 *
 * SSL* → fd: a thread inside SSL_read/SSL_write that makes a socket syscall gives the exact fd (OpenSSL with a
 * socket BIO: nginx, curl). Node's TLS uses memory BIOs, so the socket syscalls happen outside the SSL calls; there
 * the fd is taken from the thread's last socket syscall (flag WL_DF_FD_GUESS), which for node is the read that fed
 * SSL_read or the handshake write before SSL_write.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "wirelog_events.h"

#define AF_INET     2
#define AF_INET6    10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define S_IFMT      00170000
#define S_IFSOCK    0140000
#define TCP_CLOSE   7

/* iovecs walked per readv/writev/sendmsg/recvmsg (a power of 2, from the ABI header). Node's chunked HTTP/1 responses take 9 (head,
 * chunk sizes, data, CRLFs, the last chunk with the trailers), so 8 cut their ends. */
#define TRACE_IOVS  WL_TRACE_MAX_IOV

/* set by the sensor before load */
const volatile __u32 snaplen = 4096;
const volatile __u32 self_tgid = 0;    /* the sensor itself is never traced */
const volatile __u8 filter_pids = 1;   /* 1: only tgids in `pids` */
const volatile __u8 filter_comm = 0;   /* 1: only tasks whose comm is `comm` */
const volatile __u8 follow = 0;        /* 1: children of traced processes are traced */
const volatile __u8 tls = 1;           /* 1: keep the state the TLS uprobes need */
const volatile char comm[16] = {};
const volatile __u64 id_key = 0;       /* sock_id = sk address ^ id_key: stable per socket, no raw address out */

/* One state byte per tgid, 8 to a word (the sensor sizes the array to pid_max / 8): bit 7 = traced (-p, --follow);
 * bit 6 = the process entered an SSL_* function (only then is ssl_calls looked up); bits 0-5 = the fd_cache
 * generation, bumped on exec, close_range and process exit (fds that go away without a close(), or a reused tgid),
 * so older cache entries of the tgid no longer match. Every program tests it first; in comm mode bit 7 is unused. */
#define PS_ON  0x80
#define PS_SSL 0x40
#define PS_GEN 0x3f
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4194304 / 8); /* PID_MAX_LIMIT; set to pid_max / 8 by the sensor */
	__type(key, __u32);   /* tgid >> 3 */
	__type(value, __u64); /* byte tgid & 7 */
} pids SEC(".maps");

/* (tgid << 32 | fd) → what the fd is: resolved once per connection instead of on every event */
struct fd_info {
	__u64 sk;             /* 0: not a TCP socket */
	__u32 gen;            /* the process's generation when resolved */
	__u8 family;
	__u8 tls;             /* the fd carries TLS (mirror of tls_fds) */
	__u16 lport;
	__u16 rport;
	__u16 _pad[3];
	__u8 laddr[16];
	__u8 raddr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct fd_info);
} fd_cache SEC(".maps");

/* arguments of a syscall in flight, keyed by tid */
struct inflight {
	__u64 ts;
	__u64 buf;            /* buffer, iovec array or user_msghdr */
	__u32 cnt;            /* iovcnt for readv/writev */
	__s32 fd;
	__u16 sys;            /* WL_SYS_*, or CONN_* below; 0 = no call in flight */
	__u8 dir;
	__u8 _pad;
	__s32 last_fd;        /* the thread's last socket fd with data (for memory-BIO TLS); -1 none */
	__u32 _pad2;
};
#define SYS_CONNECT 100
#define SYS_ACCEPT  101

/* per thread, in task storage: cheaper than a tid-keyed hash and freed with the thread */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct inflight);
} inflight SEC(".maps");

/* SSL call in flight, keyed by tid */
struct ssl_call {
	__u64 ts;
	__u64 ssl;
	__u64 buf;
	__u64 outlen;         /* size_t * of the _ex variants, 0 otherwise */
	__u16 sys;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct ssl_call);
} ssl_calls SEC(".maps");

struct ssl_key {
	__u32 tgid;
	__u32 _pad;
	__u64 ssl;
};

struct ssl_fd_val {
	__s32 fd;
	__u8 guessed;
	__u8 _pad[3];
	__u64 sk;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ssl_key);
	__type(value, struct ssl_fd_val);
} ssl_fds SEC(".maps");

/* (tgid << 32 | fd) of fds that carry TLS, so their encrypted syscall data is flagged */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64); /* sk */
} tls_fds SEC(".maps");


/* sockets seen in traced processes: attributes softirq state changes to their process */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);  /* sk */
	__type(value, __u32); /* tgid */
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WL_TRC_CNT_MAX); /* enum wl_trace_counter (wirelog_events.h), summed by the sensor */
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* payload is twice the largest copy so that a masked offset plus a masked length always stays inside it */
struct data_scratch {
	struct wl_data_event ev;
	__u8 payload[2 * WL_MAX_SNAPLEN];
	struct iovec iov[TRACE_IOVS]; /* the caller's iovec array, read in one go */
	__u32 nsent;          /* data events sent on this CPU: the ring's fill level is checked every 32nd */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct data_scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024); /* resized by the sensor (-b) */
} events SEC(".maps");

/* Waking the reader per event costs an IPI (microseconds in a VM), more than the rest of a program: wake it only
 * when a batch is pending; the sensor polls every few milliseconds for the rest. */
#define WAKE_BYTES (256 * 1024)

static __always_inline __u64 rb_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= WAKE_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void count(enum wl_trace_counter c)
{
	__u32 idx = c;
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1;
}

static __always_inline bool comm_ok(void)
{
	char c[16];
	bpf_get_current_comm(c, sizeof(c));
#pragma unroll
	for (int i = 0; i < 16; i++) {
		if (c[i] != comm[i])
			return false;
		if (!c[i])
			break;
	}
	return true;
}

/* the state byte of a tgid (NULL past pid_max) */
static __always_inline __u8 *pid_state(__u32 tgid)
{
	__u32 i = tgid >> 3;
	__u64 *w = bpf_map_lookup_elem(&pids, &i);
	if (!w)
		return NULL;
	return (__u8 *)w + (tgid & 7);
}

static __always_inline bool traced_st(__u32 tgid, __u8 **st)
{
	if (tgid == self_tgid)
		return false;
	*st = pid_state(tgid);
	if (filter_pids && (!*st || !(**st & PS_ON)))
		return false;
	if (filter_comm && !comm_ok())
		return false;
	return true;
}

static __always_inline bool traced(__u32 tgid)
{
	__u8 *st;
	return traced_st(tgid, &st);
}

/* ---- fd → socket ---- */

/* A kernel pointer held as a number, made a read-only BTF pointer: its fields are then plain loads that the
 * verifier turns into fault-safe ones (no helper call per field as with BPF_CORE_READ). */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define kcast(p, type) ((type *)bpf_rdonly_cast((const void *)(p), bpf_core_type_id_kernel(type)))

/* The TCP socket behind fd, or NULL. Every close() of a traced process runs this (a served file's too), so it
 * walks with direct loads: two helper calls (the fd array slot, the sock pointer) instead of ~10. */
static __always_inline struct sock *fd_sock(int fd)
{
	if (fd < 0)
		return NULL;
	struct task_struct *task = bpf_get_current_task_btf();
	struct files_struct *files = task->files;
	if (!files)
		return NULL;
	struct fdtable *fdt = kcast(files->fdt, struct fdtable);
	if (!fdt)
		return NULL;
	if ((unsigned int)fd >= fdt->max_fds)
		return NULL;
	struct file *fp = NULL;
	if (bpf_probe_read_kernel(&fp, sizeof(fp), (void *)fdt->fd + (__u64)fd * sizeof(fp)) || !fp)
		return NULL;
	struct file *f = kcast(fp, struct file);
	struct inode *ino = f->f_inode;
	if (!ino || (ino->i_mode & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *so = kcast(f->private_data, struct socket);
	if (!so)
		return NULL;
	/* read as a number: the caller does arithmetic on it (sock_id), which a BTF pointer does not allow */
	struct sock *skp = NULL;
	if (bpf_probe_read_kernel(&skp, sizeof(skp), &so->sk) || !skp)
		return NULL;
	struct sock *sk = kcast(skp, struct sock);
	__u16 family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	if (sk->sk_type != SOCK_STREAM || sk->sk_protocol != IPPROTO_TCP)
		return NULL;
	return skp;
}

static __always_inline bool v4mapped(const __u8 *a)
{
	__u64 lo;
	__u32 mid;
	__builtin_memcpy(&lo, a, 8);
	__builtin_memcpy(&mid, a + 8, 4);
	return lo == 0 && mid == bpf_htonl(0x0000ffff);
}

/* Fills family, addresses and ports from the socket. */
static __always_inline void sock_tuple(struct sock *sk, __u8 *family, __u8 *laddr, __u8 *raddr, __u16 *lport, __u16 *rport)
{
	__u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);
	*lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	*rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	__builtin_memset(laddr, 0, 16);
	__builtin_memset(raddr, 0, 16);
	if (fam == AF_INET) {
		*family = 4;
		bpf_core_read(laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(raddr, 4, &sk->__sk_common.skc_daddr);
		return;
	}
	*family = 6;
	bpf_core_read(laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
	bpf_core_read(raddr, 16, &sk->__sk_common.skc_v6_daddr);
	if (v4mapped(raddr) || (v4mapped(laddr) && raddr[0] == 0)) {
		/* an IPv6 socket talking IPv4: report it as the IPv4 connection the packets show */
		*family = 4;
		__builtin_memcpy(laddr, laddr + 12, 4);
		__builtin_memcpy(raddr, raddr + 12, 4);
		__builtin_memset(laddr + 4, 0, 12);
		__builtin_memset(raddr + 4, 0, 12);
	}
}

static __always_inline void remember_sock(struct sock *sk, __u32 tgid)
{
	__u64 k = (__u64)sk;
	if (!bpf_map_lookup_elem(&socks, &k))
		bpf_map_update_elem(&socks, &k, &tgid, BPF_ANY);
}

static __always_inline __u32 pid_gen(__u8 *st)
{
	return st ? *st & PS_GEN : 0;
}

/* exec and close_range drop fds without a close(): every cached fd of the process becomes stale */
static __always_inline void bump_gen(__u8 *st)
{
	if (st)
		*st = (*st & ~PS_GEN) | ((*st & PS_GEN) % PS_GEN + 1);
}

static __always_inline struct inflight *inflight_get(bool create)
{
	return bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), NULL,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

static __always_inline __u64 fd_key(__u32 tgid, __s32 fd)
{
	return (__u64)tgid << 32 | (__u32)fd;
}

/* ---- payload copies ---- */

/* Copies n user bytes to payload[off..]; returns the bytes copied (0 when off is past the snaplen). */
static __always_inline __u32 copy_user(__u8 *payload, __u32 off, __u64 src, __u64 n)
{
	__u32 snap = snaplen < WL_MAX_SNAPLEN ? snaplen : WL_MAX_SNAPLEN;
	if (off >= snap || n == 0)
		return 0;
	if (n > snap - off)
		n = snap - off;
	/* for n in 1..4096: ((n - 1) & 4095) + 1 == n, a form whose bounds the verifier sees on the register used */
	__u32 len = (__u32)n - 1;
	__u32 o = off;
	/* masks the compiler cannot fold away (it knows off < snap), so the verifier sees both bounds */
	asm volatile("%0 &= 4095" : "+r"(len));
	asm volatile("%0 &= 4095" : "+r"(o));
	len += 1;
	if (bpf_probe_read_user(payload + o, len, (const void *)src)) {
		count(WL_TRC_CNT_COPY_FAILED);
		return 0;
	}
	return len;
}

struct iov_walk {
	__u8 *payload;
	struct iovec *iovs;
	__u64 total;   /* bytes still to account for (the call's return value) */
	__u32 off;     /* bytes copied so far */
	__u32 n;
};

/* one iovec; bpf_loop verifies it once instead of once per iteration and path */
static long iov_step(__u32 i, void *data)
{
	struct iov_walk *w = data;
	if (i >= w->n || i >= TRACE_IOVS || w->total == 0 || w->off >= snaplen || w->off >= WL_MAX_SNAPLEN)
		return 1;
	__u32 k = i;
	asm volatile("%0 &= 15" : "+r"(k)); /* TRACE_IOVS - 1, kept for the verifier */
	struct iovec *v = &w->iovs[k];
	__u64 len = v->iov_len;
	__u64 take = len < w->total ? len : w->total;
	__u32 got = copy_user(w->payload, w->off, (__u64)v->iov_base, take);
	w->off += got;
	w->total -= take;
	return got < take ? 1 : 0; /* the snaplen or a fault stopped the copy */
}

/* Walks up to TRACE_IOVS iovecs, copying the first `total` bytes. */
static __always_inline __u32 copy_iov(__u8 *payload, struct iovec *iovs, __u64 iov_ptr, __u64 iovcnt, __u64 total)
{
	__u32 n = iovcnt < TRACE_IOVS ? (__u32)iovcnt : TRACE_IOVS;
	if (n == 0)
		return 0;
	/* one read for the whole array (n is 1..16, so 16..256 bytes) */
	__u32 bytes = ((n - 1) & (TRACE_IOVS - 1)) * sizeof(struct iovec) + sizeof(struct iovec);
	if (bpf_probe_read_user(iovs, bytes, (const void *)iov_ptr)) {
		count(WL_TRC_CNT_COPY_FAILED);
		return 0;
	}
	struct iov_walk w = { .payload = payload, .iovs = iovs, .total = total, .off = 0, .n = n };
	bpf_loop(TRACE_IOVS, iov_step, &w, 0);
	return w.off;
}

/* ---- emitting ---- */

static __always_inline struct data_scratch *scratch_ev(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch, &zero);
}

static __always_inline void send_data(struct data_scratch *s, __u32 cap, enum wl_trace_counter counter)
{
	s->ev.cap_len = cap;
	if (cap < s->ev.len)
		count(WL_TRC_CNT_TRUNCATED);
	__u64 size = sizeof(struct wl_data_event) + (__u64)(cap & (2 * WL_MAX_SNAPLEN - 1));
	if (size > sizeof(struct data_scratch))
		size = sizeof(struct data_scratch);
	/* asking the ring its fill level reads the consumer's cache line (~60 ns when the reader runs on another
	 * CPU): data events ask every 32nd time, which overshoots the wake threshold by at most 32 events */
	__u64 flags = (++s->nsent & 31) ? BPF_RB_NO_WAKEUP : rb_flags();
	if (bpf_ringbuf_output(&events, s, size, flags)) {
		count(WL_TRC_CNT_RINGBUF_DROPS);
		return;
	}
	count(WL_TRC_CNT_EVENTS_SENT);
	count(counter);
}

static __always_inline void send_conn(struct wl_conn_event *ev)
{
	if (bpf_ringbuf_output(&events, ev, sizeof(*ev), rb_flags())) {
		count(WL_TRC_CNT_RINGBUF_DROPS);
		return;
	}
	count(WL_TRC_CNT_EVENTS_SENT);
	count(WL_TRC_CNT_CONN_EVENTS);
}

/* ---- syscalls ---- */

static __always_inline int enter(struct trace_event_raw_sys_enter *ctx, __u16 sys, __u8 dir, __u32 cnt)
{
	if (!traced(bpf_get_current_pid_tgid() >> 32))
		return 0;
	/* created zeroed on the thread's first call */
	struct inflight *slot = inflight_get(true);
	if (!slot)
		return 0;
	if (!slot->sys && !slot->ts)
		slot->last_fd = -1;
	slot->ts = bpf_ktime_get_ns();
	slot->buf = ctx->args[1];
	slot->cnt = cnt;
	slot->fd = (__s32)ctx->args[0];
	slot->sys = sys;
	slot->dir = dir;
	return 0;
}

#define MSG_PEEK 2

/*
 * The data event of a syscall returning now. Write-family calls had their arguments saved by their sys_enter
 * program (rsys 0; their entry time is the first byte's time); read-family calls have no sys_enter program: their
 * arguments are still in the thread's saved user registers (x86-64: di, si, dx, r10), read here, and their entry
 * time is not taken (ts_enter = ts_exit). That spares a program run per read, and most reads of an event-driven
 * server are the EAGAIN ones ending each keep-alive burst.
 */
static __always_inline int exit_data(struct trace_event_raw_sys_exit *ctx, __u16 rsys)
{
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pt, tgid = pt >> 32;
	__u8 *st = NULL;
	if (!traced_st(tgid, &st))
		return 0;
	long ret = ctx->ret;
	struct inflight a;
	struct inflight *ap = NULL;
	if (rsys) {
		if (ret <= 0)
			return 0;
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
		if (!regs)
			return 0;
		/* MSG_PEEK leaves the bytes in the socket, to be read again: not stream data (curl peeks a byte before
		 * reusing a connection) */
		if ((rsys == WL_SYS_RECVFROM && (PT_REGS_PARM4_SYSCALL(regs) & MSG_PEEK)) ||
		    (rsys == WL_SYS_RECVMSG && (PT_REGS_PARM3_SYSCALL(regs) & MSG_PEEK)))
			return 0;
		a.ts = 0;
		a.fd = (__s32)PT_REGS_PARM1_SYSCALL(regs);
		a.buf = PT_REGS_PARM2_SYSCALL(regs);
		a.cnt = (__u32)PT_REGS_PARM3_SYSCALL(regs);
		a.sys = rsys;
		a.dir = WL_DIR_IN;
	} else {
		ap = inflight_get(false);
		if (!ap || !ap->sys)
			return 0;
		a = *ap;
		ap->sys = 0; /* slot kept for the thread's next call; freed when the thread exits */
		if (a.sys >= SYS_CONNECT)
			return 0; /* an exit we missed left a connect/accept entry: not ours */
		if (ret <= 0)
			return 0; /* nothing moved: no resolution, no copy */
	}
	__u32 gen = pid_gen(st);
	__u64 fk = fd_key(tgid, a.fd);
	struct fd_info *fi = bpf_map_lookup_elem(&fd_cache, &fk);
	if (fi && fi->gen != gen)
		fi = NULL;
	struct sock *sk;
	if (fi) {
		sk = (struct sock *)fi->sk;
		if (!sk) {
			count(WL_TRC_CNT_NONSOCK_SKIPPED);
			return 0;
		}
	} else {
		sk = fd_sock(a.fd);
		if (!sk) {
			struct fd_info neg = { .gen = gen };
			bpf_map_update_elem(&fd_cache, &fk, &neg, BPF_ANY);
			count(WL_TRC_CNT_NONSOCK_SKIPPED);
			return 0;
		}
	}
	struct data_scratch *s = scratch_ev();
	if (!s)
		return 0;
	struct wl_data_event *ev = &s->ev;
	ev->ts_exit_ns = bpf_ktime_get_ns();
	ev->ts_enter_ns = a.ts ? a.ts : ev->ts_exit_ns;
	ev->ssl_ptr = 0;
	ev->pid = tgid;
	ev->tid = tid;
	ev->fd = a.fd;
	ev->len = ret > 0xffffffffL ? 0xffffffff : (__u32)ret;
	ev->syscall = a.sys;
	ev->source = WL_SRC_SYSCALL;
	ev->direction = a.dir;
	ev->flags = 0;
	ev->_pad0 = 0;
	ev->sock_id = (__u64)sk ^ id_key;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	bool known_tls;
	if (fi) {
		ev->family = fi->family;
		ev->lport = fi->lport;
		ev->rport = fi->rport;
		__builtin_memcpy(ev->laddr, fi->laddr, 16);
		__builtin_memcpy(ev->raddr, fi->raddr, 16);
		known_tls = fi->tls;
	} else {
		sock_tuple(sk, &ev->family, ev->laddr, ev->raddr, &ev->lport, &ev->rport);
		remember_sock(sk, tgid);
		known_tls = false;
		if (tls) {
			__u64 *known = bpf_map_lookup_elem(&tls_fds, &fk);
			known_tls = known && *known == (__u64)sk;
		}
		/* only once connected: before connect() the tuple is still zero */
		if (ev->rport) {
			struct fd_info n = { .sk = (__u64)sk, .gen = gen, .family = ev->family, .tls = known_tls,
					     .lport = ev->lport, .rport = ev->rport };
			__builtin_memcpy(n.laddr, ev->laddr, 16);
			__builtin_memcpy(n.raddr, ev->raddr, 16);
			bpf_map_update_elem(&fd_cache, &fk, &n, BPF_ANY);
			fi = bpf_map_lookup_elem(&fd_cache, &fk);
		}
	}

	if (tls) {
		/* ssl_calls only for processes that ever entered an SSL function */
		struct ssl_call *sc = (st && (*st & PS_SSL)) ? bpf_map_lookup_elem(&ssl_calls, &tid) : NULL;
		if (sc) {
			/* inside SSL_read/SSL_write: this is the SSL object's own socket */
			struct ssl_key k = { .tgid = tgid, .ssl = sc->ssl };
			struct ssl_fd_val v = { .fd = a.fd, .sk = (__u64)sk };
			__u64 skv = (__u64)sk;
			bpf_map_update_elem(&ssl_fds, &k, &v, BPF_ANY);
			if (!known_tls) {
				bpf_map_update_elem(&tls_fds, &fk, &skv, BPF_ANY);
				if (fi)
					fi->tls = 1;
			}
			ev->flags |= WL_DF_TLS;
		} else if (known_tls) {
			ev->flags |= WL_DF_TLS;
		}
		if (!ap) {
			ap = inflight_get(true);
			if (ap && !ap->sys && !ap->ts)
				ap->ts = ev->ts_exit_ns; /* not fresh any more: enter() keeps last_fd */
		}
		if (ap)
			ap->last_fd = a.fd;
	}

	__u32 cap = 0;
	__u64 total = (__u64)ret;
	if (a.sys == WL_SYS_READV || a.sys == WL_SYS_WRITEV) {
		cap = copy_iov(s->payload, s->iov, a.buf, a.cnt, total);
	} else if (a.sys == WL_SYS_RECVMSG || a.sys == WL_SYS_SENDMSG) {
		struct user_msghdr mh;
		if (bpf_probe_read_user(&mh, sizeof(mh), (const void *)a.buf) == 0)
			cap = copy_iov(s->payload, s->iov, (__u64)mh.msg_iov, mh.msg_iovlen, total);
		else
			count(WL_TRC_CNT_COPY_FAILED);
	} else if (a.sys != WL_SYS_SENDFILE) {
		cap = copy_user(s->payload, 0, a.buf, total);
	}
	/* a TLS handshake record (0x16 0x03 0x0N) marks the fd as TLS from its first bytes on, before any SSL call
	 * (memory-BIO TLS such as node's never calls SSL_* inside the socket syscalls) */
	if (tls && !(ev->flags & WL_DF_TLS) && cap >= 3 && s->payload[0] == 0x16 && s->payload[1] == 3 && s->payload[2] <= 4) {
		__u64 skv = (__u64)sk;
		bpf_map_update_elem(&tls_fds, &fk, &skv, BPF_ANY);
		if (fi)
			fi->tls = 1;
		ev->flags |= WL_DF_TLS;
	}
	send_data(s, cap, WL_TRC_CNT_DATA_EVENTS);
	return 0;
}

/* write family: arguments and entry time saved on sys_enter */
#define DATA_SYSCALL(name, sys, dir)                                           \
	SEC("tracepoint/syscalls/sys_enter_" #name)                             \
	int enter_##name(struct trace_event_raw_sys_enter *ctx)                  \
	{                                                                        \
		return enter(ctx, sys, dir, (__u32)ctx->args[2]);                \
	}                                                                        \
	SEC("tracepoint/syscalls/sys_exit_" #name)                              \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)                    \
	{                                                                        \
		return exit_data(ctx, 0);                                        \
	}

/* read family: sys_exit only, the arguments from the saved registers */
#define READ_SYSCALL(name, sys)                                                \
	SEC("tracepoint/syscalls/sys_exit_" #name)                              \
	int exit_##name(struct trace_event_raw_sys_exit *ctx)                    \
	{                                                                        \
		return exit_data(ctx, sys);                                      \
	}

READ_SYSCALL(read, WL_SYS_READ)
DATA_SYSCALL(write, WL_SYS_WRITE, WL_DIR_OUT)
READ_SYSCALL(readv, WL_SYS_READV)
DATA_SYSCALL(writev, WL_SYS_WRITEV, WL_DIR_OUT)
READ_SYSCALL(recvfrom, WL_SYS_RECVFROM)
DATA_SYSCALL(sendto, WL_SYS_SENDTO, WL_DIR_OUT)
READ_SYSCALL(recvmsg, WL_SYS_RECVMSG)
DATA_SYSCALL(sendmsg, WL_SYS_SENDMSG, WL_DIR_OUT)

/* sendfile(out_fd, in_fd, offset, count): the socket is out_fd, the bytes come from a file: length only */
SEC("tracepoint/syscalls/sys_enter_sendfile64")
int enter_sendfile(struct trace_event_raw_sys_enter *ctx)
{
	return enter(ctx, WL_SYS_SENDFILE, WL_DIR_OUT, 0);
}

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int exit_sendfile(struct trace_event_raw_sys_exit *ctx)
{
	return exit_data(ctx, 0);
}

/* sendmmsg/recvmmsg: counted, not copied (HTTP servers and clients do not use them on TCP) */
SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int enter_sendmmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (traced(bpf_get_current_pid_tgid() >> 32))
		count(WL_TRC_CNT_MMSG_CALLS);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvmmsg")
int enter_recvmmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (traced(bpf_get_current_pid_tgid() >> 32))
		count(WL_TRC_CNT_MMSG_CALLS);
	return 0;
}

static __always_inline void conn_event(__u8 kind, struct sock *sk, __s32 fd, __s32 ret, __u32 tgid, __u32 tid)
{
	struct wl_conn_event ev = {};
	ev.ts_ns = bpf_ktime_get_ns();
	ev.sock_id = (__u64)sk ^ id_key;
	ev.pid = tgid;
	ev.tid = tid;
	ev.fd = fd;
	ev.ret = ret;
	ev.kind = kind;
	sock_tuple(sk, &ev.family, ev.laddr, ev.raddr, &ev.lport, &ev.rport);
	bpf_get_current_comm(ev.comm, sizeof(ev.comm));
	send_conn(&ev);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	__u64 pt = bpf_get_current_pid_tgid();
	if (!traced(pt >> 32))
		return 0;
	/* known before the connect so its SYN_SENT state change is attributed */
	struct sock *sk = fd_sock((int)ctx->args[0]);
	if (sk)
		remember_sock(sk, pt >> 32);
	return enter(ctx, SYS_CONNECT, 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_accept")
int enter_accept(struct trace_event_raw_sys_enter *ctx)
{
	return enter(ctx, SYS_ACCEPT, 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_accept4")
int enter_accept4(struct trace_event_raw_sys_enter *ctx)
{
	return enter(ctx, SYS_ACCEPT, 0, 0);
}

static __always_inline int exit_conn(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pt, tgid = pt >> 32;
	if (!traced(tgid))
		return 0;
	struct inflight *ap = inflight_get(false);
	if (!ap || !ap->sys)
		return 0;
	__s32 fd = ap->fd;
	__u16 sys = ap->sys;
	ap->sys = 0;
	if (sys != SYS_CONNECT && sys != SYS_ACCEPT)
		return 0;
	long ret = ctx->ret;
	if (sys == SYS_ACCEPT) {
		if (ret < 0)
			return 0;
		fd = (__s32)ret; /* the new connection */
	} else if (ret < 0 && ret != -115 /* EINPROGRESS */) {
		return 0;
	}
	/* a connect gives the socket its tuple; an accepted fd may still have a stale entry (exec, close_range) */
	__u64 fk = fd_key(tgid, fd);
	bpf_map_delete_elem(&fd_cache, &fk);
	struct sock *sk = fd_sock(fd);
	if (!sk)
		return 0;
	remember_sock(sk, tgid);
	conn_event(sys == SYS_ACCEPT ? WL_CONN_ACCEPT : WL_CONN_CONNECT, sk, fd, (__s32)ret, tgid, tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	return exit_conn(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return exit_conn(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return exit_conn(ctx);
}

/* close: the tuple must be read before the fd goes away, so on entry */
SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tgid = pt >> 32;
	__u8 *st = NULL;
	if (!traced_st(tgid, &st))
		return 0;
	__s32 fd = (__s32)ctx->args[0];
	__u64 fk = fd_key(tgid, fd);
	struct fd_info *fi = bpf_map_lookup_elem(&fd_cache, &fk);
	if (fi) {
		bool nonsock = !fi->sk && fi->gen == pid_gen(st);
		bpf_map_delete_elem(&fd_cache, &fk);
		if (nonsock)
			return 0; /* a file: no walk */
	}
	struct sock *sk = fd_sock(fd);
	if (!sk)
		return 0;
	if (tls)
		bpf_map_delete_elem(&tls_fds, &fk);
	conn_event(WL_CONN_CLOSE, sk, fd, 0, tgid, (__u32)pt);
	return 0;
}

/* dup2/dup3 replace newfd without a close() */
static __always_inline int exit_dup(struct trace_event_raw_sys_exit *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!traced(tgid) || ctx->ret < 0)
		return 0;
	__u64 fk = fd_key(tgid, (__s32)ctx->ret);
	bpf_map_delete_elem(&fd_cache, &fk);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_dup2")
int exit_dup2(struct trace_event_raw_sys_exit *ctx)
{
	return exit_dup(ctx);
}

SEC("tracepoint/syscalls/sys_exit_dup3")
int exit_dup3(struct trace_event_raw_sys_exit *ctx)
{
	return exit_dup(ctx);
}

SEC("tracepoint/syscalls/sys_enter_close_range")
int enter_close_range(struct trace_event_raw_sys_enter *ctx)
{
	__u8 *st = NULL;
	if (traced_st(bpf_get_current_pid_tgid() >> 32, &st))
		bump_gen(st);
	return 0;
}

/* exec closes the close-on-exec fds without close() calls; the new comm is already set here */
SEC("tracepoint/sched/sched_process_exec")
int on_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u8 *st = pid_state(tgid);
	if (tgid == self_tgid || !st || (filter_pids && !(*st & PS_ON)))
		return 0;
	bump_gen(st);
	return 0;
}

/* TCP state changes: in process context for the traced process, or (server side, softirq) for a socket the
 * traced process was seen using. */
SEC("tracepoint/sock/inet_sock_set_state")
int on_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	/* every ctx field read once up front: the verifier refuses loads through a ctx pointer clang has offset */
	__u64 sk = (__u64)ctx->skaddr;
	int oldstate = ctx->oldstate, newstate = ctx->newstate;
	__u16 sport = ctx->sport, dport = ctx->dport, family = ctx->family;
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tgid = pt >> 32, tid = (__u32)pt;
	/* only sockets a traced process was seen using: on loopback the peer's state changes run in the traced
	 * process's context too, so "current is traced" would claim the other end's socket */
	__u32 *owner = bpf_map_lookup_elem(&socks, &sk);
	if (!owner)
		return 0;
	if (tgid != *owner)
		tid = 0;
	tgid = *owner;
	struct wl_conn_event ev = {};
	ev.ts_ns = bpf_ktime_get_ns();
	ev.sock_id = sk ^ id_key;
	ev.pid = tgid;
	ev.tid = tid;
	ev.fd = -1;
	ev.kind = WL_CONN_STATE;
	ev.old_state = (__u8)oldstate;
	ev.new_state = (__u8)newstate;
	ev.lport = sport;
	ev.rport = dport;
	if (family == AF_INET) {
		ev.family = 4;
		bpf_probe_read_kernel(ev.laddr, 4, ctx->saddr);
		bpf_probe_read_kernel(ev.raddr, 4, ctx->daddr);
	} else {
		ev.family = 6;
		bpf_probe_read_kernel(ev.laddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(ev.raddr, 16, ctx->daddr_v6);
	}
	if (tid)
		bpf_get_current_comm(ev.comm, sizeof(ev.comm));
	if (newstate == TCP_CLOSE)
		bpf_map_delete_elem(&socks, &sk);
	send_conn(&ev);
	return 0;
}

/* ---- processes ---- */

SEC("raw_tp/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	if (ptgid == ctgid) /* a new thread, not a new process */
		return 0;
	if (!follow)
		return 0;
	__u8 *pst = pid_state(ptgid), *cst = pid_state(ctgid);
	if (!pst || !(*pst & PS_ON) || !cst)
		return 0;
	*cst = (*cst & PS_GEN) | PS_ON; /* a byte store: the neighbours' bytes are not touched */
	struct wl_proc_event ev = {};
	ev.ts_ns = bpf_ktime_get_ns();
	ev.kind = WL_PROC_FORK;
	ev.pid = ctgid;
	ev.ppid = ptgid;
	bpf_get_current_comm(ev.comm, sizeof(ev.comm));
	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), rb_flags())) {
		count(WL_TRC_CNT_RINGBUF_DROPS);
		return 0;
	}
	count(WL_TRC_CNT_EVENTS_SENT);
	count(WL_TRC_CNT_PROC_EVENTS);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int on_exit(struct trace_event_raw_sched_process_exit *ctx)
{
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tgid = pt >> 32, tid = (__u32)pt;
	__u8 *st = pid_state(tgid);
	if (!st)
		return 0;
	bool group_dead;
	if (bpf_core_field_exists(ctx->group_dead))
		group_dead = BPF_CORE_READ(ctx, group_dead);
	else
		group_dead = tid == tgid;
	if (filter_pids ? !(*st & PS_ON) : !traced(tgid)) {
		if (!filter_pids && group_dead)
			bump_gen(st); /* comm mode: a process traced under an earlier comm may have left cache entries */
		return 0;
	}
	/* this thread's slots go with it (its task storage goes by itself) */
	bpf_map_delete_elem(&ssl_calls, &tid);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	/* the whole process is gone when its last thread exits (group_dead; older kernels: the leader) */
	if (!group_dead)
		return 0;
	struct wl_proc_event ev = {};
	ev.ts_ns = bpf_ktime_get_ns();
	ev.kind = WL_PROC_EXIT;
	ev.pid = tgid;
	ev.ppid = BPF_CORE_READ(task, real_parent, tgid);
	/* the group's status (exit_group, fatal signal) when it is set, else this task's */
	__u32 code = BPF_CORE_READ(task, signal, group_exit_code);
	if (!code)
		code = BPF_CORE_READ(task, exit_code);
	ev.exit_code = code;
	bpf_get_current_comm(ev.comm, sizeof(ev.comm));
	bump_gen(st); /* the tgid may come back as another process */
	*st &= PS_GEN;
	if (bpf_ringbuf_output(&events, &ev, sizeof(ev), rb_flags())) {
		count(WL_TRC_CNT_RINGBUF_DROPS);
		return 0;
	}
	count(WL_TRC_CNT_EVENTS_SENT);
	count(WL_TRC_CNT_PROC_EVENTS);
	return 0;
}

/* ---- TLS uprobes ---- */

static __always_inline int ssl_enter(void *ssl, void *buf, void *outlen, __u16 sys)
{
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tgid = pt >> 32;
	if (!traced(tgid))
		return 0;
	__u32 tid = (__u32)pt;
	__u8 *st = pid_state(tgid);
	if (st && !(*st & PS_SSL))
		*st |= PS_SSL;
	struct ssl_call c = { .ts = bpf_ktime_get_ns(), .ssl = (__u64)ssl, .buf = (__u64)buf, .outlen = (__u64)outlen, .sys = sys };
	/* NOEXIST: an SSL_write that calls SSL_write_ex inside keeps the outer call */
	bpf_map_update_elem(&ssl_calls, &tid, &c, BPF_NOEXIST);
	return 0;
}

static __always_inline int ssl_exit(long ret)
{
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pt, tgid = pt >> 32;
	struct ssl_call *cp = bpf_map_lookup_elem(&ssl_calls, &tid);
	if (!cp)
		return 0;
	struct ssl_call c = *cp;
	bpf_map_delete_elem(&ssl_calls, &tid);
	__u64 len;
	if (c.sys == WL_SYS_SSL_READ_EX || c.sys == WL_SYS_SSL_WRITE_EX) {
		if (ret != 1 || !c.outlen || bpf_probe_read_user(&len, sizeof(len), (const void *)c.outlen))
			return 0;
	} else {
		if (ret <= 0)
			return 0;
		len = (__u64)ret;
	}
	if (len == 0)
		return 0;

	struct data_scratch *s = scratch_ev();
	if (!s)
		return 0;
	struct wl_data_event *ev = &s->ev;
	ev->ts_enter_ns = c.ts;
	ev->ts_exit_ns = bpf_ktime_get_ns();
	ev->ssl_ptr = c.ssl;
	ev->pid = tgid;
	ev->tid = tid;
	ev->len = len > 0xffffffffULL ? 0xffffffff : (__u32)len;
	ev->syscall = c.sys;
	ev->source = WL_SRC_TLS;
	ev->direction = (c.sys == WL_SYS_SSL_READ || c.sys == WL_SYS_SSL_READ_EX) ? WL_DIR_IN : WL_DIR_OUT;
	ev->flags = 0;
	ev->_pad0 = 0;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));

	/* which socket: the exact mapping when the SSL object's own syscalls were seen, else the thread's last one */
	struct ssl_key k = { .tgid = tgid, .ssl = c.ssl };
	struct ssl_fd_val *m = bpf_map_lookup_elem(&ssl_fds, &k);
	__s32 fd = -1;
	struct sock *sk = NULL;
	if (m) {
		fd = m->fd;
		sk = fd_sock(fd);
		if (sk && (__u64)sk != m->sk)
			sk = NULL; /* fd reused by another socket: stale */
		if (sk && m->guessed)
			ev->flags |= WL_DF_FD_GUESS;
	}
	if (!sk) {
		struct inflight *lf = inflight_get(false);
		if (lf && lf->last_fd >= 0) {
			fd = lf->last_fd;
			sk = fd_sock(fd);
			if (sk) {
				struct ssl_fd_val v = { .fd = fd, .guessed = 1, .sk = (__u64)sk };
				__u64 fk = (__u64)tgid << 32 | (__u32)fd;
				__u64 skv = (__u64)sk;
				bpf_map_update_elem(&ssl_fds, &k, &v, BPF_ANY);
				bpf_map_update_elem(&tls_fds, &fk, &skv, BPF_ANY);
				struct fd_info *fi = bpf_map_lookup_elem(&fd_cache, &fk);
				if (fi && fi->sk == skv)
					fi->tls = 1;
				ev->flags |= WL_DF_FD_GUESS;
			}
		}
	}
	ev->fd = sk ? fd : -1;
	if (sk) {
		ev->sock_id = (__u64)sk ^ id_key;
		sock_tuple(sk, &ev->family, ev->laddr, ev->raddr, &ev->lport, &ev->rport);
	} else {
		ev->sock_id = 0;
		ev->family = 0;
		ev->lport = 0;
		ev->rport = 0;
		__builtin_memset(ev->laddr, 0, 16);
		__builtin_memset(ev->raddr, 0, 16);
	}
	__u32 cap = copy_user(s->payload, 0, c.buf, len);
	send_data(s, cap, WL_TRC_CNT_TLS_EVENTS);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_enter, void *ssl, void *buf, int num)
{
	return ssl_enter(ssl, buf, NULL, WL_SYS_SSL_READ);
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_enter, void *ssl, void *buf, int num)
{
	return ssl_enter(ssl, buf, NULL, WL_SYS_SSL_WRITE);
}

SEC("uprobe")
int BPF_KPROBE(ssl_read_ex_enter, void *ssl, void *buf, __u64 num, void *readbytes)
{
	return ssl_enter(ssl, buf, readbytes, WL_SYS_SSL_READ_EX);
}

SEC("uprobe")
int BPF_KPROBE(ssl_write_ex_enter, void *ssl, void *buf, __u64 num, void *written)
{
	return ssl_enter(ssl, buf, written, WL_SYS_SSL_WRITE_EX);
}

/* one return program serves all four: the call kind was saved on entry */
SEC("uretprobe")
int BPF_KRETPROBE(ssl_ret, int ret)
{
	return ssl_exit(ret);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
