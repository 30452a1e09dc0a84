"""How many claimed numbers of a set of runs are supported, contradicted or unsupported.

Each argument is a folder of our runs (searched recursively) or an original MLR-Copilot log
(a ``full_log.json`` or its folder, imported into a temporary run folder first). Usage:

    python benchmarks/claims_table.py ORIGINAL_LOG_DIR... RUNS_DIR...
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlr_copilot.claim_check import check_run, counts  # noqa: E402
from mlr_copilot.evaluation import find_run_dirs  # noqa: E402
from mlr_copilot.log_import import import_original_log, load_run  # noqa: E402
from mlr_copilot.records.layout import ORIGINAL_FULL_LOG, find_original_log  # noqa: E402


def _runs(path: Path, tmp: Path) -> tuple[str, list[Path]]:
    if path.name == ORIGINAL_FULL_LOG or (path.is_dir() and find_original_log(path)):
        return "original MLR-Copilot", [import_original_log(path, tmp / path.name)]
    return "ours", find_run_dirs([path])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+")
    args = ap.parse_args()
    rows: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="claims_table_") as tmp:
        for p in map(Path, args.paths):
            label, run_dirs = _runs(p, Path(tmp))
            row = rows.setdefault(label, {"runs": 0, "with a final answer": 0, "claims": 0, "supported": 0,
                                          "contradicted": 0, "unsupported": 0})
            for d in run_dirs:
                verdicts = check_run(d)
                row["runs"] += 1
                row["with a final answer"] += bool(load_run(d).info.get("final_answer"))
                row["claims"] += len(verdicts)
                for k, n in counts(verdicts).items():
                    row[k] += n
    cols = ["runs", "with a final answer", "claims", "supported", "contradicted", "unsupported"]
    print("| logs | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for label, row in rows.items():
        print(f"| {label} | " + " | ".join(str(row[c]) for c in cols) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
