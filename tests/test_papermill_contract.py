"""papermill's contract, without a kernel: translators, injected-cell placement, quoted strings,
kernel names, parameter help, YAML order, the job record (run side by side in tests/e2e)."""

from __future__ import annotations

import json
import os

import papermill
import pytest
from papermill.translators import papermill_translators

from aieng_nb.exceptions import ValidationError
from aieng_nb.jobs import notebook
from aieng_nb.jobs.notebook import new_notebook
from aieng_nb.jobs.request import resolve_kernel

PM_NOTEBOOKS = os.path.join(os.path.dirname(papermill.__file__), "tests", "notebooks")


def pm_notebook(name: str) -> dict:
    with open(os.path.join(PM_NOTEBOOKS, name), encoding="utf-8") as fh:
        return json.load(fh)


@pytest.mark.parametrize(
    ("kernel", "language"),
    [("bash", "bash"), ("ir", "R"), ("julia-1.9", "julia"), ("scala", "scala"), ("matlab", "matlab")],
)
def test_non_python_kernels_get_papermill_s_translation(kernel, language):
    values = {"msg": "hello world", "n": 3, "ok": True, "xs": [1, 2]}
    expected = papermill_translators.find_translator(kernel, language).codify(values, "Parameters")
    assert notebook.injected_source(values, kernel_name=kernel, language=language) == expected


def test_bash_gets_shell_assignments_not_python():
    source = notebook.injected_source({"msg": "hello world"}, kernel_name="bash", language="bash")
    assert "msg='hello world'" in source and "msg = " not in source


def test_our_literal_check_stays_on_top_of_the_translators():
    with pytest.raises(ValidationError, match="cannot be passed"):
        notebook.injected_source({"x": object()}, kernel_name="bash", language="bash")
    with pytest.raises(ValidationError, match="finite"):
        notebook.injected_source({"x": float("nan")}, kernel_name="ir", language="R")
    with pytest.raises(ValidationError, match="identifier"):
        notebook.injected_source({"a;rm -rf /": 1}, kernel_name="bash", language="bash")
    with pytest.raises(ValidationError, match="No parameter translator"):
        notebook.injected_source({"x": 1}, kernel_name="cobol", language="cobol")


def test_python_injection_is_literal_assignments_in_papermill_s_format():
    source = notebook.injected_source({"msg": '"Hello"', "d": {"z": 1, "a": 2}})
    assert source.splitlines()[0] == "# Parameters"
    namespace: dict = {}
    exec(compile(source, "<injected>", "exec"), {"__builtins__": {}}, namespace)
    assert namespace == {"msg": '"Hello"', "d": {"z": 1, "a": 2}}
    assert list(namespace["d"]) == ["z", "a"]  # key order kept


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"Hello"', '"Hello"'),  # papermill's test_quoted_params
        ("'x'", "'x'"),
        (r"do\ not\ crash", r"do\ not\ crash"),  # test_backslash_params
        (r"bar=\"baz\"", r"bar=\"baz\""),
        ("Hello", "Hello"),
        ("3", 3),
        ("2.5", 2.5),
        ("True", True),
        ("None", None),
        ("[1, 2]", [1, 2]),
        ('{"a": 1}', {"a": 1}),
        ("nan", "nan"),
        ("", ""),
    ],
)
def test_a_string_from_the_command_line_stays_that_string_unless_it_is_a_value(raw, expected):
    declared = notebook.notebook_parameters(pm_notebook("simple_execute.ipynb"))  # msg = None
    assert notebook.resolve_parameters(declared, {"msg": raw}) == {"msg": expected}


def test_a_declared_str_keeps_any_text():
    declared = notebook.notebook_parameters(new_notebook(["x"], parameters="name = 'a'"))
    for raw in ('"Hello"', "3", "[1]", "None"):
        assert notebook.resolve_parameters(declared, {"name": raw}) == {"name": raw}


