"""Pipeline files are checked before anything runs; each error names the file, step and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from aieng_nb.exceptions import ValidationError
from aieng_nb.jobs.notebook import write_notebook
from aieng_nb.pipelines import load_pipeline, run_pipeline
from aieng_nb.pipelines.runner import cache_key, key_parts, why_changed
from aieng_nb.pipelines.spec import notebook_digest


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_notebook(tmp_path / "a.ipynb", ["x = 1"], parameters="n = 10\nname = 'a'")
    write_notebook(tmp_path / "b.ipynb", ["y = 2"], parameters="k = 1.5")
    return tmp_path


def pipeline(folder: Path, text: str) -> Path:
    path = folder / "p.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "steps:\n  a: {notebook: a.ipynb, after: [b]}\n  b: {notebook: b.ipynb, after: [a]}\n",
            "p.yaml: steps: a cycle: a -> b -> a",
        ),
        (
            "steps:\n  a: {notebook: a.ipynb, outputs: [raw]}\n  b: {notebook: b.ipynb, inputs: [rw]}\n",
            "p.yaml: step 'b': inputs: unknown input 'rw' (no step outputs it and no snapshot of that name exists; did you mean 'raw'?)",
        ),
        (
            "steps:\n  a: {notebook: a.ipynb, outputs: [raw]}\n  b: {notebook: b.ipynb, outputs: [raw]}\n",
            "p.yaml: step 'b': outputs: 'raw' is also output by step 'a'",
        ),
        (
            "steps:\n  a: {notebook: a.ipynb, params: {m: 3}}\n",
            "p.yaml: step 'a': params: unknown parameter 'm'; the notebook's parameters are: n, name",
        ),
        ("steps:\n  a: {notebook: a.ipynb, params: {n: not-a-number}}\n", "p.yaml: step 'a': params: "),
        ("steps:\n  a: {notebok: a.ipynb}\n", "p.yaml: step 'a': unknown field 'notebok' (did you mean 'notebook'?)"),
        ("steps:\n  a: {notebook: missing.ipynb}\n", "p.yaml: step 'a': notebook: "),
        ("steps:\n  a: {notebook: a.ipynb, after: [c]}\n", "p.yaml: step 'a': after: unknown step 'c'"),
        ("steps:\n  a: {notebook: a.ipynb, outputs: [bad/name]}\n", "p.yaml: step 'a': outputs: bad snapshot name"),
        ("steps:\n  a: {notebook: a.ipynb, retries: -1}\n", "p.yaml: step 'a': retries must be"),
        ("steps: []\n", "p.yaml: steps: expected a mapping"),
        ("stepz: {}\n", "p.yaml: unknown field 'stepz' (did you mean 'steps'?)"),
        ("steps: {a: [\n", "p.yaml: not valid YAML"),
    ],
)
def test_bad_pipeline_files_name_file_step_and_field(folder, text, message, workspace):
    with pytest.raises(ValidationError) as err:
        run_pipeline(pipeline(folder, text))
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (workspace.root / "pipelines").exists()  # nothing was created
    assert not (workspace.root / "jobs").exists()


def test_overrides_and_force_are_checked(folder, workspace):
    path = pipeline(folder, "steps:\n  a: {notebook: a.ipynb}\n")
    with pytest.raises(ValidationError, match=r"-p 'b.k': .* has no step 'b'"):
        run_pipeline(path, {"b.k": 1})
    with pytest.raises(ValidationError, match="name the step and the parameter"):
        run_pipeline(path, {"n": 1})
    with pytest.raises(ValidationError, match="--force 'x'"):
        run_pipeline(path, force=["x"])
    with pytest.raises(ValidationError, match="parallel"):
        run_pipeline(path, parallel=0)
    with pytest.raises(ValidationError, match="no such pipeline file"):
        run_pipeline(folder / "nope.yaml")
    p = load_pipeline(path, {"a.n": "12"})
    assert p.steps["a"].params == {"n": 12}  # coerced to the notebook default's type
    assert not (workspace.root / "pipelines").exists()


def test_an_existing_snapshot_is_a_valid_external_input(folder, workspace):
    import pandas as pd

    import aieng_nb as aieng

    path = pipeline(folder, "steps:\n  a: {notebook: a.ipynb, inputs: [train]}\n")
    with pytest.raises(ValidationError, match="unknown input 'train'"):
        load_pipeline(path, snapshot_exists=lambda n: False)
    aieng.snapshot(pd.DataFrame({"x": [1]}), name="train")
    assert load_pipeline(path, snapshot_exists=lambda n: n == "train").steps["a"].inputs == ["train"]


def test_cache_key_ignores_outputs_and_ids_of_cells_but_not_sources(folder):
    import json

    nb = folder / "a.ipynb"
    before = notebook_digest(nb)
    data = json.loads(nb.read_text())
    data["cells"][-1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hi"}]
    data["cells"][-1]["execution_count"] = 7
    nb.write_text(json.dumps(data))
    assert notebook_digest(nb) == before
    data["cells"][-1]["source"] = "x = 2"
    nb.write_text(json.dumps(data))
    assert notebook_digest(nb) != before


def test_why_changed_names_what_changed(folder):
    p = load_pipeline(pipeline(folder, "steps:\n  a: {notebook: a.ipynb, outputs: [o]}\n"))
    parts = key_parts(p.steps["a"], {"raw": ("h1", "raw@1")})
    later = key_parts(p.steps["a"], {"raw": ("h2", "raw@2")})
    assert cache_key(parts) != cache_key(later)
    assert why_changed(parts, later) == "input raw changed (raw@1 -> raw@2)"
    assert why_changed(None, later) == "never ran"
    assert cache_key(parts) == cache_key(key_parts(p.steps["a"], {"raw": ("h1", "raw@1")}))
