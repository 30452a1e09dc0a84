"""The best tree nodes run again on other validation splits before one is kept (tree_revalidation):
the rewrite of their train_test_split calls, and tree runs where one lucky split would win."""
import io
import json

import pytest
from rich.console import Console

from mlr_copilot.agents.resume import resume_run
from mlr_copilot.agents.runner import run_experiment
from mlr_copilot.agents.tree_revalidation import split_variants
from mlr_copilot.claim_check import check_run
from mlr_copilot.feedback import NoFeedback
from mlr_copilot.logs import read_jsonl
from mlr_copilot.show import render_run

from tree_helpers import answer, make_project, models, options


def seeds_in(code):
    """The random_state each train_test_split call of ``code`` is given, as run."""
    seen = []
    namespace = {"train_test_split": lambda *a, random_state=None, **k: seen.append(random_state),
                 "x": [1, 2], "y": [3, 4]}
    exec(code.replace("from sklearn.model_selection import train_test_split\n", ""), namespace)
    return seen


SCRIPT = """from sklearn.model_selection import train_test_split
a = train_test_split(x, y, test_size=0.2, random_state=42)  # é: columns are bytes, not characters
b = train_test_split(
    x, y,
    stratify=y,
)
c = train_test_split(x, y, random_state=SEED) if False else None
"""


def test_every_split_call_gets_each_new_seed_and_the_rest_of_the_script_stays():
    variants = split_variants(SCRIPT.replace("SEED", "7"), 3)
    assert [seed for seed, _ in variants] == [1, 2, 3]
    for seed, code in variants:
        assert seeds_in(code) == [seed, seed]
        assert "# é: columns are bytes, not characters" in code and "stratify=y," in code
        assert code.count("random_state") == code.count(f"random_state={seed}") == 3


def test_the_scripts_own_seed_is_not_drawn_again():
    code = "from sklearn.model_selection import train_test_split\na = train_test_split(x, y, random_state=1)\n"
    assert [seed for seed, _ in split_variants(code, 2)] == [2, 3]
    assert seeds_in(split_variants(code, 1)[0][1]) == [2]


@pytest.mark.parametrize("code", [
    "import numpy as np\nprint(1)\n",  # no split to reseed (a given validation file, its own CV)
    "from sklearn.model_selection import train_test_split\na = train_test_split(x, y, shuffle=False)\n",
    "from sklearn.model_selection import train_test_split\na = train_test_split(x, y, **opts)\n",
    "def broken(:\n",
])
def test_scripts_that_cannot_be_reseeded_give_no_variant(code):
    assert split_variants(code, 3) == []


def test_an_attribute_call_and_a_call_with_no_arguments_are_reseeded():
    code = "import sklearn.model_selection as ms\nf = lambda **k: k\na = ms.train_test_split()\n"
    (seed, variant), = split_variants(code, 1)
    assert "ms.train_test_split(random_state=1)" in variant


# A node whose validation score depends on the split: lucky on its own seed, poor on the others.
NODE = """import csv
def train_test_split(*arrays, random_state=None, test_size=0.2):
    return random_state
seed = train_test_split([1, 2, 3], random_state=0)
score = {own} if seed == 0 else {other}
print(f'Validation accuracy: {{score}}')
open('submission.csv', 'w').write('id,label\\n# {tag}\\n')
"""


def node(tag, own, other):
    return answer(NODE.format(own=own, other=other, tag=tag), f"Plan: {tag}.")


ANSWERS = [node("lucky", 0.95, 0.70), node("steady", 0.90, 0.89), node("weak", 0.60, 0.60)]


def test_the_node_with_the_best_mean_over_splits_is_kept_and_the_log_says_why(tmp_path):
    root = make_project(tmp_path)
    result = run_experiment(options(root, max_steps=3, tree_drafts=3), models=models(ANSWERS), feedback=NoFeedback())
    assert result.status == "final_answer", result.message
    tree = json.loads((result.run_dir / "run.json").read_text())["tree"]
    assert tree["best_node"] == 2 and tree["best_metric"] == 0.9
    assert tree["best_mean"] == pytest.approx((0.90 + 3 * 0.89) / 4)
    reruns = {r["node"]: r for r in tree["revalidation"]}
    assert sorted(reruns) == [1, 2, 3] and reruns[1]["metrics"] == [0.7, 0.7, 0.7]
    assert reruns[1]["mean"] == pytest.approx((0.95 + 3 * 0.7) / 4) and reruns[2]["seeds"] == [1, 2, 3]
    assert "# steady" in (result.run_dir / "workspace" / "submission.csv").read_text()
    assert not (result.run_dir / "workspace" / ".revalidate_train.py").exists()
    assert "Best node: 2, validation accuracy 0.9" in result.final_answer
    assert "Node 1: mean validation accuracy 0.7625 of 0.95 (its own split), 0.7, 0.7 and 0.7." in result.final_answer
    # The reruns' output and the means are measurements: every figure of the answer is backed.
    verdicts = [c["verdict"] for c in check_run(result.run_dir)]
    assert verdicts and set(verdicts) == {"supported"}
    final = [r for r in read_jsonl(result.run_dir / "agent_log" / "full_log.jsonl") if r.get("action") == "Final Answer"]
    assert final[0]["tree"]["best_node"] == 2
    trace = list(read_jsonl(result.run_dir / "env_log" / "trace.jsonl"))
    reruns_run = [t for t in trace if t.get("action") == "Execute Script" and t.get("internal")]
    assert len(reruns_run) == 9 and all(t["args"]["script_name"] == ".revalidate_train.py" for t in reruns_run)
    out = io.StringIO()
    render_run(result.run_dir, console=Console(file=out, width=160))
    assert "0.9 (mean 0.8925)" in out.getvalue() and "0.95 (mean 0.7625)" in out.getvalue()


