"""Notebook pipelines: a no-op rerun of a 10-step pipeline, and the scheduling overhead per step.

1. **No-op rerun** (everything cached), wall time of the command a user types, side by side with
   ``dvc repro`` and ``ploomber build`` on an equivalent 10-stage chain (each stage reads the previous
   stage's output and writes its own). dvc and ploomber are not aieng_nb dependencies: install them in
   a separate environment and pass its ``bin`` folder (``--tools /tmp/benchtools/bin``); without it
   only aieng_nb is timed. Target: < 1 s.
2. **Scheduling overhead per executed step**: one step forced to run (``force=[step]``) against a plain
   ``run_job`` of the same notebook, in this process, alternating. Target: within 1.1x.

Runs alternate in short blocks; medians with the quartiles are printed.

    python benchmarks/bench_pipeline.py --tools /tmp/benchtools/bin [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = 10


def _quartiles(xs: list[float]) -> str:
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return f"median {statistics.median(xs):.3f} s (quartiles {q[0]:.3f}-{q[2]:.3f})"


def make_aieng(folder: Path) -> Path:
    from aieng_nb.jobs.notebook import write_notebook

    imp = "import pandas as pd, aieng_nb as aieng"
    write_notebook(folder / "first.ipynb", [f"{imp}\naieng.snapshot(pd.DataFrame({{'x': range(100)}}), name='s0')"])
    lines = ["steps:", "  s0: {notebook: first.ipynb, outputs: [s0]}"]
    for i in range(1, STEPS):
        write_notebook(
            folder / f"s{i}.ipynb",
            [f"{imp}\ndf = aieng.load(src)\naieng.snapshot(df + 1, name=dst)"],
            parameters="src = ''\ndst = ''",
        )
        lines.append(f"  s{i}: {{notebook: s{i}.ipynb, inputs: [s{i - 1}], outputs: [s{i}], "
                     f"params: {{src: s{i - 1}, dst: s{i}}}}}")  # fmt: skip
    (folder / "pipeline.yaml").write_text("\n".join(lines) + "\n")
    return folder / "pipeline.yaml"


def make_dvc(folder: Path, tools: Path) -> list[str]:
    (folder / "s0.py").write_text("open('s0.txt','w').write('\\n'.join(map(str, range(100))))\n")
    stages = ["stages:", "  s0: {cmd: python s0.py, deps: [s0.py], outs: [s0.txt]}"]
    for i in range(1, STEPS):
        (folder / f"s{i}.py").write_text(
            f"xs = [int(x) + 1 for x in open('s{i - 1}.txt').read().split()]\n"
            f"open('s{i}.txt','w').write('\\n'.join(map(str, xs)))\n"
        )
        stages.append(f"  s{i}: {{cmd: python s{i}.py, deps: [s{i}.py, s{i - 1}.txt], outs: [s{i}.txt]}}")
    (folder / "dvc.yaml").write_text("\n".join(stages) + "\n")
    env = _env(tools)
    subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    subprocess.run([str(tools / "dvc"), "init", "-q"], cwd=folder, check=True, env=env)
    subprocess.run([str(tools / "dvc"), "repro", "-q"], cwd=folder, check=True, env=env)
    return [str(tools / "dvc"), "repro"]


def make_ploomber(folder: Path, tools: Path) -> list[str]:
    tasks = ["tasks:"]
    for i in range(STEPS):
        upstream = f"upstream = ['s{i - 1}']" if i else "upstream = None"
        read = (
            f"xs = [int(x) + 1 for x in open(upstream['s{i - 1}']['data']).read().split()]"
            if i
            else "xs = list(range(100))"
        )
        (folder / f"s{i}.py").write_text(
            f"# + tags=['parameters']\n{upstream}\nproduct = None\n# -\n{read}\n"
            "open(product['data'], 'w').write('\\n'.join(map(str, xs)))\n"
        )
        tasks += [f"  - source: s{i}.py", f"    name: s{i}", "    product:",
                  f"      nb: out/s{i}.ipynb", f"      data: out/s{i}.txt"]  # fmt: skip
    (folder / "pipeline.yaml").write_text("\n".join(tasks) + "\n")
    subprocess.run([str(tools / "ploomber"), "build"], cwd=folder, check=True, env=_env(tools), capture_output=True)
    return [str(tools / "ploomber"), "build"]


def _env(tools: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(tools) + os.pathsep + env.get("PATH", "")
    env.pop("PYTHONPATH", None)
    return env


def noop_reruns(tools: Path | None, repeat: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    sides: dict[str, tuple[list[str], Path, dict[str, str]]] = {}
    (root / "aieng").mkdir()
    path = make_aieng(root / "aieng")
    aieng_env = dict(os.environ, AIENG_WORKSPACE=str(root / "aieng" / ".aieng"))
    cmd = [sys.executable, "-m", "aieng_nb", "pipeline", "run", str(path), "-q"]
    subprocess.run(cmd, cwd=root / "aieng", env=aieng_env, check=True, capture_output=True)  # fills the cache
    sides["aieng pipeline run"] = (cmd, root / "aieng", aieng_env)
    if tools is not None:
        for name, make in (("dvc repro", make_dvc), ("ploomber build", make_ploomber)):
            (root / name.split()[0]).mkdir()
            sides[name] = (make(root / name.split()[0], tools), root / name.split()[0], _env(tools))
    times: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(repeat):
        for name, (command, cwd, env) in sides.items():
            t0 = time.perf_counter()
            out = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
            times[name].append(time.perf_counter() - t0)
            assert out.returncode == 0, (name, out.stdout[-500:], out.stderr[-500:])
    check = subprocess.run([sys.executable, "-m", "aieng_nb", "pipeline", "list", "--json"], cwd=root / "aieng",
                           env=aieng_env, capture_output=True, text=True)  # fmt: skip
    import json

    newest = json.loads(check.stdout)[0]
    assert {s["state"] for s in newest["steps"].values()} == {"CACHED"}, newest  # nothing ran
    print(f"1. no-op rerun of a {STEPS}-step pipeline (everything cached), {repeat} runs each, alternating:")
    base = statistics.median(times["aieng pipeline run"])
    for name, xs in times.items():
        ratio = f"  ({statistics.median(xs) / base:.2f}x aieng's)" if name != "aieng pipeline run" else ""
        print(f"   {name:<20} {_quartiles(xs)}{ratio}")
    shutil.rmtree(root, ignore_errors=True)


def step_overhead(repeat: int) -> None:
    from aieng_nb import config
    from aieng_nb.jobs.notebook import write_notebook
    from aieng_nb.pipelines import run_pipeline
    from aieng_nb.workspace import Workspace

    root = Path(tempfile.mkdtemp(prefix="bench-step-"))
    os.environ["AIENG_WORKSPACE"] = str(root / ".aieng")
    config.reset()
    ws = Workspace(root / ".aieng")
    nb = write_notebook(root / "step.ipynb", ["import aieng_nb as aieng\naieng.log(x=1)"])
    (root / "one.yaml").write_text("steps:\n  only: {notebook: step.ipynb}\n")
    from aieng_nb.jobs.control import run_job

    run_job(str(nb), workspace=ws)  # warm: imports, MLflow store, kernel spec
    run_pipeline(root / "one.yaml", workspace=ws)
    job_t: list[float] = []
    step_t: list[float] = []
    for i in range(repeat):
        for side in ("job", "step") if i % 2 == 0 else ("step", "job"):
            t0 = time.perf_counter()
            if side == "job":
                assert run_job(str(nb), workspace=ws).status == "COMPLETED"
                job_t.append(time.perf_counter() - t0)
            else:
                assert run_pipeline(root / "one.yaml", force=["only"], workspace=ws).status == "COMPLETED"
                step_t.append(time.perf_counter() - t0)
    ratios = [s / j for s, j in zip(step_t, job_t, strict=True)]
    print(f"2. one executed step vs a plain run_job of the same notebook, {repeat} pairs, alternating:")
    print(f"   run_job        {_quartiles(job_t)}")
    print(f"   pipeline step  {_quartiles(step_t)}")
    q = statistics.quantiles(ratios, n=4)
    print(
        f"   ratio          median {statistics.median(ratios):.3f}x (quartiles {q[0]:.3f}-{q[2]:.3f}); target <= 1.1x"
    )
    shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", type=Path, help="bin folder of an environment with dvc and ploomber")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    noop_reruns(args.tools, args.repeat)
    step_overhead(args.repeat)


if __name__ == "__main__":
    main()
