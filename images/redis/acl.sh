# Sourced by the entrypoint and the lifecycle executables: who the ACL users
# are and what each may do, in one place so their rules cannot drift apart.

# The lifecycle executables' own user. Only they know its password: the
# entrypoint makes a new one at every start, in a root-only file outside /data.
# (A container run as another user keeps it in that user's own directory: the
# lifecycle executables run as the container's user, the same one.)
DBROKER_ADMIN_USER=dbroker-admin
if [[ $(id -u) -eq 0 ]]; then
  DBROKER_ADMIN_PASSWORD_FILE=/run/dbroker/admin.password
else
  DBROKER_ADMIN_PASSWORD_FILE=${TMPDIR:-/tmp}/dbroker-$(id -u)/admin.password
fi

# The names dbroker gives binding and spare users (src/broker/credentials.ts:
# randomIdentifier('b')). Every other user is removed at start.
DBROKER_BINDING_USER_PATTERN='^b[a-z0-9]{12}$'

# What `default` and every binding user may do: the data, nothing that changes
# users, config, persistence, replication or other clients. `default` gets it too:
# a plan with `binding_credentials: shared` hands that user to every application.
DBROKER_DATA_RULES=(
  '~*' '&*' # every key and channel: the bindings of one instance share its data
  '+@all' '-@admin' '-@dangerous'
  # Back from @dangerous: commands apps use that reach only this instance's data
  # (every binding can already delete or read every key; INFO tells clients the version).
  '+flushdb' '+flushall' '+keys' '+sort' '+sort_ro' '+info'
  # Left by -@dangerous in 7.0 but no binding's business: not even ACL WHOAMI or CONFIG HELP.
  '-acl' '-config' '-module'
  # SCRIPT DEBUG SYNC blocks the whole server (and so every unbind) while a binding debugs.
  '-script|debug'
  # EVAL/FCALL stay: scripts run with the caller's ACL, so they cannot escalate past it,
  # and SCRIPT KILL/FUNCTION KILL only stop this instance's scripts. But a function
  # library persists in RDB/AOF and runs its Lua at every start, outliving its unbind.
  '-function|load' '-function|restore' '-function|delete' '-function|flush'
)

# On a shared container (one redis, many instances) each instance's keys and
# channels start with its own prefix: i + 12 hex digits of SHA-256(instance_id) + ':'.
# Fixed length, so no instance's prefix starts another's.
DBROKER_KEY_PREFIX_PATTERN='^i[0-9a-f]{12}:$'

# What a binding of one instance on a shared container may do: its own keys and
# channels (redis checks every key and channel argument, SORT's BY/GET included),
# and no command that reaches past them. Redis does not filter keyless commands by
# the patterns, so those that list, count or change every tenant's keys, reach other
# databases or other clients, or tell about the server are denied. Sets DBROKER_TENANT_RULES.
tenant_rules() {
  [[ $1 =~ $DBROKER_KEY_PREFIX_PATTERN ]] || die "invalid key prefix '$1'"
  DBROKER_TENANT_RULES=(
    "~$1*" "&$1*"
    '+@all' '-@admin' '-@dangerous'
    # They return or count every tenant's key names, or delete every tenant's keys.
    '-keys' '-scan' '-randomkey' '-dbsize' '-flushdb' '-flushall'
    # Other databases: no tenant's keys live there and deprovision does not look there.
    '-select' '-swapdb' '-move' '-copy'
    # Server-wide: keyspace counts and clients (INFO), every channel's name and
    # subscribers (PUBSUB), memory of all (MEMORY but USAGE, which checks its key).
    '-info' '-pubsub' '-memory' '+memory|usage' '-cluster' '-acl' '-config' '-module'
    # CLIENT TRACKING BCAST pushes every key name any client changes, REDIRECT
    # sends them to another client: only the CLIENT subcommands about oneself.
    '-client' '+client|id' '+client|info' '+client|setname' '+client|getname' '+client|reply'
    # No Lua: an endless script stops every tenant (and SCRIPT KILL would stop
    # another's), SCRIPT FLUSH drops theirs, FUNCTION STATS shows what they run,
    # and a sandbox escape in the interpreter would reach every tenant's data.
    '-@scripting'
    # Commands that allocate far more than a copy of what they read, after the one maxmemory check before
    # they run (measured, each got a 128 MB container OOM-killed): EXEC runs every queued command (30 queued
    # SETRANGEs of 8 MB); SORT/SORT_RO build a vector and an object per element (~8 times a 17 MB list);
    # XREADGROUP/XCLAIM make a pending entry per message (a 27 MB stream); PUBLISH copies the message into
    # every subscriber's buffer (7 MB to 30 subscribers). Pub/sub, consumer groups, MULTI and SORT need a dedicated plan.
    '-@transaction' '-sort' '-sort_ro' '-xreadgroup' '-xclaim' '-@pubsub'
    # Commands whose one call costs (keys named) x (their size), or per key named: redis runs one command at a
    # time, so every tenant waits for it, and the arguments are capped only by maxmemory-clients (measured on a
    # 128 MB container: 600,000 names in one command passed, 1,000,000 were evicted). Measured there, another
    # tenant's PING waited: SUNION of a 20,000-member set named 1,000 times 2.2 s (10,000 times 27 s), SUNIONSTORE
    # 2.3 s, SDIFF 0.8 s, SINTER/SINTERCARD (two sets alternating) 0.4 s, ZUNION 1.2 s, ZDIFF 0.6 s, ZINTER 0.4 s;
    # PFCOUNT of 10,000 names 0.23 s, PFMERGE 0.6 s; BITOP OR of an 8 MB string named 1,000 times 16 s; XREAD of
    # a 20,000-entry stream named 1,000 times 6.4 s; BLPOP on 400,000 keys 2 s, its blocking entries took 95 MB
    # (with 40 MB of data the container was OOM-killed), XREAD BLOCK on 200,000 streams 1 s; LOLWUT 0.16 s.
    # Kept, a step per key or argument: MGET, DEL, UNLINK, EXISTS, TOUCH, LMPOP, ZMPOP, SMISMEMBER, HMGET,
    # ZMSCORE of 500,000 names stalled 30-180 ms.
    '-sunion' '-sunionstore' '-sinter' '-sinterstore' '-sintercard' '-sdiff' '-sdiffstore'
    '-zunion' '-zunionstore' '-zinter' '-zinterstore' '-zintercard' '-zdiff' '-zdiffstore'
    '-pfcount' '-pfmerge' '-bitop' '-xread' '-blpop' '-brpop' '-bzpopmin' '-bzpopmax' '-blmpop' '-bzmpop' '-lolwut'
  )
}

