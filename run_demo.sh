#!/usr/bin/env bash
# Runs the ExperimentAgent on a task: bash run_demo.sh <task> [llm] [run options...]
#   llm: local (default, offline embedded model; 10 steps unless --max-steps is given), claude, gpt4, llama
#   run options go to `mlr-copilot run`, e.g. --strategy tree (AIDE-style tree search; steps count nodes)
# Works from any directory; sets up .venv on first use.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LLMS="local claude gpt4 llama"

task="${1:-}"
llm="${2:-local}"
case "$llm" in -*) llm=local; set -- "$task" local "${@:2}";; esac  # options right after the task
tasks="$(cd "$ROOT/workspaces" 2>/dev/null && for d in */; do [ -f "$ROOT/problems/${d%/}" ] && echo "${d%/}"; done | tr '\n' ' ')"

if [ -z "$task" ]; then
  echo "usage: bash run_demo.sh <task> [llm] [run options, e.g. --strategy tree]" >&2
  echo "  tasks: $tasks" >&2
  echo "  llms:  $LLMS (default: local)" >&2
  exit 2
fi
case " $tasks " in *" $task "*) ;; *)
  echo "run_demo.sh: unknown task '$task'. Valid tasks: $tasks" >&2; exit 2;; esac
case " $LLMS " in *" $llm "*) ;; *)
  echo "run_demo.sh: unknown LLM '$llm'. Valid LLMs: $LLMS" >&2; exit 2;; esac

# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
shift $(( $# >= 2 ? 2 : 1 ))
# On a CPU the embedded model takes about a minute a step: the demo stops after 10 steps
# unless you pass --max-steps yourself (later options win).
steps=()
if [ "$llm" = local ]; then steps=(--max-steps 10); fi
exec python -m mlr_copilot run "$task" --llm "$llm" "${steps[@]}" "$@"
