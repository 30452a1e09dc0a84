"""The tree strategy (``--strategy tree``): AIDE-style search over whole scripts, in the same
Environment, records and feedback as the action loop.

One node: the workspace goes back to the run's start (step 0), the policy picks the stage and
parent (``tree.Tree``), the main model writes the whole main script from one prompt
(``tree_prompts``), repaired (``env.definition_repair``: dropped lines put back, imports and
keyword arguments fixed, each listed in the record's ``normalised``), checked to compile and
written with Write File (one step), then run with Execute Script (a second step), its metric
read from the output (``metric``) and its test predictions compared with the training targets
(``prediction_check``). An answer that ends before its code is
continued where the backend can (``llm.base.continues_answers``); a node without a code block,
or repeating code already tried, is asked once more, then recorded in a step of its own and
not run. Each step record carries the ``node`` object; ``run.json`` carries the tree summary.
Human feedback after a node goes into the next node's prompt. At the end the workspace is
restored to the best node's snapshot, and a Final Answer states the best metric and the plans
that led to it (``--max-steps`` counts nodes).
"""
from __future__ import annotations

import logging
import time
from typing import Any

from .. import progress
from ..config import DEFAULT_REVALIDATION_SPLITS
from ..errors import LLMContextTooLongError, RunStopped
from ..feedback import FeedbackChannel, StepView
from ..llm.base import Completion, Models, continues_answers
from ..llm.client import set_step
from ..env.definition_repair import repair_script
from ..logs import utc_now
from ..records import RunStatus
from .experiment import AgentState, EnvironmentLike, StepRecorder
from .metric import MetricSpec, parse_metric, script_output
from .prediction_check import FIX_HINT as PREDICTION_HINT, prediction_problem
from .tree import Node, Tree, TreePolicy, code_hash
from .tree_revalidation import BUDGET_SHARE, describe, revalidate
from .tree_preview import InputColumns, data_preview, mixed_columns, starter_code, text_column
from .tree_prompts import (compile_error, duplicate_note, error_excerpt, extract_code, installed_packages,
                           node_prompt, opens_python_block, outcome_text, plan_text, split_fences, system_prompt,
                           timeout_error)

logger = logging.getLogger(__name__)

TREE_ACTIONS = ("Write File", "Execute Script", "Final Answer")
"""The actions the tree strategy uses (offered to nobody: the strategy calls them itself)."""
SKIP_ACTION = "Skip Node"  # the action name of a step that records a node that was not run
DEFAULT_TREE_MAX_TOKENS = 1500  # one script of ~100 lines and a short plan
DRAFT_TEMPERATURE = 0.5  # drafts should differ from each other
FIX_TEMPERATURE = 0.5  # improve and debug: at 0 the embedded model gave back its parent's code
# unchanged in 19 of 28 such answers (suite of 2026-12-01), each costing a second call
NO_CODE_NOTE = ("Your last answer held no ```python code block, so there was nothing to run. Name the "
                "change in one sentence, then give the complete script, every line of it, in a ```python "
                "code block.")
CONTINUED_NOTE = "The answer ended before its code; it was continued from an opened ```python block."
CODE_END = "\n```\n"  # the answer stops where its code block closes: what follows is never used
RETRY_TEMPERATURE = 0.7  # asked again after no code or repeated code: at 0 a small model copies again


