"""``aieng demo``: the quick start's main job, run on the embedded workspace (:mod:`aieng_nb.demo`).

Exit code 0 when the example job completed, 1 when it did not.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the example training notebook as a job with reports and print where the results are"
    )
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from ..demo import run_demo

    result = run_demo(say=lambda line: print(line, flush=True))
    print(result)
    return 0 if result.ok else 1
