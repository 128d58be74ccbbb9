#!/usr/bin/env bash
# Make sure the base image for the reference images exists locally.
#
#   scripts/base-image.sh
#
# Idempotent. If ${BASE_IMAGE:-debian:bookworm-slim} is already present, exits 0
# at once. Else tries `docker pull` (bounded, ~20 s); when no registry is
# reachable, builds a Debian minbase rootfs with debootstrap from the Debian
# archive and `docker import`s it under that tag. The rootfs tarball is cached
# in $DBROKER_CACHE_DIR (default /var/cache/dbroker) so a second import is fast.
#
# Environment:
#   BASE_IMAGE            tag to produce (default debian:bookworm-slim)
#   BASE_SUITE            Debian suite for debootstrap (default bookworm)
#   DEBIAN_MIRROR         archive URL (default http://deb.debian.org/debian)
#   DBROKER_CACHE_DIR     tarball cache (default /var/cache/dbroker)
#   DBROKER_PULL_TIMEOUT  seconds allowed for `docker pull` (default 20)
#
# Progress goes to stderr.
set -euo pipefail

BASE_IMAGE="${BASE_IMAGE:-debian:bookworm-slim}"
SUITE="${BASE_SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE_DIR="${DBROKER_CACHE_DIR:-/var/cache/dbroker}"
PULL_TIMEOUT="${DBROKER_PULL_TIMEOUT:-20}"
TARBALL="$CACHE_DIR/$SUITE-minbase.tar"

say() { printf 'base-image: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  say "$BASE_IMAGE present"
  exit 0
fi

timeout 10 docker info >/dev/null 2>&1 || die "no Docker engine answers (start one with scripts/docker-engine.sh)"

say "trying docker pull $BASE_IMAGE (up to ${PULL_TIMEOUT}s)"
if timeout --kill-after=5 "$PULL_TIMEOUT" docker pull -q "$BASE_IMAGE" >/dev/null 2>&1 \
  && docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  say "pulled $BASE_IMAGE"
  exit 0
fi
say "pull failed; building $BASE_IMAGE from the Debian archive ($SUITE minbase)"

import_tarball() {
  say "docker import $TARBALL as $BASE_IMAGE"
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --message "debootstrap --variant=minbase $SUITE $MIRROR" \
    "$TARBALL" "$BASE_IMAGE" >/dev/null
  say "imported $BASE_IMAGE"
}

if [[ -s $TARBALL ]]; then
  say "using cached rootfs $TARBALL"
  import_tarball
  exit 0
fi

[[ $(id -u) -eq 0 ]] || die "debootstrap needs root"
if ! command -v debootstrap >/dev/null 2>&1; then
  say "installing debootstrap (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends debootstrap >&2
fi

mkdir -p "$CACHE_DIR"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/dbroker-rootfs.XXXXXX")"
cleanup() {
  # debootstrap may leave proc/sys mounted if interrupted.
  local m
  for m in proc sys dev/pts dev; do
    if mountpoint -q "$WORK/rootfs/$m" 2>/dev/null; then umount -l "$WORK/rootfs/$m" 2>/dev/null || true; fi
  done
  rm -rf --one-file-system "$WORK"
  rm -f "$TARBALL.partial.$$"
}
child=
on_signal() {
  trap - INT TERM
  say "interrupted"
  # debootstrap runs in its own process group: stop all of it, then clean up.
  if [[ -n $child ]]; then
    kill -TERM -- "-$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  exit 130
}
trap cleanup EXIT
trap on_signal INT TERM

ROOTFS="$WORK/rootfs"
say "debootstrap --variant=minbase $SUITE into $ROOTFS (~40 s)"
# In the background + `wait`, so an interrupt is handled at once.
setsid debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 </dev/null &
child=$!
rc=0
wait "$child" || rc=$?
child=
if ((rc != 0)); then
  tail -n 30 "$WORK/debootstrap.log" >&2
  die "debootstrap failed (exit $rc)"
fi

# Trim like Debian's official -slim images: no docs, man pages or
# translations installed by later apt-get runs; no stale package lists.
mkdir -p "$ROOTFS/etc/dpkg/dpkg.cfg.d" "$ROOTFS/etc/apt/apt.conf.d"
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
cat >"$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/tmp/* 2>/dev/null || true

# Write to a temp name first so an interrupted run never leaves a half tarball.
tar --numeric-owner --xattrs -C "$ROOTFS" -cf "$TARBALL.partial.$$" .
mv -f "$TARBALL.partial.$$" "$TARBALL"
say "cached rootfs at $TARBALL ($(du -h "$TARBALL" | cut -f1))"
import_tarball
