"""A pipeline file: notebooks joined by snapshot names, read and checked before anything runs.

```yaml
steps:
  ingest:   {notebook: ingest.ipynb, outputs: [raw]}
  clean:    {notebook: clean.ipynb, inputs: [raw], outputs: [clean], contract: clean}
  train:    {notebook: train.ipynb, inputs: [clean], params: {max_depth: 6}}
  evaluate: {notebook: evaluate.ipynb, inputs: [clean], after: [train]}
```

Notebook paths are relative to the file's folder. A step's ``inputs`` are snapshot names another
step outputs (or that already exist in the workspace); its ``outputs`` are the snapshots it must
take; ``after`` orders steps without data; ``params`` are checked against the notebook's
parameters cell; ``contract`` validates the step's snapshots (policy ``block``); ``environment``
(a file, e.g. ``requirements.txt``, or a mapping) is part of the step's cache key. Every error
names the file, the step and the field.

>>> p = parse({"steps": {"a": {"notebook": "a.ipynb", "outputs": ["x"]},
...                      "b": {"notebook": "b.ipynb", "inputs": ["x"]}}}, "p.yaml", check_notebooks=False)
>>> p.order()
['a', 'b']
>>> parse({"steps": {"a": {"notebook": "a.ipynb", "after": ["a"]}}}, "p.yaml", check_notebooks=False)
Traceback (most recent call last):
...
aieng_nb.exceptions.ValidationError: p.yaml: steps: a cycle: a -> a
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import ValidationError
from ..rendering import clip

STEP_FIELDS = ("notebook", "inputs", "outputs", "after", "params", "contract", "environment", "timeout", "retries")
TOP_FIELDS = ("name", "experiment", "steps")
PIPELINE_SUFFIXES = (".yaml", ".yml")


@dataclass
class Step:
    """One step: a notebook run as a job, with the snapshots it reads and writes."""

    name: str
    notebook: Path
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    contract: str | None = None
    environment: Any = None
    timeout: float | None = None
    retries: int = 0


@dataclass
class Pipeline:
    """A checked pipeline file: its steps in file order, and who produces which snapshot."""

    path: Path
    name: str
    experiment: str
    steps: dict[str, Step]

    @property
    def producers(self) -> dict[str, str]:
        """Snapshot name -> the step that outputs it."""
        return {out: s.name for s in self.steps.values() for out in s.outputs}

    def upstream(self, step: str) -> list[str]:
        """The steps ``step`` waits for: producers of its inputs, then its ``after`` steps."""
        s, producers = self.steps[step], self.producers
        deps = [producers[i] for i in s.inputs if i in producers] + list(s.after)
        return list(dict.fromkeys(deps))

    def downstream(self, step: str) -> set[str]:
        """Every step that depends on ``step``, directly or not."""
        out: set[str] = set()
        frontier = [step]
        while frontier:
            cur = frontier.pop()
            for name in self.steps:
                if cur in self.upstream(name) and name not in out:
                    out.add(name)
                    frontier.append(name)
        return out

    def order(self) -> list[str]:
        """The steps in an order where each comes after what it waits for (file order otherwise)."""
        done: list[str] = []
        pending = list(self.steps)
        while pending:
            ready = [s for s in pending if all(d in done for d in self.upstream(s))]
            done += ready
            pending = [s for s in pending if s not in ready]
        return done

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "name": self.name,
            "experiment": self.experiment,
            "steps": {
                n: {
                    "notebook": str(s.notebook),
                    "inputs": s.inputs,
                    "outputs": s.outputs,
                    "after": s.after,
                    "params": s.params,
                    "contract": s.contract,
                    "upstream": self.upstream(n),
                }
                for n, s in self.steps.items()
            },
        }


def is_pipeline_file(path: Any) -> bool:
    """True for a ``.yaml``/``.yml`` path (a schedule or a loop given one runs a pipeline)."""
    return isinstance(path, (str, os.PathLike)) and Path(path).suffix.lower() in PIPELINE_SUFFIXES


def load_pipeline(
    path: str | os.PathLike[str],
    overrides: Mapping[str, Any] | None = None,
    *,
    snapshot_exists: Callable[[str], bool] | None = None,
    check_notebooks: bool = True,
) -> Pipeline:
    """Read and check ``path``; ``overrides`` are ``{"step.param": value}`` (``-p features.window=14``).

    ``snapshot_exists`` tells whether an input no step outputs is already a snapshot in the workspace.
    """
    import yaml

    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise ValidationError(f"a pipeline is a YAML file path, got {clip(repr(path), 60)}")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(f"{clip(p)}: no such pipeline file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{clip(p)}: cannot read it ({clip(exc, 120)})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError(f"{clip(p)}: not valid YAML: {clip(exc, 200)}") from None
    except RecursionError:
        raise ValidationError(f"{clip(p)}: nested too deeply") from None
    pipeline = parse(data, p, snapshot_exists=snapshot_exists, check_notebooks=check_notebooks)
    apply_overrides(pipeline, overrides or {})
    if check_notebooks:
        for step in pipeline.steps.values():
            _check_params(pipeline, step)
    return pipeline


def parse(
    data: Any,
    path: str | os.PathLike[str],
    *,
    snapshot_exists: Callable[[str], bool] | None = None,
    check_notebooks: bool = True,
) -> Pipeline:
    """A :class:`Pipeline` from the file's parsed YAML; every error names the file, step and field."""
    p = Path(path)
    where = clip(str(p), 200)
    if not isinstance(data, dict):
        raise ValidationError(f"{where}: expected a mapping with a 'steps' key")
    _unknown(where, data, TOP_FIELDS, "field")
    steps_raw = data.get("steps")
    if not isinstance(steps_raw, dict) or not steps_raw:
        raise ValidationError(f"{where}: steps: expected a mapping of step names to steps")
    name = _text(data.get("name", p.stem), f"{where}: name")
    experiment = _text(data.get("experiment", name), f"{where}: experiment")
    steps = {}
    for step_name, raw in steps_raw.items():
        steps[str(step_name)] = _step(where, p.parent, step_name, raw, check_notebooks)
    pipeline = Pipeline(p.resolve() if p.exists() else p, name, experiment, steps)
    _check_edges(where, pipeline, snapshot_exists)
    return pipeline


