"""``schedule add`` and ``contract infer`` on a full disk (a small tmpfs holding the project and its
workspace), with every amount of free space: an error printed means the schedule or contract does
not exist (and is not audited); success means it exists and is audited."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A 32 MB tmpfs as the project folder (needs root; skipped otherwise)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"could not mount a tmpfs: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(mount: Path, leave: int) -> Path:
    filler = mount / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)  # unbuffered: closing it flushes nothing
    try:
        for size in (1 << 16, 4096, 512, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aieng_nb", *args], cwd=cwd, env=env, capture_output=True, text=True)


FREE = [0, 512, 2048, 4096, 8192, 16384, 65536, 1 << 20]


@pytest.mark.timeout(1200)
def test_schedule_add_and_contract_infer_on_a_full_disk(project, tmp_path, monkeypatch) -> None:
    import pandas as pd

    import aieng_nb as aieng
    from aieng_nb import audit, config, schedules
    from aieng_nb.jobs.notebook import write_notebook
    from aieng_nb.workspace import Workspace

    outcomes: dict[str, list[int]] = {"schedule": [], "contract": []}
    for i, free in enumerate(FREE):
        here = project / f"p{i}"
        here.mkdir()
        monkeypatch.chdir(here)
        monkeypatch.setenv("AIENG_WORKSPACE", str(here / ".aieng"))
        monkeypatch.setenv("AIENG_STATE_DIR", str(tmp_path / f"state{i}"))
        monkeypatch.delenv("AIENG_CONTRACTS_DIR", raising=False)
        config.reset()
        ws = Workspace(here / ".aieng").ensure()
        nb = write_notebook(here / "s.ipynb", ["print(1)"])
        aieng.snapshot(pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]}), name="train")
        env = dict(os.environ)
        filler = _fill(project, free)
        sched = _run(["schedule", "add", "nightly", str(nb), "--cron", "0 3 * * *"], here, env)
        contract = _run(["contract", "infer", "train"], here, env)
        filler.unlink()
        events = [e.event for e in audit.entries(workspace=ws)]
        for kind, done in (("schedule", sched), ("contract", contract)):
            assert "Traceback" not in done.stderr, done.stderr
            outcomes[kind].append(done.returncode)
        from aieng_nb import storage

        storage.reset()  # read what the database holds on disk, not a cached connection's view
        exists = "nightly" in [s.name for s in schedules.list_schedules(workspace=ws)]
        assert exists == (sched.returncode == 0), (free, sched.stderr)
        assert ("schedule.add" in events) == exists, (free, events)
        if exists:
            assert schedules.get("nightly", ws).cron == "0 3 * * *"
        made = (here / "contracts" / "train.yaml").exists()
        assert made == (contract.returncode == 0), (free, contract.stderr)
        assert ("contract.infer" in events) == made, (free, events)
        for done in (sched, contract):
            if done.returncode:
                assert done.stderr.startswith("aieng: error: ") and len(done.stderr.strip().splitlines()) == 1
        subprocess.run(["rm", "-rf", str(here)], check=False)
    assert 0 in outcomes["schedule"] and 0 in outcomes["contract"], outcomes
    assert any(outcomes["schedule"]) and any(outcomes["contract"]), outcomes  # the failures were exercised
