"""A scripted research run against the fake hosted-model servers (tests and benchmarks/hosted_cost.py).

The fake server plays the model: each agent step request (the one with the system prompt)
gets the next scripted response; every other request (research-log entries, summaries)
gets a short note. Everything else is real: the SDK, the agent loop, the sandboxed scripts.
"""
from __future__ import annotations

import json
from pathlib import Path

from fakes.llm_servers import FakeLLMServer, Reply
from fakes.prompt_caches import (AnthropicPromptCache, OpenAIPromptCache, anthropic_cached_text,
                                 openai_cached_text)

TRAIN = '''"""Train a tiny nearest-centroid classifier on a synthetic two-class data set."""
import random

random.seed(0)


def make_data(n):
    rows = []
    for i in range(n):
        label = i % 2
        centre = 1.0 if label else -1.0
        rows.append(([random.gauss(centre, 1.0) for _ in range(4)], label))
    return rows


def centroid(rows, label):
    chosen = [x for x, y in rows if y == label]
    return [sum(col) / len(chosen) for col in zip(*chosen)]


def predict(x, centroids):
    dists = [sum((a - b) ** 2 for a, b in zip(x, c)) for c in centroids]
    return dists.index(min(dists))


train, test = make_data(400), make_data(200)
centroids = [centroid(train, 0), centroid(train, 1)]
accuracy = sum(predict(x, centroids) == y for x, y in test) / len(test)
print(f"test accuracy: {accuracy:.3f}")
'''
PROBLEM = ("Improve the test accuracy of train.py, a nearest-centroid classifier on synthetic data. "
           "Report the accuracy of the baseline and of your best version.\n")


def step(thought: str, action: str, args: dict) -> str:
    return (f"Reflection: progress so far is as planned.\nResearch Plan and Status: 1. understand "
            f"train.py 2. run the baseline 3. try an improvement\nFact Check: confirmed by the "
            f"observations above.\nThought: {thought}\nAction: {action}\nAction Input: {json.dumps(args)}")


TEN_STEPS = [
    step("see the files", "List Files", {"dir_path": "."}),
    step("read the script", "Inspect Script Lines", {"script_name": "train.py", "start_line_number": 1,
                                                     "end_line_number": 30}),
    step("run the baseline", "Execute Script", {"script_name": "train.py"}),
    step("keep a copy of the baseline", "Copy File", {"source": "train.py", "destination": "baseline.py"}),
    step("check the copy", "List Files", {"dir_path": "."}),
    step("read the prediction part again", "Inspect Script Lines", {"script_name": "train.py",
                                                                    "start_line_number": 17, "end_line_number": 30}),
    step("run the copy", "Execute Script", {"script_name": "baseline.py"}),
    step("read the data part", "Inspect Script Lines", {"script_name": "baseline.py", "start_line_number": 1,
                                                        "end_line_number": 15}),
    step("run once more to confirm", "Execute Script", {"script_name": "train.py"}),
    step("report", "Final Answer", {"final_answer": "The baseline reaches the printed test accuracy."}),
]
SIDE_NOTE = "Entry: the step went as planned; the observation confirms it."


def make_project(root: Path, task: str = "toy") -> Path:
    (root / "problems").mkdir(parents=True, exist_ok=True)
    (root / "problems" / task).write_text(PROBLEM)
    ws = root / "workspaces" / task
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "train.py").write_text(TRAIN)
    return root


AUTH_ERROR = Reply(401, {"type": "error", "error": {"type": "authentication_error", "message": "invalid key"}})


class Script:
    """Answers agent-step requests from ``responses`` in order, anything else with a note.

    ``fail_at``: the agent step (1-based) whose first request gets a 401, which ends the run
    with ``llm_error`` (a run that can be resumed)."""

    def __init__(self, responses: list[str], fail_at: int | None = None):
        self.responses = list(responses)
        self.steps = 0
        self.fail_at = fail_at

    def __call__(self, request: dict) -> str | Reply:
        messages = request.get("messages") or []
        is_step = bool(request.get("system")) or any(m.get("role") == "system" for m in messages)
        if not is_step:
            return SIDE_NOTE
        if self.fail_at is not None and self.steps + 1 == self.fail_at:
            self.fail_at = None
            return AUTH_ERROR
        text = self.responses[min(self.steps, len(self.responses) - 1)]
        self.steps += 1
        return text


def anthropic_server(script: Script) -> tuple[FakeLLMServer, AnthropicPromptCache]:
    cache = AnthropicPromptCache()
    return FakeLLMServer(default=Reply(body=anthropic_cached_text(cache, script))), cache


def openai_server(script: Script, caching: bool = True) -> tuple[FakeLLMServer, OpenAIPromptCache]:
    cache = OpenAIPromptCache(enabled=caching)
    return FakeLLMServer(default=Reply(body=openai_cached_text(cache, script))), cache
