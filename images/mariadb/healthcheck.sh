#!/bin/bash
# Healthy when the server answers a query from root on the socket and accepts
# TCP connections on 3306 (mariadb-admin ping succeeds even when it is refused
# a login: the server answered).
set -euo pipefail
out=$(mariadb --no-defaults --protocol=socket --socket=/run/mysqld/mysqld.sock --user=root \
  --batch --skip-column-names --connect-timeout=2 -e 'SELECT 1' 2>&1) || { printf '%s\n' "$out"; exit 1; }
[[ $out == 1 ]] || { printf 'unexpected reply: %s\n' "$out"; exit 1; }
exec mariadb-admin --no-defaults --protocol=tcp --host=127.0.0.1 --port=3306 --user=dbroker-health \
  --connect-timeout=2 --silent ping
