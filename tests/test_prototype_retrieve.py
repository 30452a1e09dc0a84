"""Retrieving prototype code: safe unpacking, caps, workspace layout, read-only rule, failures.

The GitHub API and archive host are fakes on 127.0.0.1 (``fakes.code_hosts``); archives are
real tar.gz / zip files built here, hostile members included.
"""
from __future__ import annotations

import io
import json
import tarfile
import zipfile

import pytest

from fakes.code_hosts import SHA, FakeCodeHosts, Repo, tar_gz
from mlr_copilot.env.actions import REGISTRY
from mlr_copilot.env.context import EnvConfig
from mlr_copilot.env.environment import Environment
from mlr_copilot.prototype import PrototypeError, Sources, describe_prototype, retrieve_prototype
from mlr_copilot.safe_archive import Limits, unpack

README = "# Shift Aug\n\nReference code for the paper.\n\nRun `python train.py`.\n"
FILES = {"README.md": README, "LICENSE": "MIT License\n", "train.py": "print('train')\n",
         "src/model.py": "class Net: pass\n", "src/data.py": "X = 1\n"}


def sources(hosts: FakeCodeHosts, **limits) -> Sources:
    return Sources(github_api=hosts.github_api, github_archive=hosts.github_archive, timeout_s=10,
                   limits=Limits(**limits) if limits else Limits())


@pytest.fixture
def hosts():
    with FakeCodeHosts({"acme/shiftaug": Repo(tar_gz(FILES))}) as h:
        yield h


