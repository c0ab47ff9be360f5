"""Notebook parameters: reading the parameters cell, coercion, unknown names, literal-only injection."""

from __future__ import annotations

import ast
import json

import pytest

from aieng_nb.exceptions import ValidationError
from aieng_nb.jobs import notebook
from aieng_nb.jobs.notebook import new_notebook, write_notebook

PARAMS = 'lr = 0.1  # learning rate\ndepth: int = 3\nname = "base"\nflag = False\ntags = ["a"]\nopts = {"k": 1}\nnothing = None\nexpr = 2 * 3'


@pytest.fixture
def nb():
    return new_notebook(["print(lr)"], parameters=PARAMS)


def test_reads_parameters_cell_with_types_defaults_and_help(nb):
    found = {p.name: p for p in notebook.notebook_parameters(nb)}
    assert list(found) == ["lr", "depth", "name", "flag", "tags", "opts", "nothing", "expr"]
    assert (found["lr"].default, found["lr"].type_name, found["lr"].help) == (0.1, "float", "learning rate")
    assert found["depth"].type_name == "int"
    assert found["tags"].type_name == "list" and found["opts"].type_name == "dict"
    assert found["expr"].literal is False and found["expr"].type_name == "any"


def test_no_parameters_cell_means_no_parameters(tmp_path):
    path = write_notebook(tmp_path / "x.ipynb", ["x = 1"])
    assert notebook.notebook_parameters(path) == []
    with pytest.raises(ValidationError, match="no parameters cell"):
        notebook.resolve_parameters([], {"x": 1})


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("lr", "0.01", 0.01),
        ("lr", 1, 1.0),
        ("depth", "6", 6),
        ("depth", 6.0, 6),
        ("name", "12", "12"),
        ("flag", "yes", True),
        ("flag", "false", False),
        ("tags", '["x", "y"]', ["x", "y"]),
        ("opts", '{"a": 2}', {"a": 2}),
        ("nothing", "3", 3),
        ("nothing", "hello", "hello"),
    ],
)
def test_values_are_coerced_to_the_default_type(nb, name, raw, expected):
    out = notebook.resolve_parameters(notebook.notebook_parameters(nb), {name: raw})
    assert out[name] == expected and type(out[name]) is type(expected)


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("depth", "abc"),
        ("depth", 6.5),
        ("depth", True),
        ("lr", "fast"),
        ("flag", "maybe"),
        ("tags", "3"),
        ("lr", "nan"),
    ],
)
def test_ill_typed_values_are_refused(nb, name, raw):
    with pytest.raises(ValidationError, match=name):
        notebook.resolve_parameters(notebook.notebook_parameters(nb), {name: raw})


def test_unknown_names_list_the_known_ones_unless_allowed(nb):
    declared = notebook.notebook_parameters(nb)
    with pytest.raises(ValidationError, match=r"unknown parameter 'lrr'.*depth, .*lr") as err:
        notebook.resolve_parameters(declared, {"lrr": 1})
    assert "expr" in str(err.value)
    assert notebook.resolve_parameters(declared, {"extra": "7"}, allow_unknown=True) == {"extra": 7}


@pytest.mark.parametrize("key", ["a b", "x;import os", "1x", "__import__('os')", "class", ""])
def test_non_identifier_keys_are_refused(nb, key):
    with pytest.raises(ValidationError, match="identifier"):
        notebook.resolve_parameters(notebook.notebook_parameters(nb), {key: 1}, allow_unknown=True)
    with pytest.raises(ValidationError):
        notebook.injected_source({key: 1})


def test_values_that_are_not_plain_data_are_refused():
    class Evil:
        def __repr__(self):
            return "__import__('os').system('echo pwned')"

    with pytest.raises(ValidationError, match="Evil"):
        notebook.injected_source({"x": Evil()})
    with pytest.raises(ValidationError):
        notebook.injected_source({"x": float("inf")})


@pytest.mark.parametrize(
    "value",
    [
        "\"; import os; os.system('echo pwned')",
        "'''\nimport os\n'''",
        "\\\" + __import__('os').getcwd() + \\\"",
        "x\n__import__('os').system('id')",
        {"k": "'); import os; ('"},
        ["a", "\\"],
    ],
)
def test_injected_cell_is_only_literal_assignments(value):
    source = notebook.injected_source({"payload": value, "n": 3})
    tree = ast.parse(source)
    assert [type(node).__name__ for node in tree.body] == ["Assign", "Assign"]
    assert ast.literal_eval(tree.body[0].value) == value
    namespace: dict = {}
    exec(compile(source, "<injected>", "exec"), {"__builtins__": {}}, namespace)
    assert namespace["payload"] == value