def _step(where: str, folder: Path, name: Any, raw: Any, check_notebooks: bool) -> Step:
    from ..jobs.notebook import check_name as _ident

    if not isinstance(name, str) or not name or not name.replace("-", "_").isidentifier():
        raise ValidationError(f"{where}: steps: bad step name {clip(repr(name), 60)} (letters, digits, '_', '-')")
    at = f"{where}: step {name!r}"
    if not isinstance(raw, dict):
        raise ValidationError(f"{at}: expected a mapping with at least 'notebook'")
    _unknown(at, raw, STEP_FIELDS, "field")
    nb = raw.get("notebook")
    if not isinstance(nb, str) or not nb.strip():
        raise ValidationError(f"{at}: notebook: give the notebook's path")
    notebook = (folder / nb).resolve() if not Path(nb).is_absolute() else Path(nb)
    if check_notebooks and not notebook.is_file():
        raise ValidationError(f"{at}: notebook: {clip(str(notebook))} does not exist")
    lists = {k: _names(at, k, raw.get(k)) for k in ("inputs", "outputs", "after")}
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise ValidationError(f"{at}: params: expected a mapping of parameter names to values")
    for key in params:
        try:
            _ident(key)
        except ValidationError as exc:
            raise ValidationError(f"{at}: params: {exc}") from None
    contract = raw.get("contract")
    if contract is not None:
        contract = _text(contract, f"{at}: contract")
    timeout = raw.get("timeout")
    retries = raw.get("retries", 0)
    from ..jobs.request import check_job_options

    try:
        check_job_options(timeout=timeout, retries=retries)
    except ValidationError as exc:
        raise ValidationError(f"{at}: {exc}") from None
    environment = raw.get("environment")
    if environment is not None and not isinstance(environment, (str, dict)):
        raise ValidationError(f"{at}: environment: a file path or a mapping")
    if isinstance(environment, str):
        environment = str((folder / environment).resolve())
        if check_notebooks and not Path(environment).is_file():
            raise ValidationError(f"{at}: environment: {clip(environment)} does not exist")
    return Step(name, notebook, **lists, params=dict(params), contract=contract, environment=environment,
                timeout=timeout, retries=retries)  # fmt: skip


