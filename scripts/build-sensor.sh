#!/usr/bin/env bash
# Builds the eBPF sensor: build/vmlinux.h → build/{packet,trace}.bpf.o → build/{packet,trace}.skel.h →
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

# 2. the kernel program
if stale "$B/packet.bpf.o" bpf/packet.bpf.c bpf/wirelog_events.h "$B/vmlinux.h"; then
  echo "build-sensor: compiling bpf/packet.bpf.c"
  "$CLANG" -g -O2 -Wall -Wno-comment -target bpf -D__TARGET_ARCH_$ARCH -I"$B" -Ibpf \
    -c bpf/packet.bpf.c -o "$B/packet.bpf.o.tmp" || die "clang failed on bpf/packet.bpf.c"
  # strip DWARF but keep BTF: smaller skeleton, same CO-RE info
  if command -v llvm-strip >/dev/null 2>&1; then llvm-strip -g "$B/packet.bpf.o.tmp" || true; fi
  mv "$B/packet.bpf.o.tmp" "$B/packet.bpf.o"
fi

# 3. skeleton
if stale "$B/packet.skel.h" "$B/packet.bpf.o"; then
  echo "build-sensor: generating $B/packet.skel.h"
  "$BPFTOOL" gen skeleton "$B/packet.bpf.o" name packet_bpf >"$B/packet.skel.h.tmp" || die "bpftool gen skeleton failed"
  mv "$B/packet.skel.h.tmp" "$B/packet.skel.h"
fi

# 3b. the trace-mode program (syscall tracepoints, SSL uprobes) and its skeleton
if stale "$B/trace.bpf.o" bpf/trace.bpf.c bpf/wirelog_events.h "$B/vmlinux.h"; then
  echo "build-sensor: compiling bpf/trace.bpf.c"
  "$CLANG" -g -O2 -Wall -Wno-comment -target bpf -D__TARGET_ARCH_$ARCH -I"$B" -Ibpf \
    -c bpf/trace.bpf.c -o "$B/trace.bpf.o.tmp" || die "clang failed on bpf/trace.bpf.c"
  if command -v llvm-strip >/dev/null 2>&1; then llvm-strip -g "$B/trace.bpf.o.tmp" || true; fi
  mv "$B/trace.bpf.o.tmp" "$B/trace.bpf.o"
fi
if stale "$B/trace.skel.h" "$B/trace.bpf.o"; then
  echo "build-sensor: generating $B/trace.skel.h"
  "$BPFTOOL" gen skeleton "$B/trace.bpf.o" name trace_bpf >"$B/trace.skel.h.tmp" || die "bpftool gen skeleton failed (trace)"
  mv "$B/trace.skel.h.tmp" "$B/trace.skel.h"
fi

# 4. the sensor
SENSOR_SRC=(sensor/wirelog-sensor.c sensor/trace.c sensor/common.c)
SENSOR_DEPS=("${SENSOR_SRC[@]}" bpf/wirelog_events.h "$B/packet.skel.h" "$B/trace.skel.h")
for h in sensor/*.h; do [ -e "$h" ] && SENSOR_DEPS+=("$h"); done
if stale "$B/wirelog-sensor" "${SENSOR_DEPS[@]}"; then
  echo "build-sensor: linking $B/wirelog-sensor"
  "$CC" -O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-comment -I"$B" -Ibpf -Isensor \
    "${SENSOR_SRC[@]}" -o "$B/wirelog-sensor.tmp" -lbpf -lelf -lz || die "cc failed on the sensor sources"
  mv "$B/wirelog-sensor.tmp" "$B/wirelog-sensor"
fi

# A just-written binary can fail to exec for a moment (ENOENT/EACCES): retry briefly.
ok=
for _ in 1 2 3 4 5 6 7 8 9 10; do
  if "$B/wirelog-sensor" --version >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.3
done
[ -n "$ok" ] || die "$B/wirelog-sensor was built but does not run (try: $B/wirelog-sensor --version)"