def test_yaml_parameter_dicts_keep_their_order(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("cfg:\n  zeta: 1\n  alpha: 2\n  mid: 3\nlater: 1\nearly: 2\n")
    values = notebook.load_parameter_file(path)
    assert list(values) == ["cfg", "later", "early"] and list(values["cfg"]) == ["zeta", "alpha", "mid"]
    declared = notebook.notebook_parameters(new_notebook(["x"], parameters="cfg = {}\nlater = 0\nearly = 0"))
    resolved = notebook.resolve_parameters(declared, values)
    assert list(resolved["cfg"]) == ["zeta", "alpha", "mid"]
    source = notebook.injected_source(resolved)
    assert source.index("zeta") < source.index("alpha") < source.index("mid")


def test_multi_line_parameters_keep_their_help_as_papermill_reads_it(capsys):
    found = {p.name: p for p in notebook.notebook_parameters(pm_notebook("complex_parameters.ipynb"))}
    assert found["a"].help == "Variable a" and found["a"].type_name == "float"
    assert found["b"].default == ["Hello", "World"] and found["b"].help == "Nice list"
    assert found["msg"].default is None and found["c"].default is None
    from papermill.inspection import inspect_notebook

    theirs = inspect_notebook(os.path.join(PM_NOTEBOOKS, "complex_parameters.ipynb"))
    assert {name: found[name].help for name in theirs} == {name: p["help"] for name, p in theirs.items()}


def test_aieng_job_params_shows_the_help_of_a_multi_line_parameter(capsys):
    from aieng_nb.cli import main

    assert main(["job", "params", os.path.join(PM_NOTEBOOKS, "complex_parameters.ipynb"), "--json"]) == 0
    listed = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert listed["b"]["help"] == "Nice list" and listed["a"]["help"] == "Variable a"
    assert main(["job", "params", os.path.join(PM_NOTEBOOKS, "complex_parameters.ipynb")]) == 0
    assert "Nice list" in capsys.readouterr().out


def test_a_papermill_output_keeps_its_injected_cell_unless_new_parameters_are_given():
    nb = new_notebook(["print(msg)"], parameters="msg = None")
    notebook.inject(nb, {"msg": "Hello"})
    injected = nb["cells"][1]
    notebook.inject(nb, {})  # a re-run without parameters: papermill keeps it
    assert nb["cells"][1] is injected and len(nb["cells"]) == 3
    notebook.inject(nb, {"msg": "Bye"})  # new parameters replace it, in place
    assert len(nb["cells"]) == 3 and "Bye" in nb["cells"][1]["source"]
    assert notebook.INJECTED_TAG in nb["cells"][1]["metadata"]["tags"]


def test_kernel_names_resolve_as_jupyter_client_does(kernel):
    autosave = pm_notebook("test_autosave.ipynb")
    assert autosave["metadata"]["kernelspec"]["name"] == "python"
    resolved = resolve_kernel(autosave)
    assert (resolved.name, resolved.is_python) == ("python3", True)
    from jupyter_client.manager import KernelManager

    assert KernelManager(kernel_name="python").kernel_name == resolved.name
    with pytest.raises(ValidationError, match="no kernel named 'nope'"):
        resolve_kernel({}, "nope")


def test_a_job_record_names_the_kernel_language(workspace, kernel, tmp_path):
    from aieng_nb.jobs.control import prepare_job

    path = tmp_path / "auto.ipynb"
    path.write_text(json.dumps(pm_notebook("test_autosave.ipynb")))
    record = prepare_job(path)
    assert (record.kernel_name, record.kernel_language) == ("python3", "python")


def test_a_monitor_spec_needs_a_python_kernel(workspace, tmp_path, bash_kernel):
    from aieng_nb.jobs.control import prepare_job

    path = tmp_path / "b.ipynb"
    path.write_text(json.dumps(bash_notebook(["echo hi"])))
    with pytest.raises(ValidationError, match="Python kernel"):
        prepare_job(path, monitor="reference=snapshot:a,current=snapshot:b")


def bash_notebook(cells: list[str], parameters: str | None = None) -> dict:
    nb = new_notebook(cells, parameters=parameters, kernel_name="bash")
    nb["metadata"]["kernelspec"] = {"name": "bash", "display_name": "Bash", "language": "bash"}
    nb["metadata"]["language_info"] = {"name": "bash"}
    return nb


def test_bash_parameters_cells_are_read_as_shell_assignments():
    found = notebook.notebook_parameters(bash_notebook(["echo $msg"], parameters="msg=default  # the greeting\nn=3"))
    assert [(p.name, p.default, p.help) for p in found] == [("msg", "default", "the greeting"), ("n", "3", "")]


def test_yaml_order_survives_the_job_record_into_the_injected_cell(workspace, kernel, tmp_path):
    from aieng_nb.jobs import store as job_store
    from aieng_nb.jobs.control import prepare_job
    from aieng_nb.jobs.notebook import build_notebook

    nb = tmp_path / "o.ipynb"
    nb.write_text(json.dumps(new_notebook(["print(cfg)"], parameters="cfg = {}\nzz = 0\naa = 0")))
    values = tmp_path / "p.yaml"
    values.write_text("zz: 1\ncfg:\n  zeta: 1\n  alpha: 2\naa: 2\n")
    job = prepare_job(nb, parameters_file=values)
    stored = job_store.load(job.job_id, workspace)
    assert list(stored.parameters) == ["zz", "cfg", "aa"] and list(stored.parameters["cfg"]) == ["zeta", "alpha"]
    source = "".join(build_notebook(stored).cells[1].source)
    assert source.index("zz =") < source.index("cfg =") < source.index("aa =")
    assert source.index("zeta") < source.index("alpha")
