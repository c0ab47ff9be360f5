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
    assert {b.lang for b in blocks} <= {"python", "bash", "text", "toml", "yaml"}, {b.lang for b in blocks}
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
        elif block.lang == "yaml":  # a pipeline file: the example shipped in notebooks/ says the same
            import yaml

            shipped = yaml.safe_load((ROOT / block.code.splitlines()[0].lstrip("# ").strip()).read_text())
            assert yaml.safe_load(block.code)["steps"] == shipped["steps"], where
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
    pipeline_runs = aieng.list_pipeline_runs()  # the second run reran features, train, evaluate only
    assert [r.status for r in pipeline_runs] == ["COMPLETED", "COMPLETED"]
    assert {n: str(s.state) for n, s in pipeline_runs[0].steps.items()} == {
        "ingest": "CACHED", "clean": "CACHED", "features": "RAN", "train": "RAN", "evaluate": "RAN"}  # fmt: skip
    assert sys.modules.get("aieng_nb.magics.extension") is not None


# What each README Python block shows when it runs as one notebook cell, in order: the block is
# found by a line it contains; each claim is ``stream:`` (what it printed) or ``shown:`` (a displayed
# value's text/plain) and a regex searched in one such output (``.`` matches newlines), in order.
SHOWN: dict[str, list[str]] = {
    "%aieng status": [
        r"stream:.*run 'baseline' started",
        r"stream:.*recorded lr=0\.05, depth=6",
        r"shown:.*name\s+baseline.*status\s+RUNNING.*lr = 0\.05.*loss = ",  # the last line: the status
    ],
    "%aieng compare $baseline": [
        r"stream:.*seeded random, numpy with 42(?:.*)run 'baseline' FINISHED",  # seeded before the end
        r"shown:run_id.*metrics.*tuned.*feature-eng.*baseline",  # %aieng runs, mid-cell
        r"shown:run_id.*\bacc\s+loss\n.*tuned\s.*0\.95\s+0\.01",  # --metrics acc,loss: one column each
        r"shown:name\s+baseline.*status\s+FINISHED.*seed = 42",  # %aieng show: the seed is on baseline
        r"shown:param:lr\s+0\.05\s+0\.1.*param:seed\s+42\s+-.*\(\* = differs\)",  # compare: not on tuned
    ],
    "%aieng snapshots": [
        r"shown:<SnapshotRecord train@1 \w+ frame 569 x 31>",
        r"shown:<SnapshotRecord scored@1 \w+ frame 200 x 31>",
        r"shown:name\s+version\s+hash.*scored\s+1\s.*train\s+1\s",  # the listing, mid-cell
        r"shown:<SnapshotRecord train@2 \w+ frame 400 x 31>",  # display(snap): its profile
        r"shown:<SnapshotDiff train@1 -> train@2: ",
    ],
    "aieng.monitor(reference=": [
        r"stream:.*run '[\w-]+' started",
        r"stream:(True|False) \[.*\]",  # print(rep.passed, rep.drifted_columns)
        r"shown:<MonitoringReport monitor: ",  # %aieng monitor, mid-cell
        r"stream:.*FINISHED after",
        r"shown:report\s+kind\s+result.*monitor-.*explain-.*fairness-",  # %aieng reports --run
    ],
    "%aieng contract infer": [r"shown:<Contract train@1 ", r"shown:<ValidationReport validation: "],
    'probability="proba"': [  # CBPE before labels, and the rule it fails
        r"stream:estimated accuracy 0\.6\d \[0\.\d\d, 0\.\d\d\], reference 0\.8\d\nFalse \[.*'estimated_accuracy_drop > 0\.03'\]",
    ],
    "aieng.training(model": [r"shown:<aieng monitor: resnet-ft \(\w+\), \d charts>"],
    "aieng.audit.verify()": [
        r"stream:run_id.*faster.*baseline.*loss\n.*faster\s.*0\.005"
        r".*param:lr\s+0\.05\s+0\.1.*\(\* = differs\)"
        r".*(no jobs|job_id).*OK",
    ],
}


def _transcript(cell) -> list[str]:
    """A cell's outputs as ``stream:TEXT`` / ``shown:TEXT/PLAIN`` / ``error:...`` lines, in order (the
    printed text of one cell is one stream entry, as the notebook shows it)."""
    out: list[str] = []
    for o in cell.outputs:
        if o.output_type == "stream" and o.name == "stdout":
            if out and out[-1].startswith("stream:"):
                out[-1] += o.text
            else:
                out.append("stream:" + o.text)
        elif o.output_type in ("display_data", "execute_result"):
            out.append("shown:" + str(o.data.get("text/plain", "")))
        elif o.output_type == "error":
            out.append(f"error:{o.ename}: {o.evalue}")
    return out


def _claims_met(transcript: list[str], claims: list[str]) -> list[str]:
    """The claims not found in order (each matched by a later output than the previous one)."""
    at, missing = 0, []
    for claim in claims:
        kind, _, pattern = claim.partition(":")
        found = next(
            (
                i
                for i in range(at, len(transcript))
                if transcript[i].startswith(kind + ":") and re.search(pattern, transcript[i][len(kind) + 1 :], re.S)
            ),
            None,
        )
        if found is None:
            missing.append(claim)
        else:
            at = found if kind == "stream" else found + 1  # one printout may hold several claims
    return missing


@pytest.mark.timeout(1200)
def test_each_readme_python_block_shows_what_it_says_in_a_real_kernel(tmp_path, monkeypatch):
    """Every Python block of the README as one cell of a notebook, run by nbclient in a real kernel
    (what a user pasting the blocks into JupyterLab gets): no errors, and the outputs the README
    promises, the intermediate lines included (listings, the run, the comparison, profiles)."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    blocks = [b for b in readme_blocks((ROOT / "README.md").read_text()) if b.lang == "python"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(b.code) for b in blocks])
    client = NotebookClient(nb, kernel_name="python3", timeout=900, resources={"metadata": {"path": str(tmp_path)}})
    client.allow_errors = True
    client.execute()
    transcripts = {b.line: _transcript(c) for b, c in zip(blocks, nb.cells, strict=True)}
    errors = {line: t for line, t in transcripts.items() if any(x.startswith("error:") for x in t)}
    assert not errors, errors
    unclaimed = set(SHOWN)
    for block in blocks:
        for marker, claims in SHOWN.items():
            if marker in block.code:
                unclaimed.discard(marker)
                missing = _claims_met(transcripts[block.line], claims)
                assert not missing, f"README.md line {block.line}: not shown {missing}\n" + "\n".join(
                    t[:600] for t in transcripts[block.line]
                )
    assert not unclaimed, f"no README block contains {unclaimed}"
    everything = "\n".join(t for lines in transcripts.values() for t in lines)
    assert everything.count("no GPU in use") <= 1  # printed once, not again by the monitor
    assert "VersionInfo(" not in everything and "Report(kind=" not in everything  # records, not field dumps
