#!/usr/bin/env bash
# Builds the eBPF sensor: build/vmlinux.h → build/{packet,trace,netdev}.bpf.o → build/{packet,trace,netdev}.skel.h →
# build/wirelog-sensor (sensor/*.c).
# Run from anywhere (npm run build runs it after tsc). Idempotent: each step runs only when one of its inputs is
# newer than its output. Exits non-zero with a one-line reason on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "build-sensor: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found (install: $2)"; }
# true when $1 is missing or older than any of the following files
stale() {
  local out=$1; shift
  [ -e "$out" ] || return 0
  local f
  for f in "$@"; do [ "$f" -nt "$out" ] && return 0; done
  return 1
}

CLANG=${CLANG:-clang}
CC=${CC:-cc}
BPFTOOL=${BPFTOOL:-bpftool}
BTF=${WIRELOG_BTF:-/sys/kernel/btf/vmlinux}
B=build

need "$CLANG" clang
need "$BPFTOOL" bpftool
need "$CC" gcc
[ -r "$BTF" ] || die "kernel BTF not found at $BTF (kernel built without CONFIG_DEBUG_INFO_BTF?)"
[ -r /usr/include/bpf/libbpf.h ] || die "libbpf headers not found (install: libbpf-dev)"
need pkg-config pkg-config
# conntrack mode (sensor/conntrack.c) talks ctnetlink through libnetfilter_conntrack
pkg-config --exists libnetfilter_conntrack || die "libnetfilter_conntrack not found (install: libnetfilter-conntrack-dev)"
NFCT_CFLAGS=$(pkg-config --cflags libnetfilter_conntrack)
NFCT_LIBS=$(pkg-config --libs libnetfilter_conntrack)

case "$(uname -m)" in
  x86_64) ARCH=x86 ;;
  aarch64) ARCH=arm64 ;;
  armv7*|armv6*) ARCH=arm ;;
  ppc64le) ARCH=powerpc ;;
  s390x) ARCH=s390 ;;
  riscv64) ARCH=riscv ;;
  *) die "unsupported architecture $(uname -m)" ;;
esac

mkdir -p "$B"

# 1. vmlinux.h from this kernel's BTF (CO-RE: the object then loads on other kernels too).
if stale "$B/vmlinux.h" "$BTF"; then
  echo "build-sensor: generating $B/vmlinux.h"
  "$BPFTOOL" btf dump file "$BTF" format c >"$B/vmlinux.h.tmp" || die "bpftool btf dump failed"
  mv "$B/vmlinux.h.tmp" "$B/vmlinux.h"
fi

# 2. the kernel programs and their skeletons: packet mode (socket filter), trace mode (tracepoints, uprobes) and
#    netdev mode (tp_btf on net_dev_queue and netif_receive_skb)
build_bpf() {
  local name=$1
  if stale "$B/$name.bpf.o" "bpf/$name.bpf.c" bpf/*.h "$B/vmlinux.h"; then
    echo "build-sensor: compiling bpf/$name.bpf.c"
    "$CLANG" -g -O2 -Wall -Wno-comment -target bpf -D__TARGET_ARCH_$ARCH -I"$B" -Ibpf \
      -c "bpf/$name.bpf.c" -o "$B/$name.bpf.o.tmp" || die "clang failed on bpf/$name.bpf.c"
    # strip DWARF but keep BTF: smaller skeleton, same CO-RE info
    if command -v llvm-strip >/dev/null 2>&1; then llvm-strip -g "$B/$name.bpf.o.tmp" || true; fi
    mv "$B/$name.bpf.o.tmp" "$B/$name.bpf.o"
  fi
  if stale "$B/$name.skel.h" "$B/$name.bpf.o"; then
    echo "build-sensor: generating $B/$name.skel.h"
    "$BPFTOOL" gen skeleton "$B/$name.bpf.o" name "${name}_bpf" >"$B/$name.skel.h.tmp" || die "bpftool gen skeleton failed ($name)"
    mv "$B/$name.skel.h.tmp" "$B/$name.skel.h"
  fi
}
build_bpf packet
build_bpf trace
build_bpf netdev

# 3. the sensor
SENSOR_SRC=(sensor/main.c sensor/packet.c sensor/netns_watch.c sensor/trace.c sensor/conntrack.c sensor/netdev.c sensor/common.c)
SENSOR_DEPS=("${SENSOR_SRC[@]}" bpf/wirelog_events.h "$B/packet.skel.h" "$B/trace.skel.h" "$B/netdev.skel.h")
for h in sensor/*.h; do [ -e "$h" ] && SENSOR_DEPS+=("$h"); done
if stale "$B/wirelog-sensor" "${SENSOR_DEPS[@]}"; then
  echo "build-sensor: linking $B/wirelog-sensor"
  # shellcheck disable=SC2086 # pkg-config output is a word list
  "$CC" -O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-comment -I"$B" -Ibpf -Isensor $NFCT_CFLAGS \
    "${SENSOR_SRC[@]}" -o "$B/wirelog-sensor.tmp" -lbpf -lelf -lz $NFCT_LIBS || die "cc failed on the sensor sources"
  mv "$B/wirelog-sensor.tmp" "$B/wirelog-sensor"
fi

# A just-written binary can fail to exec for a moment (ENOENT/EACCES): retry briefly.
ok=
for _ in 1 2 3 4 5 6 7 8 9 10; do
  if "$B/wirelog-sensor" --version >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.3
done
[ -n "$ok" ] || die "$B/wirelog-sensor was built but does not run (try: $B/wirelog-sensor --version)"
