#!/bin/bash
# Healthy when the server answers a query from root on the socket and greets
# on TCP port 3306 (the handshake's first bytes; no login, so no
# access-denied line in the log every 5 s).
set -euo pipefail
out=$(mariadb --no-defaults --protocol=socket --socket=/run/mysqld/mysqld.sock --user=root \
  --batch --skip-column-names --connect-timeout=2 -e 'SELECT 1' 2>&1) || { printf '%s\n' "$out"; exit 1; }
[[ $out == 1 ]] || { printf 'unexpected reply: %s\n' "$out"; exit 1; }
greeting=$(timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/3306 && head -c 5 <&3 | od -An -c' 2>&1) \
  || { printf 'port 3306 does not answer: %s\n' "$greeting"; exit 1; }
[[ -n $greeting ]] || { printf 'port 3306 sent no greeting\n'; exit 1; }
