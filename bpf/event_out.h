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

#endif
