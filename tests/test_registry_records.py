"""The registry's records follow the records convention, and the CLI's --json is exactly their to_dict()."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from aieng_nb import loop
from aieng_nb.cli import main
from aieng_nb.exceptions import ValidationError
from aieng_nb.loop.records import LoopConfig, LoopEvent, LoopEventKind, LoopHistory, LoopList, LoopState
from aieng_nb.records import utc
from aieng_nb.registry.records import (
    AliasAction,
    AliasMove,
    GateReport,
    GateResult,
    GateVerdict,
    ModelList,
    ModelStatus,
    ModelSummary,
    PromotionResult,
    VersionInfo,
    VersionList,
)

NB = Path(__file__).resolve().parents[1] / "notebooks" / "loop"
T0 = datetime(2026, 12, 2, 10, 0, 0, 250000, tzinfo=timezone.utc)


def gate_report() -> GateReport:
    results = [
        GateResult("metric:accuracy", False, "accuracy", 0.9, 0.8, -0.1, 0.0, -0.15, -0.05, "worse"),
        GateResult("data", True, detail="same columns"),
    ]
    return GateReport("churn", "2", "1", results, "gates/churn.toml", "holdout@1", 100, T0, 0.5)


def move(**kw) -> AliasMove:
    args = dict(name="churn", alias="champion", version="2", previous="1", action=AliasAction.PROMOTE, actor="ana")
    args.update(kw)
    return AliasMove(**args, at=T0)  # type: ignore[arg-type]


def version(n: str = "1", gates: GateVerdict | None = GateVerdict.PASSED) -> VersionInfo:
    return VersionInfo(n, "r" * 32, "models:/m-1", T0, ["champion"], gates, "passed", "accuracy", 0.9, "churn")


RECORDS = [
    GateResult("metric:accuracy", True, "accuracy", 0.9, 0.91, 0.01, 0.0),
    gate_report(),
    move(),
    move(action=AliasAction.AUTO_ROLLBACK, reason="worse on fresh data", seconds=0.01),
    PromotionResult("churn", "2", "champion", True, gate_report(), move(), forced=False),
    PromotionResult("churn", "2", "champion", False, gate_report(), None),
    version(),
    version("2", None),
    ModelSummary("churn", "1", 3),
    ModelStatus("churn", "2", None, "1", [version(), version("2")], [move()], {"run_id": "r", "datasets": []}),
    LoopConfig("churn", "s.ipynb", "t.ipynb", "0 * * * *", score_params={"a": 1}, created_at=T0),
    LoopEvent(T0, LoopEventKind.BREACH, "drift_share 0.6 > 0.3", {"job_id": "j1"}),
    LoopState(["j1"], {"job_id": "j2", "phase": "training"}, None, [{"at": "2026-12-02T10:00:00Z"}]),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_every_record_round_trips_through_json(record):
    data = record.to_dict()
    text = json.dumps(data, allow_nan=False)  # JSON-safe: no datetimes, enums or NaN left
    again = type(record).from_dict(json.loads(text))
    assert again == record
    assert again.to_dict() == data


def test_times_are_iso_utc_and_statuses_are_str_enums():
    data = move().to_dict()
    assert data["at"] == "2026-12-02T10:00:00.250000Z" and data["action"] == "promote"
    again = AliasMove.from_dict(data)
    assert again.at == T0 and again.at.tzinfo is not None
    assert again.action is AliasAction.PROMOTE and again.action == "promote"
    assert VersionInfo.from_dict(version().to_dict()).gates is GateVerdict.PASSED
    assert LoopEvent.from_dict({"at": "2026-12-02T10:00:00Z", "kind": "promote"}).kind is LoopEventKind.PROMOTE
    assert gate_report().to_dict()["passed"] is False  # derived, kept in the JSON for readers


def test_files_written_before_the_convention_still_load():
    # loops and states stored with "+00:00" times, events with epoch floats or a word we no longer write
    cfg = LoopConfig.from_dict(
        {"name": "m", "score": "s", "retrain": "t", "cron": "0 * * * *", "created_at": "2026-01-01T00:00:00.123+00:00"}
    )
    assert cfg.created_at == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=timezone.utc)
    old = LoopEvent.from_dict({"at": 0.0, "kind": "retrain.paused", "message": "x", "data": None})
    assert old.at == utc(0) and old.kind == "retrain.paused" and old.data == {}
    built = LoopEvent("2026-01-01T00:00:00+00:00", "rollback.auto", "rolled back")
    assert built.at == datetime(2026, 1, 1, tzinfo=timezone.utc) and built.kind is LoopEventKind.ROLLBACK_AUTO
    hand_edited = AliasMove.from_dict({**move().to_dict(), "action": "?", "at": None})
    assert hand_edited.action == "?" and hand_edited.at is None and "[?]" in str(hand_edited)
    gates = GateReport.from_dict({"name": "m", "version": "2", "champion_version": None, "created_at": "2026-01-01"})
    assert gates.results == [] and gates.created_at == datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_non_finite_numbers_become_null():
    data = GateResult("metric:x", False, "x", float("nan"), float("inf"), None).to_dict()
    assert data["champion"] is None and data["challenger"] is None
    json.dumps(data, allow_nan=False)


def test_listings_are_record_lists():
    versions = VersionList([version(), version("2", GateVerdict.FAILED)])
    assert versions.to_dicts() == [v.to_dict() for v in versions]
    assert "2026-12-02T10:00:00" in str(versions) and 'class="bad"' in versions._repr_html_()
    models = ModelList([ModelSummary("churn", None, 2)])
    assert models.to_dicts() == [
        {"name": "churn", "champion": None, "latest_version": 2, "challenger": None, "previous_champion": None}
    ]
    assert str(ModelList()).startswith("no registered models")
    hist = LoopHistory([LoopEvent(T0, LoopEventKind.ERROR, "boom"), LoopEvent(T0, LoopEventKind.SCORED, "ok")])
    assert hist.failed and not LoopHistory(hist[1:]).failed
    assert hist.kinds() == ["error", "scored"]
    assert "Loop history" in hist._repr_html_() and 'class="bad"' in hist._repr_html_()
    loops = LoopList([LoopConfig("m", "/a/s.ipynb", "/a/t.ipynb", "0 * * * *")], {"m": T0})
    assert "2026-12-02T10:00:00" in str(loops) and "s.ipynb" in str(loops)
    assert loops.to_dicts() == [loops[0].to_dict()]


def _loop_add(*extra: str) -> int:
    argv = ["loop", "add", "churn", "--score", str(NB / "score.ipynb"), "--retrain", str(NB / "train.ipynb")]
    return main([*argv, "--cron", "0 * * * *", *extra])


def test_cli_loop_list_and_history_json_are_the_records(capsys):
    from aieng_nb.loop.store import event, load_state, locked_loop, save_state
    from aieng_nb.workspace import current

    assert _loop_add("-p", "variant", "good") == 0
    out = capsys.readouterr().out
    assert out == loop.describe("churn") + "\n" and "next run 20" in out
    ws = current()
    with locked_loop("churn", ws):  # the loop's own writer records a timeline
        state = load_state("churn", ws)
        event("churn", state, ws, "scored", "scoring job j1: checks passed", job_id="j1")
        event("churn", state, ws, "breach", "drift_share 0.6 > 0.3", job_id="j2")
        save_state("churn", state, ws)
    assert main(["loop", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == loop.list_loops().to_dicts()
    assert main(["loop", "history", "churn", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == loop.history("churn").to_dicts()
    assert [e["kind"] for e in listed] == ["scored", "breach"] and listed[0]["at"].endswith("Z")
    assert main(["loop", "list"]) == 0
    assert "churn" in capsys.readouterr().out


def test_loop_options_are_checked_and_assembled_in_the_core(capsys):
    from aieng_nb import schedules

    with pytest.raises(ValidationError, match="not a Python identifier"):
        loop.add(
            "churn",
            score=str(NB / "score.ipynb"),
            retrain=str(NB / "train.ipynb"),
            cron="0 * * * *",
            score_params={"bad name": 1},
        )
    assert loop.list_loops() == []
    assert _loop_add("-s", "2x", "1") == 2  # the same check through the CLI: a usage error
    assert "not a Python identifier" in capsys.readouterr().err
    spec = {"reference": "snapshot:train", "current": "var:scored"}
    assert _loop_add("--monitor", '{"reference": "train"}') == 2  # an incomplete spec is refused now, not at 3 a.m.
    assert loop.list_loops() == []
    assert _loop_add("--monitor", json.dumps(spec), "--timeout", "60") == 0
    options = schedules.get("loop-churn").options
    assert options["monitor"] == spec and options["timeout"] == 60


def test_cli_model_list_and_status_json_are_the_records(capsys):
    from registry_helpers import train_run
    from sklearn.linear_model import LogisticRegression

    import aieng_nb as aieng
    from aieng_nb.loop.synthetic import FEATURES, batch
    from aieng_nb.registry.status_view import list_models

    df = batch(200, concept=1, seed=0)
    run_id = train_run(LogisticRegression(), df[FEATURES], df["label"], metrics={"accuracy": 0.9})
    registered = aieng.register_model(run_id, "churn")
    aieng.promote("churn", registered.version)
    assert main(["model", "list", "--json"]) == 0
    assert (
        json.loads(capsys.readouterr().out)
        == list_models().to_dicts()
        == [{"name": "churn", "champion": "1", "latest_version": 1, "challenger": None, "previous_champion": None}]
    )
    assert main(["model", "status", "churn", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status == aieng.model_status("churn").to_dict()
    assert ModelStatus.from_dict(status).versions[0].gates is GateVerdict.PASSED
    assert main(["model", "register", run_id, "--name", "churn", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert VersionInfo.from_dict(again).version == "2" and again["name"] == "churn"
    assert main(["model", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["name", "champion", "challenger", "previous", "champion", "latest", "version"]
    assert table[-1].split() == ["churn", "1", "2"]  # no challenger or previous champion yet
