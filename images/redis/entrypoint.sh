#!/bin/bash
# dbroker redis entrypoint: rewrites the ACL file — `default` from
# $REDIS_PASSWORD, the admin user with a new password, the binding and spare
# users with the data rules of acl.sh, no other user — then execs redis-server
# as the redis user so it is PID 1 and receives signals.
set -euo pipefail

die() { printf 'dbroker-redis: %s\n' "$*" >&2; exit 1; }
# shellcheck source=acl.sh
source /dbroker/acl.sh

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

# What the server was given (options, and the config file when it names one): an operator's setting of
# anything below wins over what the entrypoint derives.
conf=
[[ ${2:-} == -* || -z ${2:-} ]] || conf=$2
given=("${@:2}")
operator_sets() {
  local arg
  for arg in "${given[@]}"; do
    [[ ${arg,,} != "--$1" ]] || return 0
  done
  [[ -n $conf && -r $conf ]] && grep -qiE "^[[:space:]]*$1[[:space:]]" "$conf"
}

# The container's memory limit in bytes; empty when it has none ("max", or a number too large to be one).
limit=
if [[ -r /sys/fs/cgroup/memory.max ]]; then
  limit=$(</sys/fs/cgroup/memory.max)
elif [[ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]]; then
  limit=$(</sys/fs/cgroup/memory/memory.limit_in_bytes)
fi
[[ $limit =~ ^[0-9]+$ ]] && ((limit < 1 << 40)) || limit=

# Plan parameters (optional):
#   REDIS_MAXMEMORY_POLICY  -> --maxmemory-policy (default under a limit: noeviction)
#   REDIS_MAXMEMORY         -> --maxmemory (e.g. 100mb); default: 75% of the
#                              container's memory limit, when it has one.
if [[ -n ${REDIS_MAXMEMORY_POLICY:-} ]]; then
  case $REDIS_MAXMEMORY_POLICY in
    noeviction|allkeys-lru|volatile-lru|allkeys-lfu|volatile-lfu|allkeys-random|volatile-random|volatile-ttl) ;;
    *) die "REDIS_MAXMEMORY_POLICY '$REDIS_MAXMEMORY_POLICY' is not a redis maxmemory-policy" ;;
  esac
  set -- "$@" --maxmemory-policy "$REDIS_MAXMEMORY_POLICY"
elif [[ -n $limit ]] && ! operator_sets maxmemory-policy; then
  set -- "$@" --maxmemory-policy noeviction
fi
if [[ -n ${REDIS_MAXMEMORY:-} ]]; then
  [[ $REDIS_MAXMEMORY =~ ^[0-9]+([kKmMgG][bB]?)?$ ]] || die "REDIS_MAXMEMORY '$REDIS_MAXMEMORY' is not a size like 100mb"
  set -- "$@" --maxmemory "$REDIS_MAXMEMORY"
elif [[ -n $limit ]] && ! operator_sets maxmemory; then
  set -- "$@" --maxmemory $((limit * 3 / 4))
fi

# maxmemory is checked only before a command runs, so under a limit no one command may allocate much at once
# (SETBIT k 4294967295 1 asks for 512 MB: the kernel would kill the server, and every tenant's data and
# sessions with it). With U = 1/16 of the limit (at least 1 MB, redis' minimum): a string, a bit offset, a
# SETRANGE or APPEND result at most U (proto-max-bulk-len); one client's query buffer and a normal client's
# pending replies at most 2U, a subscriber's at most 2U (and redis' 32 MB), all clients' buffers together 2U
# (maxmemory-clients, the largest client goes first): a client past them is disconnected, not the server.
# maxmemory (75%, buffers included) + 2U leaves 1/8 for the server itself and the allocator's slack.
if [[ -n $limit ]]; then
  unit=$((limit / 16 > 1 << 20 ? limit / 16 : 1 << 20))
  for setting in proto-max-bulk-len:$unit client-query-buffer-limit:$((2 * unit)) maxmemory-clients:$((2 * unit)); do
    operator_sets "${setting%:*}" || set -- "$@" "--${setting%:*}" "${setting#*:}"
  done
  if ! operator_sets client-output-buffer-limit; then
    pubsub=$((2 * unit < 32 << 20 ? 2 * unit : 32 << 20))
    set -- "$@" --client-output-buffer-limit normal $((2 * unit)) 0 0 \
      --client-output-buffer-limit pubsub "$pubsub" $((pubsub / 4)) 60
  fi