def test_inject_places_cell_after_parameters_cell_and_replaces_old_one(nb):
    notebook.inject(nb, {"lr": 0.5})
    notebook.inject(nb, {"lr": 0.25})
    tags = [c["metadata"].get("tags") for c in nb["cells"]]
    assert tags == [["parameters"], [notebook.INJECTED_TAG], None]
    assert "lr = 0.25" in nb["cells"][1]["source"]
    assert nb["cells"][1]["id"]


def test_cli_pairs_yaml_and_json_sources(tmp_path):
    assert notebook.parse_cli_pairs([["lr", "0.1"], ["depth=4"]]) == {"lr": "0.1", "depth": "4"}
    with pytest.raises(ValidationError):
        notebook.parse_cli_pairs([["nokey"]])
    (tmp_path / "p.yaml").write_text("lr: 0.2\ndepth: 5\n")
    assert notebook.load_parameter_file(tmp_path / "p.yaml") == {"lr": 0.2, "depth": 5}
    (tmp_path / "p.json").write_text(json.dumps({"lr": 0.3}))
    assert notebook.load_parameter_file(tmp_path / "p.json") == {"lr": 0.3}
    assert notebook.parse_json_parameters('{"depth": 2}') == {"depth": 2}
    with pytest.raises(ValidationError):
        notebook.parse_json_parameters("[1]")


def test_cli_job_params_lists_parameters(tmp_path, capsys):
    from aieng_nb.cli import main

    path = write_notebook(tmp_path / "n.ipynb", ["print(lr)"], parameters=PARAMS)
    assert main(["job", "params", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out[0] == {"name": "lr", "default": 0.1, "type": "float", "help": "learning rate"}


def test_cli_refuses_unknown_and_ill_typed_before_running(tmp_path, capsys, workspace):
    from aieng_nb.cli import main

    path = write_notebook(tmp_path / "n.ipynb", ["print(lr)"], parameters=PARAMS)
    assert main(["job", "run", str(path), "-p", "lrr", "1"]) == 2
    assert "unknown parameter 'lrr'" in capsys.readouterr().err
    assert main(["job", "run", str(path), "-p", "depth", "deep"]) == 2
    assert "expects int" in capsys.readouterr().err
    assert not workspace.path("jobs").exists() or not any(workspace.path("jobs").iterdir())


@pytest.mark.parametrize(("name", "text", "kind"), [("bad.yaml", "lr: [1\n", "YAML"), ("bad.json", "{bad", "JSON")])
def test_malformed_parameter_file_is_a_validation_error(workspace, tmp_path, name, text, kind, capsys, shell):
    from IPython.core.error import UsageError

    from aieng_nb.cli import main
    from aieng_nb.jobs import store as job_store
    from aieng_nb.jobs.notebook import load_parameter_file, write_notebook

    bad = tmp_path / name
    bad.write_text(text)
    with pytest.raises(ValidationError, match=f"{name}: not valid .*{kind}"):
        load_parameter_file(bad)
    nb = write_notebook(tmp_path / "j.ipynb", ["print(lr)"], parameters="lr = 0.1")
    assert main(["job", "run", str(nb), "-f", str(bad)]) == 2
    assert "not valid" in capsys.readouterr().err
    with pytest.raises(UsageError, match="not valid"):
        shell.run_line_magic("aieng", f"job run {nb} -f {bad} -q")
    assert job_store.list_records(workspace=workspace) == []


def test_binary_parameter_file_is_a_validation_error(tmp_path):
    from aieng_nb.jobs.notebook import load_parameter_file

    bad = tmp_path / "p.yaml"
    bad.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ValidationError, match="not valid"):
        load_parameter_file(bad)


def test_random_sampling_draws_points_without_building_the_grid():
    import itertools
    import time

    from aieng_nb.jobs.sweeps import expand_grid

    grid = {"a": [1, 2, 3], "b": ["x", "y"], "c": [True, False, None, 0.5]}
    full = expand_grid(grid)
    assert full == [dict(zip(grid, v, strict=True)) for v in itertools.product(*grid.values())]
    for seed in range(5):
        sample = expand_grid(grid, samples=7, seed=seed)
        assert len(sample) == 7 and all(p in full for p in sample)
        assert len({tuple(p.values()) for p in sample}) == 7
        assert sample == expand_grid(grid, samples=7, seed=seed)
        assert [full.index(p) for p in sample] == sorted(full.index(p) for p in sample)  # grid order
    assert expand_grid(grid, samples=100) == full
    huge = {f"p{i}": list(range(100)) for i in range(6)}  # 10^12 points
    t0 = time.monotonic()
    points = expand_grid(huge, samples=5, seed=1)
    assert len(points) == 5 and time.monotonic() - t0 < 1.0
    with pytest.raises(ValidationError, match="samples"):
        expand_grid(grid, samples=0)
