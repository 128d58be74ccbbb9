#!/bin/bash
# dbroker lifecycle (shared plan: one redis, many instances): an instance's
# namespace is its key prefix, i + 12 hex digits of SHA-256("instance_id") + ':'
# (or the document's "key_prefix" in that form); its bindings' users may touch
# only keys and channels that start with it. Redis has nothing to create for it:
# this checks the document, gives the server the memory settings of a shared
# container, and prints {"key_prefix": PREFIX}. Idempotent.
set -euo pipefail

die() { printf 'dbroker-redis provision: %s\n' "$*" >&2; exit 1; }
# shellcheck source=acl.sh
source /dbroker/acl.sh
# shellcheck source=hook-input.sh
source /dbroker/hook-input.sh

read_instance_document "$@"
prefix=$KEY_PREFIX
out=$(admin_cli PING 2>&1) || die "redis does not answer: $out"
[[ $out == PONG ]] || die "redis does not answer: $out"
# The first instance makes the container shared: what the entrypoint derived from the memory limit takes
# its shared values now (acl.sh: memory_settings), as at every later start. The operator's settings stay.
limit=$(memory_limit_bytes)
if [[ -n $limit && -r $DBROKER_DERIVED_FILE ]]; then
  while read -r name value; do
    grep -qxF "$name" "$DBROKER_DERIVED_FILE" || continue
    out=$(admin_cli CONFIG SET "$name" "$value" 2>&1) || die "CONFIG SET $name failed: $out"
    [[ $out == OK ]] || die "CONFIG SET $name failed: $out"
  done < <(memory_settings shared "$limit")
fi
BIND_KEY_PREFIX=$prefix jq -n '{key_prefix: $ENV.BIND_KEY_PREFIX}'
