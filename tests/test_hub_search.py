"""Retrieve Model / Retrieve Dataset against a fake Hugging Face Hub on 127.0.0.1.

The real ``huggingface_hub`` client talks to the fake through its own endpoint setting
(``HfApi(endpoint=...)``, or ``HF_ENDPOINT``); the model is a ScriptedLLM.
"""
from __future__ import annotations

import socket
import time

import pytest

from fakes.hf_hub_server import FakeHub, dataset, model
from mlr_copilot.env.actions import REGISTRY
from mlr_copilot.env.context import ActionContext, EnvConfig
from mlr_copilot.env.hub_search import HubUnavailableError, search_hub
from mlr_copilot.env.sandbox import Sandbox
from mlr_copilot.llm.base import Models
from mlr_copilot.llm.scripted import ScriptedLLM

import mlr_copilot.env.llm_actions  # noqa: F401  (registers the actions)

MODELS = [
    model("distilbert/distilbert-base-uncased-finetuned-sst-2-english", 9_000_000, 700,
          "text-classification", ("transformers", "pytorch", "en", "region:us")),
    model("google-bert/bert-base-uncased", 50_000_000, 2_000, "fill-mask", ("transformers", "bert")),
    model("cardiffnlp/twitter-roberta-base-sentiment-latest", 3_000_000, 500, "text-classification"),
    model("someone/tiny-sentiment-toy", 12, 0, "text-classification"),
    model("openai/whisper-small", 4_000_000, 300, "automatic-speech-recognition"),
]
DATASETS = [
    dataset("stanfordnlp/imdb", 800_000, 250, ("task_categories:text-classification", "language:en"),
            "Large Movie Review Dataset: 50,000 highly polar movie reviews for sentiment classification."),
    dataset("stanfordnlp/sst2", 500_000, 90, ("task_categories:text-classification",)),
    dataset("rajpurkar/squad", 600_000, 300, ("task_categories:question-answering",)),
]


@pytest.fixture
def hub():
    server = FakeHub(MODELS, DATASETS)
    yield server
    server.close()


def make_ctx(tmp_path, llm, endpoint=None):
    ws = tmp_path / "ws"
    ws.mkdir()
    log = tmp_path / "env_log"
    log.mkdir()
    config = EnvConfig(sandbox="none", hf_endpoint=endpoint)
    return ActionContext(workspace=ws, env_log_dir=log, config=config, sandbox=Sandbox(ws, config, log),
                         models=Models.single(llm))


def run(ctx, name, **args):
    info = REGISTRY[name]
    return info.function(ctx, **info.validate(args))


def closed_port_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_search_uses_hub_query_params_and_ranks_by_downloads(hub):
    result = search_hub("model", ["sentiment", "sst-2"], endpoint=hub.endpoint, limit=5)
    ids = [it.id for it in result.items]
    assert ids == ["distilbert/distilbert-base-uncased-finetuned-sst-2-english",
                   "cardiffnlp/twitter-roberta-base-sentiment-latest", "someone/tiny-sentiment-toy"]
    assert result.items[0].matched == ["sst-2"] and result.items[1].matched == ["sentiment"]
    assert result.items[0].pipeline_tag == "text-classification"
    searches = [q for path, q in hub.requests if path == "/api/models"]
    assert {q["search"] for q in searches} == {"sentiment", "sst-2"}
    assert all(q.get("sort") == "downloads" for q in searches if q.get("limit") != "1")


def test_retrieve_model_lists_ids_downloads_and_reasons(tmp_path, hub):
    llm = ScriptedLLM([
        "sentiment\nsst-2",
        "distilbert/distilbert-base-uncased-finetuned-sst-2-english: fine-tuned on SST-2, binary sentiment.\n"
        "- cardiffnlp/twitter-roberta-base-sentiment-latest — trained on tweets; 3 classes.\n",
    ])
    ctx = make_ctx(tmp_path, llm, hub.endpoint)
    obs = run(ctx, "Retrieve Model", instruction="a small pretrained model for movie review sentiment")
    first = obs.index("distilbert/distilbert-base-uncased-finetuned-sst-2-english")
    assert first < obs.index("cardiffnlp/twitter-roberta-base-sentiment-latest") < obs.index("someone/tiny-sentiment-toy")
    assert "9,000,000 downloads" in obs and "task: text-classification" in obs
    assert "why: fine-tuned on SST-2, binary sentiment." in obs
    assert "why: trained on tweets; 3 classes." in obs
    assert 'why: found by the search "sentiment"' in obs  # the model gave no reason for the toy
    assert "region:us" not in obs
    assert [c["purpose"] for c in llm.calls] == ["hub_keywords", "hub_rank"]


