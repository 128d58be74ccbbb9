#!/usr/bin/env bash
# Make this machine ready for `npm test` (npm runs it as `pretest`).
#
#   scripts/test-setup.sh
#
# Idempotent, and quick when everything is there (about a second): checks Node,
# installs the Debian packages whose tools the tests drive (real clients for the
# credentials the broker returns, a terminal for the TUI stories, namespaces and a
# PostgreSQL server for the multi-host stories, Debian's docker-registry and htpasswd
# for the mirror and private-registry stories), starts a Docker engine, builds the
# reference images, and installs the npm dependencies when they are missing or stale.
# Not root: installs nothing and names what is missing instead.
#
# Environment:
#   DBROKER_TEST_SETUP=skip   do nothing (a machine set up by other means)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { printf 'test-setup: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[[ ${DBROKER_TEST_SETUP:-} == skip ]] && { say "skipped (DBROKER_TEST_SETUP=skip)"; exit 0; }

node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error(`test-setup: error: Node >= 20.19 is needed, this is ${process.versions.node}`); process.exit(1) }'

# tool -> Debian package. A path stands for a tool that is not on PATH.
declare -A wanted=(
  [redis-cli]=redis-tools [psql]=postgresql-client [mariadb]=mariadb-client [tmux]=tmux [ip]=iproute2 [nsenter]=util-linux
  [openssl]=openssl [debootstrap]=debootstrap [/usr/lib/postgresql/15/bin/initdb]=postgresql-15 [jq]=jq
  [iptables]=iptables [dockerd]=docker.io [strace]=strace [docker-registry]=docker-registry [htpasswd]=apache2-utils
)
missing=() tools=()
for tool in "${!wanted[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || [[ -x $tool ]] || { missing+=("${wanted[$tool]}"); tools+=("$tool"); }
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    die "the tests need ${tools[*]} (Debian: apt-get install ${missing[*]}); run npm test as root once to install them"
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # The PostgreSQL server is only a binary for the multi-host tests: no cluster, no service.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 </dev/null
fi

"$ROOT/scripts/docker-engine.sh" >&2

# The tests' brokers, agents and containers listen on fixed ports in 40000-49999, inside the kernel's range for
# outgoing connections (32768-60999): one of the suite's many client sockets can take such a port just before a
# test binds it (seen: `listen EADDRINUSE 127.0.0.1:42094` in a fresh-clone run). Reserved ports are never handed
# out to outgoing connections, and explicit binds still get them.
reserved=/proc/sys/net/ipv4/ip_local_reserved_ports
if [[ -w $reserved ]] && ! grep -q '40000-49999' "$reserved"; then
  current=$(<"$reserved")
  echo "${current:+$current,}40000-49999" >"$reserved" || say "could not reserve ports 40000-49999 (tests may meet a busy port)"
elif [[ ! -w $reserved ]] && ! grep -qs '40000-49999' "$reserved"; then
  say "note: ports 40000-49999 are not reserved from outgoing connections (needs root); a test may meet a busy port"
fi

# npm dependencies: `npm test` on a fresh clone has none yet.
if [[ ! -x node_modules/.bin/vitest ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund >&2
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "$ROOT/scripts/images.sh" >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  die "building the reference images failed (full log above)"
fi
say "ready"
