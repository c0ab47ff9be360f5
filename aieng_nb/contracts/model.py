"""The contract object: one version of a contract (name, number, digest, text, pandera schema)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .parsing import to_schema


@dataclass
class Contract:
    """One version of a contract: its name, number, content digest, text and pandera schema.

    >>> from aieng_nb.contracts import load_contract
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

    @property
    def why(self) -> dict[str, list[str]]:
        """Why each inferred check was asserted, by column (``metadata.aieng.why``; empty for
        contracts written by hand or inferred before the reasons were recorded)."""
        raw = self.aieng.get("why")
        if not isinstance(raw, dict):
            return {}
        return {str(c): [str(r) for r in (v if isinstance(v, list) else [v])] for c, v in raw.items()}

    def __str__(self) -> str:
        head = f"contract {self.ref} ({self.short}){'' if self.current else ' (not the current file)'}: {self.path}"
        why = self.why
        if not why:
            return head + "\n" + self.text.rstrip()
        lines = [head, _without_why(self.text).rstrip(), "", "why each check (metadata.aieng.why):"]
        for column, reasons in why.items():
            lines.append(f"  {column}:")
            lines += [f"    - {r}" for r in reasons]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Contract {self.ref} {self.short} {len(self.columns)} columns>"

    def headline(self) -> str:
        """One line for people: what was written where (``aieng contract infer`` prints it)."""
        return f"contract {self.ref} ({self.short}): {len(self.columns)} columns -> {self.path}"

    def _repr_html_(self) -> str:
        from ..reports import esc

        return (
            f"<div><b>contract {esc(self.ref)}</b> <code>{esc(self.short)}</code> "
            f"<span style='color:#666'>{esc(self.path)}</span><pre>{esc(self.text)}</pre></div>"
        )


def _without_why(text: str) -> str:
    """The contract's text less its ``why:`` block (printed apart, one reason a line)."""
    out: list[str] = []
    skip_deeper: int | None = None
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if skip_deeper is not None:
            if line.strip() and indent <= skip_deeper:
                skip_deeper = None
            else:
                continue
        if line.strip() == "why:" and indent > 0:
            skip_deeper = indent
            continue
        out.append(line)
    return "\n".join(out)
