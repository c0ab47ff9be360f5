"""Contracts in real notebook jobs (papermill kernels): warn -> COMPLETED (checks failed), block -> FAILED."""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pandas as pd
import pytest

import aieng_nb as aieng
from aieng_nb.cli import main as cli
from aieng_nb.exceptions import NotFoundError

pytestmark = pytest.mark.slow


def _notebook(path) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("scale = 1.0")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell(
            "import numpy as np, pandas as pd, aieng_nb as aieng\n"
            "df = pd.DataFrame({'score': np.linspace(0, 1, 50) * scale, 'label': ['a', 'b'] * 25})\n"
            "rec = aieng.snapshot(df, name='scored')\n"
            "aieng.snapshot(df.head(3), name='other')\n"
            "print(rec.contract)"
        ),
    ]
    nbformat.write(nb, str(path))
    return str(path)


def test_job_contract_outcomes(tmp_path, workspace, capsys) -> None:
    nb = _notebook(tmp_path / "score.ipynb")
    good = pd.DataFrame({"score": np.linspace(0, 1, 50), "label": ["a", "b"] * 25})
    aieng.infer_contract(good, name="scored")

    ok = aieng.run_job(nb, {"scale": 1.0}, contracts=["scored"])
    assert ok.status == "COMPLETED" and not ok.checks_failed
    assert [(r["snapshot"], r["passed"]) for r in ok.contract_results] == [("scored", True)]
    assert aieng.get_run(ok.run_id).tags["aieng.contracts"] == "scored"

    warned = aieng.run_job(nb, {"scale": 1000.0}, contracts=["scored"])
    assert warned.status == "COMPLETED" and warned.checks_failed is True
    (result,) = warned.contract_results
    assert result["passed"] is False and result["version"] == 2 and result["contract"] == "scored@1"
    assert result["failures"][0]["column"] == "score" and "in_range" in result["failures"][0]["check"]
    assert "FAILED scored@1" in str(warned)
    run = aieng.get_run(warned.run_id)
    assert run.tags["aieng.checks"] == "failed" and run.tags["aieng.contract.scored"].endswith("failed")
    assert [e.kind for e in aieng.list_reports(job_id=warned.job_id)] == ["validation"]

    rc = cli(
        ["job", "run", nb, "-p", "scale", "1000", "--contract", "scored", "--contract-policy", "block", "-q", "--json"]
    )
    record = json.loads(capsys.readouterr().out)
    assert rc == 1 and record["status"] == "FAILED"
    assert "ContractViolationError" in record["error"]["ename"]
    assert record["contract_results"][0]["blocked"] is True
    assert [r.version for r in aieng.list_snapshots("scored")] == [1, 2]  # the blocked one: not stored
    assert aieng.list_reports(job_id=record["job_id"], kind="validation")[0].passed is False


def test_job_with_unknown_contract_is_not_created(tmp_path, workspace) -> None:
    nb = _notebook(tmp_path / "score.ipynb")
    with pytest.raises(NotFoundError, match="no contract 'nope'"):
        aieng.run_job(nb, contracts=["nope"])
    assert aieng.list_jobs() == []
