"""The transformers backend on a tiny random Llama-architecture model built here.

The model and its byte-level BPE tokenizer (with a chat template) are saved to a temporary
folder and loaded through HFBackend exactly as ``llama`` / ``hf:<path>`` load theirs.
"""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from mlr_copilot.errors import ConfigError, LLMContextTooLongError  # noqa: E402
from mlr_copilot.llm.hf import HFBackend  # noqa: E402

CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")
CORPUS = ["Reflection: the script ran and printed the accuracy.",
          "Action: Execute Script\nAction Input: {\"script_name\": \"train.py\"}",
          "Observation: the validation accuracy is 0.81 after 3 epochs.",
          "Thought: try a larger learning rate and more epochs next."] * 20
MESSAGES = [{"role": "system", "content": "You are a helpful research assistant."},
            {"role": "user", "content": "Reflection: what should we run next?"}]


def build_tokenizer(chat_template: str | None):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"])
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>")
    if chat_template:
        fast.chat_template = chat_template
    return fast


def build_model(folder, *, chat_template: str | None = CHAT_TEMPLATE, max_positions: int = 256):
    tokenizer = build_tokenizer(chat_template)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return tokenizer


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = build_model(folder)
    return folder, tokenizer


def test_generates_with_the_chat_template_and_counts_tokens(tiny):
    folder, tokenizer = tiny
    backend = HFBackend(str(folder))
    done = backend.complete(MESSAGES, max_tokens=12)
    assert backend.model == f"hf:{folder}"
    assert isinstance(done.text, str) and done.text
    expected_prompt = tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=True)
    if hasattr(expected_prompt, "keys"):
        expected_prompt = expected_prompt["input_ids"]
    assert done.usage.input_tokens == len(expected_prompt)
    assert 0 < done.usage.output_tokens <= 12
    assert done.latency_s > 0


def test_a_trailing_assistant_message_is_continued_not_answered_afresh(tiny):
    folder, tokenizer = tiny
    backend = HFBackend(str(folder))
    assert backend.continues_answers
    answer = backend.complete(MESSAGES, max_tokens=6)
    prefill = [*MESSAGES, {"role": "assistant", "content": "Thought: try"}]
    ids = tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=True)
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    started = tokenizer.encode("<|assistant|>Thought: try", add_special_tokens=False)
    done = backend.complete(prefill, max_tokens=6)
    # the prompt is the question, its answer's opening and nothing after (no end of turn, no new turn)
    assert done.usage.input_tokens == len(ids) - 1 + len(started) != answer.usage.input_tokens


def test_max_tokens_is_respected_greedy_and_sampled(tiny):
    backend = HFBackend(str(tiny[0]))
    for temperature in (0.0, 0.8):
        done = backend.complete(MESSAGES, max_tokens=5, temperature=temperature)
        assert done.usage.output_tokens <= 5
        if done.stop_reason == "length":
            assert done.usage.output_tokens == 5


def test_stop_sequence_ends_generation_and_is_trimmed(tiny):
    folder, tokenizer = tiny
    backend = HFBackend(str(folder))
    free = backend.complete(MESSAGES, max_tokens=30)
    # greedy decoding is deterministic: pick a piece the model writes after its first tokens
    stop = next((p for p in (free.text[i:i + 3] for i in range(3, len(free.text) - 3))
                 if p.strip() and free.text.index(p) > 0), None)
    assert stop, f"the tiny model wrote too little to test stops: {free.text!r}"
    done = backend.complete(MESSAGES, max_tokens=30, stop=[stop])
    assert done.text == free.text[: free.text.index(stop)]
    assert stop not in done.text
    assert done.stop_reason == "stop"
    assert done.usage.output_tokens < free.usage.output_tokens


def test_model_is_loaded_once_per_process(tiny):
    first, second = HFBackend(str(tiny[0])), HFBackend(str(tiny[0]))
    assert first.load()[1] is second.load()[1]


def test_tokenizer_without_chat_template_still_works(tmp_path):
    build_model(tmp_path, chat_template=None)
    done = HFBackend(str(tmp_path)).complete(MESSAGES, max_tokens=4)
    assert 0 < done.usage.output_tokens <= 4
    assert done.usage.input_tokens > 10  # the whole conversation was in the prompt


def test_prompt_longer_than_the_context_is_a_typed_error(tiny):
    long = [{"role": "user", "content": "Observation: accuracy " * 400}]
    with pytest.raises(LLMContextTooLongError, match="at most 256"):
        HFBackend(str(tiny[0])).complete(long, max_tokens=4)


def test_missing_model_offline_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError) as err:
        HFBackend("no-such-org/no-such-model-xyz").complete(MESSAGES, max_tokens=2)
    assert "HF_HUB_OFFLINE" in str(err.value) and "no-such-org/no-such-model-xyz" in str(err.value)


def test_missing_local_folder_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        HFBackend(str(tmp_path / "not-here")).complete(MESSAGES, max_tokens=2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_the_model_runs_in_bfloat16_on_the_gpu(tiny):
    backend = HFBackend(str(tiny[0]))
    _, model = backend.load()
    assert next(model.parameters()).dtype == torch.bfloat16
    assert next(model.parameters()).device.type == "cuda"
    done = backend.complete(MESSAGES, max_tokens=6)
    assert 0 < done.usage.output_tokens <= 6
