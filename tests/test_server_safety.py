"""What the REST layer accepts from a client: ids by pattern, notebook paths inside the root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aieng_nb.exceptions import NotFoundError, ValidationError
from aieng_nb.server import safety


@pytest.mark.parametrize("value", ["../x", "..", "%2e%2e", "a/b", "a\\b", "", "z" * 3, "0" * 33, "ab\x00"])
def test_run_ids(value: str) -> None:
    with pytest.raises(ValidationError):
        safety.run_id(value)


def test_good_ids_pass_unchanged() -> None:
    assert safety.run_id("ABCdef01") == "abcdef01"
    assert safety.snapshot_hash("a" * 64) == "a" * 64
    assert safety.job_id("20260101-120000-abc123") == "20260101-120000-abc123"
    assert safety.name("drift-2026.01") == "drift-2026.01"


@pytest.mark.parametrize("value", ["..", "a..b", ".hidden", "a/b", "a\\b", "x\x00", "%2e"])
def test_names(value: str) -> None:
    with pytest.raises(ValidationError):
        safety.name(value)


@pytest.mark.parametrize(
    "value",
    [
        "../nb.ipynb",
        "/etc/passwd",
        "~/nb.ipynb",
        "C:/nb.ipynb",
        "a\\..\\nb.ipynb",
        "nb.ipynb\x00",
        "%2e%2e/nb.ipynb",
        "%252e%252e/nb.ipynb",
        "sub/../../nb.ipynb",
        "./nb.ipynb",
        "nb.ipynb#frag",
        "notes.txt",
        "",
        None,
        42,
    ],
)
def test_notebook_paths_rejected(tmp_path: Path, value: object) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "nb.ipynb").write_text("{}")
    with pytest.raises(ValidationError):
        safety.notebook_path(tmp_path / "root", value)


def test_notebook_path_inside_root(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "nb.ipynb").write_text("{}")
    assert safety.notebook_path(tmp_path, "sub/nb.ipynb") == (tmp_path / "sub" / "nb.ipynb").resolve()
    with pytest.raises(NotFoundError):
        safety.notebook_path(tmp_path, "sub/missing.ipynb")


def test_symlink_out_of_the_root_and_sibling_prefix(tmp_path: Path) -> None:
    root, sibling = tmp_path / "root", tmp_path / "rootX"
    root.mkdir()
    sibling.mkdir()
    (sibling / "nb.ipynb").write_text("{}")
    os.symlink(sibling / "nb.ipynb", root / "link.ipynb")
    os.symlink(sibling, root / "dir")
    for value in ("link.ipynb", "dir/nb.ipynb"):
        with pytest.raises(ValidationError, match="leaves"):
            safety.notebook_path(root, value)
