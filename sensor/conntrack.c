// SPDX-License-Identifier: MIT
/*
 * wirelog-sensor conntrack: looks up netfilter conntrack entries for the traced client (src/client/conntrack.ts).
 *
 * Reads one query per line on stdin, `tcp|udp SRC SPORT DST DPORT` (IPv4 or IPv6; the socket's view: SRC is the
 * local address), and answers each with one JSON line on stdout: the entry in nettrace's ConntractEntry shape
 * (status flag names joined with '|', tcpState, mark, addrOrig, addrReply, packets/bytes sent and received), or
 * {"error":"..."}. The entry is the one whose ORIG tuple is the query (connections this host opened, NAT'ed or
 * not), else the one whose REPLY tuple is (connections accepted here, DNAT'ed on the way in: the local socket is
 * the reply's source); sent/recv are then the reply/orig counters. Exits 0 when stdin closes. Needs
 * CAP_NET_ADMIN (ctnetlink refuses every request without).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "common.h"
#include "modes.h"

/* nettrace's ConntrackFlags: enum ip_conntrack_status bits 0..14 */
static const char *const status_names[] = {
	"expected", "seen-reply", "assured", "confirmed", "src-nat", "dst-nat", "seq-adjust", "src-nat-done",
	"dst-nat-done", "dying", "fixed-timeout", "template", "untracked", "helper", "offload",
};

/* nettrace's TCPStateToString, indexed by enum tcp_conntrack ("sync-recv" is nettrace's spelling) */
static const char *const tcp_state_names[] = {
	"none", "syn-sent", "sync-recv", "established", "fin-wait", "close-wait", "last-ack", "time-wait", "close",
	"syn-sent2",
};

struct query {
	uint8_t l4proto;
	int family;
	unsigned char src[16], dst[16];
	uint16_t sport, dport; /* host order */
};

struct answer {
	bool found;
	const struct query *q;
	char json[1024];
};

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " conntrack\n"
		   "  reads 'tcp|udp SRC SPORT DST DPORT' lines on stdin (SRC = the local side), writes one JSON line per\n"
		   "  query: the conntrack entry (nettrace's ConntractEntry fields) or {\"error\":\"...\"}; exits at EOF\n");
}

/* Parses an address; an IPv4-mapped IPv6 address becomes IPv4 (conntrack tracks such traffic as IPv4). */
static int parse_addr(const char *s, unsigned char out[16])
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, out) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(out, mapped, 12) == 0) {
			memmove(out, out + 12, 4);
			memset(out + 4, 0, 12);
			return AF_INET;
		}
		return AF_INET6;
	}
	return 0;
}

static bool parse_port(const char *s, uint16_t *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == 0 || *end || v < 0 || v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

/* "tcp 10.0.0.1 40000 10.0.0.2 80" → q; NULL on success, else what is wrong */
static const char *parse_query(char *line, struct query *q)
{
	char proto[8], src[INET6_ADDRSTRLEN + 8], sport[8], dst[INET6_ADDRSTRLEN + 8], dport[8], extra[2];
	int n = sscanf(line, "%7s %55s %7s %55s %7s %1s", proto, src, sport, dst, dport, extra);
	if (n != 5)
		return "expected 'tcp|udp SRC SPORT DST DPORT'";
	if (strcmp(proto, "tcp") == 0)
		q->l4proto = IPPROTO_TCP;
	else if (strcmp(proto, "udp") == 0)
		q->l4proto = IPPROTO_UDP;
	else
		return "protocol must be tcp or udp";
	int fs = parse_addr(src, q->src), fd = parse_addr(dst, q->dst);
	if (!fs || !fd)
		return "bad IP address";
	if (fs != fd)
		return "source and destination are of different address families";
	q->family = fs;
	if (!parse_port(sport, &q->sport) || !parse_port(dport, &q->dport))
		return "bad port";
	return NULL;
}

/* JSON string escaping is not needed: everything written is an address, a number or a fixed name. */
static size_t tuple_json(char *buf, size_t n, const struct nf_conntrack *ct, bool reply)
{
	int family = nfct_get_attr_u8(ct, ATTR_L3PROTO);
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	if (family == AF_INET6) {
		inet_ntop(AF_INET6, nfct_get_attr(ct, reply ? ATTR_REPL_IPV6_SRC : ATTR_ORIG_IPV6_SRC), s, sizeof(s));
		inet_ntop(AF_INET6, nfct_get_attr(ct, reply ? ATTR_REPL_IPV6_DST : ATTR_ORIG_IPV6_DST), d, sizeof(d));
	} else {
		uint32_t a = nfct_get_attr_u32(ct, reply ? ATTR_REPL_IPV4_SRC : ATTR_ORIG_IPV4_SRC);
		uint32_t b = nfct_get_attr_u32(ct, reply ? ATTR_REPL_IPV4_DST : ATTR_ORIG_IPV4_DST);
		inet_ntop(AF_INET, &a, s, sizeof(s));
		inet_ntop(AF_INET, &b, d, sizeof(d));
	}
	unsigned sp = ntohs(nfct_get_attr_u16(ct, reply ? ATTR_REPL_PORT_SRC : ATTR_ORIG_PORT_SRC));
	unsigned dp = ntohs(nfct_get_attr_u16(ct, reply ? ATTR_REPL_PORT_DST : ATTR_ORIG_PORT_DST));
	return (size_t)snprintf(buf, n, "{\"srcIP\":\"%s\",\"srcPort\":%u,\"dstIP\":\"%s\",\"dstPort\":%u}", s, sp, d, dp);
}

static uint64_t counter(const struct nf_conntrack *ct, enum nf_conntrack_attr a)
{
	/* absent when accounting is off (net.netfilter.nf_conntrack_acct=0) */
	return nfct_attr_is_set(ct, a) > 0 ? nfct_get_attr_u64(ct, a) : 0;
}

/* Is the entry's ORIG tuple the query (source address and port are enough: the kernel matched one of its tuples)? */
static bool is_orig(const struct nf_conntrack *ct, const struct query *q)
{
	if (ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC)) != q->sport)
		return false;
	if (q->family == AF_INET6)
		return memcmp(nfct_get_attr(ct, ATTR_ORIG_IPV6_SRC), q->src, 16) == 0;
	uint32_t a = nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC);
	return memcmp(&a, q->src, 4) == 0;
}

