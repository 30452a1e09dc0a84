"""Fetching a linked model into the workspace: before the run, or at a step only with network allowed."""
from __future__ import annotations

import json

import pytest

from fakes.code_hosts import FakeCodeHosts, HubModel
from mlr_copilot.env.actions import REGISTRY
from mlr_copilot.env.context import ActionContext, EnvConfig
from mlr_copilot.env.sandbox import Sandbox
from mlr_copilot.llm.base import Models
from mlr_copilot.llm.scripted import ScriptedLLM
from mlr_copilot.model_fetch import ModelFetchError, fetch_model

import mlr_copilot.env.llm_actions  # noqa: F401  (registers Retrieve Model)

MODELS = [HubModel("acme/shift-svm", "2401.01234", 10, "mit", {"config.json": 40, "weights/model.bin": 3000}),
          HubModel("evil/escape", "2401.01234", 1, None, {"../../outside.txt": 5}),
          HubModel("big/model", "2401.01234", 1, None, {"w.bin": 10_000})]


@pytest.fixture
def hub():
    with FakeCodeHosts(models=MODELS) as h:
        yield h


def test_fetch_puts_files_and_record_in_prototype_models(tmp_path, hub):
    record = fetch_model("acme/shift-svm", tmp_path, hub.hf_endpoint)
    folder = tmp_path / "prototype" / "models" / "acme-shift-svm"
    assert (folder / "weights" / "model.bin").stat().st_size == 3000 and (folder / "config.json").exists()
    assert record["license"] == "mit" and record["bytes"] == 3040 and record["files"] == 2
    assert json.loads((folder.parent / "acme-shift-svm.json").read_text()) == record


def test_fetch_refuses_caps_unsafe_names_and_missing_models(tmp_path, hub):
    with pytest.raises(ModelFetchError, match="over the"):
        fetch_model("big/model", tmp_path, hub.hf_endpoint, max_bytes=5000)
    with pytest.raises(ModelFetchError, match="unsafe file names"):
        fetch_model("evil/escape", tmp_path, hub.hf_endpoint)
    with pytest.raises(ModelFetchError, match="no such model"):
        fetch_model("nobody/none", tmp_path, hub.hf_endpoint)
    with pytest.raises(ModelFetchError, match="not a Hub model id"):
        fetch_model("../etc", tmp_path, hub.hf_endpoint)
    assert not any("/resolve/" in r for r in hub.requests)
    assert not (tmp_path / "outside.txt").exists()


def ctx_for(tmp_path, endpoint, allow_network):
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    config = EnvConfig(sandbox="none", hf_endpoint=endpoint, allow_network=allow_network)
    return ActionContext(workspace=ws, env_log_dir=tmp_path, config=config, sandbox=Sandbox(ws, config, tmp_path),
                         models=Models.single(ScriptedLLM([])))


def test_retrieve_model_downloads_only_when_the_run_allows_network(tmp_path, hub):
    info = REGISTRY["Retrieve Model"]
    ctx = ctx_for(tmp_path, hub.hf_endpoint, allow_network=False)
    with pytest.raises(Exception, match="--allow-network") as err:
        info.function(ctx, **info.validate({"instruction": "download acme/shift-svm"}))
    assert "Skipped" in str(err.value) and not hub.requests
    ctx = ctx_for(tmp_path, hub.hf_endpoint, allow_network=True)
    text = info.function(ctx, **info.validate({"instruction": "download acme/shift-svm"}))
    assert "is in prototype/models/acme-shift-svm/" in text and "license mit" in text
    assert (ctx.workspace / "prototype/models/acme-shift-svm/config.json").exists()
    assert ctx.models.fast.calls == []  # no model call for a download