# The container's memory limit in bytes; empty when it has none ("max", or a number too large to be one).
memory_limit_bytes() {
  local limit=
  if [[ -r /sys/fs/cgroup/memory.max ]]; then
    limit=$(</sys/fs/cgroup/memory.max)
  elif [[ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]]; then
    limit=$(</sys/fs/cgroup/memory/memory.limit_in_bytes)
  fi
  [[ $limit =~ ^[0-9]+$ ]] && ((limit < 1 << 40)) || limit=
  printf '%s' "$limit"
}

# What a memory limit of $2 bytes derives, as "name value" lines, for a container of one instance ($1 dedicated)
# or of many (shared). Redis checks maxmemory only before a command runs, so what one command may allocate at
# once must fit between maxmemory and the limit, or the kernel kills the server with every tenant in it.
# With U = 1/16 of the limit (at least 1 MB): a string, a bit offset, a SETRANGE or APPEND result at most U
# (proto-max-bulk-len), all clients' buffers together 2U (maxmemory-clients: the largest client goes first).
#  - dedicated: maxmemory 3/4 of the limit; one command's arguments (the query buffer) at most 2U.
#  - shared: maxmemory 3/8, so that a command that copies every key it reads (DUMP; the multi-key copies are
#    denied to tenants, see tenant_rules) and the fork of an AOF rewrite under writes still fit; one command's
#    arguments at most 1/128 of the limit (at least 1 MB, redis' minimum), since a sorted set or hash grows by
#    ~8 times the arguments that fill it (measured: one ZADD of 700,000 members, 13 MB, got a 128 MB container
#    killed). Amplifiers that grow by more than a copy are denied to tenants (tenant_rules).
memory_settings() {
  local mode=$1 limit=$2 unit
  unit=$((limit / 16 > 1 << 20 ? limit / 16 : 1 << 20))
  if [[ $mode == shared ]]; then
    printf '%s %s\n' maxmemory $((limit * 3 / 8)) client-query-buffer-limit $((limit / 128 > 1 << 20 ? limit / 128 : 1 << 20))
  else
    printf '%s %s\n' maxmemory $((limit * 3 / 4)) client-query-buffer-limit $((2 * unit))
  fi
  printf '%s %s\n' proto-max-bulk-len "$unit" maxmemory-clients $((2 * unit))
}
# The entrypoint writes here which of them it derived (the operator set none of those); provision sets their shared values.
DBROKER_DERIVED_FILE=${DBROKER_ADMIN_PASSWORD_FILE%/*}/derived-settings
# A container whose ACL file holds a tenant (a user confined to a key prefix) is shared.
DBROKER_TENANT_LINE='^user b[a-z0-9]{12} .*~i[0-9a-f]{12}:[*]( |$)'

# redis-cli as the admin user; its password reaches redis-cli in the env, never argv.
# ADMIN_CLI_TIMEOUT (seconds, default none): give up on a redis that does not answer (exit 124).
admin_cli() {
  [[ -r $DBROKER_ADMIN_PASSWORD_FILE ]] || die "$DBROKER_ADMIN_PASSWORD_FILE is missing (the entrypoint writes it at start)"
  REDISCLI_AUTH=$(<"$DBROKER_ADMIN_PASSWORD_FILE") timeout --signal=KILL "${ADMIN_CLI_TIMEOUT:-0}" \
    redis-cli --no-auth-warning --user "$DBROKER_ADMIN_USER" -h 127.0.0.1 -p 6379 "$@"
}

# Refuses a BIND_USERNAME that is not one dbroker makes (so never default or the admin).
check_binding_username() {
  [[ -n ${BIND_USERNAME:-} ]] || die "BIND_USERNAME is required"
  [[ $BIND_USERNAME =~ $DBROKER_BINDING_USER_PATTERN ]] \
    || die "invalid BIND_USERNAME (dbroker's binding users are 'b' and 12 lowercase letters or digits)"
}

# Deletes a binding or tenant user (redis closes its connections) and saves the
# ACL file; returns when it is already gone. A binding's endless script makes
# redis answer BUSY to everything else: stop it and retry. A script that wrote
# cannot be stopped (UNKILLABLE), and one long command (SUNION of a big set's key
# given thousands of times, which no ACL rule can bound) answers nothing at all
# for as long as the binding keeps sending it: then the user leaves
# /data/users.acl here and this exits 75, so the restart the broker makes ends
# the command without bringing the user back.
delete_acl_user() {
  local u=$1 out killed unkillable='' stuck='' rc _
  # Each call takes a second or more while redis is busy: no call more than needed.
  for _ in 1 2 3; do
    rc=0
    out=$(ADMIN_CLI_TIMEOUT=8 admin_cli ACL DELUSER "$u" 2>&1) || rc=$?
    if ((rc == 124 || rc == 137)); then stuck=1; break; fi
    [[ $out == BUSY* ]] || break
    killed=$(admin_cli SCRIPT KILL 2>&1) || true
    [[ $killed == OK* || $killed == UNKILLABLE* ]] || killed=$(admin_cli FUNCTION KILL 2>&1) || true
    if [[ $killed == UNKILLABLE* ]]; then unkillable=1; break; fi
  done
  if [[ -n $unkillable || -n $stuck || $out == BUSY* ]]; then
    # Redis can save nothing while that script runs, so the user leaves the file here.
    local acl=/data/users.acl tmp
    [[ -f $acl ]] || die "ACL DELUSER failed ($out) and $acl is missing"
    exec 9>"${DBROKER_ADMIN_PASSWORD_FILE%/*}/users.acl.lock"
    flock 9
    tmp=$(mktemp /data/.users.acl.XXXXXX)
    awk -v u="$u" '!($1 == "user" && $2 == u)' "$acl" >"$tmp"
    chmod 0600 "$tmp"
    [[ $(id -u) -ne 0 ]] || chown redis:redis "$tmp"
    mv -f "$tmp" "$acl"
    if [[ -n $stuck ]]; then
      printf 'dbroker-redis: %s is removed from %s, but redis did not answer within 8 s (a long command): restart the container to finish\n' \
        "$u" "$acl" >&2
    else
      printf 'dbroker-redis: %s is removed from %s, but redis is stuck in a script that wrote (UNKILLABLE): restart the container to finish\n' \
        "$u" "$acl" >&2
    fi
    exit 75
  fi
  [[ $out =~ ^[01]$ ]] || die "ACL DELUSER failed: $out"
  out=$(admin_cli ACL SAVE 2>&1) || die "ACL SAVE failed: $out"
  [[ $out == OK ]] || die "ACL SAVE failed: $out"
}

# The instance's key prefix a JSON document names: "key_prefix" (in the derived
# form), else derived from "instance_id"; '' when it names neither. Expects hook-input.sh.
doc_key_prefix() {
  local p id
  p=$(doc_string key_prefix)
  if [[ -n $p ]]; then
    [[ $p =~ $DBROKER_KEY_PREFIX_PATTERN ]] || die "\"key_prefix\" must be i, 12 lowercase hex digits and ':'"
  else
    id=$(doc_string instance_id)
    [[ -z $id ]] || p="$(derived_name i "$id"):"
  fi
  printf '%s' "$p"
}

# For provision and deprovision: the document on stdin must name an instance; sets KEY_PREFIX to its prefix.
read_instance_document() {
  (($# == 0)) || die "takes no arguments (a JSON document on stdin)"
  read_document
  KEY_PREFIX=$(doc_key_prefix)
  [[ -n $KEY_PREFIX ]] || die "the JSON document needs \"key_prefix\" or \"instance_id\""
}
