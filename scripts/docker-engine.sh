#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine.
#
#   scripts/docker-engine.sh
#
# Idempotent. If `docker info` already answers, prints one line and exits 0.
# Otherwise (as root, on Debian 12): installs docker.io + iptables when dockerd
# is missing, starts dockerd in the background with published ports defaulting
# to 127.0.0.1 (--ip), and waits until `docker info` answers. (On a host where
# systemd starts docker.service on install, that daemon is waited for instead,
# and runs with the system's own settings.)
#
# Environment:
#   DBROKER_DOCKERD_LOG      dockerd log file (default /var/log/dbroker-dockerd.log)
#   DBROKER_DOCKERD_TIMEOUT  seconds to wait for the engine (default 30)
#   DBROKER_DOCKERD_PIDFILE  dockerd pidfile (default /var/run/docker.pid)
#   DBROKER_DOCKERD_ARGS     extra dockerd arguments (word-split), e.g.
#                            "-H unix:///run/docker-h2.sock --data-root ..."
#                            (set DOCKER_HOST to match so `docker info` finds it)
#
# Progress goes to stderr; the single result line goes to stdout.
set -euo pipefail

LOG="${DBROKER_DOCKERD_LOG:-/var/log/dbroker-dockerd.log}"
TIMEOUT="${DBROKER_DOCKERD_TIMEOUT:-30}"

say() { printf 'docker-engine: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

engine_up() {
  command -v docker >/dev/null 2>&1 || return 1
  timeout 10 docker info >/dev/null 2>&1
}

engine_version() {
  timeout 10 docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null || echo unknown
}

if engine_up; then
  echo "docker-engine: already running, engine $(engine_version)"
  exit 0
fi

# --- install -----------------------------------------------------------------
missing=()
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  missing+=(docker.io)
fi
command -v iptables >/dev/null 2>&1 || missing+=(iptables)

if ((${#missing[@]})); then
  [[ $(id -u) -eq 0 ]] || die "need root to install ${missing[*]}"
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install ${missing[*]} by hand"
  say "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
command -v dockerd >/dev/null 2>&1 || die "dockerd still not on PATH after install"

# --- start -------------------------------------------------------------------
# A dockerd that is already starting (pidfile with a live process) is waited
# for instead of started twice.
pidfile="${DBROKER_DOCKERD_PIDFILE:-/var/run/docker.pid}"
started_pid=
if [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  say "dockerd already running (pid $(cat "$pidfile")), waiting for it"
else
  [[ $(id -u) -eq 0 ]] || die "need root to start dockerd"
  mkdir -p "$(dirname "$LOG")"
  # shellcheck disable=SC2206
  extra=(${DBROKER_DOCKERD_ARGS:-})
  # Published ports default to 127.0.0.1 -- unless daemon.json or the extra
  # arguments already choose (dockerd refuses a setting given twice).
  ipflag=(--ip 127.0.0.1)
  if grep -qs '"ip"[[:space:]]*:' /etc/docker/daemon.json || [[ " ${extra[*]-} " == *" --ip"[=\ ]* ]]; then
    ipflag=()
  fi
  say "starting dockerd ${ipflag[*]-} ${extra[*]-} (log: $LOG)"
  # setsid + nohup: the daemon outlives this script and its terminal.
  setsid nohup dockerd "${ipflag[@]}" --pidfile "$pidfile" "${extra[@]}" >>"$LOG" 2>&1 </dev/null &
  started_pid=$!
  say "dockerd pid $started_pid"
fi

# --- wait --------------------------------------------------------------------
deadline=$((SECONDS + TIMEOUT))
until engine_up; do
  if ((SECONDS >= deadline)); then
    say "engine did not answer within ${TIMEOUT}s; last lines of $LOG:"
    tail -n 30 "$LOG" >&2 2>/dev/null || true
    exit 1
  fi
  if [[ -n $started_pid ]] && ! kill -0 "$started_pid" 2>/dev/null; then
    say "dockerd exited; last lines of $LOG:"
    tail -n 30 "$LOG" >&2 2>/dev/null || true
    exit 1
  fi
  sleep 0.3
done
echo "docker-engine: started, engine $(engine_version)"
