/* SPDX-License-Identifier: MIT */
/*
 * The network namespaces the packet mode watches with --netns (sensor/netns_watch.c): finding them (the paths given,
 * or with `all` every /run/netns/ * and /proc/PID/ns/net, deduplicated by inode), entering each one (setns) so the
 * mode can open its socket there, the devices of each (an rtnetlink socket opened inside it), and the WL_REC_NETNS /
 * WL_REC_DEVICE records (or text lines) that announce them. The mode (sensor/packet.c) supplies the hooks that open
 * and close what watches one namespace.
 */
#ifndef WIRELOG_SENSOR_NETNS_WATCH_H
#define WIRELOG_SENSOR_NETNS_WATCH_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "wirelog_events.h"

#define NS_PATH_LEN sizeof(((struct wl_netns_event *)0)->path)

struct ns_dev {
	uint32_t ifindex;
	uint16_t type;            /* ARPHRD_* */
	bool seen;                /* in the latest link dump */
	bool ghost;               /* named by a packet, gone before a dump showed it: announced with no name */
	char name[IF_NAMESIZE];
};

struct watched_ns {
	uint64_t ino;
	char path[NS_PATH_LEN];
	bool failed;              /* could not be entered: kept (not retried) while it is reachable */
	bool not_ns;              /* the path is no namespace file (reported with inode 0) */
	bool found;               /* reachable in the current scan */
	int nl;                   /* NETLINK_ROUTE socket opened inside the namespace: its links */
	uint32_t lo_ifindex;      /* its loopback device (ARPHRD_LOOPBACK), 1 when none was listed */
	struct ns_dev *devs;
	int ndevs, cap;
	void *priv;               /* the mode's own state for this namespace */
};

struct netns_hooks {
	/* Runs inside the namespace (setns done), its devices listed in ns->devs: open what watches it. 0 or -errno,
	 * *what then names the step that failed. */
	int (*open)(struct watched_ns *ns, const char **what);
	/* A device appeared or was renamed (present) or went away, after the namespace was opened. */
	void (*device)(struct watched_ns *ns, const struct ns_dev *d, bool present);
	/* Stop watching (no new events), e.g. close its socket. */
	void (*stop)(struct watched_ns *ns);
	/* Consume every event already committed: before WL_NS_GONE, so no packet of it follows that record. */
	void (*drain)(void);
	/* Free the rest of ns->priv. */
	void (*release)(struct watched_ns *ns);
};

/* Remembers the sensor's own namespace (to come back to after each setns); exits 1 when that fails. */
void netns_watch_init(const struct netns_hooks *hooks, bool text, bool all);
/* A namespace file given with --netns PATH: watched from the first scan on. */
void netns_watch_add_path(const char *path);
/* The first scan (below), after one WL_NS_FAILED for each given path that does not exist. */
void netns_watch_start(void);
/* Finds the namespaces (the given paths; with all, /run/netns and /proc too), watches new ones, closes the ones no
 * longer reachable (WL_NS_GONE) and rescans the devices of each watched one. */
void netns_watch_scan(void);
/* Watched namespaces (entered, not failed). */
int netns_watch_count(void);
struct watched_ns *netns_watch_find(uint64_t ino);
/* The name of a device of ns, announced (WL_DEV_PRESENT) before this returns: an unknown ifindex makes it rescan the
 * namespace's devices first. "" when the device was gone before it could be named. */
const char *netns_watch_ifname(struct watched_ns *ns, uint32_t ifindex);
/* The name a device was announced with, without rescanning; NULL when unknown. */
const char *netns_watch_known_ifname(uint64_t ino, uint32_t ifindex);
/* At exit: stop every namespace (hooks->stop), then, after the mode drained its events, free them. */
void netns_watch_stop_all(void);
void netns_watch_free_all(void);

#endif
