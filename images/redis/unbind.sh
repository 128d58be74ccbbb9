#!/bin/bash
# dbroker lifecycle: delete a per-binding ACL user (its connections are closed
# by redis) and persist the ACL file. Succeeds when the user is already gone.
#   env: BIND_USERNAME (and REDIS_PASSWORD from the container)
set -euo pipefail

die() { printf 'dbroker-redis unbind: %s\n' "$*" >&2; exit 1; }

user=${BIND_USERNAME:-}
[[ -n $user ]] || die "BIND_USERNAME is required"
[[ $user =~ ^[A-Za-z0-9_.-]{1,128}$ ]] || die "invalid BIND_USERNAME (allowed: A-Z a-z 0-9 _ . -)"
[[ $user != default ]] || die "BIND_USERNAME must not be 'default'"
[[ -n ${REDIS_PASSWORD:-} ]] || die "REDIS_PASSWORD is not set in the container"

export REDISCLI_AUTH=$REDIS_PASSWORD
cli() { redis-cli --no-auth-warning -h 127.0.0.1 -p 6379 "$@"; }

out=$(cli ACL DELUSER "$user" 2>&1) || die "ACL DELUSER failed: $out"
[[ $out =~ ^[01]$ ]] || die "ACL DELUSER failed: $out"
out=$(cli ACL SAVE 2>&1) || die "ACL SAVE failed: $out"
[[ $out == OK ]] || die "ACL SAVE failed: $out"