def hostile_tar(path):
    top = "repo-abc"
    with tarfile.open(path, "w:gz") as tf:
        def add(name, data=b"", **kw):
            info = tarfile.TarInfo(name)
            for k, v in kw.items():
                setattr(info, k, v)
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            tf.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
        add(f"{top}/ok.py", b"print('ok')\n")
        add("/tmp/abs-evil.txt", b"evil")
        add(f"{top}/../escape.txt", b"evil")
        add(f"{top}/link_out", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        add(f"{top}/hard", type=tarfile.LNKTYPE, linkname=f"{top}/ok.py")
        add(f"{top}/dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
        add(f"{top}/fifo", type=tarfile.FIFOTYPE)
        add(f"{top}/big.bin", b"x" * 5000)
        add(f"{top}/sub/fine.txt", b"fine\n")


def test_hostile_tar_members_are_refused_one_by_one(tmp_path):
    archive = tmp_path / "a.tar.gz"
    hostile_tar(archive)
    dest = tmp_path / "out" / "repo"
    result = unpack(archive, dest, Limits(max_file_bytes=1000))
    assert sorted(result.files) == ["ok.py", "sub/fine.txt"]
    reasons = {r["name"]: r["reason"] for r in result.refused}
    assert reasons["/tmp/abs-evil.txt"] == "absolute path"
    assert "(..)" in reasons["repo-abc/../escape.txt"]
    assert "link to '/etc/passwd'" in reasons["repo-abc/link_out"]
    assert "link" in reasons["repo-abc/hard"]
    assert "device file" in reasons["repo-abc/dev"] and "FIFO" in reasons["repo-abc/fifo"]
    assert "per-file cap" in reasons["repo-abc/big.bin"]
    assert result.refused_count == 7 and result.top_dir == "repo-abc"
    assert not (tmp_path / "out" / "escape.txt").exists() and not (tmp_path / "escape.txt").exists()
    assert sorted(p.name for p in dest.iterdir()) == ["ok.py", "sub"]
    assert not any(p.is_symlink() for p in dest.rglob("*"))


def test_hostile_zip_members_are_refused(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("r/main.py", "print(1)\n")
        zf.writestr("../up.txt", "evil")
        zf.writestr("/abs.txt", "evil")
        link = zipfile.ZipInfo("r/link")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/shadow")
    result = unpack(archive, tmp_path / "z", Limits())
    assert result.files == ["main.py"]
    assert {r["name"] for r in result.refused} == {"../up.txt", "/abs.txt", "r/link"}
    assert not (tmp_path / "up.txt").exists()


def test_file_count_and_total_size_caps(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(tar_gz({f"f{i}.txt": "x" * 100 for i in range(5)}))
    counted = unpack(archive, tmp_path / "a", Limits(max_files=2))
    assert len(counted.files) == 2 and counted.refused_count == 3
    assert all("file-count cap of 2" in r["reason"] for r in counted.refused)
    sized = unpack(archive, tmp_path / "b", Limits(max_total_bytes=250))
    assert len(sized.files) == 2 and all("total-size cap" in r["reason"] for r in sized.refused)


def test_download_cap_stops_the_retrieval(tmp_path, hosts):
    with pytest.raises(PrototypeError, match="download cap"):
        retrieve_prototype("acme/shiftaug", tmp_path, sources(hosts, max_download_bytes=100))
    assert not (tmp_path / "prototype" / "acme-shiftaug").exists()
    assert not list((tmp_path / "prototype").glob(".partial-*"))


def test_workspace_layout_record_and_description(tmp_path, hosts):
    record = retrieve_prototype("https://github.com/acme/shiftaug", tmp_path, sources(hosts))
    root = tmp_path / "prototype" / "acme-shiftaug"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == sorted(FILES)
    saved = json.loads((tmp_path / "prototype" / "acme-shiftaug.json").read_text())
    assert saved == record
    assert record["commit"] == SHA and record["ref"] == "main" and record["license"] == "MIT"
    assert record["license_file"] == "LICENSE" and record["executed"] is False and record["files"] == 5
    assert record["archive_url"].endswith(f"/codeload/acme/shiftaug/tar.gz/{SHA}")
    text = describe_prototype(tmp_path, record)
    assert "is in prototype/acme-shiftaug/, 5 files" in text and "commit 0123456789ab" in text
    assert "license MIT, see prototype/acme-shiftaug/LICENSE" in text and "read-only" in text
    assert "prototype/acme-shiftaug/src/ (2 files)" in text and "prototype/acme-shiftaug/train.py" in text
    assert "  | # Shift Aug" in text and "  | Run `python train.py`." in text
    # a second retrieval keeps what is there
    assert retrieve_prototype("acme/shiftaug", tmp_path, sources(hosts))["already_present"] is True


def test_api_failure_falls_back_to_the_branch_archive_and_pax_commit(tmp_path, hosts):
    hosts.fail["/gh/"] = 403  # rate limited
    record = retrieve_prototype("acme/shiftaug", tmp_path, sources(hosts))
    assert record["commit"] == SHA  # from the archive's pax comment
    assert record["archive_url"].endswith("/tar.gz/HEAD") and "HTTP 403" in record["notes"][0]


def test_not_found_http_error_offline_and_other_hosts_say_why(tmp_path, hosts):
    with pytest.raises(PrototypeError, match="does not exist or is private"):
        retrieve_prototype("acme/missing", tmp_path, sources(hosts))
    hosts.fail["/codeload/"] = 500
    with pytest.raises(PrototypeError, match="HTTP 500"):
        retrieve_prototype("acme/shiftaug", tmp_path, sources(hosts))
    hosts.fail.clear()
    offline = sources(hosts)
    offline.online = False
    with pytest.raises(PrototypeError, match="offline"):
        retrieve_prototype("acme/shiftaug", tmp_path, offline)
    with pytest.raises(PrototypeError, match="only GitHub"):
        retrieve_prototype("https://gitlab.com/acme/shiftaug", tmp_path, sources(hosts))
    with pytest.raises(PrototypeError, match="not a repository"):
        retrieve_prototype("not a repo", tmp_path, sources(hosts))
    assert not (tmp_path / "prototype" / "acme-shiftaug").exists()


def test_unreachable_host_is_an_error_not_a_crash(tmp_path):
    dead = Sources(github_api="http://127.0.0.1:9", github_archive="http://127.0.0.1:9", timeout_s=2)
    with pytest.raises(PrototypeError, match="was not retrieved"):
        retrieve_prototype("acme/shiftaug", tmp_path, dead)


def make_env(tmp_path, problem=""):
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    config = EnvConfig(sandbox="none", read_only=("prototype",))
    return Environment(config, workspace=ws, env_log_dir=tmp_path / "env_log", research_problem=problem,
                       offered=["Retrieve Prototype Code", "Inspect Script Lines", "Write File", "Copy File",
                                "Execute Script"])


def test_action_retrieves_named_repo_and_prototype_is_read_only(tmp_path, hosts, monkeypatch):
    monkeypatch.setenv("MLR_GITHUB_API", hosts.github_api)
    monkeypatch.setenv("MLR_GITHUB_ARCHIVE", hosts.github_archive)
    env = make_env(tmp_path, "Improve the model. The paper's code: https://github.com/acme/shiftaug.")
    assert "Retrieve Prototype Code" in env.offered_names
    obs = env.execute("Retrieve Prototype Code", {}, step=1)
    assert obs.ok, obs.text
    assert "prototype/acme-shiftaug/" in obs.text and "| # Shift Aug" in obs.text
    obs = env.execute("Inspect Script Lines", {"script_name": "prototype/acme-shiftaug/train.py",
                                               "start_line_number": 1, "end_line_number": 1}, step=2)
    assert "print('train')" in obs.text
    obs = env.execute("Write File", {"file_name": "prototype/acme-shiftaug/train.py", "content": "x"}, step=3)
    assert not obs.ok and "read-only" in obs.text
    env.execute("Write File", {"file_name": "clobber.py", "content":
                               "open('prototype/acme-shiftaug/train.py', 'w').write('changed')\n"}, step=4)
    obs = env.execute("Execute Script", {"script_name": "clobber.py"}, step=5)
    assert "restored" in obs.text
    assert (env.workspace / "prototype/acme-shiftaug/train.py").read_text() == "print('train')\n"


def test_action_offline_and_unnamed_say_they_skipped(tmp_path, hosts, monkeypatch):
    env = make_env(tmp_path, "A problem naming no repository.")
    obs = env.execute("Retrieve Prototype Code", {}, step=1)
    assert not obs.ok and "names none" in obs.text
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    obs = env.execute("Retrieve Prototype Code", {"repository": "acme/shiftaug"}, step=2)
    assert not obs.ok and "Skipped" in obs.text and "offline mode" in obs.text
    assert REGISTRY["Retrieve Prototype Code"].uses_llm is False


def test_the_action_is_offered_only_when_a_paper_or_repository_is_known(tmp_path, hosts):
    from mlr_copilot.env.hub_prototype import prototype_offer

    assert prototype_offer("Improve train.py on the digits.", tmp_path) == ()
    assert prototype_offer("Code: github.com/acme/shiftaug", tmp_path) == ("Retrieve Prototype Code",)
    assert prototype_offer("From arXiv:2401.01234.", tmp_path) == ("Retrieve Prototype Code",)
    retrieve_prototype("acme/shiftaug", tmp_path, sources(hosts))
    assert prototype_offer("Improve train.py on the digits.", tmp_path) == ("Retrieve Prototype Code",)
