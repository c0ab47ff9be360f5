"""papermill's own test notebooks through ``aieng job run`` and ``papermill.execute_notebook``, side
by side, with the outcome each is expected to have (real kernels; papermill ships the notebooks)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import nbformat
import papermill
import pytest
from papermill.exceptions import PapermillExecutionError

from aieng_nb.cli import main
from aieng_nb.jobs.control import run_job
from aieng_nb.jobs.notebook import new_notebook
from aieng_nb.jobs.records import JobStatus

pytestmark = pytest.mark.slow

PM = Path(papermill.__file__).parent / "tests" / "notebooks"


def stdout_of(nb: dict) -> str:
    return "".join(
        "".join(o.get("text", "")) if isinstance(o.get("text"), (str, list)) else ""
        for cell in nb["cells"]
        for o in cell.get("outputs", [])
    )


def run_papermill(name: str, out: Path, parameters: dict | None = None) -> tuple[dict, PapermillExecutionError | None]:
    error = None
    try:
        papermill.execute_notebook(
            str(PM / name), str(out), parameters=parameters, progress_bar=False, kernel_name=None
        )
    except PapermillExecutionError as exc:
        error = exc
    return json.loads(out.read_text()), error


# notebook, parameters (as typed on the command line), papermill raises?, our status, text printed
CASES = [
    ("simple_execute.ipynb", {"msg": "Hello"}, False, JobStatus.COMPLETED, "Hello"),
    ("simple_execute.ipynb", {"msg": '"Hello"'}, False, JobStatus.COMPLETED, '"Hello"'),  # test_quoted_params
    ("simple_execute.ipynb", {"msg": r"do\ not\ crash"}, False, JobStatus.COMPLETED, r"do\ not\ crash"),
    ("no_parameters.ipynb", {"msg": "Hello"}, False, JobStatus.COMPLETED, None),  # injected first, then overwritten
    ("nb_version_4.4.ipynb", {"var": "2"}, False, JobStatus.COMPLETED, "2"),
    ("broken1.ipynb", {}, True, JobStatus.FAILED, "We're good."),
    ("broken2.ipynb", {}, True, JobStatus.FAILED, "We're good."),
    ("sysexit.ipynb", {}, False, JobStatus.COMPLETED, None),
    ("sysexit0.ipynb", {}, False, JobStatus.COMPLETED, None),
    ("systemexit.ipynb", {}, False, JobStatus.COMPLETED, None),
    ("sysexit1.ipynb", {}, True, JobStatus.FAILED, None),
    ("line_magic_error.ipynb", {}, True, JobStatus.FAILED, None),
    ("test_autosave.ipynb", {}, False, JobStatus.COMPLETED, None),  # kernelspec "python"
    ("complex_parameters.ipynb", {}, True, JobStatus.FAILED, None),  # its parameters cell has a syntax error
]


@pytest.mark.parametrize(
    ("name", "parameters", "pm_raises", "status", "printed"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_papermill_notebooks_side_by_side(workspace, tmp_path, name, parameters, pm_raises, status, printed):
    from papermill.cli import _resolve_type  # what `papermill -p` does with a typed value

    theirs, pm_error = run_papermill(name, tmp_path / "pm.ipynb", {k: _resolve_type(v) for k, v in parameters.items()})
    assert (pm_error is not None) == pm_raises
    job = run_job(str(PM / name), parameters, allow_unknown=name == "no_parameters.ipynb", progress=False, timeout=120)
    assert job.status == status, job.error_summary
    ours = json.loads(Path(job.output_path).read_text())
    if printed is not None:
        assert printed in stdout_of(ours) and printed in stdout_of(theirs)
    assert stdout_of(ours) == stdout_of(theirs)
    # the same cells, in the same order, with the same outputs (error banners included)
    assert [c["cell_type"] for c in ours["cells"]] == [c["cell_type"] for c in theirs["cells"]]
    assert [c.get("execution_count") for c in ours["cells"]] == [c.get("execution_count") for c in theirs["cells"]]
    if pm_error is not None:
        given = json.loads((PM / name).read_text())["cells"]
        where = [i for i, c in enumerate(given) if "".join(c["source"]) == pm_error.source]
        assert [job.error["cell_index"]] == where  # the failing cell's place in the notebook given
        assert job.error["execution_count"] == pm_error.exec_count  # the In [n] papermill's banner names
        assert job.error["ename"] == pm_error.ename
    assert job.cells_done == job.cells_total or status != JobStatus.COMPLETED
    # papermill's metadata fields, with papermill's meanings
    mine, pms = ours["metadata"]["papermill"], theirs["metadata"]["papermill"]
    assert set(pms) <= set(mine)
    assert mine["input_path"] == str(PM / name) and isinstance(mine["input_path"], str)
    assert mine["output_path"] == job.output_path
    assert mine["parameters"] == pms["parameters"]
    assert mine["version"] == papermill.__version__ and mine["environment_variables"] == {}
    assert mine["exception"] == pms["exception"]
    # comparable in size (it used to hold the whole input notebook again)
    assert Path(job.output_path).stat().st_size < 1.5 * (tmp_path / "pm.ipynb").stat().st_size + 2000


def test_broken1_reports_the_cell_papermill_reports(workspace, tmp_path):
    theirs, pm_error = run_papermill("broken1.ipynb", tmp_path / "pm.ipynb")
    job = run_job(str(PM / "broken1.ipynb"), progress=False)
    assert pm_error.exec_count == 2 and "".join(theirs["cells"][6]["source"]) == "assert False"
    assert (job.error["cell_index"], job.error["execution_count"]) == (6, 2)  # papermill's exception says 4
    assert job.error_summary.startswith("cell 7 (In [2]): AssertionError")  # counted from 1, as JupyterLab does
    assert job.error["cell_number"] == 7
    assert "".join(json.loads((PM / "broken1.ipynb").read_text())["cells"][6]["source"]) == "assert False"
    out = nbformat.read(job.output_path, as_version=4)
    assert out.cells[6].source == "assert False" and out.cells[6].outputs[0].ename == "AssertionError"
    assert "In [2]" in out.cells[0].source  # papermill's banner names the same cell


def test_a_papermill_output_run_again_keeps_its_parameters(workspace, tmp_path, capsys):
    first = tmp_path / "first.ipynb"
    papermill.execute_notebook(str(PM / "simple_execute.ipynb"), str(first), {"msg": "Hello"}, progress_bar=False)
    again = run_job(str(first), progress=False)
    assert again.status == JobStatus.COMPLETED
    out = json.loads(Path(again.output_path).read_text())
    assert "Hello" in stdout_of(out) and "None" not in stdout_of(out)
    assert out["metadata"]["papermill"]["parameters"] == {"msg": "Hello"}
    theirs = tmp_path / "second.ipynb"
    papermill.execute_notebook(str(first), str(theirs), progress_bar=False)
    assert stdout_of(json.loads(theirs.read_text())) == stdout_of(out)
    # new parameters replace the injected cell (in place), as papermill does
    bye = run_job(str(first), {"msg": "Bye"}, progress=False)
    out = json.loads(Path(bye.output_path).read_text())
    assert "Bye" in stdout_of(out) and "Hello" not in stdout_of(out)
    assert sum("injected-parameters" in c["metadata"].get("tags", []) for c in out["cells"]) == 1


def bash_notebook(path: Path, cells: list[str], parameters: str | None = None) -> str:
    nb = new_notebook(cells, parameters=parameters, kernel_name="bash")
    nb["metadata"]["kernelspec"] = {"name": "bash", "display_name": "Bash", "language": "bash"}
    nb["metadata"]["language_info"] = {"name": "bash"}
    path.write_text(json.dumps(nb))
    return str(path)


def test_bash_notebook_gets_its_parameters_in_bash(workspace, tmp_path, bash_kernel, capsys):
    nb = bash_notebook(tmp_path / "b.ipynb", ['echo "msg is: $msg"'], parameters="msg=default")
    code = main(["job", "run", nb, "-q", "-p", "msg", "hello world", "--json"])
    record = json.loads(capsys.readouterr().out)
    assert code == 0 and record["status"] == JobStatus.COMPLETED, record["error"]
    out = json.loads(Path(record["output_path"]).read_text())
    assert "msg is: hello world" in stdout_of(out)
    assert record["kernel_language"] == "bash"
    theirs = tmp_path / "pm.ipynb"
    papermill.execute_notebook(nb, str(theirs), {"msg": "hello world"}, progress_bar=False)
    assert stdout_of(json.loads(theirs.read_text())) == stdout_of(out)


def test_no_python_is_ever_run_in_a_bash_kernel(workspace, tmp_path, bash_kernel):
    nb = bash_notebook(tmp_path / "rocks.ipynb", ['echo "aieng rocks"'])
    t0 = time.monotonic()
    job = run_job(nb, progress=False, timeout=60)
    assert job.status == JobStatus.COMPLETED and time.monotonic() - t0 < 60, job.error_summary
    out = json.loads(Path(job.output_path).read_text())
    assert len(out["cells"]) == 1 and "aieng rocks" in stdout_of(out)  # nothing added to the user's notebook
    assert (job.cells_done, job.cells_total) == (1, 1)
    failing = bash_notebook(tmp_path / "fail.ipynb", ["echo one", "sleep 30"])
    job = run_job(failing, progress=False, cell_timeout=3)
    assert job.status == JobStatus.TIMED_OUT and job.error["cell_index"] == 1  # a cell of the user's


def test_the_failing_cell_is_counted_in_the_notebook_given(workspace, tmp_path):
    nb = tmp_path / "p.ipynb"
    nb.write_text(json.dumps(new_notebook(["y = 1", "raise ValueError(x)"], parameters="x = 1")))
    job = run_job(str(nb), {"x": "7"}, progress=False)  # the injected cell is the run's, not counted
    assert (job.error["cell_index"], job.error["execution_count"], job.error["evalue"]) == (2, 4, "7")
    slow = tmp_path / "s.ipynb"
    slow.write_text(json.dumps(new_notebook(["import time\ntime.sleep(30)"], parameters="x = 1")))
    job = run_job(str(slow), {"x": "2"}, cell_timeout=3, progress=False)
    assert job.status == JobStatus.TIMED_OUT and job.error["cell_index"] == 1


def test_completed_jobs_count_every_cell_done(workspace, tmp_path):
    nb = tmp_path / "many.ipynb"
    nb.write_text(json.dumps(new_notebook([f"x{i} = {i}" for i in range(7)], parameters="n = 1")))
    job = run_job(str(nb), {"n": "2"}, progress=False)
    # the 7 cells, the parameters cell and the injected one (papermill's progress counts it too)
    assert job.status == JobStatus.COMPLETED and (job.cells_done, job.cells_total) == (9, 9)


def test_interrupting_the_magic_is_one_line_and_closes_the_progress(shell, workspace, tmp_path, capsys):
    import _thread

    from IPython.core.error import UsageError

    from aieng_nb.jobs import store as job_store

    nb = tmp_path / "slow.ipynb"
    nb.write_text(json.dumps(new_notebook(["x = 1", "import time\ntime.sleep(60)", "y = 2"])))

    returned = threading.Event()  # an interrupt after the magic returned would hit pytest itself

    def interrupt_when_sleeping() -> None:
        end = time.monotonic() + 120
        while time.monotonic() < end and not returned.is_set():
            found = job_store.list_records(workspace=workspace)
            if found and found[0].cells_done >= 1 and found[0].kernel_pid:  # in the sleeping cell
                time.sleep(0.5)
                if not returned.is_set():
                    _thread.interrupt_main()
                return
            time.sleep(0.1)

    threading.Thread(target=interrupt_when_sleeping, daemon=True).start()
    try:
        with pytest.raises(UsageError) as info:
            shell.run_line_magic("aieng", f"job run {nb}")
    finally:
        returned.set()
    assert "\n" not in str(info.value) and "interrupted" in str(info.value) and "STOPPED" in str(info.value)
    (job,) = job_store.list_records(workspace=workspace)
    assert job.status == JobStatus.STOPPED
    err = capsys.readouterr().err
    assert err.rstrip().splitlines()[-1].strip().endswith("STOPPED: interrupted")  # the progress line is closed
    assert "Traceback" not in err
    assert os.environ.get("AIENG_RUN_ID") is None


def test_a_failing_monitor_is_not_reported_as_a_cell_of_the_user(workspace, tmp_path):
    nb = tmp_path / "m.ipynb"
    nb.write_text(json.dumps(new_notebook(["df = 1"])))
    job = run_job(str(nb), monitor="reference=var:missing,current=var:df", progress=False)
    assert job.status == JobStatus.FAILED
    assert job.error["kind"] == "monitor_error" and job.error["cell_index"] is None
    assert "missing" in job.error_summary and not job.error_summary.startswith("cell")
    assert (job.cells_done, job.cells_total) == (1, 1)  # the user's one cell; the monitoring is the job's
