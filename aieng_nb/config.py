"""Configuration: traitlets traits, overridable by environment variables.

In IPython, ``%config Aieng.flush_interval = 0.1`` works once the extension is loaded.
In scripts and jobs, environment variables (``AIENG_WORKSPACE``, ``AIENG_TRACKING_URI``, ...) apply.
Precedence: explicit traitlets config > environment variable > default.

MLflow's own ``MLFLOW_TRACKING_URI`` is honoured for the tracking URI when ``AIENG_TRACKING_URI``
is not set, but read once, when this module is imported: MLflow's ``mlflow.set_tracking_uri()``
rewrites that variable inside the process, and aieng_nb must not follow MLflow's fluent state
(a model registered in one store and promoted in another).
"""

from __future__ import annotations

import os

from traitlets import Bool, Float, Unicode
from traitlets.config import Configurable

# MLflow's variable as the process had it when aieng_nb was imported (never read live afterwards)
MLFLOW_TRACKING_URI_AT_START = os.environ.get("MLFLOW_TRACKING_URI", "")


class Aieng(Configurable):
    """aieng_nb settings (``%config Aieng`` lists them)."""

    workspace = Unicode(
        "", help="Workspace folder. Empty: $AIENG_WORKSPACE, else the nearest .aieng/ upwards, else ./.aieng"
    ).tag(config=True)
    tracking_uri = Unicode(
        "",
        help="MLflow tracking URI. Empty: $AIENG_TRACKING_URI, else $MLFLOW_TRACKING_URI (read when aieng_nb"
        " is imported), else the workspace's SQLite store",
    ).tag(config=True)
    database_url = Unicode(
        "", help="SQLAlchemy URL of the metadata database. Empty: $AIENG_DATABASE_URL, else .aieng/aieng.db (SQLite)"
    ).tag(config=True)
    object_store = Unicode(
        "",
        help="Object store for snapshot blobs (any fsspec URL). Empty: $AIENG_OBJECT_STORE, else the MLflow "
        "server's artifact store (http(s) tracking URI), else the workspace folder",
    ).tag(config=True)
    flush_interval = Float(0.2, help="Seconds between background flushes of logged metrics").tag(config=True)
    journal_max_mb = Float(
        1024, help="Most megabytes of logged metrics a run queues on disk while its store is slow or down"
    ).tag(config=True)
    end_timeout = Float(
        60, help="Seconds end_run waits for queued metrics; later the run is finished when the store is back"
    ).tag(config=True)
    capture_cells = Bool(True, help="Record each executed cell while a run is active").tag(config=True)
    capture_environment = Bool(True, help="Record Python, packages, CPU/GPU and git state on run start").tag(
        config=True
    )
    capture_notebook = Bool(True, help="Attach the notebook file to the run at end").tag(config=True)
    pii_policy = Unicode("warn", help="Default PII policy for snapshots: warn, block, redact, allow").tag(config=True)
    contract_policy = Unicode(
        "warn", help="Default data-contract policy for snapshots: warn, block, allow (a contract's own policy wins)"
    ).tag(config=True)
    contracts_dir = Unicode(
        "", help="Folder of data contracts. Empty: $AIENG_CONTRACTS_DIR, else the nearest contracts/ upwards"
    ).tag(config=True)
    job_executor = Unicode("local", help="Default executor for jobs and sweeps: local, process, dask").tag(config=True)
    dask_address = Unicode("", help="Dask scheduler address for the dask executor, e.g. tcp://host:8786").tag(
        config=True
    )
    worker_timeout = Float(
        60.0, help="Seconds without a heartbeat after which a cluster job's attempt counts as lost (worker lost)"
    ).tag(config=True)
    mlflow_ui_url = Unicode("", help="MLflow UI base URL (http://127.0.0.1:5000): run pages link there").tag(
        config=True
    )


_ENV = {
    "workspace": "AIENG_WORKSPACE",
    "tracking_uri": "AIENG_TRACKING_URI",
    "database_url": "AIENG_DATABASE_URL",
    "object_store": "AIENG_OBJECT_STORE",
    "flush_interval": "AIENG_FLUSH_INTERVAL",
    "journal_max_mb": "AIENG_JOURNAL_MAX_MB",
    "end_timeout": "AIENG_END_TIMEOUT",
    "pii_policy": "AIENG_PII_POLICY",
    "job_executor": "AIENG_JOB_EXECUTOR",
    "contract_policy": "AIENG_CONTRACT_POLICY",
    "contracts_dir": "AIENG_CONTRACTS_DIR",
    "dask_address": "AIENG_DASK_ADDRESS",
    "worker_timeout": "AIENG_WORKER_TIMEOUT",
    "mlflow_ui_url": "AIENG_MLFLOW_UI_URL",
}

_settings: Aieng | None = None


def settings() -> Aieng:
    """The process-wide settings object (the one IPython's ``%config`` edits).

    >>> settings().flush_interval > 0
    True
    """
    global _settings
    if _settings is None:
        _settings = Aieng()
    return _settings


def use_settings(obj: Aieng) -> None:
    """Make ``obj`` the process-wide settings (the IPython extension passes its configured instance)."""
    global _settings
    _settings = obj


def get(name: str) -> object:
    """One setting: explicit config, else environment variable, else default."""
    obj = settings()
    value = getattr(obj, name)
    env = _ENV.get(name)
    if value == obj.trait_defaults(name) and env and os.environ.get(env):
        raw = os.environ[env]
        try:
            return obj.traits()[name].from_string(raw)
        except Exception:
            from .exceptions import ValidationError

            raise ValidationError(f"environment variable {env}={raw!r} is not a valid {name}") from None
    return value


def reset() -> None:
    """Forget configured values (tests)."""
    global _settings
    _settings = None
