"""PII detectors come from plugins.pii_detectors: a third-party package's detector guards snapshots."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import aieng_nb as aieng
from aieng_nb import plugins, privacy
from aieng_nb.cli import main as cli_main
from aieng_nb.exceptions import ValidationError
from aieng_nb.snapshots.objects import ObjectStore
from tests.plugin_packages import install_plugin_package

EMPLOYEE_IDS = """
    import pyarrow.compute as pc

    class EmployeeId:
        '''ACME's staff numbers: E- and six digits.'''

        kind = "employee_id"
        hint = r"staff|employee"

        def detect(self, values, column):
            return pc.fill_null(pc.match_substring_regex(values, r"^E-\\d{6}$"), False).to_numpy(zero_copy_only=False)

    def badge_numbers(values, column):
        return [i for i, v in enumerate(values.to_pylist()) if v and v.startswith("B#")]
"""


@pytest.fixture
def acme(tmp_path, monkeypatch):
    install_plugin_package(
        tmp_path,
        monkeypatch,
        "acme_pii",
        EMPLOYEE_IDS,
        {"aieng_nb.pii_detectors": {"employee_id": "acme_pii:EmployeeId", "badge": "acme_pii:badge_numbers"}},
    )


def _staff() -> pd.DataFrame:
    return pd.DataFrame({"staff": ["E-104233", "E-100001", "n/a", None], "team": ["ml", "ml", "ops", "ops"]})


def test_the_built_in_kinds_are_registered_lazily():
    assert {"email", "phone", "card", "iban", "ip", "national_id"} <= set(plugins.pii_detectors.names())
    assert plugins.pii_detectors._targets["email"] == "aieng_nb.privacy.detectors:EMAIL"
    assert plugins.pii_detectors.get("card") is privacy.detectors.CARD


def test_an_entry_point_detector_is_found_and_flags_a_column(acme):
    assert {"employee_id", "badge"} <= set(plugins.pii_detectors.names())
    res = privacy.scan(_staff())
    (finding,) = res.findings
    assert (finding.column, finding.kind, finding.count, finding.positions) == ("staff", "employee_id", 2, [0, 1])
    assert finding.hint and finding.share == pytest.approx(2 / 3, abs=1e-4)
    badges = privacy.scan(pd.DataFrame({"desk": ["B#12", "x", "B#7"]}))
    assert [(f.kind, f.positions) for f in badges.findings] == [("badge", [0, 2])]
    only_builtins = privacy.scan(_staff(), detectors=["email", "card"])
    assert only_builtins.findings == []


def test_the_snapshot_pii_guard_reacts_to_the_plugin_detector(acme, workspace, capsys):
    with pytest.raises(privacy.PIIBlockedError, match="staff: 2 employee_id"):
        aieng.snapshot(_staff(), name="staff", pii="block")
    assert list(ObjectStore(workspace.path("snapshots")).hashes()) == [] and len(aieng.list_snapshots()) == 0
    rec = aieng.snapshot(_staff(), name="staff")  # warn: stored, findings on the record and the listing
    assert [(f["column"], f["kind"], f["count"]) for f in rec.findings] == [("staff", "employee_id", 2)]
    assert "PII found" in rec._repr_html_() and "employee_id" in str(rec)
    (row,) = aieng.list_snapshots()
    assert row.pii_findings == 1
    top = {c["name"]: c for c in rec.profile["columns"]}["staff"]
    assert top["top"] is None  # the profile hides the flagged column's values, as for built-in kinds
    assert cli_main(["snapshots", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["pii_findings"] == 1
    red = aieng.snapshot(_staff(), name="staff_redacted", pii="redact")
    assert red.pii["redacted"]
    stored = aieng.load("staff_redacted")["staff"].tolist()
    assert stored[0].startswith("<employee_id:") and stored[2:] == ["n/a", None] and stored[0] != stored[1]


def test_a_broken_detector_is_a_readable_error(tmp_path, monkeypatch):
    install_plugin_package(
        tmp_path,
        monkeypatch,
        "broken_pii",
        "def detect(values, column):\n    return [0.5]\n",
        {"aieng_nb.pii_detectors": {"broken": "broken_pii:detect"}},
    )
    with pytest.raises(ValidationError, match="'broken' must return a boolean mask or integer positions"):
        privacy.scan(pd.DataFrame({"a": ["x"]}))
    with pytest.raises(ValidationError, match="unknown PII detector 'emial'.*did you mean 'email'"):
        privacy.scan(pd.DataFrame({"a": ["x"]}), detectors=["emial"])
