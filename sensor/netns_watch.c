// SPDX-License-Identifier: MIT
/*
 * The namespaces of `wirelog-sensor packet --netns all|PATH`: see netns_watch.h. Devices are listed through an
 * rtnetlink socket opened inside each namespace (RTM_GETLINK dump): /sys/class/net shows the namespace of whoever
 * mounted /sys, not the one the sensor entered, so it cannot name another namespace's devices.
 */
#define _GNU_SOURCE
#include <net/if.h> /* before the linux/ headers: glibc's struct ifreq wins (linux/libc-compat.h) */
#include <net/if_arp.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "netns_watch.h"

#define MAX_GIVEN_PATHS 64
#define NL_BUF_SIZE (64 * 1024)   /* one recv of a link dump (a few dozen links per datagram) */
#define LOOPBACK_IFINDEX_DEFAULT 1 /* the kernel gives every namespace's lo index 1 */

static const struct netns_hooks *hk;
static bool text_out, scan_all;
static int own_ns_fd = -1;
static dev_t nsfs_dev; /* st_dev of namespace files: tells a namespace file from any other */
static struct watched_ns **nss;
static int nns, nss_cap;
static char *given[MAX_GIVEN_PATHS];
static int ngiven;
static uint32_t nl_seq;

/* ---- records ---- */

/* the inode reported: 0 for a path that is no namespace file (its inode is kept only to not retry it) */
static uint64_t ns_ino_of(const struct watched_ns *ns)
{
	return ns->not_ns ? 0 : ns->ino;
}

static void emit_netns(const struct watched_ns *ns, uint32_t state, int err)
{
	static const char *const names[] = { [WL_NS_WATCHED] = "watched", [WL_NS_GONE] = "gone", [WL_NS_FAILED] = "failed" };
	if (text_out) {
		if (state == WL_NS_FAILED)
			out_text("netns %llu failed %s: %s\n", (unsigned long long)ns_ino_of(ns), ns->path, strerror(err));
		else
			out_text("netns %llu %s %s\n", (unsigned long long)ns_ino_of(ns), names[state], ns->path);
		records_written++;
		return;
	}
	struct wl_netns_event e = { .ts_ns = (uint64_t)clock_ns(CLOCK_REALTIME), .netns_ino = ns_ino_of(ns), .state = state,
				    .err = err };
	memcpy(e.path, ns->path, sizeof(e.path));
	write_record(WL_REC_NETNS, &e, sizeof(e), NULL, 0);
}

static void emit_device(const struct watched_ns *ns, const struct ns_dev *d, uint32_t state)
{
	if (text_out) {
		out_text("device ns %llu %s(%u) %s\n", (unsigned long long)ns->ino, d->name, d->ifindex,
			 state == WL_DEV_PRESENT ? "present" : "gone");
		records_written++;
		return;
	}
	struct wl_device_event e = { .ts_ns = (uint64_t)clock_ns(CLOCK_REALTIME), .netns_ino = ns->ino,
				     .ifindex = d->ifindex, .state = state };
	memcpy(e.ifname, d->name, sizeof(d->name) < sizeof(e.ifname) ? sizeof(d->name) : sizeof(e.ifname));
	write_record(WL_REC_DEVICE, &e, sizeof(e), NULL, 0);
}

/* ---- devices ---- */

static struct ns_dev *dev_find(struct watched_ns *ns, uint32_t ifindex)
{
	for (int i = 0; i < ns->ndevs; i++)
		if (ns->devs[i].ifindex == ifindex)
			return &ns->devs[i];
	return NULL;
}

static struct ns_dev *dev_add(struct watched_ns *ns, uint32_t ifindex)
{
	if (ns->ndevs == ns->cap) {
		int cap = ns->cap ? ns->cap * 2 : 16;
		struct ns_dev *d = realloc(ns->devs, (size_t)cap * sizeof(*d));
		if (!d)
			return NULL;
		ns->devs = d;
		ns->cap = cap;
	}
	struct ns_dev *d = &ns->devs[ns->ndevs++];
	memset(d, 0, sizeof(*d));
	d->ifindex = ifindex;
	return d;
}

/* One RTM_NEWLINK of the dump: index, ARPHRD type and name. */
static void dump_link(struct watched_ns *ns, struct nlmsghdr *nh, bool announce)
{
	struct ifinfomsg *ifi = NLMSG_DATA(nh);
	char name[IF_NAMESIZE] = "";
	int alen = (int)nh->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*ifi));
	for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, alen); a = RTA_NEXT(a, alen))
		if (a->rta_type == IFLA_IFNAME)
			snprintf(name, sizeof(name), "%s", (const char *)RTA_DATA(a));
	if (ifi->ifi_index <= 0)
		return;
	uint32_t idx = (uint32_t)ifi->ifi_index;
	if (ifi->ifi_type == ARPHRD_LOOPBACK)
		ns->lo_ifindex = idx;
	struct ns_dev *d = dev_find(ns, idx);
	bool changed = !d || d->ghost || strcmp(d->name, name) != 0;
	if (!d && !(d = dev_add(ns, idx)))
		return;
	d->type = ifi->ifi_type;
	d->seen = true;
	d->ghost = false;
	memcpy(d->name, name, sizeof(name));
	if (changed && announce) {
		emit_device(ns, d, WL_DEV_PRESENT);
		if (hk->device)
			hk->device(ns, d, true);
	}
}

