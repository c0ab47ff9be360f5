"""Checks on everything a client sends: ids and hashes by pattern, notebook paths inside the root.

Stored things are addressed by id or hash only. The one path a client may send is the notebook to
run as a job, relative to the server's root: it is decoded once (by the JSON or query parser),
rejected if it holds ``..`` segments, an absolute or drive prefix, a backslash, ``#``, NUL or a
percent escape, then resolved (symlinks too) and checked to stay inside the root by path
components, and the checked value is what is used.

>>> run_id("0a1b2c")
'0a1b2c'
>>> run_id("../etc")
Traceback (most recent call last):
...
aieng_nb.exceptions.ValidationError: '../etc' is not a run id (1 to 32 hex digits)
"""

from __future__ import annotations

import re
from pathlib import Path

from ..exceptions import NotFoundError, ValidationError
from ..rendering import clip

_RUN_ID = re.compile(r"\A[0-9a-fA-F]{1,32}\Z")
_HASH = re.compile(r"\A[0-9a-f]{6,64}\Z")
_JOB_ID = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,127}\Z")
_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,199}\Z")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def run_id(value: str) -> str:
    if not isinstance(value, str) or not _RUN_ID.match(value):
        raise ValidationError(f"{value!r} is not a run id (1 to 32 hex digits)")
    return value.lower()


def snapshot_hash(value: str) -> str:
    if not isinstance(value, str) or not _HASH.match(value):
        raise ValidationError(f"{value!r} is not a snapshot hash (6 to 64 lowercase hex digits)")
    return value


def job_id(value: str) -> str:
    if not isinstance(value, str) or not _JOB_ID.match(value):
        raise ValidationError(f"{value!r} is not a job id (letters, digits, - and _)")
    return value


def name(value: str, what: str = "name") -> str:
    """A schedule or report name: letters, digits, ``_ . -``, not starting with a dot, no ``..``."""
    if not isinstance(value, str) or not _NAME.match(value) or ".." in value:
        raise ValidationError(f"{value!r} is not a valid {what} (letters, digits, _ . -; no ..)")
    return value


def notebook_path(root: str | Path, value: object) -> Path:
    """The notebook ``value`` (relative to ``root``) as a checked absolute path inside ``root``."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("notebook must be a path relative to the Jupyter root, e.g. 'train.ipynb'")
    if len(value) > 1024 or any(len(part) > 255 for part in value.split("/")):
        raise ValidationError(f"notebook path {clip(value, 60)!r} is too long (at most 1024 characters, 255 a name)")
    bad = (
        "\0" in value
        or "\\" in value
        or "#" in value
        or value.startswith(("/", "~"))
        or re.match(r"^[A-Za-z]:", value) is not None
        or _ESCAPE.search(value) is not None
        or any(part in ("..", ".") for part in value.split("/"))
    )
    if bad:
        raise ValidationError(f"notebook path {value!r} is not a plain relative path inside the Jupyter root")
    if not value.endswith(".ipynb"):
        raise ValidationError(f"notebook path {value!r} is not a notebook (.ipynb)")
    base = Path(root).resolve()
    resolved = (base / value).resolve()
    if not resolved.is_relative_to(base):
        raise ValidationError(f"notebook path {value!r} leaves the Jupyter root")
    if not resolved.is_file():
        raise NotFoundError(f"no notebook {value!r} under the Jupyter root")
    return resolved
