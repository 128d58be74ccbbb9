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

limit=$(memory_limit_bytes)

# Plan parameters (optional):
#   REDIS_MAXMEMORY_POLICY  -> --maxmemory-policy (default under a limit: noeviction)
#   REDIS_MAXMEMORY         -> --maxmemory (e.g. 100mb); default under a limit: memory_settings (acl.sh).
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
fi

# Under a limit, what it derives (acl.sh: memory_settings): shared once the ACL file holds a tenant (the first
# provision switches a running server, see /dbroker/provision), else dedicated. A subscriber's output buffer at
# most 2U (and redis' 32 MB), a normal client's pending replies at most 2U: a client past them is disconnected,
# not the server. An operator's setting of any of these wins; the names derived are kept for provision.
derived=()
if [[ -n $limit ]]; then
  # Redis checks maxmemory against what it has allocated, the kernel kills on resident pages: memory redis frees
  # stays resident in jemalloc for its decay time (10 s), so a tenant that fills and deletes and fills again within
  # it got a 128 MB shared container killed at 1 MB used (measured: 98 MB resident after a deleted 48 MB set). Freed
  # pages go back to the kernel at once; an operator's MALLOC_CONF wins.
  export MALLOC_CONF=${MALLOC_CONF:-dirty_decay_ms:0,muzzy_decay_ms:0}
  mode=dedicated
  if [[ -f /data/users.acl ]] && grep -qE "$DBROKER_TENANT_LINE" /data/users.acl; then mode=shared; fi
  while read -r name value; do
    [[ $name != maxmemory || -z ${REDIS_MAXMEMORY:-} ]] || continue
    operator_sets "$name" && continue
    set -- "$@" "--$name" "$value"
    derived+=("$name")
  done < <(memory_settings "$mode" "$limit")
  if ! operator_sets client-output-buffer-limit; then
    unit=$((limit / 16 > 1 << 20 ? limit / 16 : 1 << 20))
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
printf '%s\n' "${derived[@]}" >"$DBROKER_DERIVED_FILE"

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