/* RTM_GETLINK dump on the namespace's own rtnetlink socket; announce: emit PRESENT/GONE for the differences. -errno
 * when the dump failed (the device table is then left as it was). */
static int scan_devices(struct watched_ns *ns, bool announce)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifm;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			.nlmsg_seq = ++nl_seq },
		.ifm = { .ifi_family = AF_UNSPEC },
	};
	if (send(ns->nl, &req, sizeof(req), 0) < 0)
		return -errno;
	for (int i = 0; i < ns->ndevs; i++)
		ns->devs[i].seen = false;
	static char buf[NL_BUF_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	bool done = false;
	int err = 0;
	while (!done) {
		ssize_t n = recv(ns->nl, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		int len = (int)n;
		for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_seq != req.nh.nlmsg_seq)
				continue; /* a stale reply of an earlier, interrupted dump */
			if (nh->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (nh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(nh);
				err = e->error ? e->error : -EIO;
				done = true;
				break;
			}
			if (nh->nlmsg_type == RTM_NEWLINK)
				dump_link(ns, nh, announce);
		}
	}
	if (err)
		return err; /* nothing is declared gone from a partial dump */
	for (int i = 0; i < ns->ndevs;) {
		struct ns_dev *d = &ns->devs[i];
		if (d->seen || d->ghost) {
			i++;
			continue;
		}
		if (announce) {
			emit_device(ns, d, WL_DEV_GONE);
			if (hk->device)
				hk->device(ns, d, false);
		}
		*d = ns->devs[--ns->ndevs];
	}
	return 0;
}

const char *netns_watch_ifname(struct watched_ns *ns, uint32_t ifindex)
{
	struct ns_dev *d = dev_find(ns, ifindex);
	if (d)
		return d->name;
	scan_devices(ns, true);
	if ((d = dev_find(ns, ifindex)))
		return d->name;
	/* created and removed between two scans: announce it nameless, once, so the packet still follows a DEVICE */
	if (!(d = dev_add(ns, ifindex)))
		return "";
	d->ghost = true;
	emit_device(ns, d, WL_DEV_PRESENT);
	return d->name;
}

const char *netns_watch_known_ifname(uint64_t ino, uint32_t ifindex)
{
	struct watched_ns *ns = netns_watch_find(ino);
	struct ns_dev *d = ns && !ns->failed ? dev_find(ns, ifindex) : NULL;
	return d ? d->name : NULL;
}

/* ---- namespaces ---- */

struct watched_ns *netns_watch_find(uint64_t ino)
{
	for (int i = 0; i < nns; i++)
		if (nss[i]->ino == ino)
			return nss[i];
	return NULL;
}

int netns_watch_count(void)
{
	int n = 0;
	for (int i = 0; i < nns; i++)
		n += !nss[i]->failed;
	return n;
}

static struct watched_ns *ns_new(uint64_t ino, const char *path)
{
	if (nns == nss_cap) {
		int cap = nss_cap ? nss_cap * 2 : 16;
		struct watched_ns **p = realloc(nss, (size_t)cap * sizeof(*p));
		if (!p)
			return NULL;
		nss = p;
		nss_cap = cap;
	}
	struct watched_ns *ns = calloc(1, sizeof(*ns));
	if (!ns)
		return NULL;
	ns->ino = ino;
	ns->nl = -1;
	ns->lo_ifindex = LOOPBACK_IFINDEX_DEFAULT;
	snprintf(ns->path, sizeof(ns->path), "%s", path);
	nss[nns++] = ns;
	return ns;
}

static void back_home(void)
{
	if (setns(own_ns_fd, CLONE_NEWNET)) {
		/* every later socket would open in the wrong namespace: nothing sensible to go on with */
		errmsg("cannot return to the sensor's own network namespace: %s", strerror(errno));
		exit(1);
	}
}

static void fail(struct watched_ns *ns, int err, const char *what)
{
	ns->failed = true;
	errmsg("netns %s: %s%s%s", ns->path, what ? what : "", what ? ": " : "", strerror(err));
	emit_netns(ns, WL_NS_FAILED, err);
}

