"""Tab completion of %aieng through IPython's own completer (a real InteractiveShell)."""

from __future__ import annotations

import builtins
import keyword

import pytest
from IPython.core.completer import provisionalcompleter

import aieng_nb as aieng
from aieng_nb.jobs import store as job_store
from aieng_nb.jobs.notebook import write_notebook
from aieng_nb.jobs.records import JobRecord

PYTHON_NAMES = set(dir(builtins)) | set(keyword.kwlist)


def complete(shell, line):
    with provisionalcompleter():
        found = list(shell.Completer.completions(line, len(line)))
    return [c.text for c in found], found


def texts(shell, line):
    return complete(shell, line)[0]


@pytest.mark.parametrize(
    "line",
    ["%aieng start --", "%aieng job r", "%aieng snapshots ", "%aieng runs --", "%aieng show ", "%%aieng track -"],
)
def test_no_python_builtins_or_keywords_on_an_aieng_line(shell, line):
    found = texts(shell, line)
    typed = line.split()[-1] if not line.endswith(" ") else ""
    offered = {t.lstrip("-") for t in found} | set(found)
    assert not (offered & PYTHON_NAMES - {typed.lstrip("-")}), found
    assert not any(t.startswith("%") for t in found)  # no %recall, %rehashx


def test_options_come_from_the_subcommands_parser(shell):
    assert texts(shell, "%aieng start --") == ["--experiment", "--name", "--nested", "--tag"]
    assert texts(shell, "%aieng start --ex") == ["--experiment"]
    assert "--metrics" in texts(shell, "%aieng runs --")
    assert texts(shell, "%aieng end --status ") == ["finished", "failed", "killed"]
    assert set(texts(shell, "%%aieng track --")) == {"--experiment", "--name", "--tag"}


def test_sub_subcommands_of_job(shell):
    assert texts(shell, "%aieng job r") == ["run"]
    assert set(texts(shell, "%aieng job ")) == {"run", "list", "show", "stop", "params"}
    assert "--background" in texts(shell, "%aieng job run nb.ipynb --b")
    assert texts(shell, "%aieng jobs --status fa") == ["failed"]
    assert {"verify", "list"} <= set(texts(shell, "%aieng audit "))


def test_subcommand_names_and_help(shell):
    assert texts(shell, "%aieng st") == ["start", "status"]
    assert texts(shell, "%aieng help sn") == ["snapshot", "snapshots"]


def test_notebook_paths_where_a_notebook_is_taken(shell, tmp_path):
    write_notebook(tmp_path / "train.ipynb", ["x = 1"])
    (tmp_path / "notes.txt").write_text("not a notebook")
    (tmp_path / "sub").mkdir()
    write_notebook(tmp_path / "sub" / "eval.ipynb", ["x = 1"])
    assert texts(shell, "%aieng job run ") == ["sub/", "train.ipynb"]
    assert texts(shell, "%aieng job run t") == ["train.ipynb"]
    assert texts(shell, "%aieng job run sub/") == ["sub/eval.ipynb"]
    assert texts(shell, "%aieng job params tr") == ["train.ipynb"]
    _, found = complete(shell, "%aieng job run sub/e")
    assert found[0].text == "sub/eval.ipynb" and found[0].start == len("%aieng job run ")


def test_run_ids_job_ids_and_snapshot_names(shell, tmp_path):
    import pandas as pd

    with aieng.start_run(name="r1") as run:
        pass
    assert texts(shell, "%aieng show ") == [run.id]
    assert texts(shell, f"%aieng compare {run.id} {run.id[:3]}") == [run.id]
    assert texts(shell, "%aieng reports --run ") == [run.id]
    nb = write_notebook(tmp_path / "nb.ipynb", ["x = 1"])
    job = job_store.create(JobRecord.new(str(nb)))
    assert texts(shell, "%aieng job show ") == [job.job_id]
    assert texts(shell, "%aieng job stop 2") == [job.job_id]
    aieng.snapshot(pd.DataFrame({"a": [1, 2]}), name="train")
    assert texts(shell, "%aieng snapshots ") == ["train"]
    assert texts(shell, "%aieng diff train@") == ["train@1"]
    shell.user_ns["current_df"] = pd.DataFrame({"a": [3]})
    offered = texts(shell, "%aieng monitor --reference ")
    assert "current_df" in offered and "snapshot:train" in offered
    assert texts(shell, "%aieng snapshot cur") == ["current_df"]


def test_variables_for_param(shell):
    shell.run_cell("learning_rate = 0.1\nimport os\ndef f(): pass")
    assert texts(shell, "%aieng param lea") == ["learning_rate"]
    assert "os" not in texts(shell, "%aieng param ")


def test_normal_python_completion_is_untouched(shell):
    shell.user_ns["my_variable"] = 1
    assert "my_variable" in texts(shell, "my_var")