def test_without_reruns_the_best_single_split_is_kept(tmp_path):
    root = make_project(tmp_path)
    result = run_experiment(options(root, max_steps=3, tree_drafts=3, tree_revalidate_splits=0),
                            models=models(ANSWERS), feedback=NoFeedback())
    tree = json.loads((result.run_dir / "run.json").read_text())["tree"]
    assert tree["best_node"] == 1 and "revalidation" not in tree
    assert "# lucky" in (result.run_dir / "workspace" / "submission.csv").read_text()


def test_a_node_whose_rerun_fails_keeps_its_own_metric(tmp_path):
    root = make_project(tmp_path)
    crashing = answer(NODE.format(own=0.95, other="1 / 0", tag="fragile"), "Plan: fragile.")
    result = run_experiment(options(root, max_steps=2, tree_drafts=2),
                            models=models([crashing, node("steady", 0.90, 0.89)]), feedback=NoFeedback())
    tree = json.loads((result.run_dir / "run.json").read_text())["tree"]
    assert tree["best_node"] == 1
    assert {r["node"]: r["metrics"] for r in tree["revalidation"]}[1] == [None, None, None]
    assert "Node 1: validation accuracy 0.95 on its own split only (a rerun printed no metric)." in result.final_answer


def test_a_resume_after_the_final_answer_keeps_the_node_the_reruns_chose(tmp_path):
    root = make_project(tmp_path)
    result = run_experiment(options(root, max_steps=3, tree_drafts=3), models=models(ANSWERS), feedback=NoFeedback())
    again = resume_run(result.run_dir, models=models(["unused"]), feedback=NoFeedback())
    assert again.status == "final_answer"
    assert json.loads((result.run_dir / "run.json").read_text())["tree"]["best_node"] == 2
    assert "# steady" in (result.run_dir / "workspace" / "submission.csv").read_text()


def test_nodes_that_score_exactly_alike_are_rerun_once(tmp_path):
    root = make_project(tmp_path)
    same = [node("first", 0.95, 0.70), node("copy", 0.95, 0.70), node("other", 0.90, 0.89)]
    result = run_experiment(options(root, max_steps=3, tree_drafts=3), models=models(same), feedback=NoFeedback())
    tree = json.loads((result.run_dir / "run.json").read_text())["tree"]
    assert [r["node"] for r in tree["revalidation"]] == [1, 3] and tree["best_node"] == 3


# The reruns' budget, on a clock the scripts move: a rerun "takes" the seconds its code says.
class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


class TimedEnv:
    """Runs a rerun by reading how long it takes and what it prints from its code (``# takes N``,
    ``# prints V``), moving the clock by that much or by the limit it was given."""

    def __init__(self, log_dir, clock):
        self.env_log_dir, self.clock, self.limits = log_dir, clock, []
        self.written = ""

    def time_left(self):
        return None

    def restore_to(self, step):
        pass

    def execute_internal(self, name, args, *, step, script_limit_s=None):
        from types import SimpleNamespace
        if name == "Write File":
            self.written = args["content"]
            return SimpleNamespace(ok=True)
        takes = float(self.written.split("# takes ")[1].split()[0])
        self.limits.append(script_limit_s)
        timed_out = script_limit_s is not None and takes > script_limit_s
        self.clock.now += min(takes, script_limit_s) if timed_out else takes
        text = "" if timed_out else "Validation accuracy: " + self.written.split("# prints ")[1].split()[0]
        return SimpleNamespace(ok=not timed_out, exit_code=None if timed_out else 0, timed_out=timed_out,
                               text=text, full_text_path=None)


def timed_tree(*nodes):
    from mlr_copilot.agents.metric import MetricSpec
    from mlr_copilot.agents.tree import Node, Tree, TreePolicy
    tree = Tree(MetricSpec("accuracy"), TreePolicy())
    for i, (metric, run_s, takes) in enumerate(nodes, 1):
        code = f"from sklearn.model_selection import train_test_split\nx = train_test_split([1])\n# takes {takes}\n# prints {metric}\n"
        tree.nodes.append(Node(id=i, stage="draft", code=code, metric=metric, buggy=False, steps=[i], run_s=run_s))
    return tree


@pytest.fixture
def clock(monkeypatch):
    from mlr_copilot.agents import tree_revalidation
    c = Clock()
    monkeypatch.setattr(tree_revalidation.time, "monotonic", c)
    return c


def test_a_node_whose_reruns_would_not_fit_the_budget_is_not_started(tmp_path, clock):
    from mlr_copilot.agents.tree_revalidation import revalidate
    env = TimedEnv(tmp_path, clock)
    # Node 1 ran in 5 s: 3 reruns fit the 30-s budget. Node 2 ran in 20 s: 60 s would not.
    done = revalidate(env, timed_tree((0.9, 5, 5), (0.8, 20, 20), (0.7, 1, 1)), script="train.py", splits=3,
                      budget_s=30, node_timeout_s=90, step=9)
    assert [r.node for r in done] == [1] and done[0].mean == pytest.approx(0.9)
    assert len(env.limits) == 3 and clock.now == 1015


def test_a_rerun_slower_than_its_node_is_stopped_at_the_end_of_the_budget(tmp_path, clock):
    from mlr_copilot.agents.tree_revalidation import revalidate
    env = TimedEnv(tmp_path, clock)
    # Node 1 ran in 2 s, but its reruns take 25 s each: the second would pass the budget's end.
    done = revalidate(env, timed_tree((0.9, 2, 25), (0.8, 1, 1)), script="train.py", splits=3,
                      budget_s=40, node_timeout_s=90, step=9)
    assert done == [] and env.limits == [40, 15] and clock.now == 1040
