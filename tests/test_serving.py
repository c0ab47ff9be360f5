"""aieng_nb.serving without a model: options, the log's rows, labels (end-to-end: tests/e2e/test_serving.py)."""

from __future__ import annotations

import socket

import numpy as np
import pandas as pd
import pytest

import aieng_nb as aieng
from aieng_nb.cli import main
from aieng_nb.exceptions import NotFoundError, ValidationError
from aieng_nb.serving import free_port, load_log, post_labels
from aieng_nb.serving.app import Exchange
from aieng_nb.serving.endpoint import check_interval, listen
from aieng_nb.serving.inference import InferenceLog, read_labels, to_frame


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("value", ["-1", "nan", "0", "inf", "-inf", "soon"])
def test_bad_follow_intervals_are_one_line_and_exit_2(capsys, value):
    assert main(["model", "serve", "churn@champion", f"--follow={value}"]) == 2
    assert "follow interval must be a number of seconds > 0" in _one_error_line(capsys)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--port", "70000"], "a port 0-65535"),
        (["--port", "-3"], "a port 0-65535"),
        (["--log-rows", "0"], "a whole number >= 1"),
        (["--log-seconds", "nan"], "log flush interval must be a number of seconds > 0"),
        (["--shadow", "challenger", "--no-log"], "a shadow's answers go to the inference log"),
    ],
)
def test_bad_serve_options_exit_2(capsys, args, words):
    assert main(["model", "serve", "churn@champion", *args]) == 2
    assert words in _one_error_line(capsys)


def test_a_port_in_use_and_an_unbindable_host_are_one_line_exit_2(capsys, workspace):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["model", "serve", "churn@champion", "--port", str(port)]) == 2
        assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in _one_error_line(capsys)
    assert main(["model", "serve", "churn@champion", "--host", "203.0.113.7", "--port", "0"]) == 2
    assert "cannot listen on 203.0.113.7:0" in _one_error_line(capsys)
    assert main(["model", "serve", "churn@champion", "--host", "no-such-host.invalid"]) == 2
    assert "cannot listen on 'no-such-host.invalid'" in _one_error_line(capsys)
    assert not (workspace.root / "snapshots").exists()  # nothing was created


def test_check_interval_and_listen():
    assert check_interval(None) is None and check_interval("0.5") == 0.5
    for bad in (True, 0, -1, float("nan"), "x"):
        with pytest.raises(ValidationError):
            check_interval(bad)
    with pytest.raises(ValidationError, match="port must be 0-65535"):
        listen("127.0.0.1", 65536)
    sock = listen("127.0.0.1", 0)
    try:
        assert sock.getsockname()[1] > 0
    finally:
        sock.close()
    assert free_port() > 0


def test_log_rows_one_per_input_row_and_any_output_shape():
    frame = pd.DataFrame({"x": [1.0, 2.0], "g": [3, 4]})
    rows = to_frame(
        [
            Exchange("a", 0.0, "1", 1.5, frame, None, np.array([0, 1]), "2", np.array([1, 1])),
            Exchange("b", 1.0, "1", 2.0, {"t": [[1, 2]]}, None, {"out": [3]}),  # tensors in, a dict out
            Exchange("c", 2.0, "2", 1.0, frame, None, pd.DataFrame({"p": [0.1, 0.9]})),
        ]
    )
    assert list(rows["request_id"]) == ["a", "a", "b", "c", "c"] and list(rows["row"]) == [0, 1, 0, 0, 1]
    assert list(rows["prediction"][:2]) == [0, 1] and list(rows["shadow_prediction"][:2]) == [1, 1]
    assert rows["prediction"][2] == '{"out": [3]}' and rows["inputs"][2] == '{"t": [[1, 2]]}'
    assert rows["prediction"][3] == '{"p": 0.1}' and str(rows["served_at"][0]) == "1970-01-01 00:00:00+00:00"


def test_inference_log_flushes_a_snapshot_version_per_batch(workspace):
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    log = InferenceLog("churn", workspace, flush_rows=4, flush_seconds=3600)
    for i in range(5):
        log.append(Exchange(f"r{i}", float(i), "1", 1.0, frame, None, np.array([i, i])))
    log.close()  # 4 rows made a batch at the second request, the rest flushed at close
    assert log.versions == [1, 2, 3] and log.errors == [] and log.rows_written == 10
    assert list(aieng.load("churn-inference@3")["request_id"]) == ["r4", "r4"]
    assert len(load_log("churn")) == 10 and load_log("churn", labeled=True).empty
    with pytest.raises(ValidationError):
        InferenceLog("churn", workspace, flush_rows=0)


def test_labels_join_by_request_id_latest_wins(workspace, tmp_path):
    log = InferenceLog("churn", workspace, flush_rows=100)
    log.append(Exchange("r1", 0.0, "1", 1.0, pd.DataFrame({"x": [1.0, 2.0]}), None, np.array([0, 1])))
    log.append(Exchange("r2", 0.0, "1", 1.0, pd.DataFrame({"x": [3.0]}), None, np.array([1])))
    log.close()
    assert post_labels("churn", {"r1": [1, 1]}) == 2
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\nr2,0\n")
    assert main(["model", "label", "churn", str(labels)]) == 0
    post_labels("churn", pd.DataFrame({"request_id": ["r1"], "row": [1], "label": [0]}))  # a correction
    joined = load_log("churn")
    assert joined["label"].tolist() == [1, 0, 0]
    with pytest.raises(ValidationError, match="request_id and label"):
        post_labels("churn", pd.DataFrame({"id": ["r1"]}))
    with pytest.raises(ValidationError):
        post_labels("churn", {})
    with pytest.raises(NotFoundError):
        read_labels("churn", str(tmp_path / "missing.csv"))
    with pytest.raises(NotFoundError, match="no inference log"):
        load_log("other")


def test_the_live_gate_section_is_validated():
    from aieng_nb.registry.gatefile import GateFileError, parse

    spec = parse({"live": {"min_rows": 50, "min_agreement": 0.9, "accuracy_margin": 0.01}}, "inline")
    assert spec.live == {"min_rows": 50, "min_labeled": 30, "min_agreement": 0.9, "accuracy_margin": 0.01}
    assert parse({}, "inline").live is None
    for bad in ({"min_rows": 0}, {"min_agreement": 1.5}, {"accuracy_margin": "x"}, {"rows": 3}):
        with pytest.raises(GateFileError, match="live"):
            parse({"live": bad}, "inline")