def _check_edges(where: str, p: Pipeline, snapshot_exists: Callable[[str], bool] | None) -> None:
    from ..snapshots.index import check_name as check_snapshot_name

    writers: dict[str, str] = {}
    for s in p.steps.values():
        for out in s.outputs:
            try:
                check_snapshot_name(out)
            except ValidationError as exc:
                raise ValidationError(f"{where}: step {s.name!r}: outputs: {exc}") from None
            if out in writers:
                raise ValidationError(
                    f"{where}: step {s.name!r}: outputs: {out!r} is also output by step {writers[out]!r}"
                )
            writers[out] = s.name
            if out in s.inputs:
                raise ValidationError(f"{where}: step {s.name!r}: outputs: {out!r} is also one of its inputs")
    for s in p.steps.values():
        for inp in s.inputs:
            if inp in writers or (snapshot_exists is not None and snapshot_exists(inp)):
                continue
            if snapshot_exists is None and not writers:
                continue
            close = difflib.get_close_matches(inp, list(writers), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValidationError(
                f"{where}: step {s.name!r}: inputs: unknown input {inp!r} (no step outputs it and no snapshot of that name exists{hint})"
            )
        for dep in s.after:
            if dep not in p.steps:
                close = difflib.get_close_matches(dep, list(p.steps), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValidationError(f"{where}: step {s.name!r}: after: unknown step {dep!r}{hint}")
    cycle = _find_cycle(p)
    if cycle:
        raise ValidationError(f"{where}: steps: a cycle: {' -> '.join(cycle)}")


def _find_cycle(p: Pipeline) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in p.upstream(n):
            if state.get(d) == 1:
                return stack[stack.index(d) :] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in p.steps:
        if n not in state:
            found = visit(n)
            if found:
                return list(reversed(found))
    return None


def apply_overrides(p: Pipeline, overrides: Mapping[str, Any]) -> None:
    """``{"features.window": 14}`` sets step ``features``'s parameter ``window``."""
    for key, value in overrides.items():
        step, sep, param = str(key).partition(".")
        if not sep or not param:
            raise ValidationError(f"-p {key!r}: name the step and the parameter, e.g. -p features.window=14")
        if step not in p.steps:
            close = difflib.get_close_matches(step, list(p.steps), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValidationError(f"-p {key!r}: {clip(str(p.path))} has no step {step!r}{hint}")
        p.steps[step].params[param] = value


def _check_params(p: Pipeline, step: Step) -> None:
    """The step's parameters against its notebook's parameters cell (names, and values' types)."""
    from ..jobs import notebook as _notebook

    try:
        declared = _notebook.notebook_parameters(_notebook.load_notebook_json(step.notebook))
        step.params = _notebook.resolve_parameters(declared, step.params)
    except ValidationError as exc:
        raise ValidationError(f"{clip(str(p.path))}: step {step.name!r}: params: {exc}") from None


def notebook_digest(path: Path) -> str:
    """The hash of a notebook's content without outputs: cell kinds, sources and tags (what runs)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = [
        [c.get("cell_type"), _joined(c.get("source")), sorted((c.get("metadata") or {}).get("tags") or [])]
        for c in nb.get("cells", [])
    ]
    kernel = ((nb.get("metadata") or {}).get("kernelspec") or {}).get("name")
    return _digest({"cells": cells, "kernel": kernel})


def environment_digest(environment: Any) -> str | None:
    """The declared environment's hash: a file's bytes, or a mapping's canonical JSON."""
    if environment is None:
        return None
    if isinstance(environment, str):
        return hashlib.sha256(Path(environment).read_bytes()).hexdigest()
    return _digest(environment)


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _joined(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source or "")


def _names(at: str, key: str, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValidationError(f"{at}: {key}: expected a list of names")
    if len(set(value)) != len(value):
        raise ValidationError(f"{at}: {key}: a name is listed twice")
    return list(value)


def _text(value: Any, at: str) -> str:
    if not isinstance(value, str) or not value.strip() or "\n" in value or len(value) > 250:
        raise ValidationError(f"{at}: expected a one-line name")
    return value


def _unknown(at: str, raw: Mapping[str, Any], known: tuple[str, ...], what: str) -> None:
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValidationError(f"{at}: unknown {what} {clip(repr(key), 60)}{hint}; known: {', '.join(known)}")
