#!/bin/bash
# dbroker lifecycle (for a shared plan: one container, a database per
# instance): create the instance's database. A JSON document on stdin
# ("database", or "db" + 12 hex digits of SHA-256("instance_id"); "parameters"
# and "context" are accepted and unused). Prints {"database": NAME} on stdout.
# Idempotent. As root on the local socket (admin-session.sh).
set -euo pipefail

die() { printf 'dbroker-mariadb provision: %s\n' "$*" >&2; exit 1; }
# shellcheck source=admin-session.sh
source /dbroker/admin-session.sh
# shellcheck source=hook-input.sh
source /dbroker/hook-input.sh

(($# == 0)) || die "takes no arguments (a JSON document on stdin)"
read_document
database=$(doc_database)
check_database "$database"
out=$(admin_sql 2>&1 <<<"CREATE DATABASE IF NOT EXISTS \`$database\`;") || die "creating database $database failed: $out"
BIND_DATABASE=$database jq -n '{database: $ENV.BIND_DATABASE}'
