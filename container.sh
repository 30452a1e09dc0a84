#!/usr/bin/env bash
# Runs MLR-Copilot in its Docker image: bash container.sh <task> [llm] [extra run options]
# Mounts only problems/, workspaces/, tasks/ and logs/ (not the repository and its secrets);
# passes .env as environment when it exists, and the GPUs
# when there are any. workspaces/ and tasks/ are writable so that the first run of a task can
# prepare its data (visible part in workspaces/<task>/data, hidden answers in tasks/<task>/answers).
# The container runs as uid 1000: those folders must be writable by it (or set MLR_DOCKER_USER).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMAGE="${MLR_IMAGE:-mlr-copilot}"

if [ $# -lt 1 ]; then
  echo "usage: bash container.sh <task> [llm] [run options]" >&2
  exit 2
fi
task="$1"; shift
llm="${1:-local}"; [ $# -gt 0 ] && shift

if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "container.sh: building the image $IMAGE (first time only)"
  docker build -t "$IMAGE" "$ROOT"
fi

args=(run --rm -it
  -v "$ROOT/problems:/app/problems"
  -v "$ROOT/workspaces:/app/workspaces"
  -v "$ROOT/tasks:/app/tasks"
  -v "$ROOT/logs:/app/logs"
  --security-opt seccomp=unconfined)
if [ -n "${MLR_DOCKER_USER:-}" ]; then
  args+=(--user "$MLR_DOCKER_USER")
fi
if [ -f "$ROOT/.env" ]; then
  args+=(--env-file "$ROOT/.env")
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  args+=(--gpus all)
fi
mkdir -p "$ROOT/logs"
exec docker "${args[@]}" "$IMAGE" run "$task" --llm "$llm" "$@"