def test_retrieve_dataset_shows_description(tmp_path, hub):
    llm = ScriptedLLM(["imdb", "stanfordnlp/imdb: 50k movie reviews labelled positive/negative"])
    obs = run(make_ctx(tmp_path, llm, hub.endpoint), "Retrieve Dataset",
              instruction="movie reviews with sentiment labels")
    assert "stanfordnlp/imdb: 800,000 downloads" in obs
    assert "description: Large Movie Review Dataset" in obs
    assert "why: 50k movie reviews labelled positive/negative" in obs
    assert "load_dataset" in obs
    assert any(path == "/api/datasets" and q.get("search") == "imdb" for path, q in hub.requests)


def test_junk_model_answers_fall_back_to_instruction_words(tmp_path, hub):
    llm = ScriptedLLM(["Sure! Here are some great search terms you could consider using for this: ...",
                       "I think all of them are fine."])
    obs = run(make_ctx(tmp_path, llm, hub.endpoint), "Retrieve Model",
              instruction="Find a whisper model for speech recognition")
    assert "openai/whisper-small" in obs
    assert 'why: found by the search "whisper"' in obs
    assert "task: automatic-speech-recognition" in obs


def test_no_match_with_model_words_retries_with_instruction_words(tmp_path, hub):
    llm = ScriptedLLM(["nonexistent-thing", "openai/whisper-small: speech recognition"])
    obs = run(make_ctx(tmp_path, llm, hub.endpoint), "Retrieve Model",
              instruction="whisper for transcription")
    assert "openai/whisper-small" in obs and "why: speech recognition" in obs


def test_nothing_found_says_so(tmp_path, hub):
    llm = ScriptedLLM(["zzqx"])
    obs = run(make_ctx(tmp_path, llm, hub.endpoint), "Retrieve Dataset", instruction="zzqx")
    assert obs.startswith("No datasets on the Hugging Face Hub")
    assert '"zzqx"' in obs


def test_unreachable_hub_is_a_plain_observation(tmp_path):
    llm = ScriptedLLM(["bert"])
    started = time.monotonic()
    obs = run(make_ctx(tmp_path, llm, closed_port_endpoint()), "Retrieve Model", instruction="bert model")
    assert "unreachable" in obs and "No models were retrieved" in obs
    assert time.monotonic() - started < 10  # no retry back-off on a refused connection


def test_server_error_is_a_plain_observation(tmp_path, hub):
    hub.status = 503
    obs = run(make_ctx(tmp_path, ScriptedLLM(["bert"]), hub.endpoint), "Retrieve Model", instruction="bert")
    assert "answered HTTP 503" in obs and "No models were retrieved" in obs


def test_client_error_from_the_library_is_a_plain_message(hub):
    hub.status = 401
    with pytest.raises(HubUnavailableError, match="HTTP 401"):
        search_hub("dataset", ["imdb"], endpoint=hub.endpoint)


def test_a_hub_that_never_answers_times_out(hub):
    hub.hang = True
    started = time.monotonic()
    with pytest.raises(HubUnavailableError, match="no answer within 0.5 s"):
        search_hub("model", ["bert"], endpoint=hub.endpoint, timeout_s=0.5)
    assert time.monotonic() - started < 5


def test_hf_endpoint_environment_variable_is_used(tmp_path, hub, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint + "/")
    llm = ScriptedLLM(["squad", "rajpurkar/squad: reading comprehension QA"])
    obs = run(make_ctx(tmp_path, llm, endpoint=None), "Retrieve Dataset", instruction="extractive QA")
    assert "rajpurkar/squad" in obs and hub.endpoint in obs


def test_bad_endpoint_and_empty_instruction(tmp_path):
    with pytest.raises(HubUnavailableError, match="not a valid URL"):
        search_hub("model", ["bert"], endpoint="ftp://nowhere")
    from mlr_copilot.errors import ActionError
    with pytest.raises(ActionError, match="instruction is empty"):
        run(make_ctx(tmp_path, ScriptedLLM([])), "Retrieve Model", instruction="  ")
