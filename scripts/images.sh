#!/usr/bin/env bash
# Build dbroker's reference service images.
#
#   scripts/images.sh              # all: redis postgresql mariadb log-collector
#   scripts/images.sh redis        # only some (names of directories in images/)
#
# Works from any directory. Makes sure the base image exists first
# (scripts/base-image.sh). Idempotent: an image already built from the same files
# and base (a label on the image says which) is not built again.
#
# Environment:
#   BASE_IMAGE           base image for every build (default debian:bookworm-slim)
#   DBROKER_BUILD_ARGS   extra `docker build` arguments (word-split), e.g. --no-cache
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE_IMAGE="${BASE_IMAGE:-debian:bookworm-slim}"
export BASE_IMAGE

say() { printf 'images: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# name -> tag
declare -A TAGS=(
  [redis]=dbroker/redis:7
  [postgresql]=dbroker/postgresql:15
  [mariadb]=dbroker/mariadb:10.11
  [log-collector]=dbroker/log-collector:1
)
ORDER=(redis postgresql mariadb log-collector)

if (($#)); then
  wanted=("$@")
else
  wanted=("${ORDER[@]}")
fi
for name in "${wanted[@]}"; do
  [[ -n ${TAGS[$name]:-} ]] || die "unknown image '$name' (known: ${ORDER[*]})"
  [[ -f $ROOT/images/$name/Dockerfile ]] || die "missing $ROOT/images/$name/Dockerfile"
done

"$ROOT/scripts/base-image.sh"

# shellcheck disable=SC2206
extra=(${DBROKER_BUILD_ARGS:-})
# What an image is built from: its directory's files and the base image's id. The
# image carries it as a label, so an image already built from the same is not built again.
context_hash() {
  { docker image inspect -f '{{.Id}}' "$BASE_IMAGE"; printf '%s\n' "${extra[@]-}"
    (cd "$ROOT/images/$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum); } | sha256sum | cut -c1-16
}

for name in "${wanted[@]}"; do
  tag=${TAGS[$name]}
  hash=$(context_hash "$name")
  if [[ $(docker image inspect -f '{{index .Config.Labels "dbroker.context"}}' "$tag" 2>/dev/null) == "$hash" ]]; then
    say "$tag is up to date"
    continue
  fi
  say "building $tag from images/$name (FROM $BASE_IMAGE)"
  start=$SECONDS
  docker build --build-arg "BASE=$BASE_IMAGE" --label "dbroker.context=$hash" -t "$tag" "${extra[@]}" "$ROOT/images/$name" >&2 \
    || die "build of $tag failed"
  say "built $tag in $((SECONDS - start))s"
done
