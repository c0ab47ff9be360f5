"""Tab completion latency on an ``%aieng`` line vs IPython completing a Python name, same shell.

Prints the median time per completion for each line and the ratio to the baseline (``pri`` -> print),
measured in one run. Usage: ``python benchmarks/bench_completion.py [--repeat 50]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="aieng-bench-")
    os.chdir(folder)
    os.environ["AIENG_WORKSPACE"] = os.path.join(folder, ".aieng")
    for i in range(20):
        open(f"nb{i}.ipynb", "w").write("{}")
    from IPython.core.completer import provisionalcompleter
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "aieng_nb")
    import aieng_nb as aieng

    for i in range(20):
        with aieng.start_run(name=f"r{i}"):
            aieng.log(loss=1.0)

    def median(line: str) -> float:
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            with provisionalcompleter():
                list(shell.Completer.completions(line, len(line)))
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    base = median("pri")
    print(f"baseline 'pri' (Python name): {base * 1e3:.2f} ms")
    for line in ("%aieng start --", "%aieng job run ", "%aieng show ", "%aieng job r"):
        t = median(line)
        print(f"{line!r:24} {t * 1e3:7.2f} ms  ratio {t / base:.2f}x")


if __name__ == "__main__":
    main()