static int on_entry(enum nf_conntrack_msg_type type, struct nf_conntrack *ct, void *data)
{
	struct answer *ans = data;
	char status[256] = "", orig[200], repl[200], state[40] = "";
	uint32_t st = nfct_get_attr_u32(ct, ATTR_STATUS);
	size_t o = 0;
	for (unsigned i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
		if (st & (1u << i))
			o += (size_t)snprintf(status + o, sizeof(status) - o, "%s%s", o ? "|" : "", status_names[i]);
	if (nfct_get_attr_u8(ct, ATTR_L4PROTO) == IPPROTO_TCP && nfct_attr_is_set(ct, ATTR_TCP_STATE) > 0) {
		unsigned s = nfct_get_attr_u8(ct, ATTR_TCP_STATE);
		if (s < sizeof(tcp_state_names) / sizeof(tcp_state_names[0]))
			snprintf(state, sizeof(state), ",\"tcpState\":\"%s\"", tcp_state_names[s]);
	}
	tuple_json(orig, sizeof(orig), ct, false);
	tuple_json(repl, sizeof(repl), ct, true);
	/* sent = towards the remote end: the ORIG direction when this host opened the connection, REPLY when the
	 * query is the reply tuple (a connection accepted here) */
	bool r = !is_orig(ct, ans->q);
	uint64_t ps = counter(ct, r ? ATTR_REPL_COUNTER_PACKETS : ATTR_ORIG_COUNTER_PACKETS);
	uint64_t pr = counter(ct, r ? ATTR_ORIG_COUNTER_PACKETS : ATTR_REPL_COUNTER_PACKETS);
	uint64_t bs = counter(ct, r ? ATTR_REPL_COUNTER_BYTES : ATTR_ORIG_COUNTER_BYTES);
	uint64_t br = counter(ct, r ? ATTR_ORIG_COUNTER_BYTES : ATTR_REPL_COUNTER_BYTES);
	snprintf(ans->json, sizeof(ans->json),
		 "{\"status\":\"%s\"%s,\"mark\":%u,\"addrOrig\":%s,\"addrReply\":%s,\"packetsSent\":%llu,"
		 "\"packetsRecv\":%llu,\"bytesSent\":%llu,\"bytesRecv\":%llu}",
		 status, state, nfct_get_attr_u32(ct, ATTR_MARK), orig, repl, (unsigned long long)ps,
		 (unsigned long long)pr, (unsigned long long)bs, (unsigned long long)br);
	ans->found = true;
	return NFCT_CB_CONTINUE;
}

/* The ctnetlink socket: the GET is built with nfct_nlmsg_build() and its answer parsed with nfct_nlmsg_parse(). */
static int nl_fd = -1;
static uint32_t nl_seq;

static int nl_open(void)
{
	nl_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (nl_fd < 0)
		return errno;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	if (bind(nl_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return errno;
	return 0;
}

/* One GET. The kernel finds the entry by either of its tuples (both are in its hash), so one query serves
 * connections opened here (orig) and accepted here (reply). Returns 0 or an errno. */
static int get_entry(const struct query *q, struct answer *ans)
{
	struct nf_conntrack *ct = nfct_new();
	if (!ct)
		return ENOMEM;
	nfct_set_attr_u8(ct, ATTR_ORIG_L3PROTO, (uint8_t)q->family);
	nfct_set_attr_u8(ct, ATTR_ORIG_L4PROTO, q->l4proto);
	if (q->family == AF_INET) {
		uint32_t s, d;
		memcpy(&s, q->src, 4);
		memcpy(&d, q->dst, 4);
		nfct_set_attr_u32(ct, ATTR_ORIG_IPV4_SRC, s);
		nfct_set_attr_u32(ct, ATTR_ORIG_IPV4_DST, d);
	} else {
		nfct_set_attr(ct, ATTR_ORIG_IPV6_SRC, q->src);
		nfct_set_attr(ct, ATTR_ORIG_IPV6_DST, q->dst);
	}
	nfct_set_attr_u16(ct, ATTR_ORIG_PORT_SRC, htons(q->sport));
	nfct_set_attr_u16(ct, ATTR_ORIG_PORT_DST, htons(q->dport));

	static union { struct nlmsghdr h; char b[16384]; } buf;
	struct nlmsghdr *nlh = &buf.h;
	memset(nlh, 0, NLMSG_LENGTH(sizeof(struct nfgenmsg)));
	nlh->nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++nl_seq;
	struct nfgenmsg *g = NLMSG_DATA(nlh);
	g->nfgen_family = (uint8_t)q->family;
	g->version = NFNETLINK_V0;
	int rc = nfct_nlmsg_build(nlh, ct) < 0 ? EINVAL : 0;
	nfct_destroy(ct);
	if (rc)
		return rc;
	if (send(nl_fd, nlh, nlh->nlmsg_len, 0) < 0)
		return errno;

	ans->q = q;
	ans->found = false;
	/* the entry (IPCTNL_MSG_CT_NEW), then the ACK (NLMSG_ERROR 0), or an NLMSG_ERROR with the errno */
	for (;;) {
		ssize_t n = recv(nl_fd, buf.b, sizeof(buf.b), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		for (struct nlmsghdr *m = &buf.h; NLMSG_OK(m, (size_t)n); m = NLMSG_NEXT(m, n)) {
			if (m->nlmsg_seq != nl_seq)
				continue;
			if (m->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(m);
				if (e->error)
					return -e->error;
				return ans->found ? 0 : ENOENT;
			}
			if (m->nlmsg_type == NLMSG_DONE)
				return ans->found ? 0 : ENOENT;
			struct nf_conntrack *got = nfct_new();
			if (!got)
				return ENOMEM;
			if (nfct_nlmsg_parse(m, got) == 0)
				on_entry(NFCT_T_UPDATE, got, ans);
			nfct_destroy(got);
		}
	}
}

static void print_error(const char *fmt, const char *a, const char *b)
{
	char msg[512];
	snprintf(msg, sizeof(msg), fmt, a, b);
	/* msg holds no '"' or '\\': fixed texts, addresses, strerror() */
	printf("{\"error\":\"%s\"}\n", msg);
}

static void describe(const struct query *q, char *buf, size_t n)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	inet_ntop(q->family, q->src, s, sizeof(s));
	inet_ntop(q->family, q->dst, d, sizeof(d));
	const char *fmt = q->family == AF_INET6 ? "%s [%s]:%u -> [%s]:%u" : "%s %s:%u -> %s:%u";
	snprintf(buf, n, fmt, q->l4proto == IPPROTO_TCP ? "tcp" : "udp", s, q->sport, d, q->dport);
}

static void answer_query(int open_err, char *line)
{
	struct query q;
	const char *bad = parse_query(line, &q);
	if (bad) {
		print_error("bad query: %s%s", bad, "");
		return;
	}
	int err = open_err;
	struct answer ans;
	if (!err) {
		err = get_entry(&q, &ans);
	}
	char what[160];
	describe(&q, what, sizeof(what));
	switch (err) {
	case 0:
		printf("%s\n", ans.json);
		break;
	case ENOENT:
		print_error("no conntrack entry for %s%s", what, "");
		break;
	case EPERM:
	case EACCES:
		print_error("conntrack needs CAP_NET_ADMIN: %s%s", strerror(err), "");
		break;
	case EOPNOTSUPP:
	case EPROTONOSUPPORT:
	case EAFNOSUPPORT:
		print_error("conntrack not available: %s (is nf_conntrack_netlink loaded?)%s", strerror(err), "");
		break;
	default:
		print_error("conntrack lookup failed for %s: %s", what, strerror(err));
	}
}

int conntrack_main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		usage_error("unexpected argument: %s", argv[i]);
	}
	/* the netlink socket itself needs no privilege: a missing CAP_NET_ADMIN shows as EPERM on each query */
	int open_err = nl_open();
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = 0;
		if (n == 0)
			continue;
		answer_query(open_err, line);
		fflush(stdout);
	}
	free(line);
	if (nl_fd >= 0)
		close(nl_fd);
	return 0;
}