fi

ACL=/data/users.acl
mkdir -p /data
if [[ $(id -u) -eq 0 ]]; then
  chown redis:redis /data
  find /data \! -user redis -exec chown redis:redis '{}' + 2>/dev/null || true
fi

sha256() { sha256sum | cut -d' ' -f1; }

# The admin password: new at every start, readable by root only (docker exec
# runs the lifecycle executables as root; redis runs as redis and never sees it).
umask 077
run_dir=${DBROKER_ADMIN_PASSWORD_FILE%/*}
mkdir -p "$run_dir" || die "cannot make $run_dir (a read-only root needs a tmpfs there)"
[[ -O $run_dir && ! -L $run_dir ]] || die "$run_dir belongs to someone else"
chmod 0700 "$run_dir"
admin_password=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
[[ ${#admin_password} -eq 64 ]] || die "could not read 32 random bytes from /dev/urandom"
printf '%s' "$admin_password" >"$DBROKER_ADMIN_PASSWORD_FILE.new"
mv -f "$DBROKER_ADMIN_PASSWORD_FILE.new" "$DBROKER_ADMIN_PASSWORD_FILE"

# The ACL file holds only SHA-256 digests (redis accepts "#<hex>"). printf is a
# shell builtin: no password ever appears on a command line.
# A binding user keeps only its first password (the one bind set; ">" appends
# later ones) and gets today's rules (a tenant's, for its prefix, when it has one), so users an older image made +@all, or a
# tenant gave a second password, are tightened; any other user is dropped.
tmp=$(mktemp /data/.users.acl.XXXXXX)
removed=()
{
  printf 'user %s on #%s ~* &* +@all\n' "$DBROKER_ADMIN_USER" "$(printf '%s' "$admin_password" | sha256)"
  printf 'user default on #%s %s\n' "$(printf '%s' "$REDIS_PASSWORD" | sha256)" "${DBROKER_DATA_RULES[*]}"
  if [[ -f $ACL ]]; then
    declare -A kept=()
    # -a: no glob expansion of "~*" and friends, unlike an unquoted $line.
    while read -r -a words; do
      ((${#words[@]})) || continue
      name=${words[1]:-}
      digest= prefix=
      for word in "${words[@]:2}"; do
        if [[ -z $digest && $word =~ ^#[0-9a-f]{64}$ ]]; then digest=$word; fi
        if [[ $word =~ ^~(i[0-9a-f]{12}:)\*$ ]]; then prefix=${BASH_REMATCH[1]}; fi
      done
      if [[ ${words[0]} == user && $name =~ $DBROKER_BINDING_USER_PATTERN && -n $digest && -z ${kept[$name]:-} ]]; then
        kept[$name]=1
        # A tenant of a shared container stays confined to its instance's prefix.
        if [[ -n $prefix ]]; then
          tenant_rules "$prefix"
          printf 'user %s on %s %s\n' "$name" "$digest" "${DBROKER_TENANT_RULES[*]}"
        else
          printf 'user %s on %s %s\n' "$name" "$digest" "${DBROKER_DATA_RULES[*]}"
        fi
      elif [[ $name != default && $name != "$DBROKER_ADMIN_USER" ]]; then
        removed+=("${name//[^A-Za-z0-9_.-]/?}")
      fi
    done <"$ACL"
  fi
} >"$tmp"
chmod 0600 "$tmp"
[[ $(id -u) -eq 0 ]] && chown redis:redis "$tmp"
mv -f "$tmp" "$ACL"
unset admin_password
if ((${#removed[@]})); then
  printf 'dbroker-redis: removed ACL users dbroker did not make: %s\n' "${removed[*]}" >&2
fi

if [[ $(id -u) -eq 0 ]]; then
  exec setpriv --reuid=redis --regid=redis --init-groups "$@"
fi
exec "$@"
