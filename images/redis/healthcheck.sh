#!/bin/bash
# Healthy only when redis answers PING to an authenticated client.
set -euo pipefail
export REDISCLI_AUTH="${REDIS_PASSWORD:?REDIS_PASSWORD is not set}"
out=$(redis-cli --no-auth-warning -h 127.0.0.1 -p 6379 PING 2>&1) || { echo "$out"; exit 1; }
[[ $out == PONG ]] || { echo "unexpected reply: $out"; exit 1; }
