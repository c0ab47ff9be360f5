"""Contracts as files: ``contracts/<name>.yaml`` in the project, versioned by content hash.

The file is pandera's own YAML (``pandera.io.pandas_io.from_yaml`` reads it), so pandera users can read and
edit it; aieng_nb's settings for a contract (its enforcement ``policy``, where it was inferred
from) live under the schema's ``metadata: {aieng: ...}``, which pandera keeps as
``DataFrameSchema.metadata``.

A contract's version is the SHA-256 of its parsed content (comments and formatting do not count).
Every content seen is kept in the workspace database (``contract_versions``, see
:mod:`.history`; a team sharing the database shares them) and numbered ``1, 2, ...`` in the order seen, so ``train@3`` and a digest prefix
(``train@3f2a9c``) name an exact contract even after the file in the repo has been edited.

The folder: ``%config Aieng.contracts_dir`` / ``$AIENG_CONTRACTS_DIR`` when set (jobs hand it
to their kernels), else found like the workspace: the nearest ``contracts/`` at or above the
current folder that sits beside a ``.aieng/`` or holds ``*.yaml`` files, else ``contracts/``
beside the workspace folder (where ``infer`` creates it).

>>> from aieng_nb.contracts.store import split_ref
>>> split_ref("train@3"), split_ref("train")
(('train', '3'), ('train', None))
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from .. import config
from ..exceptions import NotFoundError, ValidationError
from ..fsutil import atomic_write_text
from ..names import PATTERNS
from ..workspace import DIRNAME, Workspace, current, locate
from .history import History
from .model import Contract
from .parsing import ContractError, digest_of, parse_text, to_schema

__all__ = ["Contract", "ContractError", "History", "load_contract", "versions", "write_contract", "digest_of"]

DIRNAME_CONTRACTS = "contracts"
SUFFIX = ".yaml"
NAME_RE = PATTERNS["contract"]
REF_RE = re.compile(r"\A(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*?)(?:@(?P<version>[0-9a-f]+|latest))?\Z")
POLICIES = ("warn", "block", "allow")
# environment a job hands its kernel (see contracts.jobs)
CONTRACT_ENV_KEYS = ("AIENG_JOB_CONTRACTS", "AIENG_JOB_CONTRACT_POLICY")


def check_name(name: str) -> str:
    """A valid contract name (the snapshot name it applies to).

    >>> check_name("train")
    'train'
    """
    if not isinstance(name, str) or not NAME_RE.match(name) or name.endswith(SUFFIX):
        raise ValidationError(
            f"bad contract name {name!r}: use 1-128 letters, digits, '_', '.' or '-' (the snapshot name it applies to)"
        )
    return name


def split_ref(ref: str) -> tuple[str, str | None]:
    """``name``, ``name@N``, ``name@latest`` or ``name@<digest prefix>`` -> (name, version part)."""
    m = REF_RE.match(ref) if isinstance(ref, str) else None
    if not m:
        raise ValidationError(f"bad contract reference {ref!r}: use NAME, NAME@VERSION or NAME@DIGEST")
    return check_name(m.group("name")), m.group("version")


# ---------------------------------------------------------------------------- where contracts live
def contracts_dir(workspace: Workspace | None = None, *, create: bool = False) -> Path:
    """The project's ``contracts/`` folder (see module docs); created only when ``create``."""
    configured = str(config.get("contracts_dir") or "")
    if configured:
        folder = Path(configured).expanduser().resolve()
    else:
        folder = _find_upwards() or _beside_workspace(workspace or Workspace(locate()))  # located, not created
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def _find_upwards() -> Path | None:
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        candidate = folder / DIRNAME_CONTRACTS
        if (candidate.is_dir() and (folder / DIRNAME).is_dir()) or _has_contracts(candidate):
            return candidate
    return None


def _has_contracts(folder: Path) -> bool:
    # a ``contracts/`` folder counts when it holds YAML files (some unrelated ``contracts/`` is skipped)
    return folder.is_dir() and any(folder.glob(f"*{SUFFIX}"))


def _beside_workspace(ws: Workspace) -> Path:
    root = ws.root if ws.root.name == DIRNAME else Path.cwd().resolve() / DIRNAME
    return root.parent / DIRNAME_CONTRACTS


def contract_path(name: str, workspace: Workspace | None = None) -> Path:
    return contracts_dir(workspace) / f"{check_name(name)}{SUFFIX}"


def names(workspace: Workspace | None = None) -> list[str]:
    """Names of the contract files in the project's ``contracts/`` folder."""
    folder = contracts_dir(workspace)
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(SUFFIX)] for p in folder.glob(f"*{SUFFIX}") if NAME_RE.match(p.name[: -len(SUFFIX)]))


# ---------------------------------------------------------------------------- version history
# (rows of the workspace database: see .history)


