"""Contracts as files: ``contracts/<name>.yaml`` in the project, versioned by content hash.

The file is pandera's own YAML (``pandera.io.from_yaml`` reads it), so pandera users can read and
edit it; aieng_nb's settings for a contract (its enforcement ``policy``, where it was inferred
from) live under the schema's ``metadata: {aieng: ...}``, which pandera keeps as
``DataFrameSchema.metadata``.

A contract's version is the SHA-256 of its parsed content (comments and formatting do not count).
Every content seen is kept in the workspace (``.aieng/contracts/<name>/<digest>.yaml``, listed in
``versions.json``) and numbered ``1, 2, ...`` in the order seen, so ``train@3`` and a digest prefix
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

import copy
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import config
from ..exceptions import AiengError, NotFoundError, ValidationError
from ..fsutil import atomic_write_json, atomic_write_text, locked
from ..workspace import DIRNAME, Workspace, current

DIRNAME_CONTRACTS = "contracts"
SUFFIX = ".yaml"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
REF_RE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*?)(?:@(?P<version>[0-9a-f]+|latest))?$")
POLICIES = ("warn", "block", "allow")
# environment a job hands its kernel (see contracts.jobs)
CONTRACT_ENV_KEYS = ("AIENG_JOB_CONTRACTS", "AIENG_JOB_CONTRACT_POLICY")


class ContractError(AiengError, ValueError):
    """A contract file that cannot be used (malformed YAML, unknown check, bad dtype)."""


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
        folder = _find_upwards() or _beside_workspace(workspace or current())
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


# ---------------------------------------------------------------------------- parsing and hashing
def parse_text(text: str, where: str) -> dict[str, Any]:
    """The YAML mapping of a contract, checked for what pandera would silently ignore or crash on."""
    import yaml

    key = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if key in _PARSED:
        return copy.deepcopy(_PARSED[key])
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster on big contracts
    try:
        data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ContractError(f"{where} is not valid YAML{at}: {problem}") from None
    if not isinstance(data, dict):
        raise ContractError(f"{where} must be a pandera DataFrameSchema mapping (schema_type: dataframe, columns: ...)")
    from .lint import lint_mapping

    lint_mapping(data, where)
    if len(_PARSED) > 64:
        _PARSED.clear()
    _PARSED[key] = copy.deepcopy(data)
    return data


_PARSED: dict[str, dict[str, Any]] = {}


def digest_of(mapping: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON form of a parsed contract (formatting and comments do not count)."""
    canon = json.dumps(mapping, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def to_schema(mapping: dict[str, Any], where: str) -> Any:
    """A pandera ``DataFrameSchema`` from a parsed contract (errors become one ContractError line)."""
    from pandera.io import pandas_io

    key = digest_of(mapping)
    if key in _SCHEMAS:
        return _SCHEMAS[key]
    try:
        schema = pandas_io.deserialize_schema(json.loads(json.dumps(mapping, default=str)))
    except Exception as exc:  # noqa: BLE001 - pandera raises TypeError/KeyError/SchemaDefinitionError...
        raise ContractError(f"{where}: pandera cannot read it: {type(exc).__name__}: {exc}") from None
    if len(_SCHEMAS) > 64:
        _SCHEMAS.clear()
    _SCHEMAS[key] = schema  # schemas are not modified by validation: one per content is enough
    return schema


_SCHEMAS: dict[str, Any] = {}


# ---------------------------------------------------------------------------- the contract object
@dataclass
class Contract:
    """One version of a contract: its name, number, content digest, text and pandera schema.

    >>> c = load_contract("train")        # doctest: +SKIP
    >>> c.ref, c.short, c.policy           # doctest: +SKIP
    ('train@2', '3f2a9c1b04de', None)
    """

    name: str
    version: int
    digest: str
    text: str
    mapping: dict[str, Any]
    path: str
    current: bool = True
    created: float = 0.0
    source: str = ""
    _schema: Any = field(default=None, repr=False, compare=False)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def short(self) -> str:
        return self.digest[:12]

    @property
    def schema(self) -> Any:
        """The pandera ``DataFrameSchema`` (built once)."""
        if self._schema is None:
            self._schema = to_schema(self.mapping, self.path)
        return self._schema

    @property
    def aieng(self) -> dict[str, Any]:
        meta = self.mapping.get("metadata") or {}
        info = meta.get("aieng") if isinstance(meta, dict) else None
        return dict(info) if isinstance(info, dict) else {}

    @property
    def policy(self) -> str | None:
        """The contract's own enforcement policy (``metadata: {aieng: {policy: block}}``), if any."""
        value = self.aieng.get("policy")
        return str(value) if value else None

    @property
    def columns(self) -> list[str]:
        cols = self.mapping.get("columns") or {}
        if isinstance(cols, dict):
            return [str(c) for c in cols]
        return [str(c.get("name")) for c in cols if isinstance(c, dict)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "ref": self.ref,
            "digest": self.digest,
            "path": self.path,
            "current": self.current,
            "created": self.created,
            "source": self.source,
            "policy": self.policy,
            "columns": self.columns,
            "contract": self.mapping,
        }

    def __str__(self) -> str:
        head = f"contract {self.ref} ({self.short}){'' if self.current else ' (not the current file)'}: {self.path}"
        return head + "\n" + self.text.rstrip()

    def __repr__(self) -> str:
        return f"<Contract {self.ref} {self.short} {len(self.columns)} columns>"

    def _repr_html_(self) -> str:
        from ..reports import esc

        return (
            f"<div><b>contract {esc(self.ref)}</b> <code>{esc(self.short)}</code> "
            f"<span style='color:#666'>{esc(self.path)}</span><pre>{esc(self.text)}</pre></div>"
        )


# ---------------------------------------------------------------------------- version history
class History:
    """Every content a contract has had, numbered in the order seen (``versions.json`` + copies)."""

    def __init__(self, name: str, ws: Workspace) -> None:
        self.name = name
        self.ws = ws
        self.folder = ws.path("contracts", name)
        self.index = self.folder / "versions.json"

    def read(self) -> list[dict[str, Any]]:
        try:
            return list(json.loads(self.index.read_text(encoding="utf-8")).get("versions", []))
        except FileNotFoundError:
            return []
        except ValueError:
            from ..exceptions import IntegrityError

            raise IntegrityError(f"{self.index} is damaged (not valid JSON)") from None

    def register(self, digest: str, text: str, source: str) -> tuple[dict[str, Any], bool]:
        """The entry of ``digest``, added as the next version when new; returns (entry, new)."""
        entries = self.read()
        for e in entries:
            if e["digest"] == digest:
                return e, False
        with locked(self.ws.locks / f"contract-{self.name}.lock"):
            entries = self.read()
            for e in entries:
                if e["digest"] == digest:
                    return e, False
            entry = {
                "version": (entries[-1]["version"] + 1) if entries else 1,
                "digest": digest,
                "created": time.time(),
                "source": source,
            }
            atomic_write_text(self.folder / f"{digest}{SUFFIX}", text)
            atomic_write_json(self.index, {"name": self.name, "versions": [*entries, entry]})
        from .. import audit

        audit.append(
            "contract.version",
            {"name": self.name, "version": entry["version"], "digest": digest, "source": source},
            workspace=self.ws,
        )
        return entry, True

    def text(self, digest: str) -> str:
        return (self.folder / f"{digest}{SUFFIX}").read_text(encoding="utf-8")


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
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        where = f"contract {name} ({path})"
        mapping = parse_text(text, where)
        schema = to_schema(mapping, where)  # a file pandera cannot read is never registered as a version
        digest = digest_of(mapping)
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
    return Contract(name, entry["version"], entry["digest"], text, mapping, str(history.folder / f"{entry['digest']}{SUFFIX}"),
                    is_current, entry["created"], entry.get("source", ""))  # fmt: skip


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
                str(history.folder / f"{e['digest']}{SUFFIX}"),
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
