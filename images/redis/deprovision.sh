#!/bin/bash
# dbroker lifecycle (shared plan): remove an instance from a shared redis: every
# user confined to its key prefix (connections closed), then every key under the
# prefix, in batches. Same JSON document as /dbroker/provision. Succeeds when
# nothing of it is left. Prints nothing on stdout. Exit 75 as unbind's.
set -euo pipefail

die() { printf 'dbroker-redis deprovision: %s\n' "$*" >&2; exit 1; }
# shellcheck source=acl.sh
source /dbroker/acl.sh
# shellcheck source=hook-input.sh
source /dbroker/hook-input.sh

read_instance_document "$@"
prefix=$KEY_PREFIX

# Users first, so no binding writes while its keys go.
list=$(admin_cli ACL LIST 2>&1) || die "ACL LIST failed: $list"
users=()
while read -r -a words; do
  [[ ${words[0]:-} == user && ${words[1]:-} =~ $DBROKER_BINDING_USER_PATTERN ]] || continue
  for word in "${words[@]:2}"; do
    if [[ $word == "~$prefix*" ]]; then users+=("${words[1]}"); break; fi
  done
done <<<"$list"
for u in "${users[@]}"; do
  delete_acl_user "$u"
done

# Keys in batches: the names never leave redis (one may hold a line break, which
# would split into another tenant's name in redis-cli's output); tenants cannot
# leave database 0 (SELECT, MOVE, COPY are denied to them).
# shellcheck disable=SC2016
batch='local r = redis.call("SCAN", ARGV[1], "MATCH", ARGV[2], "COUNT", 1000)
for _, k in ipairs(r[2]) do redis.call("UNLINK", k) end
return r[1]'
cursor=0
while :; do
  cursor=$(admin_cli EVAL "$batch" 0 "$cursor" "$prefix*" 2>&1) || die "deleting the keys under $prefix failed: $cursor"
  [[ $cursor =~ ^[0-9]+$ ]] || die "deleting the keys under $prefix failed: $cursor"
  [[ $cursor != 0 ]] || break
done