class TreeAgent:
    def __init__(self, env: EnvironmentLike, models: Models, problem: str, *, script: str, metric: MetricSpec,
                 policy: TreePolicy, feedback: FeedbackChannel, recorder: StepRecorder, max_nodes: int,
                 state: AgentState | None = None, records: list[dict[str, Any]] | None = None,
                 max_tokens: int = DEFAULT_TREE_MAX_TOKENS, node_timeout_s: float | None = None,
                 submission: str | None = None, revalidate_splits: int = DEFAULT_REVALIDATION_SPLITS):
        self.env = env
        self.models = models
        self.problem = problem.strip()
        self.script = script
        self.feedback = feedback
        self.recorder = recorder
        self.max_nodes = max_nodes
        self.max_tokens = max_tokens
        self.node_timeout_s = node_timeout_s  # None: only --script-timeout limits a node's script
        self.submission = submission  # the file whose predictions are checked (None: not checked)
        self.revalidate_splits = revalidate_splits  # other splits the leading nodes run on at the end
        self._started = time.monotonic()  # the reruns may take a share of the search's time
        self.state = state or AgentState()
        records = list(records or [])
        self.tree = Tree.from_records(records, metric, policy)
        self.next_step = max((r["step"] for r in records), default=0) + 1
        self.pending_feedback = records[-1].get("feedback") if records else None
        self._preview: str | None = None
        self._text_column: str | None = None  # the data's free-text column, which changes the model ideas
        self._columns = InputColumns()  # the data's input columns of categories and with gaps
        self._starter: str | None = None
        self.system_prompt = ""  # with the problem and the preview, once the workspace is read

    # ------------------------------------------------------------------ the run
    def run(self) -> tuple[RunStatus, str]:
        """Grow the tree until the node limit, the time limit or /stop. Returns (status, message)."""
        if self.state.final_answer is not None:  # resumed after the Final Answer step: the search had ended
            self._note_tree()
            return RunStatus.FINAL_ANSWER, self._end_message(self.tree.best())
        try:
            while True:
                pending = self.tree.pending()
                if pending is not None:  # written before the run died: run it now
                    stop = self._execute(pending, pending.steps[-1] + 1)
                else:
                    if len(self.tree.nodes) >= self.max_nodes:
                        return self._finish()
                    left = self.env.time_left()
                    if left is not None and left <= 0:
                        raise RunStopped(RunStatus.TIME_LIMIT, "Reached the wall-clock limit of the run.")
                    stop = self.run_node()
                if stop:
                    best = self._restore_best()
                    return RunStatus.INTERRUPTED, ("Stopped by the human (/stop)"
                                           + (f"; the workspace holds the best node ({best.id})." if best else "."))
        except RunStopped:
            best = self._restore_best()
            if best is not None:
                self.state.final_answer = self.final_answer_text(best)
            raise

    def run_node(self) -> bool:
        """Make, write and run one node. Returns True when the human asked to stop."""
        node_id = len(self.tree.nodes) + 1
        self.env.restore_to(0)  # every node starts from the workspace as the run began
        self._load_start()
        stage, parent = self.tree.next_parent(node_id)
        node = self.tree.new_node(stage, parent)
        step, started, t0 = self.next_step, utc_now(), time.monotonic()
        set_step(self.models, step)
        progress.report("step", step=node_id, max_steps=self.max_nodes, phase="thinking", action=f"{stage} node")
        feedback, self.pending_feedback = self.pending_feedback, None
        try:
            completion, prompt, code, retried = self._answer(node, feedback)
        except BaseException:  # no answer, no node (a resume rebuilds the tree from the records)
            self.tree.nodes.pop()
            raise
        node.plan = plan_text(completion.text)
        base = {"type": "step", "step": step, "timestamp": utc_now(), "start_time": started,
                "prompt": f"{self.system_prompt}\n\n{prompt}", "response": completion.text,
                "entries": {"Thought": node.plan}, "parse_attempts": 1 + len(retried), "parse_errors": retried,
                "human_feedback_used": feedback,
                "usage": {"model": completion.model, **completion.usage.__dict__,
                          "cost_usd": completion.cost_usd, "latency_s": completion.latency_s}}
        if code is None:
            node.buggy, node.error = True, "The answer held no ```python code block, so nothing was written or run."
            return self._skip(node, step, t0, base)
        repair = repair_script(self._rewritten(node), code, workspace=self.env.workspace)
        code, repaired = repair.code, repair.notes
        node.code, node.code_hash = code, code_hash(code)
        same = self.tree.find_code(node.code_hash)
        if same is not None and same is not node:
            node.duplicate_of = same.id
            return self._skip(node, step, t0, base)
        progress.report("step", step=node_id, max_steps=self.max_nodes, phase="acting", action="Write File")
        obs = self.env.execute("Write File", {"file_name": self.script, "content": code}, step=step)
        syntax = compile_error(code, self.script)
        if not obs.ok:
            node.buggy, node.error = True, obs.text
        elif syntax:
            node.buggy, node.error = True, f"{syntax}\n(The script was written but not run.)"
        record = {**base, "action": "Write File", "action_input": {"file_name": self.script, "content": code},
                  "observation": obs.text, "full_observation": obs.text, "full_observation_path": None,
                  "exit_code": None, "normalised": [f"content: {note}" for note in repaired]}
        node.steps.append(step)
        self.next_step = step + 1
        if node.done:
            return self._close(node, record, t0)
        self._write(record, node, t0, feedback=None)
        return self._execute(node, step + 1)

    def _execute(self, node: Node, step: int) -> bool:
        started, t0 = utc_now(), time.monotonic()
        set_step(self.models, step)
        progress.report("step", step=node.id, max_steps=self.max_nodes, phase="acting", action="Execute Script")
        obs = self.env.execute("Execute Script", {"script_name": self.script}, step=step,
                               script_limit_s=self.node_timeout_s)
        node.run_s = round(obs.duration_s, 3)  # the script's own time, as traced (not the snapshot after it)
        reading = None
        if getattr(obs, "timed_out", False):
            node.buggy, node.error = True, error_excerpt(obs.text) + "\n\n" + timeout_error(self.node_timeout_s)
        elif not obs.ok:
            node.buggy, node.error = True, error_excerpt(obs.text)
        else:
            reading = parse_metric(script_output(obs), self.tree.metric)
            if obs.exit_code != 0:
                node.buggy, node.error = True, error_excerpt(obs.text)
            elif reading.value is None:
                node.buggy = True
                node.error = error_excerpt(obs.text) + f"\n\nThe run printed {reading.problem}."
            elif (odd := self._prediction_problem()) is not None:
                node.buggy = True
                node.error = (f"{error_excerpt(obs.text)}\n\nPredictionError: validation {self.tree.metric.label} "
                              f"{reading.value:.6g} was printed, but the test predictions in {self.submission} "
                              f"do not look like the training targets: {odd}.\n{PREDICTION_HINT}")
            else:
                node.buggy, node.metric = False, reading.value
        node.steps.append(step)
        self.next_step = step + 1
        record = {"type": "step", "step": step, "timestamp": utc_now(), "start_time": started,
                  "entries": {}, "action": "Execute Script", "action_input": {"script_name": self.script},
                  "observation": obs.text, "full_observation": obs.text,
                  "full_observation_path": obs.full_text_path, "exit_code": obs.exit_code,
                  "parse_attempts": 1, "parse_errors": []}
        if node.good and reading is not None and reading.line:  # the script's own line (often the starter's)
            record["normalised"] = [f"metric: read from the line {reading.line!r} (no 'Validation "
                                    f"{self.tree.metric.label}: <number>' line)"]
            logger.info("Node %d: validation %s read from %r", node.id, self.tree.metric.label, reading.line)
        return self._close(node, record, t0)

    def _skip(self, node: Node, step: int, t0: float, base: dict[str, Any]) -> bool:
        """A node that is not run (no code block, or code already tried): one step, a snapshot."""
        why = node.error if node.duplicate_of is None else \
            f"The code is the same as node {node.duplicate_of}'s; it was not run again."
        self.env.end_step(step)
        node.steps.append(step)
        self.next_step = step + 1
        record = {**base, "action": SKIP_ACTION, "action_input": {"reason": why}, "observation": why,
                  "full_observation": why, "full_observation_path": None, "exit_code": None}
        return self._close(node, record, t0)

    def _close(self, node: Node, record: dict[str, Any], t0: float) -> bool:
        """The node is finished: ask for feedback, write its last step record."""
        node.outcome = outcome_text(node, self.tree.metric)
        view = StepView(record["step"], node.plan, f"node {node.id} ({node.stage})",
                        {"parent": node.parent, "script": self.script}, f"Node {node.id}: {node.outcome}")
        progress.report("step_done", view=view, max_steps=self.max_nodes, seconds=time.monotonic() - t0, node=node.id)
        result = self.feedback.after_step(view)
        node.feedback = self.pending_feedback = result.text
        self._write(record, node, t0, feedback=result.text)
        logger.info("Node %d (%s%s): %s", node.id, node.stage,
                    f" of {node.parent}" if node.parent else "", node.outcome)
        return bool(result.stop)

    def _write(self, record: dict[str, Any], node: Node, t0: float, *, feedback: str | None) -> None:
        record.update(duration_s=round(time.monotonic() - t0, 3), feedback=feedback, node=node.record())
        self._note_tree()
        self.recorder.write_step(record)

    # ------------------------------------------------------------------ the model
    def _answer(self, node: Node, feedback: str | None) -> tuple[Completion, str, str | None, list[str]]:
        """(answer, prompt, its code or None, the notes of each further call). An answer that
        ended before its code is continued where the backend can; one with no code, or code
        already tried, is asked once more, warmer, rather than losing the node."""
        completion, prompt = self._ask(node, feedback)
        code = extract_code(completion.text) if opens_python_block(completion.text) else None
        retried: list[str] = []
        if code is None and self._continuable(completion):
            retried.append(CONTINUED_NOTE)
            completion = self._continue(node, feedback, completion)
            code = extract_code(completion.text)
        note = self._retry_note(node, code)
        if note:  # without the stop at the closing fence when the first answer was cut at another block
            retried.append(note)
            completion, prompt = self._ask(node, feedback, note=note, temperature=RETRY_TEMPERATURE,
                                           stop=(CODE_END,) if code is not None else ())
            code = extract_code(completion.text)
        return completion, prompt, code, retried

    def _ask(self, node: Node, feedback: str | None, *, note: str | None = None,
             temperature: float | None = None, stop: tuple[str, ...] = (CODE_END,),
             prefill: str | None = None, max_tokens: int | None = None) -> tuple[Completion, str]:
        if temperature is None:
            temperature = DRAFT_TEMPERATURE if node.stage == "draft" else FIX_TEMPERATURE
        with_memory = True
        while True:
            prompt = node_prompt(self.tree, node, script=self.script, starter_code=self._starter,
                                 feedback=feedback, with_memory=with_memory, note=note,
                                 time_limit_s=self.node_timeout_s, text=self._text_column, columns=self._columns)
            messages = [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": prompt}]
            if prefill is not None:
                messages.append({"role": "assistant", "content": prefill})
            try:
                completion = self.models.main.complete(messages, max_tokens=max_tokens or self.max_tokens, stop=stop,
                                                       temperature=temperature, purpose="tree_node")
            except LLMContextTooLongError:
                if not with_memory:
                    raise
                logger.warning("Node %d: prompt too long for the model; asking again without the memory", node.id)
                with_memory = False
                continue
            self.state.usage = self.state.usage + completion.usage
            self.state.cost_usd += completion.cost_usd
            self.state.llm_calls += 1
            return completion, prompt

    def _continuable(self, completion: Completion) -> bool:
        """Whether an answer without code can be continued rather than asked again: the backend
        continues a prefill, the answer ended of itself (not at the token limit) with room left,
        and it opened no code block at all. With the node prompt's answer line ("First one
        sentence..., then the complete new file"), 6 of 10 first answers of a wine run ended
        after their sentence; each was asked again, 10-20 s of new prompt and a new plan."""
        if not continues_answers(self.models.main) or completion.stop_reason == "length":
            return False
        if completion.usage.output_tokens > self.max_tokens // 2:
            return False
        return bool(completion.text.strip()) and not split_fences(completion.text)[1]

    def _continue(self, node: Node, feedback: str | None, first: Completion) -> Completion:
        """``first`` (words, no code) continued from an opened ```python block: one answer."""
        prefill = first.text.rstrip() + "\n\n```python\n"
        more, _ = self._ask(node, feedback, prefill=prefill,
                            max_tokens=max(1, self.max_tokens - first.usage.output_tokens))
        cost = None if first.cost_usd is None or more.cost_usd is None else first.cost_usd + more.cost_usd
        return Completion(text=prefill + more.text, model=more.model, usage=first.usage + more.usage,
                          latency_s=first.latency_s + more.latency_s, cost_usd=cost, stop_reason=more.stop_reason)

    def _retry_note(self, node: Node, code: str | None) -> str | None:
        """Why the answer would be lost (no code block, or code already tried), or None."""
        if code is None:
            return NO_CODE_NOTE
        repaired = repair_script(self._rewritten(node), code, workspace=self.env.workspace).code
        same = self.tree.find_code(code_hash(repaired))
        return duplicate_note(same, self.tree.metric) if same is not None else None

    def _rewritten(self, node: Node) -> str | None:
        """The script a node's code rewrites: its parent's, or the starter for a draft."""
        return parent.code if (parent := self.tree.get(node.parent)) is not None else self._starter

    # ------------------------------------------------------------------ helpers
    def _load_start(self) -> None:
        """Preview and starter script, from the workspace as the run began (the same on resume)."""
        if self._preview is not None:
            return
        workspace = self.env.workspace
        self._preview = data_preview(workspace)
        self._text_column = text_column(workspace)
        self._columns = mixed_columns(workspace)
        self.system_prompt = system_prompt(self.problem, self._preview, installed_packages())
        self._starter = starter_code(workspace, self.script)

    def _prediction_problem(self) -> str | None:
        """Why the node's test predictions look nothing like the training targets
        (``prediction_check``), or None."""
        if not self.submission:
            return None
        try:
            return prediction_problem(self.env.workspace, self.submission)
        except Exception as e:  # a check that fails must not lose the node
            logger.warning("The check of %s failed: %s", self.submission, e)
            return None

    def _restore_best(self) -> Node | None:
        """The best node's workspace; without one, the workspace as the run began (the files an
        unmeasured node wrote, its submission among them, must not be taken for a result)."""
        best = self.tree.best()
        self.env.restore_to(best.steps[-1] if best is not None else 0)
        return best

    def final_answer_text(self, best: Node | None) -> str:
        s = self.tree.summary()
        counts = ", ".join(f"{v} {k}" for k, v in s["stages"].items() if v)
        tally = f"The tree has {s['nodes']} nodes ({counts}); {s['buggy']} buggy, {s['duplicates']} duplicates."
        if best is None:
            return (f"No node produced a valid validation {self.tree.metric.label}. {tally} "
                    f"The workspace is as the run began.")
        chain, cur = [], best
        while cur is not None:
            chain.append(f"node {cur.id} ({cur.stage}): {(cur.plan or 'no plan given').rstrip('.')}")
            cur = self.tree.get(cur.parent)
        firsts = [n for n in self.tree.nodes if n.good]
        first = f" The first working node ({firsts[0].id}) had {firsts[0].metric:.6g}." if firsts[0] is not best else ""
        reruns = describe(self.tree.revalidated, self.tree.metric.label)
        return (f"Best node: {best.id}, validation {self.tree.metric.label} {best.metric:.6g} "
                f"({self.tree.metric.describe()}).{first} How it was reached: " + " <- ".join(chain)
                + f". {reruns + ' ' if reruns else ''}The workspace holds this node's {self.script} and the files "
                f"it wrote. {tally}")

    def _finish(self) -> tuple[RunStatus, str]:
        if self.revalidate_splits and not self.tree.revalidated:
            progress.report("step", step=self.max_nodes, max_steps=self.max_nodes, phase="acting",
                            action=f"rerunning the best nodes on {self.revalidate_splits} other splits")
            self.tree.revalidated = revalidate(
                self.env, self.tree, script=self.script, splits=self.revalidate_splits, step=self.next_step,
                budget_s=BUDGET_SHARE * (time.monotonic() - self._started), node_timeout_s=self.node_timeout_s)
        best = self._restore_best()
        text = self.final_answer_text(best)
        step, started, t0 = self.next_step, utc_now(), time.monotonic()
        obs = self.env.execute("Final Answer", {"final_answer": text}, step=step)
        self.next_step = step + 1
        self.state.final_answer = text
        record = {"type": "step", "step": step, "timestamp": utc_now(), "start_time": started,
                  "duration_s": round(time.monotonic() - t0, 3), "entries": {}, "action": "Final Answer",
                  "action_input": {"final_answer": text}, "observation": obs.text, "full_observation": obs.text,
                  "full_observation_path": None, "exit_code": None, "feedback": None,
                  "parse_attempts": 1, "parse_errors": [], "tree": self._summary()}
        self._note_tree()
        self.recorder.write_step(record)
        return RunStatus.FINAL_ANSWER, self._end_message(best)

    def _note_tree(self) -> None:
        info = getattr(self.recorder, "info", None)
        if isinstance(info, dict):  # run.json's summary of the tree
            info["tree"] = self._summary()

    def _summary(self) -> dict[str, Any]:
        return {**self.tree.summary(), "node_timeout_s": self.node_timeout_s}

    def _end_message(self, best: Node | None) -> str:
        where = f"best node {best.id}, validation {self.tree.metric.label} {best.metric:.6g}" if best else \
            "no working node"
        return f"Tree search used its {self.max_nodes} nodes; {where}."
