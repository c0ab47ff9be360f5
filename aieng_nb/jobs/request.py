"""``JobRequest``: everything a notebook job is asked to do, checked in ONE place.

``run_job``, ``submit_job``, ``sweep``, ``reproduce``, ``schedules.add`` and every front end (the
CLI, the magics, the REST API) build a request and hand it over; :meth:`JobRequest.validate` runs
every check before anything is written (a refused job leaves no record, folder or audit entry).

>>> req = JobRequest.of("train.ipynb", {"lr": 0.1}, timeout=600, retries=2)
>>> req.timeout, req.retries, req.parameters
(600, 2, {'lr': 0.1})
>>> JobRequest.of("train.ipynb", retires=2)
Traceback (most recent call last):
...
aieng_nb.exceptions.ValidationError: unknown job option 'retires' (did you mean 'retries'?)

Formerly ``kernels.py``: Which kernel runs a job, and in which language (papermill's and jupyter_client's rules).

The kernel is the one asked for, else the notebook's ``kernelspec.name``, else ``python3``; a
kernelspec named ``python`` means the native Python kernel when no spec of that name is
installed (jupyter_client's ``KernelManager`` maps it to ``python3``, so papermill runs such
notebooks). The language is the installed kernelspec's, else the notebook's ``kernelspec.language``
or ``language_info.name``: it picks papermill's parameter translator and tells whether the job may
add Python of its own (it never does in a bash or R kernel).

>>> resolve_kernel({"metadata": {"kernelspec": {"name": "python"}}}).name   # doctest: +SKIP
'python3'
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import ValidationError
from ..records import Record
from ..rendering import clip
from ..workspace import Workspace
from . import notebook as _notebook
from .records import MAX_RETRIES

MAX_EXPERIMENT_NAME = 250
CONTRACT_POLICIES = ("warn", "block", "allow")


@dataclass
class JobRequest(Record):
    """A notebook job to run: the notebook, its parameters and how to run it.

    ``executor`` None means the configured ``job_executor`` (default ``local``); ``monitor`` a
    monitoring spec (a dict, or a name, or JSON text as typed on a command line); ``contracts``
    data-contract names whose snapshots the job validates; ``sweep_id``, ``parent_run_id`` and
    ``schedule`` are set by sweeps and schedules.
    """

    notebook: str
    parameters: dict[str, Any] = field(default_factory=dict)
    parameters_file: str | None = None
    allow_unknown: bool = False
    executor: str | None = None
    address: str | None = None
    timeout: float | None = None
    cell_timeout: float | None = None
    retries: int = 0
    retry_backoff: float = 1.0
    experiment: str | None = None
    kernel_name: str | None = None
    cwd: str | None = None
    monitor: Any = None
    tags: dict[str, str] = field(default_factory=dict)
    contracts: list[str] | None = None
    contract_policy: str | None = None
    sweep_id: str | None = None
    parent_run_id: str | None = None
    schedule: str | None = None

    @classmethod
    def of(
        cls, notebook: JobRequest | str | os.PathLike[str], parameters: Mapping[str, Any] | None = None, **options: Any
    ) -> JobRequest:
        """A request from ``run_job``'s call style (``notebook, parameters, **options``), or the
        given request with ``options`` applied; an unknown option names the closest known one."""
        known = {f.name for f in dataclasses.fields(cls)}
        for name in options:
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValidationError(f"unknown job option {name!r}{hint}")
        options = {k: v for k, v in options.items() if v is not None}  # None: the default
        if parameters is not None and not isinstance(parameters, Mapping):
            raise ValidationError(f"parameters must be a mapping of name: value, got {type(parameters).__name__}")
        if not isinstance(notebook, (JobRequest, str, os.PathLike)):
            raise ValidationError(f"notebook must be a path (str) or a JobRequest, got {notebook!r}")
        if isinstance(notebook, JobRequest):
            changes = dict(options)
            if parameters is not None:
                changes["parameters"] = {**notebook.parameters, **dict(parameters)}
            return dataclasses.replace(notebook, **changes)
        return cls(notebook=os.fspath(notebook), parameters=dict(parameters or {}), **options)

    @classmethod
    def from_options(
        cls, notebook: str, parameters: Mapping[str, Any] | None, options: Mapping[str, Any]
    ) -> JobRequest:
        """A request from a front end's parsed options: keys that are not request fields (``json``,
        ``quiet``...) are ignored, ``parameters_json`` (a JSON object as text) is merged under
        ``parameters`` and a ``monitor`` given as text is parsed (JSON, else a spec name)."""
        known = {f.name for f in dataclasses.fields(cls)} - {"notebook", "parameters"}
        values: dict[str, Any] = {}
        if options.get("parameters_json"):
            values.update(_notebook.parse_json_parameters(options["parameters_json"]))
        values.update(parameters or {})
        taken = {k: v for k, v in options.items() if k in known and v is not None}
        if isinstance(taken.get("monitor"), str):
            taken["monitor"] = parse_monitor(taken["monitor"])
        return cls(notebook=notebook, parameters=values, **taken)

    def executor_name(self) -> str:
        from .. import config

        return self.executor or str(config.get("job_executor") or "local")

    def executor_address(self) -> str | None:
        from .. import config

        if self.address or self.executor_name() != "dask":
            return self.address
        return str(config.get("dask_address") or "") or None

    def check_options(self, *, executor: bool = True) -> JobRequest:
        """The checks that need no notebook: numbers, names, the contract policy and (``executor``)
        that the executor is registered."""
        check_job_options(
            timeout=self.timeout,
            cell_timeout=self.cell_timeout,
            retries=self.retries,
            retry_backoff=self.retry_backoff,
            executor=self.executor_name() if executor else None,
        )
        check_experiment(self.experiment)
        if self.contract_policy is not None and self.contract_policy not in CONTRACT_POLICIES:
            raise ValidationError(f"contract policy must be one of {', '.join(CONTRACT_POLICIES)}")
        if not isinstance(self.parameters, dict) or not all(isinstance(k, str) for k in self.parameters):
            raise ValidationError("parameters must be a mapping of names to values")
        return self

    def validate(self, workspace: Workspace | None = None, *, executor: bool = True) -> Validated:
        """Every check a job needs before it exists; returns what they resolved. ``executor=False``
        leaves the executor's name to whoever runs the job (a stored schedule firing with a plug-in
        since uninstalled still gets a job record, which then fails saying so)."""
        from ..contracts.jobs import job_tags
        from ..workspace import locate

        pass

        self.check_options(executor=executor)
        # read, not created: the contracts are looked up in the workspace a refused job must not create
        tags = {**dict(self.tags), **job_tags(self.contracts, self.contract_policy, workspace or Workspace(locate()))}
        path = _notebook.check_path_text(self.notebook, "notebook")
        nb = _notebook.load_notebook_json(path)
        values: dict[str, Any] = {}
        if self.parameters_file is not None:
            values.update(_notebook.load_parameter_file(self.parameters_file))
        values.update(self.parameters)
        declared = _notebook.notebook_parameters(nb)
        resolved = _notebook.resolve_parameters(declared, values, allow_unknown=self.allow_unknown)
        workdir = check_cwd(self.cwd) if self.cwd is not None else str(path.resolve().parent)
        # a remote executor's kernels are on its workers: only a local one must be installed here
        kernel = resolve_kernel(nb, self.kernel_name, check=self.executor_name() in ("local", "process"))
        monitor = self.monitor if self.monitor is not None else monitor_spec_from_notebook(nb)
        if monitor is not None:
            check_monitor(monitor, kernel)
        # the injected cell is rendered now, so a value the kernel's language cannot take fails here
        _notebook.injected_source(resolved, kernel_name=kernel.name, language=kernel.language)
        experiment = self.experiment or path.stem
        return Validated(self, path, resolved, kernel, monitor, experiment, workdir, tags)


@dataclass
class Validated:
    """What :meth:`JobRequest.validate` resolved: the notebook path, the typed parameters (defaults
    of the notebook applied by the kernel, not here), the kernel, the monitor spec, names and tags."""

    request: JobRequest
    path: Path
    parameters: dict[str, Any]
    kernel: Any
    monitor: Any
    experiment: str
    cwd: str
    tags: dict[str, str]


def parse_monitor(spec: str | None) -> Any:
    """A monitoring spec as typed on a command line: JSON, else a spec name.

    >>> parse_monitor('{"reference": "train"}'), parse_monitor("drift")
    ({'reference': 'train'}, 'drift')
    """
    if spec is None:
        return None
    try:
        return json.loads(spec)
    except json.JSONDecodeError:
        return spec


def monitor_spec_from_notebook(nb: Mapping[str, Any]) -> Any:
    return (nb.get("metadata", {}).get("aieng") or {}).get("monitor")


def check_experiment(name: Any) -> str | None:
    """An MLflow experiment name (checked before a job exists, not when its run is created)."""
    if name is None:
        return None
    from ..names import valid

    if not valid("experiment", name):
        raise ValidationError(
            f"experiment must be a non-empty name of at most {MAX_EXPERIMENT_NAME} characters without control "
            f"characters, got {clip(name, 60)!r}"
        )
    _notebook.check_text(name, "experiment")
    return name


def check_cwd(cwd: Any) -> str:
    """The kernel's working folder must exist now (not be found missing after the notebook ran)."""
    folder = _notebook.check_path_text(cwd, "working folder")
    try:
        ok = folder.is_dir()
    except OSError as exc:
        raise ValidationError(f"working folder {clip(folder)}: {exc.strerror or exc}") from None
    if not ok:
        raise ValidationError(f"working folder {clip(folder)} does not exist (or is not a folder)")
    return str(folder.resolve())


