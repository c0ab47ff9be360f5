"""Two teammates, two OS users, no shared disk: one PostgreSQL metadata database and one
``mlflow server --serve-artifacts`` (PostgreSQL backend) on 127.0.0.1 are all they share.

Each teammate is a process run as its own OS user (``aieng_team_a`` / ``aieng_team_b``, created
here) with its own HOME (and so its own audit key) and its own folder, in a private mount namespace
where the other's folder and HOME are covered by an empty tmpfs (``unshare -m``): nothing of the
other's disk is reachable. (``/root``, which holds the interpreter, is covered too with only the
interpreter bound back.) The notebooks are in a read-only project checkout at the same path for both,
as a team's repository would be. Races are released at one instant by a go file both wait on,
20 trials each. Needs root (useradd, mounts) and Debian's PostgreSQL (installed when missing).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import mlflow_server, postgres

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or not all(shutil.which(t) for t in ("unshare", "setpriv", "useradd", "mount")),
        reason="two OS users and private mounts need root, unshare, setpriv and useradd",
    ),
]

REPO = Path(__file__).resolve().parents[2]
TRIALS = int(os.environ.get("AIENG_TEAM_TRIALS", "20"))
USERS = {"a": "aieng_team_a", "b": "aieng_team_b"}


def _notebook(path: Path, parameters: str, body: str) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _user(name: str, home: Path) -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-M", "-d", str(home), "-s", "/bin/sh", name], check=True, capture_output=True)
        entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


@dataclass
class Team:
    base: Path
    url: str  # the MLflow server
    database_url: str  # the shared metadata database
    project: Path
    sync: Path

    def folder(self, who: str) -> Path:
        return self.base / who

    def env(self, who: str) -> dict[str, str]:
        home = self.base / f"home_{who}"
        return {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(home),
            "USER": USERS[who],
            "LOGNAME": USERS[who],
            "PYTHONPATH": str(REPO),
            "AIENG_TRACKING_URI": self.url,
            "AIENG_DATABASE_URL": self.database_url,
            "AIENG_WORKSPACE": str(self.folder(who) / ".aieng"),
            "AIENG_STATE_DIR": str(home / "state"),
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
            "PYTHONUNBUFFERED": "1",
        }

    def command(self, who: str, argv: list[str]) -> list[str]:
        """``argv`` as teammate ``who``: a private mount namespace hiding the other's folder and HOME."""
        other = "b" if who == "a" else "a"
        uid, gid = pwd.getpwnam(USERS[who]).pw_uid, pwd.getpwnam(USERS[who]).pw_gid
        stage = self.base / f"stage_{who}"
        pyenv = Path(sys.base_prefix).parents[1]  # /root/.pyenv/versions/X -> /root/.pyenv
        script = "\n".join(
            [
                "set -e",
                f"mount --bind {pyenv} {stage}",  # the interpreter lives under /root (mode 0700)
                "mount -t tmpfs -o mode=755 tmpfs /root",
                f"mkdir -p {pyenv} && mount --bind {stage} {pyenv}",
                f"mount -t tmpfs -o mode=755 tmpfs {self.folder(other)}",  # no shared disk: an empty folder
                f"mount -t tmpfs -o mode=700 tmpfs {self.base / f'home_{other}'}",
                f'cd {self.folder(who)} && exec setpriv --reuid={uid} --regid={gid} --init-groups -- "$@"',
            ]
        )
        env = self.env(who)
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "teammate",
                "env", "-i", *[f"{k}={v}" for k, v in env.items()], *argv]  # fmt: skip

    def run(self, who: str, argv: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(who, argv), capture_output=True, text=True, timeout=timeout)

    def cli(self, who: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(who, [sys.executable, "-m", "aieng_nb", *args])

    def python(self, who: str, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(who, [sys.executable, "-c", code, *args])

    def start(self, who: str, code: str, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(who, [sys.executable, "-c", code, *args]),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc.stdout


@pytest.fixture(scope="module")
def team():
    from mlflow.tracking import MlflowClient

    base = Path(tempfile.mkdtemp(prefix="aieng-team-"))
    os.chmod(base, 0o755)
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, base, True)
        server_url = stack.enter_context(postgres.cluster(base / "pg"))
        proc, url = mlflow_server.start(base / "mlflow", postgres.fresh_database(server_url))
        stack.callback(mlflow_server.stop, proc)
        project, sync = base / "project", base / "sync"
        project.mkdir()
        sync.mkdir(mode=0o777)
        os.chmod(sync, 0o777)
        _notebook(project / "hello.ipynb", "x = 1", "print(x * 2)")
        _notebook(project / "retrain.ipynb", "data = ''", "print(data)")
        _notebook(project / "score.ipynb", "model = ''", "print(model)")
        for who in ("a", "b"):
            home, folder = base / f"home_{who}", base / who
            uid, gid = _user(USERS[who], home)
            for path in (home, folder):
                path.mkdir(mode=0o700)
                os.chown(path, uid, gid)
            (base / f"stage_{who}").mkdir()
        client = MlflowClient(url)  # the shared model: three versions with the same accuracy (the gate passes)
        exp = client.create_experiment("churn-training")
        client.create_registered_model("churn")
        for _ in range(3):
            run = client.create_run(exp)
            client.log_metric(run.info.run_id, "accuracy", 0.9)
            client.set_terminated(run.info.run_id)
            client.create_model_version("churn", f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
        yield Team(base, url, postgres.fresh_database(server_url), project, sync)


SETUP_A = """
import json, sys
import pandas as pd
import aieng_nb as aieng
df = pd.DataFrame({"x": range(100), "y": [i % 3 for i in range(100)]})
with aieng.start_run(experiment="team") as run:
    aieng.snapshot(df, name="train")
    aieng.log(accuracy=0.9)
print(json.dumps({"run_id": run.id}))
"""

CHECK_B = """
import json, os, sys
import mlflow, pandas as pd
from mlflow.tracking import MlflowClient
import aieng_nb as aieng
from aieng_nb import audit
from aieng_nb.loop import list_loops
run_id, job_id, folder_a = sys.argv[1:4]
out = {"a_folder_listing": os.listdir(folder_a)}
out["snapshots"] = [r.ref for r in aieng.list_snapshots()]
df = aieng.load("train")
out["loaded"] = df.equals(pd.DataFrame({"x": range(100), "y": [i % 3 for i in range(100)]}))
(ds,) = [i.dataset for i in MlflowClient(os.environ["AIENG_TRACKING_URI"]).get_run(run_id).inputs.dataset_inputs]
out["source"] = pd.read_parquet(mlflow.data.get_source(ds).load()).equals(df)
job = aieng.get_job(job_id)
out["job"] = [job.status, job.submitter if hasattr(job, "submitter") else None]
out["jobs"] = [j.job_id for j in aieng.list_jobs()]
out["schedules"] = [s.name for s in aieng.list_schedules()]
out["loops"] = [c.name for c in list_loops()]
result = audit.verify()
out["verify"] = [result.ok, result.entries, result.reason]
out["actors"] = sorted({e.actor for e in audit.entries()})
print(json.dumps(out, default=str))
"""


def test_b_sees_a_snapshot_job_schedule_loop_and_audit_trail_without_a_disk(team: Team) -> None:
    """Everything teammate A made is listed and loaded by name from B's folder, with A's folder
    hidden from B; the dataset input on A's run resolves through the server."""
    run_id = json.loads(_ok(team.python("a", SETUP_A)).strip().splitlines()[-1])["run_id"]
    printed = _ok(team.cli("a", "job", "run", str(team.project / "hello.ipynb"), "-p", "x", "21", "--json"))
    job = json.loads(printed[printed.index("{\n") :])  # after MLflow's own "View run" lines
    _ok(team.cli("a", "schedule", "add", "nightly", str(team.project / "hello.ipynb"), "--cron", "0 3 * * *"))
    loop = ["loop", "add", "churn", "--score", str(team.project / "score.ipynb"), "--retrain",
            str(team.project / "retrain.ipynb"), "--cron", "0 4 * * *"]  # fmt: skip
    _ok(team.cli("a", *loop))
    second = team.cli("b", *loop)  # one loop per model, across machines
    assert second.returncode == 3 and "already has a loop" in second.stderr, (second.stdout, second.stderr)
    # B trusts A's signing key as a teammate does: A hands over its fingerprint, B trusts it
    a_key = json.loads(_ok(team.cli("a", "audit", "key")))
    _ok(team.cli("b", "audit", "trust", a_key["key_id"]))
    out = json.loads(_ok(team.python("b", CHECK_B, run_id, job["job_id"], str(team.folder("a")))).splitlines()[-1])
    assert out["a_folder_listing"] == []  # B cannot see A's disk
    assert out["snapshots"] == ["train@1"] and out["loaded"] and out["source"]
    assert out["job"][0] == "COMPLETED" and job["job_id"] in out["jobs"]
    assert "nightly" in out["schedules"] and "churn" in out["loops"]
    ok, entries, reason = out["verify"]
    assert ok, reason
    assert entries >= 4  # A's snapshot, job, schedule and loop entries, counted from B
    assert USERS["a"] in " ".join(out["actors"]), out["actors"]
    shown = team.cli("b", "job", "show", job["job_id"])
    assert shown.returncode == 0 and job["job_id"] in shown.stdout, (shown.stdout, shown.stderr)
    verified = team.cli("b", "audit", "verify")  # was "OK: 0 entries" in B's folder
    assert verified.returncode == 0 and verified.stdout.startswith("OK: "), (verified.stdout, verified.stderr)
    assert int(verified.stdout.split()[1]) == entries


RACER = """
import json, os, sys, time
from aieng_nb.cli import main
from aieng_nb.registry.client import client
from aieng_nb.workspace import current
client(current()).get_registered_model("churn")  # stores opened before the start line
current().database()
who, sync, trials = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(trials):
    plan = os.path.join(sync, f"plan-{i}-{who}.json")
    while not os.path.exists(plan):
        time.sleep(0.005)
    args = json.load(open(plan))
    open(os.path.join(sync, f"ready-{i}-{who}"), "w").close()
    go = os.path.join(sync, f"go-{i}")
    while not os.path.exists(go):
        time.sleep(0.0005)
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    with open(os.path.join(sync, f"done-{i}-{who}.tmp"), "w") as f:
        f.write(str(code))
    os.rename(os.path.join(sync, f"done-{i}-{who}.tmp"), os.path.join(sync, f"done-{i}-{who}"))
"""


def _release(
    sync: Path, trial: int, plans: dict[str, object], procs: dict[str, subprocess.Popen[str]]
) -> dict[str, str]:
    """Give both racers their plan, wait until both wait on the go file, release them, collect."""
    for who, plan in plans.items():
        tmp = sync / f"plan-{trial}-{who}.tmp"
        tmp.write_text(json.dumps(plan))
        os.chmod(tmp, 0o644)
        tmp.rename(sync / f"plan-{trial}-{who}.json")
    deadline = time.monotonic() + 300
    while not all((sync / f"ready-{trial}-{w}").exists() for w in plans):
        assert all(p.poll() is None for p in procs.values()), {w: p.communicate() for w, p in procs.items()}
        assert time.monotonic() < deadline
        time.sleep(0.01)
    (sync / f"go-{trial}").touch()  # both released at once
    while not all((sync / f"done-{trial}-{w}").exists() for w in plans):
        assert all(p.poll() is None for p in procs.values()), {w: p.communicate() for w, p in procs.items()}
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return {w: (sync / f"done-{trial}-{w}").read_text() for w in plans}


def _racers(team: Team, code: str, tag: str) -> dict[str, subprocess.Popen[str]]:
    sync = team.sync / tag
    sync.mkdir(mode=0o777)
    os.chmod(sync, 0o777)
    return {who: team.start(who, code, who, str(sync), str(TRIALS)) for who in ("a", "b")}


def _stop_all(procs: dict[str, subprocess.Popen[str]]) -> None:
    for p in procs.values():
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=60)


def test_simultaneous_promotions_from_two_machines_give_one_winner_every_trial(team: Team) -> None:
    from mlflow.tracking import MlflowClient

    from aieng_nb.workspace import Workspace

    client = MlflowClient(team.url)

    def champion() -> str | None:
        aliases = client.get_registered_model("churn").aliases or {}
        return str(aliases["champion"]) if "champion" in aliases else None

    if champion() is None:
        _ok(team.cli("a", "model", "promote", "churn", "--version", "1"))
    procs = _racers(team, RACER, "promote")
    team_view = Workspace(team.base / "root" / ".aieng", configured_tracking_uri=team.url,
                          configured_database_url=team.database_url)  # fmt: skip
    from aieng_nb.registry import intents

    before = len(intents.history(team_view, "churn"))
    winners = []
    try:
        for trial in range(TRIALS):
            seen = champion()
            a_version, b_version = [v for v in ("1", "2", "3") if v != seen]
            plans = {
                who: ["model", "promote", "churn", "--version", version, "--expect-champion", str(seen)]
                for who, version in (("a", a_version), ("b", b_version))
            }
            codes = _release(team.sync / "promote", trial, plans, procs)
            assert sorted(codes.values()) == ["0", "3"], (trial, codes)  # one success, one conflict (exit 3)
            winner = "a" if codes["a"] == "0" else "b"
            assert champion() == (a_version if winner == "a" else b_version)
            winners.append(winner)
    finally:
        _stop_all(procs)
    history = intents.history(team_view, "churn")
    assert len(history) - before == TRIALS  # one audited move per trial: no lost or double entries
    assert {m.actor.split()[0] for m in history[-TRIALS:]} <= {USERS["a"], USERS["b"]}


SCHEDULER = """
import datetime as dt, json, os, sys, time
from aieng_nb import schedules
from aieng_nb.workspace import current
current().database()
who, sync, trials = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(trials):
    plan = os.path.join(sync, f"plan-{i}-{who}.json")
    while not os.path.exists(plan):
        time.sleep(0.005)
    now = dt.datetime.fromisoformat(json.load(open(plan)))
    open(os.path.join(sync, f"ready-{i}-{who}"), "w").close()
    go = os.path.join(sync, f"go-{i}")
    while not os.path.exists(go):
        time.sleep(0.0005)
    got = schedules.claim("race", now)
    job = got[2].job_id if got and got[2] is not None else ""
    with open(os.path.join(sync, f"done-{i}-{who}.tmp"), "w") as f:
        f.write(job)
    os.rename(os.path.join(sync, f"done-{i}-{who}.tmp"), os.path.join(sync, f"done-{i}-{who}"))
"""


def test_two_schedulers_on_two_machines_fire_each_slot_once(team: Team) -> None:
    import datetime as dt

    from aieng_nb import schedules
    from aieng_nb.workspace import Workspace

    _ok(team.cli("a", "schedule", "add", "race", str(team.project / "hello.ipynb"), "--cron", "* * * * *"))
    start = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0) + dt.timedelta(minutes=2)
    procs = _racers(team, SCHEDULER, "schedule")
    sync = team.sync / "schedule"
    fired = []
    try:
        for trial in range(TRIALS):
            now = (start + dt.timedelta(minutes=trial, seconds=1)).isoformat()
            jobs = _release(sync, trial, {"a": now, "b": now}, procs)
            got = [j for j in jobs.values() if j]
            assert len(got) == 1, (trial, jobs)  # exactly one of the two schedulers fired the slot
            fired.append(got[0])
    finally:
        _stop_all(procs)
    view = Workspace(team.base / "root" / ".aieng", configured_tracking_uri=team.url,
                     configured_database_url=team.database_url)  # fmt: skip
    slots = schedules.slots("race", workspace=view)
    assert len(slots) == TRIALS and sorted(s["job_id"] for s in slots) == sorted(fired)
    assert len(set(fired)) == TRIALS