def load_contract(ref: str, *, workspace: Workspace | None = None, source: str = "file") -> Contract:
    """A contract by reference: ``name`` (the file ``contracts/<name>.yaml`` as it is now),
    ``name@3`` (version 3), ``name@latest`` or ``name@<digest prefix>``.

    Reading the current file registers its content as a new version when it changed.

    >>> load_contract("train").ref      # doctest: +SKIP
    'train@2'
    """
    ws = workspace or current()
    name, version = split_ref(ref)
    history = History(name, ws)
    path = contract_path(name, ws)
    current_entry: dict[str, Any] | None = None
    found = read_file(name, path)
    if found is not None:
        text, mapping, digest, schema = found
        current_entry, _ = history.register(digest, text, source)
        if version is None or version == "latest" or _matches(current_entry, version):
            return Contract(name, current_entry["version"], digest, text, mapping, str(path), True,
                            current_entry["created"], current_entry.get("source", ""), schema)  # fmt: skip
    entries = history.read()
    if not entries:
        raise NotFoundError(
            f"no contract {name!r}: {path} does not exist (infer one: aieng contract infer {name}; "
            f"contracts: {', '.join(names(ws)) or 'none yet'})"
        )
    if version is None or version == "latest":
        if current_entry is None:
            raise NotFoundError(f"no contract {name!r}: {path} was removed (older versions: {name}@1..)")
    hits = [e for e in entries if _matches(e, version or "")]
    if not hits:
        known = ", ".join(f"{name}@{e['version']}" for e in entries)
        raise NotFoundError(f"contract {name!r} has no version {version!r} (versions: {known})")
    if len(hits) > 1:
        raise ValidationError(f"contract version {name}@{version} is ambiguous: give more digits of the digest")
    entry = hits[0]
    text = history.text(entry["digest"])
    where = f"contract {name}@{entry['version']}"
    mapping = parse_text(text, where)
    is_current = current_entry is not None and current_entry["digest"] == entry["digest"]
    return Contract(name, entry["version"], entry["digest"], text, mapping, history.where(entry["version"]),
                    is_current, entry["created"], entry.get("source", ""))  # fmt: skip


def read_file(name: str, path: Path) -> tuple[str, dict[str, Any], str, Any] | None:
    """The file's (text, mapping, digest, schema), or None when there is no file. Kept per file
    state (inode, size, mtime): a validation of the same file again parses and hashes nothing."""
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not path.is_file():
        return None
    key = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    hit = _FILES.get(key)
    if hit is not None:
        text, digest, schema = hit
        return text, parse_text(text, str(path)), digest, schema  # parse_text: a fresh copy from its cache
    text = path.read_text(encoding="utf-8")
    where = f"contract {name} ({path})"
    mapping = parse_text(text, where)
    schema = to_schema(mapping, where)  # a file pandera cannot read is never registered as a version
    digest = digest_of(mapping)
    if len(_FILES) > 64:
        _FILES.clear()
    _FILES[key] = (text, digest, schema)
    return text, mapping, digest, schema


_FILES: dict[tuple[str, int, int, int], tuple[str, str, Any]] = {}


def check_contract(name: str, workspace: Workspace | None = None) -> None:
    """Check that ``contracts/<name>.yaml`` exists and pandera reads it, writing nothing (not even
    its version: a job refused later must leave no trace)."""
    path = contract_path(name, workspace)
    if not path.is_file():
        raise NotFoundError(
            f"no contract {name!r}: {path} does not exist (infer one: aieng contract infer {name}; "
            f"contracts: {', '.join(names(workspace)) or 'none yet'})"
        )
    where = f"contract {name} ({path})"
    to_schema(parse_text(path.read_text(encoding="utf-8"), where), where)


def _matches(entry: dict[str, Any], version: str) -> bool:
    if re.fullmatch(r"\d{1,5}", version):
        return int(version) == entry["version"]
    return len(version) >= 6 and entry["digest"].startswith(version)


def versions(name: str, *, workspace: Workspace | None = None) -> list[Contract]:
    """Every version of a contract, oldest first (the current file's content registered first)."""
    ws = workspace or current()
    if contract_path(name, ws).is_file():
        load_contract(name, workspace=ws)
    out = []
    cur = contract_path(name, ws)
    cur_digest = digest_of(parse_text(cur.read_text(encoding="utf-8"), str(cur))) if cur.is_file() else None
    history = History(name, ws)
    for e in history.read():
        text = history.text(e["digest"])
        out.append(
            Contract(
                name,
                e["version"],
                e["digest"],
                text,
                parse_text(text, f"contract {name}@{e['version']}"),
                history.where(e["version"]),
                e["digest"] == cur_digest,
                e["created"],
                e.get("source", ""),
            )  # fmt: skip
        )
    return out


def find_for_snapshot(name: str, workspace: Workspace | None = None) -> Path | None:
    """The contract file that applies to snapshots named ``name``, or None (a cheap stat)."""
    if not NAME_RE.match(name or ""):
        return None
    path = contracts_dir(workspace) / f"{name}{SUFFIX}"
    return path if path.is_file() else None


def write_contract(
    name: str, text: str, *, overwrite: bool = True, workspace: Workspace | None = None, source: str = "infer"
) -> Contract:
    """Write ``contracts/<name>.yaml`` atomically (after checking it parses) and register its version."""
    ws = workspace or current()
    check_name(name)
    mapping = parse_text(text, f"contract {name}")
    to_schema(mapping, f"contract {name}")  # pandera must read it back before anything is written
    path = contracts_dir(ws, create=True) / f"{name}{SUFFIX}"
    if path.exists() and not overwrite:
        raise ValidationError(f"{path} exists: pass overwrite=True (CLI: --force) to replace it")
    atomic_write_text(path, text)
    return load_contract(name, workspace=ws, source=source)


def env_dir() -> str:
    """The contracts folder as an absolute path (handed to job kernels as ``AIENG_CONTRACTS_DIR``)."""
    return os.fspath(contracts_dir())
