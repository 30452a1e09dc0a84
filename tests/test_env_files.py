"""File actions, Final Answer and Request Help, driven through the real Environment."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlr_copilot.env.context import EnvConfig
from mlr_copilot.env.environment import Environment
from mlr_copilot.env.files import backup_before_write

ACTIONS = ["List Files", "Read File", "Write File", "Append File", "Copy File", "Inspect Script Lines",
           "Undo Edit Script", "Execute Script", "Final Answer", "Request Help"]
SCRIPT = "".join(f"line {i}\n" for i in range(1, 251))


class Human:
    def __init__(self, answer):
        self.answer, self.asked = answer, []

    def ask(self, question):
        self.asked.append(question)
        return self.answer


@pytest.fixture
def env(tmp_path):
    ws = tmp_path / "ws"
    (ws / "data").mkdir(parents=True)
    (ws / "train.py").write_text(SCRIPT)
    (ws / "data" / "train.csv").write_text("a,b\n1,2\n")
    (ws / "blob.bin").write_bytes(b"\x00\x01\x02" * 100)
    (ws / "empty.py").write_text("")
    return Environment(EnvConfig(sandbox="none", read_only=["data/*"]), workspace=ws,
                       env_log_dir=tmp_path / "env_log", offered=ACTIONS)


class Stepper:
    def __init__(self, env):
        self.env, self.step = env, 0

    def __call__(self, name, **args):
        self.step += 1
        return self.env.execute(name, args, step=self.step)


@pytest.fixture
def act(env):
    return Stepper(env)


# ------------------------------------------------------------ List Files
def test_list_files(act, env):
    obs = act("List Files", dir_path=".")
    assert obs.ok and obs.text.splitlines() == ["blob.bin", "data/", "empty.py", "train.py"]
    assert act("List Files", dir_path="data").text == "train.csv\n"
    assert act("List Files").ok  # dir_path may be left out: the workspace root
    (env.workspace / "nothing").mkdir()
    assert "is empty" in act("List Files", dir_path="nothing").text


@pytest.mark.parametrize("bad, msg", [("missing", "does not exist"), ("train.py", "is a file"),
                                      ("..", "outside the workspace"), ("/etc", "Absolute paths")])
def test_list_files_bad_input(act, bad, msg):
    obs = act("List Files", dir_path=bad)
    assert not obs.ok and msg in obs.text and obs.text.startswith("EnvError: ")


# ------------------------------------------------------------- Read File
def test_read_file(act):
    assert act("Read File", file_name="data/train.csv").text == "a,b\n1,2\n"


@pytest.mark.parametrize("bad, msg", [("nope.py", "does not exist"), ("data", "is a directory"),
                                      ("blob.bin", "binary file"), ("../../etc/passwd", "outside"),
                                      ("", "No file name")])
def test_read_file_bad_input(act, bad, msg):
    obs = act("Read File", file_name=bad)
    assert not obs.ok and msg in obs.text


def test_missing_file_hints_at_same_name_elsewhere(act):
    assert "data/train.csv" in act("Read File", file_name="train.csv").text


def test_read_file_caps_huge_files(act, env):
    (env.workspace / "huge.txt").write_text("x" * 200_000)
    obs = act("Read File", file_name="huge.txt")
    assert len(obs.text) < 61_000 and "only the first" in obs.text


def test_missing_argument_and_wrong_type_show_usage(act):
    obs = act("Read File")
    assert not obs.ok and "missing required argument(s) 'file_name'" in obs.text and "Usage" not in obs.text
    assert '"file_name": [' in obs.text
    obs = act("Inspect Script Lines", script_name="train.py", start_line_number="one", end_line_number=3)
    assert not obs.ok and "must be an integer" in obs.text


# ------------------------------------------------------- Write / Append
def test_write_and_append(act, env):
    assert act("Write File", file_name="new/dir/notes.md", content="hello\r\nworld").ok
    assert (env.workspace / "new/dir/notes.md").read_bytes() == b"hello\r\nworld"
    assert act("Append File", file_name="new/dir/notes.md", content="!\n").ok
    assert (env.workspace / "new/dir/notes.md").read_text() == "hello\nworld!\n"
    assert act("Append File", file_name="fresh.txt", content="a").ok
    assert (env.workspace / "fresh.txt").read_text() == "a"


def test_write_keeps_the_files_mode(act, env):
    os.chmod(env.workspace / "train.py", 0o755)
    act("Write File", file_name="train.py", content="print(2)\n")
    assert (env.workspace / "train.py").stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize("action", ["Write File", "Append File"])
@pytest.mark.parametrize("bad, msg", [("data/train.csv", "read-only"), ("data/new.csv", "read-only"),
                                      ("data", "is a directory"), ("../x.txt", "outside"), ("/tmp/x", "Absolute"),
                                      ("empty.py\x00", "NUL"), ("x" * 256, "too long")])
def test_write_bad_input(act, env, action, bad, msg):
    obs = act(action, file_name=bad, content="evil")
    assert not obs.ok and msg in obs.text
    assert (env.workspace / "data" / "train.csv").read_text() == "a,b\n1,2\n"


def test_write_through_symlink_planted_by_a_script(act, env, tmp_path):
    (env.workspace / "plant.py").write_text(f"import os; os.symlink({str(tmp_path)!r}, 'out')")
    assert "Exit code: 0" in act("Execute Script", script_name="plant.py").text
    for name, args in [("Write File", {"file_name": "out/pwned.txt", "content": "x"}),
                       ("Read File", {"file_name": "out/env_log/trace.jsonl"}),
                       ("List Files", {"dir_path": "out"}),
                       ("Copy File", {"source": "train.py", "destination": "out/stolen.py"}),
                       ("Copy File", {"source": "out/env_log/trace.jsonl", "destination": "t.jsonl"})]:
        obs = act(name, **args)
        assert not obs.ok and "symbolic link" in obs.text, name
    assert not (tmp_path / "pwned.txt").exists() and not (tmp_path / "stolen.py").exists()


# -------------------------------------------------------------- Copy File
def test_copy_file(act, env):
    assert act("Copy File", source="train.py", destination="backup/train_v1.py").text == \
        "File train.py copied to backup/train_v1.py"
    assert (env.workspace / "backup/train_v1.py").read_text() == SCRIPT


@pytest.mark.parametrize("src, dst, msg", [("nope.py", "x.py", "does not exist"),
                                           ("train.py", "data/train.csv", "read-only"),
                                           ("train.py", "train.py", "same file"),
                                           ("train.py", "data", "is a directory"),
                                           ("train.py", "", "No destination"),
                                           ("/etc/passwd", "p.txt", "Absolute")])
def test_copy_file_bad_input(act, env, src, dst, msg):
    obs = act("Copy File", source=src, destination=dst)
    assert not obs.ok and msg in obs.text
    assert (env.workspace / "data" / "train.csv").read_text() == "a,b\n1,2\n"


# --------------------------------------------------- Inspect Script Lines
def test_inspect_script_lines(act):
    obs = act("Inspect Script Lines", script_name="train.py", start_line_number=3, end_line_number=5)
    assert obs.text == "Here are the lines (the file ends at line 250):\n\nline 3\nline 4\nline 5"
    obs = act("Inspect Script Lines", script_name="train.py", start_line_number="240", end_line_number=400)
    assert obs.text.endswith("line 249\nline 250") and "ends at line 250" in obs.text


def test_inspect_more_than_100_lines_shows_100(act):
    obs = act("Inspect Script Lines", script_name="train.py", start_line_number=1, end_line_number=200)
    assert obs.ok and "line 100\n" in obs.text and "line 101" not in obs.text.split("[Only")[0]
    assert "ask for lines 101-200" in obs.text


@pytest.mark.parametrize("start, end, msg", [(10, 5, "before start_line_number"), (0, 5, "start at 1"),
                                             (-3, 2, "start at 1"), (300, 310, "past the end")])
def test_inspect_bad_line_numbers(act, start, end, msg):
    obs = act("Inspect Script Lines", script_name="train.py", start_line_number=start, end_line_number=end)
    assert not obs.ok and msg in obs.text


def test_inspect_missing_empty_and_binary(act):
    assert "does not exist" in act("Inspect Script Lines", script_name="x.py", start_line_number=1,
                                   end_line_number=2).text
    assert "is empty" in act("Inspect Script Lines", script_name="empty.py", start_line_number=1,
                             end_line_number=2).text
    assert "binary" in act("Inspect Script Lines", script_name="blob.bin", start_line_number=1,
                           end_line_number=2).text


# ------------------------------------------------------- Undo Edit Script
def test_undo_restores_each_earlier_version_in_turn(act, env):
    for v in (1, 2, 3):  # three edits in well under a second: backups never collide
        act("Write File", file_name="train.py", content=f"version {v}\n")
    obs = act("Undo Edit Script", script_name="train.py")
    assert obs.ok and obs.text == "Content of train.py after undo the most recent edit:\nversion 2\n"
    act("Undo Edit Script", script_name="train.py")
    assert (env.workspace / "train.py").read_text() == "version 1\n"
    act("Undo Edit Script", script_name="train.py")
    assert (env.workspace / "train.py").read_text() == SCRIPT
    obs = act("Undo Edit Script", script_name="train.py")
    assert not obs.ok and "no edit" in obs.text


def test_undo_of_a_created_file_removes_it(act, env):
    act("Copy File", source="train.py", destination="copy.py")
    obs = act("Undo Edit Script", script_name="copy.py")
    assert obs.ok and "removed the file" in obs.text and not (env.workspace / "copy.py").exists()


def test_undo_works_for_edits_made_by_other_actions(env):
    """LLM edit actions call backup_before_write before saving, so Undo covers them too."""
    path = env.sandbox.resolve("train.py", for_write=True)
    backup_before_write(env.ctx, path)
    path.write_text("edited by the AI\n")
    obs = env.execute("Undo Edit Script", {"script_name": "train.py"}, step=1)
    assert obs.ok and path.read_text() == SCRIPT


@pytest.mark.parametrize("bad, msg", [("data/train.csv", "read-only"), ("../x.py", "outside"),
                                      ("data", "is a directory"), ("never_edited.py", "no edit")])
def test_undo_bad_input(act, bad, msg):
    obs = act("Undo Edit Script", script_name=bad)
    assert not obs.ok and msg in obs.text


# ------------------------------------------------- Final Answer / Help
def test_final_answer(act):
    obs = act("Final Answer", final_answer="MCRMSE 0.45 with DistilBERT")
    assert obs.ok and obs.is_final


def test_request_help_reaches_the_human(tmp_path):
    human = Human("install it with pip")
    env = Environment(EnvConfig(sandbox="none"), workspace=_ws(tmp_path), env_log_dir=tmp_path / "log",
                      human=human)
    assert "Request Help" in env.offered_names
    obs = env.execute("Request Help", {"request": "please install lightgbm"}, step=1)
    assert obs.text == "install it with pip" and human.asked == ["please install lightgbm"]


@pytest.mark.parametrize("human, expected", [(None, "Nobody is available"), (Human(None), "Nobody is available"),
                                             (Human("  "), "gave no answer")])
def test_request_help_without_an_answer(tmp_path, human, expected):
    env = Environment(EnvConfig(sandbox="none"), workspace=_ws(tmp_path), env_log_dir=tmp_path / "log",
                      human=human, offered=["Request Help"])
    assert expected in env.execute("Request Help", {"request": "?"}, step=1).text


def _ws(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws
