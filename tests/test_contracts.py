"""Data contracts: inference on real data, planted breaks, enforcement, versions, diffs, bad input."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.io import pandas_io

import aieng_nb as aieng
from aieng_nb import audit
from aieng_nb.contracts import ContractError, ContractViolationError, diff_contracts, list_contracts, show_contract
from aieng_nb.contracts.engine import validate_frame
from aieng_nb.contracts.infer import infer_schema
from aieng_nb.contracts.store import versions
from aieng_nb.exceptions import NotFoundError, ValidationError


def _halves(frame: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    idx = np.random.default_rng(seed).permutation(len(frame))
    half = len(frame) // 2
    return frame.iloc[idx[:half]].reset_index(drop=True), frame.iloc[idx[half:]].reset_index(drop=True)


def _iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    bunch = load_iris(as_frame=True)
    frame = bunch.frame.copy()
    frame["species"] = pd.Categorical.from_codes(bunch.target, list(bunch.target_names))
    frame["sample_id"] = np.arange(len(frame), dtype=np.int64)
    return frame


def _cancer() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


# ---------------------------------------------------------------------------- inference
@pytest.mark.parametrize("loader", ["load_iris", "load_wine", "load_breast_cancer", "load_diabetes", "load_digits"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_inferred_contract_passes_the_other_half_of_real_data(loader: str, seed: int) -> None:
    from sklearn import datasets

    frame = getattr(datasets, loader)(as_frame=True).frame
    a, b = _halves(frame, seed)
    aieng.infer_contract(a, name="real")
    rep = aieng.validate(b, "real")
    assert rep.passed, rep.headline()
    assert rep.failures.empty
    # pandera alone agrees, from the YAML file through pandera's own reader
    pandas_io.from_yaml("contracts/real.yaml").validate(b, lazy=True)


def test_inference_finds_categories_keys_bounds_and_nullability() -> None:
    a, _ = _halves(_iris())
    a.loc[3, "petal width (cm)"] = np.nan
    schema = pandas_io.from_yaml(aieng.infer_contract(a, name="iris").text)
    cols = schema.columns
    assert cols["species"].checks[0].name == "isin"
    assert set(cols["species"].checks[0].statistics["allowed_values"]) == {"setosa", "versicolor", "virginica"}
    assert cols["target"].checks[0].name == "isin"  # a low-cardinality integer label
    assert cols["sample_id"].unique and not cols["sepal length (cm)"].unique  # a key, a measurement
    # 75 rows bound a null rate under 4% only (rule of three): no not-null assertion from them
    assert cols["petal width (cm)"].nullable and cols["sepal length (cm)"].nullable
    rng = cols["sepal length (cm)"].checks[0]
    assert rng.name == "in_range"
    lo, hi = a["sepal length (cm)"].min(), a["sepal length (cm)"].max()
    assert rng.statistics["min_value"] < lo and rng.statistics["max_value"] > hi  # a margin, not min/max
    assert str(cols["sepal length (cm)"].dtype) == "float64"


@pytest.mark.parametrize(
    "break_it, column, check",
    [
        (
            lambda d: d.assign(
                species=d["species"].cat.add_categories("unknown").fillna("unknown").where(d.index > 2, "unknown")
            ),
            "species",
            "isin",
        ),
        (
            lambda d: d.assign(**{"petal length (cm)": d["petal length (cm)"].where(d.index > 0, 1e6)}),
            "petal length (cm)",
            "in_range",
        ),
        (
            # far below (min - 10 x range): a sample without negatives no longer implies a floor at 0
            lambda d: d.assign(**{"petal length (cm)": d["petal length (cm)"].where(d.index > 0, -60.0)}),
            "petal length (cm)",
            "in_range",
        ),
        (lambda d: d.drop(columns=["sepal length (cm)"]), "sepal length (cm)", "column_in_dataframe"),
        (lambda d: d.rename(columns={"petal width (cm)": "petal_width"}), "petal width (cm)", "column_in_dataframe"),
        (lambda d: d.assign(target=d["target"].astype("float64")), "target", "dtype('int64')"),
        (
            lambda d: d.assign(sample_id=d["sample_id"].where(d.index != 1, d["sample_id"].iloc[0])),
            "sample_id",
            "field_uniqueness",
        ),
    ],
    ids=[
        "new-category",
        "far-above",
        "negative",
        "missing-column",
        "renamed-column",
        "dtype",
        "duplicate-key",
    ],
)
def test_planted_breaks_are_caught_and_named(break_it, column: str, check: str) -> None:
    a, b = _halves(_iris())
    aieng.infer_contract(a, name="iris")
    assert aieng.validate(b, "iris").passed
    rep = aieng.validate(break_it(b.copy()), "iris")
    assert not rep.passed
    failed = {(c.metric, c.rule.split(": ", 1)[1].split("(")[0]) for c in rep.failed_checks}
    assert (column, check.split("(")[0]) in failed, rep.headline()
    assert column in set(rep.failures["column"])
    assert column in rep.headline()
    # the shortcut and pandera alone find the same failures
    schema = pandas_io.from_yaml("contracts/iris.yaml")
    fast = validate_frame(break_it(b.copy()), schema)
    slow = validate_frame(break_it(b.copy()), schema, shortcut=False)
    assert [(c.rule, c.failures) for c in fast.checks] == [(c.rule, c.failures) for c in slow.checks]


def test_nulls_are_caught_where_a_large_clean_sample_asserts_not_null() -> None:
    from sklearn.datasets import load_digits

    raw = load_digits(as_frame=True).frame  # 898 rows a half, no nulls in any column
    # sklearn keeps the whole-number pixels as floats: an integer column widened, left nullable
    widened = infer_schema(raw).columns
    assert widened["pixel_1_2"].nullable and not widened["target"].nullable
    pixels = [c for c in raw.columns if c != "target"]
    a, b = _halves(raw.assign(**{c: (raw[c] + 0.5) / 16 for c in pixels}))  # intensities as fractions
    schema = pandas_io.from_yaml(aieng.infer_contract(a, name="digits").text)
    assert not any(col.nullable for col in schema.columns.values())
    assert aieng.validate(b, "digits").passed
    bad = b.assign(**{"pixel_1_2": b["pixel_1_2"].where(b.index > 4)})
    rep = aieng.validate(bad, "digits")
    assert [c.rule for c in rep.failed_checks] == ["pixel_1_2: not_nullable"] and "pixel_1_2" in rep.headline()
    fast, slow = validate_frame(bad, schema), validate_frame(bad, schema, shortcut=False)
    assert [(c.rule, c.failures) for c in fast.checks] == [(c.rule, c.failures) for c in slow.checks]


def test_renamed_column_names_the_new_one_too() -> None:
    a, b = _halves(_iris())
    aieng.infer_contract(a, name="iris")
    rep = aieng.validate(b.rename(columns={"petal width (cm)": "petal_width"}), "iris")
    assert "petal_width" in rep.details["extra_columns"]
    assert any("petal_width" in n for n in rep.notes)


def test_failure_cases_are_capped() -> None:
    aieng.infer_contract(pd.DataFrame({"x": np.arange(600) + 0.5}), name="big")
    rep = aieng.validate(pd.DataFrame({"x": np.full(50_000, np.nan)}), "big")
    assert rep.check_counts.set_index("check").loc["not_nullable", "failures"] == 50_000
    assert len(rep.failures) <= 200
    assert len(json.dumps(rep.to_dict())) < 200_000


# ---------------------------------------------------------------------------- files, versions, round trip
def test_yaml_round_trip_through_pandera_and_content_versions(workspace) -> None:
    a, b = _halves(_cancer())
    con = aieng.infer_contract(a, name="cancer")
    assert con.ref == "cancer@1" and len(con.digest) == 64
    path = workspace.root.parent / "contracts" / "cancer.yaml"
    assert path.is_file() and con.path == str(path)
    schema = pandas_io.from_yaml(path)
    assert isinstance(schema, pa.DataFrameSchema)
    # pandera's own writer gives back the same columns and checks (it leaves metadata out)
    assert pandas_io.from_yaml(pandas_io.to_yaml(schema)).columns == schema.columns
    assert schema.metadata["aieng"]["rows"] == len(a)
    # comments and formatting are not content: same version
    path.write_text("# a comment\n" + path.read_text())
    assert show_contract("cancer").ref == "cancer@1"
    # an edit is a new version; the old one stays reachable by number and digest
    path.write_text(path.read_text().replace("nullable: false", "nullable: true", 1) + "description: edited\n")
    edited = show_contract("cancer")
    assert edited.ref == "cancer@2" and edited.digest != con.digest
    assert show_contract("cancer@1").digest == con.digest
    assert show_contract(f"cancer@{con.digest[:8]}").version == 1
    assert [c.ref for c in aieng.contracts.versions("cancer")] == ["cancer@1", "cancer@2"]
    entries = list_contracts()
    assert [(e.name, e.version, e.versions) for e in entries] == [("cancer", 2, 2)]
    events = [e["event"] for e in audit.entries()]
    assert events.count("contract.version") == 2 and "contract.infer" in events


def test_contracts_are_found_walking_up(workspace, monkeypatch) -> None:
    aieng.infer_contract(pd.DataFrame({"x": [1.0, 2.0]}), name="up")
    deep = workspace.root.parent / "notebooks" / "sub"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert show_contract("up").ref == "up@1"


# ---------------------------------------------------------------------------- diffs
def test_diff_between_versions() -> None:
    base = pd.DataFrame({"x": np.linspace(0, 10, 60), "c": ["a", "b"] * 30, "gone": 1.5})  # 50+ rows: levels
    aieng.infer_contract(base, name="d")
    grown = pd.DataFrame({"x": np.linspace(0, 100, 60), "c": ["a", "b", "z"] * 20, "new": np.arange(60)})
    aieng.infer_contract(grown, name="d")
    diff = diff_contracts("d@1", "d@2")
    kinds = diff.kinds()
    assert {"column_added", "column_removed", "bounds", "categories_added"} <= kinds
    text = str(diff)
    assert "'new' added" in text and "'gone' removed" in text and "'z'" in text
    assert diff_contracts("d").to_dict() == diff.to_dict()  # one ref: against the version before it
    assert diff_contracts("d@1", "d@1").same


def test_snapshot_passing_only_an_older_contract_is_flagged(caplog) -> None:
    old = pd.DataFrame({"x": np.linspace(0, 10, 40)})
    aieng.infer_contract(old, name="drifty")
    aieng.infer_contract(pd.DataFrame({"x": np.linspace(1000, 1010, 40)}), name="drifty")
    with caplog.at_level(logging.WARNING, logger="aieng_nb.contracts"):
        rec = aieng.snapshot(old, name="drifty")
    assert rec.contract["passed"] is False and rec.contract["passes_older"] == "drifty@1"
    assert "passes only the older contract drifty@1" in caplog.text
    rep = aieng.validate(old, "drifty")
    assert rep.details["passes_older"] == "drifty@1" and any("drifty@1" in n for n in rep.notes)


# ---------------------------------------------------------------------------- enforcement on snapshots
def test_snapshot_under_contract_warns_and_records(caplog) -> None:
    a, b = _halves(_iris())
    aieng.infer_contract(a, name="iris")
    ok = aieng.snapshot(b, name="iris")
    assert ok.contract["contract"] == "iris@1" and ok.contract["passed"] is True
    bad = b.copy()
    bad.loc[0, "sepal width (cm)"] = 1e6
    with caplog.at_level(logging.WARNING, logger="aieng_nb.contracts"):
        rec = aieng.snapshot(bad, name="iris")
    assert rec.version == 2 and rec.contract["passed"] is False
    assert "sepal width (cm): in_range" in caplog.text
    assert "contract iris@1" in str(aieng.snapshots.show("iris@2"))
    [failed] = aieng.snapshots.show("iris@2").contract["failed_checks"]
    assert failed.startswith("sepal width (cm): in_range(")
    entries = [e for e in audit.entries() if e["event"] == "contract.validate"]
    assert [e["data"]["passed"] for e in entries[-2:]] == [True, False]
    assert entries[-1]["data"]["snapshot"] == "iris@2" and entries[-1]["data"]["digest"] == ok.contract["digest"]


def _snapshot_rows(ws):
    from aieng_nb.snapshots.index import open_stores

    return open_stores(ws)[2].read()["names"]


def test_block_stores_nothing_and_says_why(workspace) -> None:
    a, b = _halves(_iris())
    aieng.infer_contract(a, name="iris")
    aieng.snapshot(b, name="iris")
    objects = sorted(p.name for p in (workspace.root / "snapshots").rglob("*"))
    index = _snapshot_rows(workspace)
    bad = b.copy()
    bad["sepal length (cm)"] = bad["sepal length (cm)"] * 1000
    with pytest.raises(ContractViolationError) as err:
        aieng.snapshot(bad, name="iris", contract_policy="block")
    message = str(err.value)
    assert "\n" not in message and "nothing stored" in message and "sepal length (cm): in_range" in message
    assert "e.g." in message
    assert sorted(p.name for p in (workspace.root / "snapshots").rglob("*")) == objects
    assert _snapshot_rows(workspace) == index
    assert [e["event"] for e in audit.entries()][-1] == "contract.block"


def test_policy_per_contract_and_config(workspace) -> None:
    from aieng_nb import config

    base = pd.DataFrame({"x": np.linspace(0, 1, 600)})  # enough rows for not-null (rule of three)
    con = aieng.infer_contract(base, name="p")
    bad = pd.DataFrame({"x": [np.nan] * 3})
    config.settings().contract_policy = "block"
    with pytest.raises(ContractViolationError):
        aieng.snapshot(bad, name="p")
    assert not (workspace.root / "snapshots").exists()  # a first snapshot blocked: not even a folder
    assert aieng.snapshot(bad, name="p", contract_policy="warn").contract["passed"] is False  # the call wins
    assert aieng.snapshot(bad, name="p", contract="warn").contract["policy"] == "warn"  # like pii="warn"
    path = workspace.root.parent / "contracts" / "p.yaml"
    path.write_text(path.read_text().replace("rows:", "policy: allow\n    rows:"))
    rec = aieng.snapshot(bad.assign(y=1), name="p")  # the contract's own policy beats the config
    assert rec.contract["policy"] == "allow" and rec.contract["validated"] is False
    assert con.version == 1 and rec.contract["contract"] == "p@2"


def test_contract_version_on_the_run() -> None:
    a, b = _halves(_iris())
    aieng.infer_contract(a, name="iris")
    with aieng.start_run(experiment="contracts") as run:
        aieng.snapshot(b, name="iris")
        bad = b.drop(columns=["species"])
        aieng.snapshot(bad, name="iris")
    rec = aieng.get_run(run.id)
    assert rec.tags["aieng.contract.iris"].startswith("iris@1 ") and rec.tags["aieng.contract.iris"].endswith("failed")
    assert rec.tags["aieng.checks"] == "failed"
    assert rec.metrics["validation.passed"] == 0.0 and rec.metrics["validation.contract_version"] == 1.0
    listed = aieng.list_reports(run.id, kind="validation")
    assert len(listed) == 2 and [e.passed for e in listed] == [True, False]
    from aieng_nb import tracking

    store = tracking.store()
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        local = store.download_artifact(run.id, f"reports/{listed[1].name}/summary.json", tmp)
        summary = json.loads(Path(local).read_text())
    assert summary["kind"] == "validation" and summary["passed"] is False
    assert summary["details"]["contract"] == "iris@1" and summary["details"]["data"] == "iris@2"


def test_validation_report_shape() -> None:
    a, b = _halves(_iris())
    aieng.infer_contract(a, name="iris")
    rep = aieng.validate(b.assign(species="nope"), "iris", log=False)
    assert rep.kind == "validation" and not rep.passed
    html = rep._repr_html_()
    assert "iris@1" in html and "FAILED" in html and "<script" not in html and "nope" in html
    assert rep.summary()["passed"] is False
    assert "species: isin(['setosa', 'versicolor', 'virginica'])" in rep.summary()["failed_checks"]
    assert list(rep.failures.columns) == ["column", "check", "failure_case", "index"]
    with aieng.start_run(experiment="contracts") as run:
        folder = rep.log()
    assert folder.startswith("reports/validation-")
    assert aieng.get_run(run.id).metrics["validation.failed_checks"] >= 1


def test_validate_a_snapshot_reference() -> None:
    a, b = _halves(_iris())
    aieng.snapshot(a, name="iris")
    aieng.infer_contract("iris")
    assert aieng.validate("iris@1").passed
    assert aieng.validate(b, "iris@1").details["contract"] == "iris@1"


# ---------------------------------------------------------------------------- bad input
def test_bad_contract_files_fail_in_one_line(workspace) -> None:
    folder = workspace.root.parent / "contracts"
    folder.mkdir()
    (folder / "broken.yaml").write_text("columns: [1, 2\n")
    (folder / "typo.yaml").write_text(
        "schema_type: dataframe\ncolumns:\n  x:\n    dtype: int64\n    in_rnage: {min_value: 0, max_value: 1}\n"
    )
    (folder / "dtype.yaml").write_text("columns:\n  x:\n    dtype: int99\n")
    (folder / "nocheck.yaml").write_text(
        "columns:\n  x:\n    checks:\n      - {value: 3, options: {check_name: frobnicate}}\n"
    )
    frame = pd.DataFrame({"x": [1]})
    for name, words in [("broken", "not valid YAML"), ("typo", "unknown check 'in_rnage'"), ("dtype", "int99"),
                        ("nocheck", "unknown check 'frobnicate'")]:  # fmt: skip
        with pytest.raises(ContractError) as err:
            aieng.validate(frame, name)
        assert words in str(err.value) and "\n" not in str(err.value)
        with pytest.raises(ContractError):
            aieng.snapshot(frame, name=name)
    assert _snapshot_rows(workspace) == {}  # nothing stored
    assert not (workspace.root / "contracts").exists()  # no version registered for a bad file


def test_infer_for_a_name_without_snapshots_creates_nothing(workspace) -> None:
    with pytest.raises(NotFoundError, match="no snapshot 'ghost'"):
        aieng.infer_contract("ghost")
    assert not (workspace.root.parent / "contracts").exists()
    with pytest.raises(ValidationError):
        aieng.infer_contract(pd.DataFrame({"x": [1]}))  # no name
    with pytest.raises(ValidationError):
        aieng.infer_contract(pd.DataFrame({"x": []}), name="empty")
    with pytest.raises(NotFoundError, match="aieng contract infer nope"):
        aieng.validate(pd.DataFrame({"x": [1]}), "nope")
    with pytest.raises(ValidationError, match="unknown contract policy"):
        aieng.snapshot(pd.DataFrame({"x": [1]}), name="x", contract_policy="maybe")
    assert not (workspace.root.parent / "contracts").exists()


# ---------------------------------------------------------------------------- the shortcut is pandera's verdict
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def _frames(draw):
    n = draw(st.integers(20, 60))
    ints = draw(st.lists(st.integers(-50, 50), min_size=n, max_size=n))
    floats = draw(st.lists(st.one_of(st.none(), st.floats(-1e3, 1e3, allow_nan=False)), min_size=n, max_size=n))
    text = draw(st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"])), min_size=n, max_size=n))
    frame = pd.DataFrame({"i": np.array(ints, dtype=np.int64), "f": pd.array(floats, dtype="float64"),
                          "s": pd.Series(text, dtype=object)})  # fmt: skip
    return frame.astype({"f": "float64"})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(train=_frames(), new=_frames())
def test_shortcut_agrees_with_pandera_alone(train: pd.DataFrame, new: pd.DataFrame) -> None:
    from aieng_nb.contracts.infer import infer_schema

    schema = infer_schema(train, margin=0.1)
    fast = validate_frame(new, schema)
    slow = validate_frame(new, schema, shortcut=False)
    assert fast.passed == slow.passed
    assert [(c.rule, c.failures) for c in fast.checks] == [(c.rule, c.failures) for c in slow.checks]
    try:
        schema.validate(new, lazy=True)
        pandera_passed = True
    except pa.errors.SchemaErrors:
        pandera_passed = False
    assert slow.passed == pandera_passed


def test_refused_job_with_contract_writes_nothing(workspace, tmp_path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    folder = workspace.root.parent / "contracts"
    folder.mkdir()
    (folder / "scored.yaml").write_text("schema_type: dataframe\ncolumns:\n  x:\n    dtype: int64\n")
    (folder / "broken.yaml").write_text("columns:\n  x:\n    in_rnage: 3\n")
    with pytest.raises(ContractError, match="in_rnage"):
        aieng.run_job(str(path), contracts=["broken"])
    with pytest.raises(ValidationError):
        aieng.run_job(str(path), {"nope": 1}, contracts=["scored"])  # refused for its parameter
    with pytest.raises(ValidationError, match="needs --contract"):
        aieng.run_job(str(path), contract_policy="block")
    assert not (workspace.root / "contracts").exists() and not (workspace.root / "jobs").exists()
    assert not [e for e in audit.entries() if e["event"].startswith(("contract.", "job."))]


# ---------------------------------------------------------------------------- one commit per validation
def test_a_validation_records_a_new_file_version_and_itself_in_one_transaction(workspace) -> None:
    frame = pd.DataFrame({"x": np.arange(80) + 0.5, "c": ["a", "b"] * 40})
    con = aieng.infer_contract(frame, name="t")
    path = Path(con.path)
    path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert aieng.validate(frame, "t", log=False).details["contract"] == "t@1"  # a comment: the same content
    edited = path.read_text(encoding="utf-8").replace("nullable: true", "nullable: false", 1)
    path.write_text(edited, encoding="utf-8")
    seen = len(audit.entries())
    rep = aieng.validate(frame, "t", log=False)
    assert rep.passed and rep.details["contract"] == "t@2"
    new = audit.entries()[seen:]
    assert [e["event"] for e in new] == ["contract.version", "contract.validate"]
    assert new[0]["data"]["version"] == 2 and new[1]["data"]["contract"] == "t@2"
    assert new[0]["seq"] + 1 == new[1]["seq"] and new[0]["ts"] <= new[1]["ts"]
    # again: the version is known, one entry only; a failure still tries the older versions
    aieng.validate(frame, "t", log=False)
    assert [e["event"] for e in audit.entries()[seen + 2 :]] == ["contract.validate"]
    holey = frame.assign(x=frame["x"].where(frame.index > 0))
    failed = aieng.validate(holey, "t", log=False)
    assert not failed.passed and failed.details.get("passes_older") == "t@1"
    assert audit.entries()[-1]["data"]["passes_older"] == "t@1"
    assert [e.ref for e in versions("t", workspace=workspace)] == ["t@1", "t@2"]
