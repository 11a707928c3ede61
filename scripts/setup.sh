#!/usr/bin/env bash
# Sets up everything wirelog needs on Debian 12, as root: Debian packages (build chain for the eBPF sensor and
# the peers the tests and benchmarks compare against), npm dependencies, then builds the TypeScript and the sensor.
# Idempotent: a second run installs nothing new and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "setup: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs Debian packages; the sensor needs BPF privileges)"
command -v node >/dev/null || die "Node.js 20 or newer is required (node not found)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js 20 or newer is required (found $(node --version))"

# Build chain for the sensor (and g++ / python3 for better-sqlite3's native module, which npm ci builds), then the
# real peers the tests and benchmarks run against.
PACKAGES=(
  clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool make gcc libc6-dev pkg-config
  g++ python3
  iproute2 procps util-linux libcap2-bin ethtool
  nginx curl tcpdump tshark wrk httpry h2o nghttp2-client openssl
  dnsmasq-base tinyproxy-bin conntrack nftables libnetfilter-conntrack-dev libnginx-mod-stream graphviz
  ngtcp2-server ngtcp2-client
  chromium
  clickhouse-server clickhouse-client
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps package scripts from starting nginx or clickhouse-server as system services: tests start their
  # own (with configs of their own, test/helpers/clickhouse.ts).
  if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT; fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# the packaged ClickHouse service is not used (tests and the bench start their own servers): never left running
if [ -x /usr/bin/clickhouse-server ] || [ -x /usr/sbin/clickhouse-server ]; then
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then systemctl disable --now clickhouse-server >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/clickhouse-server ]; then /etc/init.d/clickhouse-server stop >/dev/null 2>&1 || true; fi
fi

# The user the agent drops to when started as root (docs/privileges.md): a system user without a home or a login
# shell, and the store's default directory owned by it.
if ! id -u wirelog >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin wirelog
fi
install -d -o wirelog -g wirelog -m 0750 /var/lib/wirelog

# tracefs for tracepoint programs (later features); harmless when already mounted.
if [ ! -d /sys/kernel/tracing/events ] && [ -d /sys/kernel/tracing ]; then mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true; fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
echo "setup: ready (wirelog $(node -p 'require("./package.json").version'), sensor build/wirelog-sensor)"
