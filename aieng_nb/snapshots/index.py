"""Names and usage: ``name -> ordered versions -> hashes`` (like tags) and ``hash -> runs that used it``.

One JSON file (``snapshots/index.json``) written atomically under a file lock, so several
processes can snapshot at once.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..exceptions import IntegrityError, ValidationError
from ..fsutil import atomic_write_json
from ..names import PATTERNS
from ..workspace import Workspace
from .objects import ObjectGone, ObjectStore

NAME_RE = PATTERNS["snapshot"]
REF_RE = re.compile(r"\A(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*)(?:@(?P<version>\d+|latest))?\Z")


def check_name(name: str) -> str:
    """Validate a snapshot name (letters, digits, ``_ . -``; no ``@`` or ``/``).

    >>> check_name("train-2024")
    'train-2024'
    """
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValidationError(
            f"bad snapshot name {name!r}: use 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return name


class Index:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.path = store.root / "index.json"

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"names": {}, "used_by": {}}
        except ValueError:
            raise IntegrityError(f"{self.path} is damaged (not valid JSON)") from None
        data.setdefault("names", {})
        data.setdefault("used_by", {})
        return data

    @contextmanager
    def edit(self) -> Iterator[dict[str, Any]]:
        with self.store.lock("index"):
            data = self.read()
            yield data
            atomic_write_json(self.path, data)

    @staticmethod
    def live(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """Names with their versions that were not deleted (names whose versions all were are left out)."""
        out = {}
        for name, versions in data["names"].items():
            alive = [v for v in versions if not v.get("deleted")]
            if alive:
                out[name] = alive
        return out

    def tag(
        self, name: str, digest: str, run_id: str | None = None, extra: dict[str, Any] | None = None
    ) -> tuple[int, bool]:
        """Point ``name`` at ``digest``: a new version unless the latest already is it. Returns (version, new).

        ``extra`` (e.g. the contract validation) is stored on the version's entry, replacing what an
        earlier snapshot of the same content recorded.

        Version numbers are never reused: deleted versions stay in the index as tombstones. Raises
        ObjectGone when the object does not exist (a concurrent gc removed it): nothing is tagged.
        """
        with self.edit() as data:
            # under the index lock, which gc holds while it deletes: an object that exists now stays
            if not self.store.exists(digest):
                raise ObjectGone(f"no snapshot object {digest}: removed by gc before {name} could point at it")
            versions = data["names"].setdefault(name, [])
            alive = [v for v in versions if not v.get("deleted")]
            if alive and alive[-1]["hash"] == digest:
                alive[-1].update(extra or {})
                return alive[-1]["version"], False
            version = versions[-1]["version"] + 1 if versions else 1
            versions.append(
                {"version": version, "hash": digest, "created": time.time(), "run_id": run_id, **(extra or {})}
            )
            return version, True

    def delete(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        """Mark one version (or every version) of ``name`` deleted; returns the entries deleted."""
        with self.edit() as data:
            versions = data["names"].get(name, [])
            hit = [v for v in versions if not v.get("deleted") and (version is None or v["version"] == version)]
            now = time.time()
            for v in hit:
                v["deleted"] = now
            return [dict(v) for v in hit]

    def add_use(self, digest: str, run_id: str) -> bool:
        """Record that ``run_id`` used ``digest``; False when already recorded."""
        with self.edit() as data:
            runs = data["used_by"].setdefault(digest, [])
            if run_id in runs:
                return False
            runs.append(run_id)
            return True

    def referenced(self) -> set[str]:
        data = self.read()
        refs = {v["hash"] for versions in self.live(data).values() for v in versions}
        refs |= {h for h, runs in data["used_by"].items() if runs}
        return refs


def open_stores(workspace: Workspace | None = None) -> tuple[Workspace, ObjectStore, Index]:
    """The workspace (given or current), its object store and its snapshot index."""
    from ..workspace import current

    ws = workspace or current()
    store = ObjectStore(ws.path("snapshots"))
    return ws, store, Index(store)
