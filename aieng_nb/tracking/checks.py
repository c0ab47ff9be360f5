"""Validation of what users pass to the tracking API (names, tags, params, settings)."""

from __future__ import annotations

from typing import Any

from .. import config
from ..exceptions import ValidationError
from ..stores.base import encode_params
from ..stores.names import mlflow_key
from .records import RUN_STATUSES, TERMINAL_STATUSES

MAX_TAG_VALUE = 8000


def flush_interval() -> float:
    value = float(config.get("flush_interval"))  # type: ignore[arg-type]
    if not 0 < value <= 60:
        raise ValidationError(f"flush_interval must be between 0 and 60 seconds, got {value}")
    return value


def check_tags(tags: dict[str, Any] | None) -> dict[str, str]:
    if tags is not None and not isinstance(tags, dict):
        raise ValidationError(f"tags must be a dict of name: value, got {tags!r}"[:200])
    out = {}
    for key, value in (tags or {}).items():
        if not isinstance(key, str) or not key.strip():
            raise ValidationError(f"tag names must be non-empty strings, got {key!r}")
        text = str(value)
        if len(text) > MAX_TAG_VALUE:
            raise ValidationError(f"tag {key!r} is {len(text)} characters; MLflow holds at most {MAX_TAG_VALUE}")
        out[mlflow_key(key)] = text
    return out


def check_params(params: dict[str, Any] | None) -> dict[str, str]:
    if params is not None and not isinstance(params, dict):
        raise ValidationError(f"params must be a dict, got {type(params).__name__}")
    return {mlflow_key(key): value for key, value in encode_params(params or {}).items()}


def check_name(kind: str, value: str | None) -> None:
    from ..names import valid

    if value is not None and not valid("experiment", value):
        raise ValidationError(
            f"{kind} must be a non-empty string of at most 250 characters without control characters, got {value!r}"
        )


def terminal_status(status: str, *, lower: bool = False) -> str:
    """FINISHED, FAILED or KILLED (any case), upper-cased."""
    status = str(status).upper()
    if status not in TERMINAL_STATUSES:
        shown = ", ".join(s.lower() if lower else s for s in TERMINAL_STATUSES)
        raise ValidationError(f"status must be one of {shown}, got {status!r}")
    return status


def listing_status(status: str | None) -> str | None:
    """A run status to filter a listing by (any case), upper-cased; None for all."""
    if status is None:
        return None
    status = str(status).upper()
    if status not in RUN_STATUSES:
        raise ValidationError(f"unknown status {status!r}; use running, finished, failed or killed")
    return status


def check_last(last: Any) -> None:
    if last is not None and (isinstance(last, bool) or not isinstance(last, int) or not 1 <= last <= 1_000_000):
        raise ValidationError(f"last must be an integer from 1 to 1,000,000, got {last!r}")


def check_metric_names(metrics: Any) -> None:
    if metrics is not None and (
        isinstance(metrics, str)
        or not isinstance(metrics, (list, tuple))
        or not all(isinstance(m, str) and m for m in metrics)
    ):
        raise ValidationError(f"metrics must be a list of metric names, got {metrics!r}")
