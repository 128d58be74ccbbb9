#!/bin/bash
# dbroker lifecycle: create (or update) a per-binding ACL user with full access
# and persist it to /data/users.acl.
#   env: BIND_USERNAME, BIND_PASSWORD (and REDIS_PASSWORD from the container)
# Idempotent. Prints nothing on stdout; errors on stderr; never prints passwords.
set -euo pipefail

die() { printf 'dbroker-redis bind: %s\n' "$*" >&2; exit 1; }

user=${BIND_USERNAME:-}
[[ -n $user ]] || die "BIND_USERNAME is required"
[[ -n ${BIND_PASSWORD:-} ]] || die "BIND_PASSWORD is required"
[[ $user =~ ^[A-Za-z0-9_.-]{1,128}$ ]] || die "invalid BIND_USERNAME (allowed: A-Z a-z 0-9 _ . -)"
[[ $user != default ]] || die "BIND_USERNAME must not be 'default'"
[[ -n ${REDIS_PASSWORD:-} ]] || die "REDIS_PASSWORD is not set in the container"

export REDISCLI_AUTH=$REDIS_PASSWORD
cli() { redis-cli --no-auth-warning -h 127.0.0.1 -p 6379 "$@"; }

# The password rule (">password") travels on stdin (-x appends it as the last
# argument), so it never shows in `ps`. "reset" makes a re-run converge.
out=$(printf '>%s' "$BIND_PASSWORD" | cli -x ACL SETUSER "$user" reset on '~*' '&*' '+@all' 2>&1) \
  || die "ACL SETUSER failed: $out"
[[ $out == OK ]] || die "ACL SETUSER failed: $out"
out=$(cli ACL SAVE 2>&1) || die "ACL SAVE failed: $out"
[[ $out == OK ]] || die "ACL SAVE failed: $out"
