#!/usr/bin/env bash
# The quick start: make this machine ready and run `dbroker up`.
#
#   scripts/up.sh [dbroker up flags...]      (npm start runs it)
#
# Idempotent and fast the second time: starts a Docker engine if none answers
# (installing docker.io on Debian when needed), makes the base image when no
# registry is reachable, installs npm dependencies and builds when they are
# missing or stale, builds the reference images, then execs `dbroker up`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { printf 'up: %s\n' "$*" >&2; }

"$ROOT/scripts/docker-engine.sh" >/dev/null
[ -d node_modules ] && [ node_modules -nt package-lock.json ] || { say "installing npm dependencies"; npm ci --no-audit --no-fund >&2; touch node_modules; }
if [ ! -f dist/commands/up.js ] || [ -n "$(find src -newer dist/commands/up.js -print -quit)" ]; then
  say "building"
  npm run build --silent >&2
fi
say "checking the reference images"
log=$(mktemp)
if ! "$ROOT/scripts/images.sh" >"$log" 2>&1; then tail -n 30 "$log" >&2; rm -f "$log"; exit 1; fi
rm -f "$log"
# The README's commands say `dbroker`: put this checkout on PATH once (npm link), unless another dbroker is there.
if ! command -v dbroker >/dev/null 2>&1; then
  if npm link --silent --no-audit --no-fund >/dev/null 2>&1 && command -v dbroker >/dev/null 2>&1; then
    say "linked: dbroker is on PATH ($(command -v dbroker))"
  else
    say "could not put dbroker on PATH (npm link); use: alias dbroker='node $ROOT/bin/run.js'"
  fi
fi
exec node "$ROOT/bin/run.js" up "$@"
