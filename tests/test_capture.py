"""What a run records about where it ran: environment, git state (with credentials removed), the notebook."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aieng_nb.tracking import capture


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text("print(1)\n")
    git(root, "add", "train.py")
    git(root, "commit", "-qm", "first")
    return root


def test_environment_names_this_interpreter_and_its_packages():
    env = capture.environment()
    assert env["python"] == sys.version.split()[0]
    assert env["executable"] == sys.executable
    assert "pytest" in env["packages"] and env["packages"]["pytest"] == pytest.__version__
    names = list(env["packages"])
    assert names == sorted(names, key=str.lower)
    assert env["cpu"]["count"] >= 1
    assert env["memory_bytes"] > 0
    assert isinstance(env["gpus"], list)


def test_environment_sees_a_package_installed_or_upgraded_since_the_last_capture(tmp_path, monkeypatch):
    """The package list is read once per process and again when a folder of sys.path changed."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def install(version: str) -> None:
        for old in site.glob("demo_pkg-*.dist-info"):
            (old / "METADATA").unlink()
            old.rmdir()
        info = site / f"demo_pkg-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: demo-pkg\nVersion: {version}\n")
        stamp = site.stat().st_mtime_ns + 1_000_000_000  # a real install comes well after the last read
        os.utime(site, ns=(stamp, stamp))

    assert "demo-pkg" not in capture.environment()["packages"]
    install("1.0")
    assert capture.environment()["packages"]["demo-pkg"] == "1.0"
    install("2.0")
    packages = capture.environment()["packages"]
    assert packages["demo-pkg"] == "2.0" and packages["pytest"] == pytest.__version__
    packages["demo-pkg"] = "changed by the caller"
    assert capture.environment()["packages"]["demo-pkg"] == "2.0"


def test_git_state_of_a_clean_repository(repo):
    state = capture.git_state(repo)
    assert state is not None
    assert state["commit"] == git(repo, "rev-parse", "HEAD") and len(state["commit"]) == 40
    assert state["branch"] == "main"
    assert Path(state["root"]).resolve() == repo.resolve()
    assert state["dirty"] is False and state["untracked"] == [] and state["diff"] == ""


def test_git_state_records_edits_and_untracked_files(repo):
    (repo / "train.py").write_text("print(2)\n")
    (repo / "new.py").write_text("x = 1\n")
    state = capture.git_state(repo / ".")
    assert state["dirty"] is True
    assert state["untracked"] == ["new.py"]
    assert "-print(1)" in state["diff"] and "+print(2)" in state["diff"]


def test_git_state_removes_credentials_from_the_remote(repo):
    git(repo, "remote", "add", "origin", "https://user:s3cret@example.com/team/repo.git")
    state = capture.git_state(repo)
    assert state["remote"] == "https://example.com/team/repo.git"
    assert "s3cret" not in str(state)


def test_git_state_caps_the_diff(repo, monkeypatch):
    monkeypatch.setattr(capture, "MAX_DIFF", 100)
    (repo / "train.py").write_text("x = 1\n" * 1000)
    assert len(capture.git_state(repo)["diff"]) == 100


def test_git_state_outside_a_repository_is_none(tmp_path_factory):
    outside = tmp_path_factory.mktemp("plain")
    if subprocess.run(["git", "rev-parse"], cwd=outside, capture_output=True).returncode == 0:
        pytest.skip("the temporary folder is itself inside a git repository")
    assert capture.git_state(outside) is None


def test_git_state_of_a_repository_without_commits(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    git(root, "init", "-q")
    (root / "a.py").write_text("")
    state = capture.git_state(root)
    assert state["commit"] == "" and state["diff"] == "" and state["untracked"] == ["a.py"]


def test_notebook_path_from_the_job_variable_jupyter_and_vscode(tmp_path, monkeypatch):
    nb = tmp_path / "analysis.ipynb"
    nb.write_text("{}")
    monkeypatch.delenv("AIENG_NOTEBOOK_PATH", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert capture.notebook_path({}) is None
    assert capture.notebook_path({"__vsc_ipynb_file__": str(nb)}) == nb.resolve()
    assert capture.notebook_path({"__session__": str(nb)}) == nb.resolve()
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb))
    assert capture.notebook_path(None) == nb.resolve()
    monkeypatch.setenv("AIENG_NOTEBOOK_PATH", str(nb))
    assert capture.notebook_path({"__session__": "/elsewhere/other.ipynb"}) == nb.resolve()


def test_notebook_path_ignores_missing_files_and_non_notebooks(tmp_path, monkeypatch):
    monkeypatch.delenv("AIENG_NOTEBOOK_PATH", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    (tmp_path / "script.py").write_text("")
    assert capture.notebook_path({"__session__": str(tmp_path / "script.py")}) is None
    assert capture.notebook_path({"__session__": str(tmp_path / "gone.ipynb")}) is None


def test_a_session_name_relative_to_elsewhere_is_found_in_the_working_folder(tmp_path, monkeypatch):
    # Jupyter gives the path relative to the server's root; the kernel runs in the notebook's folder
    monkeypatch.delenv("AIENG_NOTEBOOK_PATH", raising=False)
    (tmp_path / "nb.ipynb").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert capture.notebook_path({"__session__": "some/server/folder/nb.ipynb"}) == (tmp_path / "nb.ipynb").resolve()
