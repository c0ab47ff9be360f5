"""``aieng demo``: the quick start's main job, run headless on the embedded workspace."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the example experiment headless and print where the results are")
    parser.add_argument("--output", default="aieng-demo", help="folder for the executed notebook (default: aieng-demo)")
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    import papermill

    from .. import tracking
    from ..examples import example
    from ..workspace import current

    ws = current()
    os.environ["AIENG_WORKSPACE"] = str(ws.root)  # the kernel logs into this same workspace
    os.environ["AIENG_NOTEBOOK_PATH"] = str(example("01-quickstart.ipynb"))  # attached to the run at end
    out_dir = Path(args.output).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / "01-quickstart.ipynb"
    print(f"aieng demo: running {example('01-quickstart.ipynb').name} headless (workspace {ws.root})")
    papermill.execute_notebook(
        str(example("01-quickstart.ipynb")), str(output), kernel_name="python3", cwd=str(out_dir), progress_bar=False
    )
    latest = tracking.runs(experiment="quickstart", last=1)[0]
    print(f"run:          {latest.run_id} ({latest.name}, {latest.status})")
    print(f"metrics:      {', '.join(f'{k}={v:.4g}' for k, v in sorted(latest.metrics.items()))}")
    print(f"notebook:     {output}")
    print(f"artifacts:    {latest.artifact_uri}")
    print(f"MLflow UI:    mlflow ui --backend-store-uri {ws.tracking_uri}")
    return 0
