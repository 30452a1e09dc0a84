#!/usr/bin/env bash
# Runs MLR-Copilot in its Docker image: bash container.sh <task> [llm] [extra run options]
# Mounts only problems/, workspaces/ and logs/ (not the repository and its secrets),
# passes .env as environment when it exists, and the GPUs when there are any.
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
  -v "$ROOT/workspaces:/app/workspaces:ro"
  -v "$ROOT/logs:/app/logs"
  --security-opt seccomp=unconfined)
if [ -f "$ROOT/.env" ]; then
  args+=(--env-file "$ROOT/.env")
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  args+=(--gpus all)
fi
mkdir -p "$ROOT/logs"
exec docker "${args[@]}" "$IMAGE" run "$task" --llm "$llm" "$@"
