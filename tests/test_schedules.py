"""Schedules: cron time logic with an injected clock, catch-up policies, exactly-once claims, CLI;
plus one real firing by the daemon, double-daemon exclusivity and clean SIGTERM shutdown."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time

import pytest

from aieng_nb import schedules
from aieng_nb.exceptions import NotFoundError, ValidationError
from aieng_nb.jobs.notebook import write_notebook
from aieng_nb.schedules import Schedule, decide

UTC = dt.timezone.utc
AIENG = [sys.executable, "-c", "import sys; from aieng_nb.cli import main; sys.exit(main())"]


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def nightly(**kw) -> Schedule:
    return Schedule(name="n", notebook="x.ipynb", cron="0 3 * * *", created_at=at(2026, 1, 1).isoformat(), **kw)


def test_not_due_before_the_first_slot():
    assert decide(nightly(), at(2026, 1, 1, 2, 59)) is None


def test_fires_a_fresh_slot_once_then_waits_for_the_next():
    s = nightly()
    d = decide(s, at(2026, 1, 1, 3, 0, 20))
    assert d == schedules.Decision("fire", at(2026, 1, 1, 3).isoformat())
    s.last_slot = d.slot
    assert decide(s, at(2026, 1, 1, 3, 0, 40)) is None
    assert decide(s, at(2026, 1, 2, 3, 0, 1)).slot == at(2026, 1, 2, 3)


@pytest.mark.parametrize(("policy", "action"), [("skip", "skip"), ("once", "fire")])
def test_catch_up_policy_for_slots_missed_while_down(policy, action):
    s = nightly(catchup=policy)
    # the scheduler was down for three nights: one decision for the latest slot, never three
    d = decide(s, at(2026, 1, 4, 9, 0))
    assert d.action == action and d.slot == at(2026, 1, 4, 3)
    s.last_slot = d.slot
    assert decide(s, at(2026, 1, 4, 9, 0, 1)) is None


def test_time_zone_is_applied():
    s = nightly(timezone="Europe/Paris")  # 03:00 in Paris is 02:00 UTC in winter
    assert decide(s, at(2026, 1, 1, 1, 59)) is None
    assert decide(s, at(2026, 1, 1, 2, 0, 5)).slot == at(2026, 1, 1, 2)
    assert s.next_run(at(2026, 7, 1)).astimezone(UTC) == at(2026, 7, 1, 1)  # summer time: UTC+2


def test_paused_never_fires():
    assert decide(nightly(paused=True), at(2026, 1, 1, 3, 0, 1)) is None
    assert nightly(paused=True).next_run() is None


def test_add_validates_and_stores(workspace, tmp_path):
    nb = write_notebook(tmp_path / "j.ipynb", ["print(lr)"], parameters="lr = 0.1")
    with pytest.raises(ValidationError, match="invalid cron"):
        schedules.add("a", str(nb), "every night")
    with pytest.raises(ValidationError, match="time zone"):
        schedules.add("a", str(nb), "0 3 * * *", timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="unknown parameter"):
        schedules.add("a", str(nb), "0 3 * * *", parameters={"lrr": 1})
    with pytest.raises(ValidationError, match="schedule name"):
        schedules.add("../x", str(nb), "0 3 * * *")
    s = schedules.add("a", str(nb), "0 3 * * *", parameters={"lr": "0.5"}, retries=1)
    assert s.parameters == {"lr": 0.5} and s.options == {"retries": 1}
    with pytest.raises(ValidationError, match="exists"):
        schedules.add("a", str(nb), "0 3 * * *")
    assert [x.name for x in schedules.list_schedules()] == ["a"]
    assert schedules.set_paused("a", True).paused
    assert not schedules.set_paused("a", False).paused
    schedules.remove("a")
    with pytest.raises(NotFoundError):
        schedules.get("a")


def test_a_slot_is_claimed_exactly_once(workspace, tmp_path):
    nb = write_notebook(tmp_path / "j.ipynb", ["x = 1"])
    schedules.add("a", str(nb), "*/5 * * * *")
    s = schedules.get("a")
    first_slot = s.next_run(s.created_at)
    now = first_slot + dt.timedelta(seconds=3)
    claimed = schedules.claim("a", now, workspace=workspace)
    assert claimed is not None and claimed[1].action == "fire" and claimed[2].schedule == "a"
    assert schedules.claim("a", now, workspace=workspace) is None  # a second daemon: nothing to do
    s = schedules.get("a")
    assert s.fired == 1 and s.last_job_id == claimed[2].job_id
    assert claimed[2].tags["aieng.schedule.slot"] == claimed[1].to_dict()["slot"]


def test_cli_schedule_commands(workspace, tmp_path, capsys):
    from aieng_nb.cli import main

    nb = write_notebook(tmp_path / "j.ipynb", ["print(lr)"], parameters="lr = 0.1")
    assert main(["schedule", "add", "nightly", str(nb), "--cron", "0 3 * * *", "-p", "lr", "0.01", "--tz", "UTC"]) == 0
    assert "next run" in capsys.readouterr().out
    assert main(["schedule", "add", "bad", str(nb), "--cron", "61 * * * *"]) == 2
    capsys.readouterr()
    assert main(["schedule", "list", "--json"]) == 0
    (item,) = json.loads(capsys.readouterr().out)
    assert item["name"] == "nightly" and item["parameters"] == {"lr": 0.01} and item["next_run"]
    assert main(["schedule", "pause", "nightly"]) == 0
    assert main(["schedule", "list"]) == 0
    assert "paused" in capsys.readouterr().out
    assert main(["schedule", "resume", "nightly"]) == 0
    assert main(["schedule", "remove", "nightly"]) == 0
    assert main(["schedule", "remove", "nightly"]) == 2


@pytest.mark.slow
def test_scheduler_once_with_injected_clock_runs_the_catch_up_job(workspace, tmp_path):
    from aieng_nb.schedules.scheduler import Scheduler

    nb = write_notebook(tmp_path / "j.ipynb", ["print(lr * 2)"], parameters="lr = 0.1")
    schedules.add("late", str(nb), "0 3 * * *", parameters={"lr": 2.0}, catchup="once")
    schedules.add("skipper", str(nb), "0 3 * * *", catchup="skip")
    created = schedules.get("late").created_at
    later = created + dt.timedelta(days=2, hours=1)  # two nights missed
    daemon = Scheduler(workspace, clock=lambda: later)
    claims = daemon.run_pending(wait=True)
    actions = {c[0].name: c[1].action for c in claims}
    assert actions == {"late": "fire", "skipper": "skip"}
    late = schedules.get("late")
    assert late.fired == 1 and late.last_status == "COMPLETED"
    assert schedules.get("skipper").skipped == 1 and schedules.get("skipper").fired == 0
    from aieng_nb.jobs import store as job_store

    (job,) = job_store.list_records(schedule="late", workspace=workspace)
    assert job.status == "COMPLETED" and job.parameters == {"lr": 2.0}
    assert daemon.run_pending(later) == []


@pytest.mark.slow
def test_daemon_fires_real_schedule_once_per_slot_with_two_daemons(workspace, tmp_path, python_env):
    nb = write_notebook(tmp_path / "tick.ipynb", ["import time\nprint('tick', time.time())"])
    schedules.add("fast", str(nb), "* * * * * */3")  # every 3 seconds (6th field: seconds)
    cmd = [*AIENG, "scheduler", "--tick", "0.2", "--grace", "5"]
    daemons = [
        subprocess.Popen(cmd, env=python_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    from aieng_nb.jobs import store as job_store

    try:
        # until two firings exist and one has completed (no fixed sleep: a loaded machine is slower)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            jobs = job_store.list_records(schedule="fast", workspace=workspace)
            if len(jobs) >= 2 and any(j.status == "COMPLETED" for j in jobs):
                break
            if any(d.poll() is not None for d in daemons):
                break
            time.sleep(0.2)
    finally:
        for d in daemons:
            d.send_signal(signal.SIGTERM)
        outputs = [d.communicate(timeout=60)[0] for d in daemons]
    assert [d.returncode for d in daemons] == [0, 0], outputs
    assert sum("standing by" in o for o in outputs) >= 1, outputs
    jobs = job_store.list_records(schedule="fast", workspace=workspace)
    slots = [j.tags["aieng.schedule.slot"] for j in jobs]
    assert len(jobs) >= 2 and len(slots) == len(set(slots)), slots
    assert {j.pid for j in jobs} == {jobs[0].pid}  # one daemon fired them all
    assert all(j.status in ("COMPLETED", "STOPPED") for j in jobs), [(j.job_id, j.status) for j in jobs]
    assert any(j.status == "COMPLETED" for j in jobs)
    s = schedules.get("fast")
    assert s.fired == len(jobs) and s.last_run_at


@pytest.mark.parametrize("cron", ["0 0 30 2 *", "0 0 1 1 * 0 2001"])
def test_a_cron_that_never_matches_is_refused_at_add(workspace, tmp_path, cron, capsys):
    from aieng_nb.cli import main

    nb = write_notebook(tmp_path / "j.ipynb", ["x = 1"])
    with pytest.raises(ValidationError, match="never matches"):
        schedules.add("never", str(nb), cron)
    assert schedules.list_schedules() == []
    assert main(["schedule", "add", "never", str(nb), "--cron", cron]) == 2
    assert "never matches" in capsys.readouterr().err
    assert schedules.list_schedules() == []


def test_a_stored_never_matching_schedule_does_not_stop_the_others(workspace, tmp_path, capsys):
    from aieng_nb.cli import main
    from aieng_nb.schedules.scheduler import Scheduler

    nb = write_notebook(tmp_path / "j.ipynb", ["x = 1"])
    good = schedules.add("good", str(nb), "*/5 * * * *")
    # written by an older version (or by hand): never matches again
    schedules.save(Schedule(name="bad", notebook=str(nb), cron="0 0 30 2 *", created_at=good.created_at), workspace)
    assert schedules.get("bad").next_run() is None
    assert main(["schedule", "list"]) == 0
    assert main(["schedule", "list", "--json"]) == 0
    capsys.readouterr()
    first_slot = good.next_run(good.created_at)
    now = first_slot + dt.timedelta(seconds=3)
    daemon = Scheduler(workspace, clock=lambda: now)
    claims = daemon.run_pending(now, wait=True)  # the good one's job really runs (a kernel), to its end
    assert [c[0].name for c in claims] == ["good"] and claims[0][2] is not None
    assert schedules.get("bad").last_status.startswith("ERROR")
    assert schedules.get("good").last_status == "COMPLETED"
    assert daemon.run_pending(now) == []  # still alive on the next tick, the slot fired once


@pytest.mark.parametrize(
    ("opts", "match"),
    [
        ({"retries": -1}, "retries"),
        ({"timeout": -5}, "timeout"),
        ({"cell_timeout": 0}, "cell timeout"),
        ({"retry_backoff": -1.0}, "retry backoff"),
        ({"executor": "bogus"}, "unknown executor"),
    ],
)
def test_schedule_options_are_checked_at_add(workspace, tmp_path, opts, match):
    nb = write_notebook(tmp_path / "j.ipynb", ["x = 1"])
    with pytest.raises(ValidationError, match=match):
        schedules.add("a", str(nb), "0 3 * * *", **opts)
    assert schedules.list_schedules() == []


def test_cli_schedule_add_with_bad_options_exits_2(workspace, tmp_path, capsys):
    from aieng_nb.cli import main

    nb = write_notebook(tmp_path / "j.ipynb", ["x = 1"])
    args = ["schedule", "add", "a", str(nb), "--cron", "0 3 * * *"]
    assert main([*args, "--retries", "-1"]) == 2
    assert main([*args, "--timeout", "-5"]) == 2
    assert main([*args, "--executor", "bogus"]) == 2
    assert schedules.list_schedules() == []


def test_a_firing_whose_executor_fails_ends_failed_and_is_recorded(workspace, tmp_path):
    from aieng_nb.jobs import store as job_store
    from aieng_nb.schedules.scheduler import Scheduler

    nb = write_notebook(tmp_path / "j.ipynb", ["x = 1"])
    s = schedules.add("a", str(nb), "*/5 * * * *")
    s.options["executor"] = "bogus"  # stored by an older version, or the executor's plugin was uninstalled
    schedules.save(s, workspace)
    now = s.next_run(s.created_at) + dt.timedelta(seconds=3)
    (claim,) = Scheduler(workspace).run_pending(now, wait=True)
    job = job_store.load(claim[2].job_id, workspace)
    assert job.status == "FAILED" and "unknown executor" in job.error["message"]
    assert schedules.get("a").last_status == "FAILED"


def _firings(s: Schedule, start: dt.datetime, end: dt.datetime, step_s: int = 60) -> list[str]:
    """Drive decide() minute by minute with an injected clock, as the daemon would."""
    fired, now = [], start
    while now <= end:
        d = decide(s, now)
        if d is not None:
            s.last_slot = d.slot
            if d.action == "fire":
                fired.append(d.slot)
        now += dt.timedelta(seconds=step_s)
    return fired


def test_daily_schedule_fires_once_when_clocks_go_back():
    # 2026-11-01 in New York: 01:00-01:59 happens twice (EDT, then EST)
    s = Schedule(
        name="n",
        notebook="x.ipynb",
        cron="30 1 * * *",
        timezone="America/New_York",
        created_at=at(2026, 10, 31, 12).isoformat(),
    )
    fired = _firings(s, at(2026, 10, 31, 12), at(2026, 11, 2, 12))
    assert fired == [at(2026, 11, 1, 5, 30), at(2026, 11, 2, 6, 30)]
    s = Schedule(
        name="n",
        notebook="x.ipynb",
        cron="30 1 * * *",
        timezone="America/New_York",
        created_at=at(2026, 11, 1, 5, 31).isoformat(),
    )
    assert s.next_run(at(2026, 11, 1, 5, 31)) == at(2026, 11, 2, 6, 30)


def test_daily_schedule_fires_once_when_clocks_go_forward():
    # 2026-03-08 in New York: 02:00-02:59 does not exist
    s = Schedule(
        name="n",
        notebook="x.ipynb",
        cron="30 2 * * *",
        timezone="America/New_York",
        created_at=at(2026, 3, 7, 12).isoformat(),
    )
    fired = _firings(s, at(2026, 3, 7, 12), at(2026, 3, 9, 12))
    days = [f.astimezone(schedules.zone("America/New_York")).date() for f in fired]
    assert days == [dt.date(2026, 3, 8), dt.date(2026, 3, 9)], fired


def test_sub_hourly_and_hourly_schedules_keep_firing_through_the_repeated_hour():
    s = Schedule(
        name="n",
        notebook="x.ipynb",
        cron="*/30 * * * *",
        timezone="America/New_York",
        created_at=at(2026, 11, 1, 4, 50).isoformat(),
    )
    fired = _firings(s, at(2026, 11, 1, 4, 50), at(2026, 11, 1, 7, 10))
    assert fired == [at(2026, 11, 1, h, m) for h, m in [(5, 0), (5, 30), (6, 0), (6, 30), (7, 0)]]
    s = Schedule(
        name="n",
        notebook="x.ipynb",
        cron="0 * * * *",
        timezone="America/New_York",
        created_at=at(2026, 11, 1, 4, 50).isoformat(),
    )
    fired = _firings(s, at(2026, 11, 1, 4, 50), at(2026, 11, 1, 7, 10))
    assert fired == [at(2026, 11, 1, h) for h in (5, 6, 7)]


def _due_schedule(tmp_path) -> tuple[Schedule, dt.datetime]:
    nb = write_notebook(tmp_path / "j.ipynb", ["x = 1"])
    s = schedules.add("a", str(nb), "*/5 * * * *")
    return s, s.next_run(s.created_at) + dt.timedelta(seconds=3)


def test_concurrent_claims_in_threads_fire_a_slot_exactly_once(workspace, tmp_path):
    import threading

    from aieng_nb.jobs import store as job_store

    _, now = _due_schedule(tmp_path)
    barrier = threading.Barrier(4)
    results: list = []

    def claim() -> None:
        barrier.wait()
        results.append(schedules.claim("a", now, workspace=workspace))

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    fired = [r for r in results if r is not None]
    assert len(results) == 4 and len(fired) == 1, results
    assert len(job_store.list_records(schedule="a", workspace=workspace)) == 1
    assert schedules.get("a").fired == 1


def test_concurrent_claims_in_processes_fire_a_slot_exactly_once(workspace, tmp_path, python_env):
    from aieng_nb.jobs import store as job_store

    _, now = _due_schedule(tmp_path)
    go = tmp_path / "go"
    code = (
        "import datetime as dt, os, sys, time\n"
        "from aieng_nb import schedules\n"
        "from aieng_nb.jobs import control\n"  # imported before the start line: claims race, imports do not
        "print('ready', flush=True)\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.001)\n"
        f"c = schedules.claim('a', dt.datetime.fromisoformat({now.isoformat()!r}))\n"
        "print(c[2].job_id if c else 'none')\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=python_env, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    go.touch()
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outs
    ids = [o[-1] for o in outs if o[-1] != "none"]
    assert len(ids) == 1, outs
    assert [j.job_id for j in job_store.list_records(schedule="a", workspace=workspace)] == ids
    assert schedules.get("a").fired == 1
