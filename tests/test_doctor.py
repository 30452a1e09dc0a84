"""`mlr-copilot doctor`: says which backends are usable, and never prints a key's value."""
import io

from rich.console import Console

from mlr_copilot.doctor import collect, run_doctor

FAKE = {"ANTHROPIC_API_KEY": "sk-ant-fake-1234567890abcdef", "OPENAI_API_KEY": "sk-fake-openai-0987654321",
        "HF_TOKEN": "hf_fakeTokenValue123456"}


def render(env, tmp_path):
    out = io.StringIO()
    code = run_doctor(log_root=tmp_path, env=env, console=Console(file=out, width=200))
    return code, out.getvalue()


def test_no_keys_marks_the_api_backends_unusable_with_the_fix(tmp_path):
    code, text = render({"PATH": "/usr/bin"}, tmp_path)
    checks = {c.name: c for c in collect(tmp_path, {"PATH": "/usr/bin"})}
    assert not checks["llm claude"].ok and not checks["llm gpt4"].ok
    assert "ANTHROPIC_API_KEY" in text and "OPENAI_API_KEY" in text
    assert ".env" in checks["llm claude"].fix and ".env" in checks["llm gpt4"].fix
    assert checks["llm local"].ok  # the default needs no key
    for name in ("python", "embedded model", "bubblewrap", "disk"):
        assert name in checks


def test_fake_keys_make_backends_usable_and_their_values_never_appear(tmp_path):
    code, text = render(dict(FAKE, PATH="/usr/bin"), tmp_path)
    checks = {c.name: c for c in collect(tmp_path, dict(FAKE, PATH="/usr/bin"))}
    assert checks["llm claude"].ok and checks["llm gpt4"].ok
    for value in FAKE.values():
        assert value not in text
        assert value[:12] not in text
