#!/usr/bin/env bash
# Runs the whole test suite, setting up .venv first if needed (idempotent).
# Usage: bash test.sh [pytest arguments]     e.g. bash test.sh -m "not slow"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=scripts/setup.sh
source scripts/setup.sh
echo "test: preparing the embedded model (joined and verified once, then cached)"
python -m mlr_copilot prepare-model
exec python -m pytest "$@"
