#!/bin/bash
# dbroker redis entrypoint: (re)writes the default user's ACL line from
# $REDIS_PASSWORD, keeps the other users (bindings), then execs redis-server
# as the redis user so it is PID 1 and receives signals.
set -euo pipefail

die() { printf 'dbroker-redis: %s\n' "$*" >&2; exit 1; }

# `docker run IMAGE --maxmemory 100mb`: options go to the default redis-server.
if [[ ${1:-} == -* ]]; then
  set -- redis-server /etc/redis/dbroker.conf "$@"
fi
# Anything that is not redis-server (e.g. `bash`, `redis-cli ...`) runs as given.
if [[ ${1:-} != redis-server ]]; then
  exec "$@"
fi

if [[ -z ${REDIS_PASSWORD:-} ]]; then
  die "REDIS_PASSWORD is required (set it with -e REDIS_PASSWORD=...)"
fi

# Plan parameters (optional):
#   REDIS_MAXMEMORY_POLICY  -> --maxmemory-policy
#   REDIS_MAXMEMORY         -> --maxmemory (e.g. 100mb); default: 75% of the
#                              container's memory limit, when it has one.
if [[ -n ${REDIS_MAXMEMORY_POLICY:-} ]]; then
  case $REDIS_MAXMEMORY_POLICY in
    noeviction|allkeys-lru|volatile-lru|allkeys-lfu|volatile-lfu|allkeys-random|volatile-random|volatile-ttl) ;;
    *) die "REDIS_MAXMEMORY_POLICY '$REDIS_MAXMEMORY_POLICY' is not a redis maxmemory-policy" ;;
  esac
  set -- "$@" --maxmemory-policy "$REDIS_MAXMEMORY_POLICY"
fi
maxmemory=${REDIS_MAXMEMORY:-}
if [[ -n $maxmemory ]]; then
  [[ $maxmemory =~ ^[0-9]+([kKmMgG][bB]?)?$ ]] || die "REDIS_MAXMEMORY '$maxmemory' is not a size like 100mb"
else
  limit=
  if [[ -r /sys/fs/cgroup/memory.max ]]; then
    limit=$(</sys/fs/cgroup/memory.max)
  elif [[ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]]; then
    limit=$(</sys/fs/cgroup/memory/memory.limit_in_bytes)
  fi
  # "max" or a huge number means no limit.
  if [[ $limit =~ ^[0-9]+$ ]] && ((limit < 1 << 40)); then
    maxmemory=$((limit * 3 / 4))
  fi
fi
if [[ -n $maxmemory ]]; then
  set -- "$@" --maxmemory "$maxmemory"
fi

ACL=/data/users.acl
mkdir -p /data
if [[ $(id -u) -eq 0 ]]; then
  chown redis:redis /data
  find /data \! -user redis -exec chown redis:redis '{}' + 2>/dev/null || true
fi

# Store only the SHA-256 of the password (redis accepts "#<hex>" in ACL files).
# printf is a shell builtin: the password never appears on a command line.
hash=$(printf '%s' "$REDIS_PASSWORD" | sha256sum | cut -d' ' -f1)
umask 077
tmp=$(mktemp /data/.users.acl.XXXXXX)
{
  printf 'user default on #%s ~* &* +@all\n' "$hash"
  if [[ -f $ACL ]]; then grep -v -E '^[[:space:]]*user[[:space:]]+default([[:space:]]|$)' "$ACL" || true; fi
} >"$tmp"
chmod 0600 "$tmp"
[[ $(id -u) -eq 0 ]] && chown redis:redis "$tmp"
mv -f "$tmp" "$ACL"
unset hash

if [[ $(id -u) -eq 0 ]]; then
  exec setpriv --reuid=redis --regid=redis --init-groups "$@"
fi
exec "$@"
