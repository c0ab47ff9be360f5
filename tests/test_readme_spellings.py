"""README blocks that call other libraries (pandera, MLflow) run as written with the pinned versions.

The whole README runs in order in tests/e2e/test_readme.py (slow); these run the same blocks alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import aieng_nb as aieng

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_block(marker: str) -> str:
    text = README.read_text()
    blocks = text.split("```python\n")[1:]
    found = [b.split("\n```", 1)[0] for b in blocks if marker in b.split("\n```", 1)[0]]
    assert len(found) == 1, f"{len(found)} README python blocks contain {marker!r}"
    return found[0]


def test_the_readme_reads_a_contract_with_a_pandera_spelling_that_works():
    import pandas as pd
    import pandera.io

    code = _python_block("from_yaml")
    assert "pandera.io.pandas_io.from_yaml(" in code
    assert not hasattr(pandera.io, "from_yaml")  # the spelling the README used before fails here
    df = pd.DataFrame({"tenure": [1, 5, 9, 12], "plan": ["a", "b", "a", "b"]})
    aieng.infer_contract(df, name="train")
    assert Path("contracts/train.yaml").is_file()
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert sorted(namespace["schema"].columns) == ["plan", "tenure"]
    namespace["schema"].validate(df)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_readme_mlflow_block_runs_and_registers(workspace, tmp_path):
    import mlflow
    from mlflow.tracking import MlflowClient

    code = _python_block("mlflow.sklearn.log_model")
    namespace: dict = {"aieng": aieng}
    try:
        exec(compile(code, "README.md", "exec"), namespace)
    finally:
        mlflow.set_tracking_uri(None)
    run_id = namespace["native"].id
    client = MlflowClient(tracking_uri=workspace.tracking_uri, registry_uri=workspace.tracking_uri)
    assert client.get_run(run_id).data.params["solver"] == "lbfgs"
    assert client.get_model_version("native-demo", "1").run_id == run_id
    assert not (tmp_path / "mlflow.db").exists()