/* Enters the namespace at path (inode ino, 0 when unknown), opens what watches it and announces it and its devices. */
static void watch(uint64_t ino, const char *path)
{
	struct watched_ns *ns = ns_new(ino, path);
	if (!ns) {
		errmsg("netns %s: %s", path, strerror(ENOMEM));
		return;
	}
	ns->found = true;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fail(ns, errno, NULL);
		return;
	}
	struct stat st;
	if (fstat(fd, &st) == 0) {
		ns->ino = st.st_ino; /* the namespace opened, even if path changed since the scan looked */
		ns->not_ns = st.st_dev != nsfs_dev;
	}
	if (ns->not_ns) {
		close(fd);
		fail(ns, EINVAL, "not a network namespace file");
		return;
	}
	if (setns(fd, CLONE_NEWNET)) {
		int err = errno;
		close(fd);
		fail(ns, err, "entering it");
		return;
	}
	close(fd);
	const char *what = NULL;
	int err = 0;
	/* sockets belong to the namespace they are created in, whatever the process does afterwards */
	ns->nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (ns->nl < 0) {
		err = -errno;
		what = "opening an rtnetlink socket";
	}
	if (!err && (err = scan_devices(ns, false)))
		what = "listing its devices";
	if (!err)
		err = hk->open(ns, &what);
	back_home();
	if (err) {
		if (ns->nl >= 0)
			close(ns->nl);
		ns->nl = -1;
		fail(ns, -err, what);
		return;
	}
	emit_netns(ns, WL_NS_WATCHED, 0);
	for (int i = 0; i < ns->ndevs; i++)
		emit_device(ns, &ns->devs[i], WL_DEV_PRESENT);
}

static void ns_free(struct watched_ns *ns)
{
	if (ns->nl >= 0)
		close(ns->nl);
	free(ns->devs);
	free(ns);
}

/* A namespace file found by a scan: watched when its inode is new. */
static void consider(const char *path)
{
	struct stat st;
	if (stat(path, &st))
		return; /* process gone or not ours to see: not reachable this way */
	struct watched_ns *ns = netns_watch_find(st.st_ino);
	if (ns)
		ns->found = true;
	else
		watch(st.st_ino, path);
}

static void consider_dir(const char *dir, bool pids)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char path[300]; /* d_name is at most 255 bytes */
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (pids && (e->d_name[0] < '0' || e->d_name[0] > '9'))
			continue;
		int n = pids ? snprintf(path, sizeof(path), "%s/%s/ns/net", dir, e->d_name)
			     : snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (n > 0 && (size_t)n < sizeof(path))
			consider(path);
	}
	closedir(d);
}

void netns_watch_scan(void)
{
	for (int i = 0; i < nns; i++)
		nss[i]->found = false;
	/* given paths first, then bind mounts: the name a namespace is reported with is the most telling one */
	for (int i = 0; i < ngiven; i++) {
		struct stat st;
		if (stat(given[i], &st))
			continue; /* reported as failed at start (report_missing_given), or gone now */
		struct watched_ns *ns = netns_watch_find(st.st_ino);
		if (ns)
			ns->found = true;
		else
			watch(st.st_ino, given[i]);
	}
	if (scan_all) {
		consider_dir("/run/netns", false);
		consider_dir("/proc", true);
	}
	for (int i = 0; i < nns;) {
		struct watched_ns *ns = nss[i];
		if (ns->found) {
			if (!ns->failed)
				scan_devices(ns, true);
			i++;
			continue;
		}
		if (!ns->failed) {
			hk->stop(ns);
			hk->drain(); /* its last packets before the record that says it is gone */
			emit_netns(ns, WL_NS_GONE, 0);
			hk->release(ns);
		}
		nss[i] = nss[--nns];
		ns_free(ns);
	}
}

void netns_watch_add_path(const char *path)
{
	if (ngiven >= MAX_GIVEN_PATHS)
		usage_error("too many --netns paths (at most 64): %s", path);
	given[ngiven++] = (char *)path;
}

/* Given paths that do not resolve at start: one WL_NS_FAILED each (inode 0), not retried. */
static void report_missing_given(void)
{
	for (int i = 0; i < ngiven; i++) {
		struct stat st;
		if (stat(given[i], &st) == 0)
			continue;
		struct watched_ns tmp = { .ino = 0 };
		snprintf(tmp.path, sizeof(tmp.path), "%s", given[i]);
		int err = errno;
		errmsg("netns %s: %s", tmp.path, strerror(err));
		emit_netns(&tmp, WL_NS_FAILED, err);
	}
}

void netns_watch_init(const struct netns_hooks *hooks, bool text, bool all)
{
	hk = hooks;
	text_out = text;
	scan_all = all;
	own_ns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (own_ns_fd < 0) {
		errmsg("cannot open the sensor's own network namespace (/proc/self/ns/net): %s", strerror(errno));
		exit(1);
	}
	struct stat st;
	if (fstat(own_ns_fd, &st) == 0)
		nsfs_dev = st.st_dev;
}

/* First scan: also says which given paths do not exist. */
void netns_watch_start(void)
{
	report_missing_given();
	netns_watch_scan();
}

void netns_watch_stop_all(void)
{
	for (int i = 0; i < nns; i++)
		if (!nss[i]->failed)
			hk->stop(nss[i]);
}

void netns_watch_free_all(void)
{
	for (int i = 0; i < nns; i++) {
		if (!nss[i]->failed)
			hk->release(nss[i]);
		ns_free(nss[i]);
	}
	nns = 0;
	free(nss);
	nss = NULL;
	if (own_ns_fd >= 0)
		close(own_ns_fd);
	own_ns_fd = -1;
}
