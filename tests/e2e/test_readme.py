"""Every code example in README.md runs as written, in order, in a fresh workspace.

Python blocks run in one real IPython shell (as cells of one notebook, the extension loaded by the
README's own ``%load_ext``); bash blocks run with bash in the same folder, this venv first on PATH.
``text`` blocks are command synopses, not examples. A block may be skipped only with a marker line
``<!-- readme-test: skip (reason) -->`` right before it, and only for installing packages or starting
a server (the demo's ``mlflow ui`` command is opened in a browser by test_mlflow_ui_browser.py).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```(\w*)\s*$")
SKIP = re.compile(r"^<!-- readme-test: skip \((.+)\) -->$")


@dataclass
class Block:
    lang: str
    code: str
    line: int
    skip: str | None


def readme_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start, lang = i, match.group(1)
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        before = lines[start - 1].strip() if start else ""
        skip = SKIP.match(before)
        blocks.append(Block(lang, "\n".join(body) + "\n", start + 1, skip.group(1) if skip else None))
        i += 1
    return blocks


def test_the_readme_has_examples_and_skips_only_installs_and_servers():
    blocks = readme_blocks((ROOT / "README.md").read_text())
    assert {b.lang for b in blocks} <= {"python", "bash", "text", "toml"}, {b.lang for b in blocks}
    assert sum(b.lang == "python" for b in blocks) >= 5 and sum(b.lang == "bash" for b in blocks) >= 3
    skipped = [b for b in blocks if b.skip]
    assert all(b.lang == "bash" for b in skipped)
    assert all("pip install" in b.code or " ui " in b.code for b in skipped), [b.line for b in skipped]


@pytest.mark.timeout(2400)  # two real jobs with reports, Evidently, explain: minutes on a loaded machine
def test_every_readme_example_runs_in_order(shell, tmp_path, python_env, workspace):
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    shell.run_line_magic("unload_ext", "aieng_nb")  # the README loads it itself
    env = {**python_env, "PYTHONPATH": str(ROOT)}
    if shutil.which("aieng", path=env["PATH"]) is None:  # not installed as a console script here
        shim = tmp_path / "bin" / "aieng"
        shim.parent.mkdir()
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m aieng_nb.cli "$@"\n')
        shim.chmod(0o755)
        env["PATH"] = f"{shim.parent}{os.pathsep}{env['PATH']}"
    ran = []
    for block in readme_blocks((ROOT / "README.md").read_text()):
        if block.skip or block.lang == "text":
            continue
        where = f"README.md line {block.line} ({block.lang})"
        if block.lang == "toml":  # a model's gate file: checked by the registry's own validator
            import tomllib

            from aieng_nb.registry import gatefile

            gatefile.parse(tomllib.loads(block.code), where)
        elif block.lang == "python":
            result = shell.run_cell(block.code, store_history=True)
            error = result.error_before_exec or result.error_in_exec
            assert error is None, f"{where} failed: {type(error).__name__}: {error}\n{block.code}"
        else:
            done = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", block.code],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=1500,
            )
            assert done.returncode == 0, (
                f"{where} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        ran.append(where)
    assert len(ran) >= 8
    # what the examples promised happened, in this workspace
    import aieng_nb as aieng

    names = {r.name for r in aieng.list_runs(last=100)}
    assert {"baseline", "tuned", "feature-eng", "faster"} <= names
    assert [s.version for s in aieng.list_snapshots("train")][:2] == [1, 2]
    assert any(j.status == "COMPLETED" for j in aieng.list_jobs())
    assert sys.modules.get("aieng_nb.ipython_ext") is not None
