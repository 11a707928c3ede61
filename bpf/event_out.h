/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/* How bpf/packet.bpf.c and bpf/netdev.bpf.c hand an event with payload to the sensor: built in a per-CPU scratch
 * value (not on the 512-byte BPF stack), then copied to the `events` ring buffer with its real size. */
#ifndef WIRELOG_EVENT_OUT_H
#define WIRELOG_EVENT_OUT_H

#define WAKE_BYTES (256 * 1024) /* pending ring-buffer bytes that wake the sensor at once */

/* struct scratch (an event_type and its payload), the per-CPU `scratch` map holding one, and the `events` ring
 * buffer (8 MiB here; the sensor resizes it before load, -b). */
#define WL_EVENT_MAPS(event_type)                                                       \
	struct scratch {                                                                \
		struct event_type ev;                                                   \
		__u8 payload[WL_MAX_SNAPLEN];                                           \
	};                                                                              \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                                \
		__uint(max_entries, 1);                                                 \
		__type(key, __u32);                                                     \
		__type(value, struct scratch);                                          \
	} scratch SEC(".maps");                                                         \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_RINGBUF);                                     \
		__uint(max_entries, 8 * 1024 * 1024);                                   \
	} events SEC(".maps")

/* The length to pass a copy helper for cap in 1..WL_MAX_SNAPLEN: equal to cap, in the mask+add form that gives
 * the verifier 1 <= len <= sizeof(payload) on the very register passed to the helper. */
static __always_inline __u32 wl_copy_len(__u32 cap)
{
	return ((cap - 1) & (WL_MAX_SNAPLEN - 1)) + 1;
}

/* Commits size bytes of buf (at most the scratch value) to rb; < 0 when it is full. Waking the reader per packet
 * costs an IPI (microseconds in a VM) and makes the sensor write tiny chunks the agent pays for per read: wake it
 * only when a batch is pending; the sensor polls every POLL_MS for the rest. */
static __always_inline long wl_send(void *rb, void *buf, __u64 size, __u64 max)
{
	if (size > max)
		size = max;
	__u64 flags = bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA) >= WAKE_BYTES ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	return bpf_ringbuf_output(rb, buf, size, flags);
}

/* Ring-buffer drops per device, besides each program's global drop counter: which device lost events. The key is
 * (netns inode, ifindex); the value counts with atomic adds and keeps the device's name where the program knows it
 * (a socket filter has no device pointer: the sensor adds the name from its netlink view). The sensor reads the map
 * into WL_REC_NETDEV_DROPS records (sensor/common.c, emit_dev_drops). */
#define WL_MAX_DEV_DROPS 4096 /* devices whose drops are counted (every load of a program shares the map) */

struct wl_dev_key {
	__u64 netns_ino;
	__u32 ifindex;
	__u32 _pad;
};

struct wl_dev_drops {
	__u64 drops;
	__u8 ifname[16]; /* zeros when not known here */
};

#define WL_DEV_DROPS_MAP()                                                              \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_HASH);                                        \
		__uint(max_entries, WL_MAX_DEV_DROPS);                                  \
		__type(key, struct wl_dev_key);                                         \
		__type(value, struct wl_dev_drops);                                     \
	} dev_drops SEC(".maps")

/* One more drop for a device; ifname (16 bytes) or NULL. When the map is full, only the global counter has it. */
static __always_inline void wl_count_dev_drop(void *map, __u64 netns_ino, __u32 ifindex, const __u8 *ifname)
{
	struct wl_dev_key k = { .netns_ino = netns_ino, .ifindex = ifindex, ._pad = 0 };
	struct wl_dev_drops *d = bpf_map_lookup_elem(map, &k);
	if (!d) {
		struct wl_dev_drops init = { .drops = 0 };
		if (ifname)
			__builtin_memcpy(init.ifname, ifname, 16);
		/* BPF_NOEXIST: another CPU may have added it meanwhile; then the lookup below finds that one */
		bpf_map_update_elem(map, &k, &init, BPF_NOEXIST);
		d = bpf_map_lookup_elem(map, &k);
		if (!d)
			return;
	}
	__sync_fetch_and_add(&d->drops, 1);
}

#endif