def check_monitor(monitor: Any, kernel: Any) -> None:
    """A monitoring spec runs as Python in the job's kernel: check its grammar, and the kernel."""
    _notebook.check_literal(monitor, "monitor spec")
    if not kernel.is_python:
        raise ValidationError(f"a monitoring spec needs a Python kernel; this notebook runs on {kernel.name!r}")
    from ..reports.job_monitor import check_job_monitor_spec

    check_job_monitor_spec(monitor)


def check_kernel(kernel: str) -> None:
    """The kernel must be installed here (checked before a local job is created)."""
    resolve_kernel({}, kernel)


def check_job_options(
    *,
    timeout: Any = None,
    cell_timeout: Any = None,
    retries: Any = 0,
    retry_backoff: Any = 1.0,
    executor: str | None = None,
) -> None:
    """Check the run options of a job (also used by ``schedule add``, so a bad one fails now, not at 3 a.m.)."""
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise ValidationError(f"retries must be a whole number from 0 to {MAX_RETRIES}, got {clip(retries, 40)}")
    for name, value in (("timeout", timeout), ("cell timeout", cell_timeout), ("retry backoff", retry_backoff)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValidationError(f"{name} must be a positive number of seconds, got {clip(repr(value), 40)}")
    if executor is not None:
        from ..executors import get_executor

        get_executor(executor)


NATIVE = "python3"


@dataclass(frozen=True)
class Kernel:
    name: str
    language: str

    @property
    def is_python(self) -> bool:
        return self.language.lower().startswith("python")


def notebook_language(nb: Mapping[str, Any]) -> str | None:
    meta = nb.get("metadata") or {}
    spec = meta.get("kernelspec") or {}
    info = meta.get("language_info") or {}
    language = spec.get("language") or info.get("name")
    return str(language) if language else None


def resolve_kernel(nb: Mapping[str, Any], kernel_name: str | None = None, *, check: bool = True) -> Kernel:
    """The kernel a job of ``nb`` runs on; with ``check`` it must be installed here."""
    requested = kernel_name or ((nb.get("metadata") or {}).get("kernelspec") or {}).get("name") or NATIVE
    if not isinstance(requested, str) or not requested.strip() or "\0" in requested or len(requested) > 200:
        raise ValidationError(f"bad kernel name {clip(requested)!r}")
    fallback = notebook_language(nb) or "python"
    if not check:
        return Kernel(NATIVE if requested == "python" else requested, fallback)
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    ksm = KernelSpecManager()
    names = ksm.find_kernel_specs()
    name = requested
    if name not in names and name == "python":  # jupyter_client: "python" is the native kernel
        name = NATIVE
    try:
        spec = ksm.get_kernel_spec(name)
    except NoSuchKernel:
        known = ", ".join(sorted(names)) or "none"
        raise ValidationError(
            f"no kernel named {clip(requested)!r} is installed (known: {known}; jupyter kernelspec list)"
        ) from None
    return Kernel(name, str(spec.language or fallback))
