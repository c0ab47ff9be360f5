"""Install a tiny third-party package with entry points on ``sys.path`` for one test.

importlib.metadata finds ``<name>.dist-info/entry_points.txt`` on ``sys.path`` exactly as it finds
a pip-installed package, so the registries see these plug-ins the way a user's would be seen.
"""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path

import pytest


def install_plugin_package(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    package: str,
    source: str,
    entry_points: dict[str, dict[str, str]],
) -> Path:
    """Write ``package`` (its ``__init__.py`` is ``source``) with ``entry_points`` ({group: {name:
    "module:attr"}}) under ``tmp_path/site`` and put that folder first on ``sys.path``."""
    site = tmp_path / "site"
    (site / package).mkdir(parents=True)
    (site / package / "__init__.py").write_text(textwrap.dedent(source), encoding="utf-8")
    dist = site / f"{package}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n", encoding="utf-8")
    lines = []
    for group, targets in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in targets.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    from aieng_nb import plugins

    for group in entry_points:
        registry = plugins.ALL.get(group)
        if registry is not None:
            # a copy to discover into, so that the test's plug-ins are gone again after it
            monkeypatch.setattr(registry, "_targets", dict(registry._targets))
            monkeypatch.setattr(registry, "_loaded", dict(registry._loaded))
            registry.discover(refresh=True)
    return site
