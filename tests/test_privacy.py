"""PII guard: detection (true positives and false-positive traps), policies, redaction, speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import aieng_nb as aieng
from aieng_nb import audit, privacy
from aieng_nb.exceptions import IntegrityError, ValidationError
from aieng_nb.snapshots.objects import ObjectStore


def kinds(df: pd.DataFrame, **kw) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in privacy.scan(df, **kw).findings:
        out.setdefault(f.column, set()).add(f.kind)
    return out


# --- true positives ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,value",
    [
        ("email", "ann.lee+news@example.co.uk"),
        ("email", "write to bob@mail.example.org today"),
        ("phone", "+1 415 555 2671"),
        ("phone", "call +44 20 7946 0958 now"),
        ("phone", "(415) 555-2671"),
        ("card", "4111 1111 1111 1111"),  # Visa
        ("card", "5555-5555-5555-4444"),  # Mastercard 5-series
        ("card", "2223003122003222"),  # Mastercard 2-series
        ("card", "378282246310005"),  # Amex, 15 digits
        ("card", "6011111111111117"),  # Discover
        ("card", "4111111111111111110"),  # Visa, 19 digits
        ("card", "paid with 3530111333300000 on monday"),  # JCB inside text
        ("iban", "DE89 3704 0044 0532 0130 00"),
        ("iban", "GB82WEST12345698765432"),
        ("ip", "192.168.1.20"),
        ("ip", "login from 8.8.8.8, denied"),
        ("ip", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
        ("ip", "fe80::1ff:fe23:4567:890a"),
        ("national_id", "123-45-6789"),
        ("national_id", "AB 12 34 56 C"),
        ("national_id", "DNI 12345678Z"),  # Spain, check letter
        ("national_id", "X1234567L"),  # Spain NIE
        ("national_id", "2341 2341 2346"),  # India Aadhaar, Verhoeff check digit
    ],
)
def test_detects(kind, value):
    res = privacy.scan(pd.DataFrame({"text": [value, "nothing here"]}))
    assert [(f.column, f.kind, f.count, f.positions) for f in res.findings] == [("text", kind, 1, [0])]


@pytest.mark.parametrize(
    "value",
    [
        "1700000000000",  # 13-digit millisecond timestamp (passes Luhn 1 in 10 times; no issuer prefix)
        "1699999999999",
        "1712345678901",
        "4111 1111 1111 1112",  # Visa prefix, fails Luhn
        "1234567812345670",  # passes Luhn, no issuer prefix
        "1.2.3",  # version strings
        "10.4.1",
        "v1.2.3.4",
        "2.0.0-beta.1",
        "999.1.1.1",  # not an IP: octet over 255
        "2024-01-15",  # dates are not phones
        "2024-01-15 10:30:00",
        "12:30:45",  # times are not IPv6
        "ORD-20240115-0001",  # order ids
        "000-12-3456",  # SSN area 000 never issued
        "666-12-3456",
        "900-12-3456",
        "123-00-4567",
        "DE89 3704 0044 0532 0130 01",  # IBAN with a bad check
        "GB12ABCD12345678901234",
        "12345678A",  # DNI shape, wrong check letter
        "2341 2341 2345",  # Aadhaar shape, wrong check digit
        "1341 2341 2346",  # Aadhaar never starts with 0 or 1
        "not@an email",
        "std::vector<int>",
        "3.14159265358979",
    ],
)
def test_false_positive_traps_are_not_flagged(value):
    assert privacy.scan(pd.DataFrame({"text": [value] * 3})).findings == []


def test_id_and_timestamp_columns_of_random_digits_are_not_cards():
    rng = np.random.default_rng(0)
    order_ids = [str(x) for x in rng.integers(4_000_000_000_000_000, 4_999_999_999_999_999, 5000, dtype=np.int64)]
    ts = [str(x) for x in rng.integers(1_600_000_000_000, 1_800_000_000_000, 5000, dtype=np.int64)]
    df = pd.DataFrame({"order_id": order_ids, "created_ts": ts})
    # about 10% of random 16-digit numbers starting with 4 pass Luhn; the column name says they are ids
    assert privacy.scan(df).findings == []
    real_cards = pd.DataFrame({"order_id": ["4111111111111111", "5555555555554444"] * 10})
    assert kinds(real_cards) == {"order_id": {"card"}}  # all cells match: reported even in an id column


def test_a_version_column_of_four_part_versions_is_not_ip_addresses():
    df = pd.DataFrame({"app_version": ["10.0.1.2", "10.0.1.3"] * 5, "client_ip": ["10.0.1.2", "10.0.1.3"] * 5})
    assert kinds(df) == {"client_ip": {"ip"}}


def test_column_names_are_hints():
    df = pd.DataFrame(
        {"phone": ["4155552671", "2025550143"], "ssn": ["123456789", "078051120"], "code": ["4155552671", "x"]}
    )
    found = kinds(df)
    assert found["phone"] == {"phone"} and found["ssn"] == {"national_id"} and "code" not in found
    hinted = {f.column: f.hint for f in privacy.scan(df).findings}
    assert hinted["phone"] and hinted["ssn"]


def test_findings_hold_positions_and_counts_never_values():
    df = pd.DataFrame({"email": ["x", "ann@example.com", None, "bob@example.com"], "n": [1, 2, 3, 4]})
    res = privacy.scan(df)
    (f,) = res.findings
    assert (f.column, f.kind, f.count, f.share, f.positions) == (
        "email",
        "email",
        2,
        pytest.approx(2 / 3, abs=1e-3),
        [1, 3],
    )
    assert "example.com" not in json.dumps(res.to_dict())
    assert res.columns_scanned == ["email"] and res.mode == "full"


def test_categorical_and_string_dtypes_are_scanned():
    df = pd.DataFrame(
        {
            "cat": pd.Categorical(["ann@example.com", "x", "ann@example.com"]),
            "s": pd.array(["+44 20 7946 0958", None, "x"], dtype="string[pyarrow]"),
        }
    )
    res = {f.column: (f.kind, f.count, f.positions) for f in privacy.scan(df).findings}
    assert res == {"cat": ("email", 2, [0, 2]), "s": ("phone", 1, [0])}


def test_large_frames_are_sampled_by_default_and_fully_on_request():
    n = 300_000
    emails = np.where(np.arange(n) % 100 == 0, "someone@example.com", "plain text").astype(object)
    df = pd.DataFrame({"c": emails})
    sampled = privacy.scan(df)
    assert sampled.mode == "sample" and sampled.rows_scanned == 100_000 and sampled.rows == n
    (f,) = sampled.findings
    assert f.estimated and f.count == pytest.approx(n / 100, rel=0.15)
    full = privacy.scan(df, mode="full")
    assert full.mode == "full" and full.findings[0].count == n // 100 and not full.findings[0].estimated
    with pytest.raises(ValidationError, match="unknown scan mode"):
        privacy.scan(df, mode="quick")


def test_full_scan_of_a_wide_frame_counts_every_match():
    # speed is measured in benchmarks/bench_snapshots.py (bench_pii), not asserted here
    rng = np.random.default_rng(0)
    n = 200_000
    words = np.array(["alpha", "beta gamma", "order 12", "ok", "Zürich", "n/a"], dtype=object)
    df = pd.DataFrame({f"c{i}": words[rng.integers(0, len(words), n)] for i in range(5)})
    df.loc[::1000, "c0"] = "ann@example.com"
    res = privacy.scan(df, mode="full")
    assert res.mode == "full" and res.rows == res.rows_scanned == n
    assert [(f.column, f.kind, f.count, f.estimated) for f in res.findings] == [("c0", "email", n // 1000, False)]
    assert res.findings[0].positions == [0, 1000, 2000, 3000, 4000]


# --- policies through snapshots ---------------------------------------------------------------------


PII_FRAME = pd.DataFrame(
    {
        "customer": ["c1", "c2", "c3", "c1"],
        "email": ["ann@example.com", "bob@example.com", "n/a", "ann@example.com"],
        "card": ["4111 1111 1111 1111", "none", "none", "4111 1111 1111 1111"],
        "amount": [10.0, 20.0, 30.0, 40.0],
    }
)


def test_warn_is_the_default_stores_and_records_findings(workspace, caplog):
    rec = aieng.snapshot(PII_FRAME, name="w")
    assert rec.stored and rec.pii["policy"] == "warn"
    assert {(f["column"], f["kind"], f["count"]) for f in rec.findings} == {("email", "email", 3), ("card", "card", 2)}
    assert "PII found" in caplog.text and "ann@example.com" not in caplog.text
    assert "PII" in str(rec) and "PII found" in rec._repr_html_()
    pd.testing.assert_frame_equal(aieng.load("w"), PII_FRAME)  # warn stores the data as is
    cols = {c["name"]: c for c in rec.profile["columns"]}
    assert cols["email"]["top"] is None and "ann@example.com" not in json.dumps(rec.profile)
    assert audit.entries("snapshot.create")[-1]["data"]["pii_findings"] == rec.findings


def test_block_raises_and_writes_nothing(workspace):
    with pytest.raises(privacy.PIIBlockedError, match="blocked") as info:
        aieng.snapshot(PII_FRAME, name="b", pii="block")
    assert "ann@example.com" not in str(info.value)
    assert list(ObjectStore(workspace.path("snapshots")).hashes()) == [] and len(aieng.list_snapshots()) == 0
    assert audit.entries("snapshot.block")[-1]["data"]["name"] == "b"
    # an object stored earlier under warn is not tagged under block either
    aieng.snapshot(PII_FRAME, name="w")
    with pytest.raises(privacy.PIIBlockedError):
        aieng.snapshot(PII_FRAME, name="b", pii="block")
    assert [r.name for r in aieng.list_snapshots()] == ["w"]
    clean = aieng.snapshot(PII_FRAME[["customer", "amount"]], name="clean", pii="block")
    assert clean.stored and clean.findings == []


def test_redact_is_keyed_consistent_and_irreversible(workspace):
    rec = aieng.snapshot(PII_FRAME, name="r", pii="redact")
    stored = aieng.load("r")
    assert rec.pii["redacted"] and {f["kind"] for f in rec.findings} == {"email", "card"}
    assert stored["email"][0] == stored["email"][3] != stored["email"][1]  # joins still work
    assert stored["email"][0].startswith("<email:") and stored["email"][2] == "n/a"
    assert stored["card"][0].startswith("<card:") and stored["card"][1] == "none"
    pd.testing.assert_frame_equal(stored[["customer", "amount"]], PII_FRAME[["customer", "amount"]])
    # nothing readable anywhere in the object folder, and the key is not in it
    folder = ObjectStore(workspace.path("snapshots")).dir(rec.id)
    blob = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
    key = privacy.workspace_key()
    assert b"ann@example.com" not in blob and b"4111" not in blob and key.hex().encode() not in blob
    assert (workspace.path("secrets", "pii.key").stat().st_mode & 0o777) == 0o600
    # consistent across snapshots: another frame with the same email gets the same token
    other = aieng.snapshot(pd.DataFrame({"email": ["ann@example.com"]}), name="o", pii="redact")
    assert aieng.load("o")["email"][0] == stored["email"][0]
    # a different key (another workspace) gives different tokens: values cannot be recomputed without it
    assert privacy.token("ann@example.com", "email", b"x" * 32) != stored["email"][0]
    # re-snapshotting the original with redact is a no-op that returns the redacted object
    again = aieng.snapshot(PII_FRAME, name="r", pii="redact")
    assert again.id == rec.id and not again.stored and again.version == 1
    assert other.id != rec.id
    # the redacted data itself passes every policy: its findings describe what was redacted
    assert aieng.snapshot(stored, name="r2", pii="block").id == rec.id


def test_an_empty_or_damaged_key_file_is_an_error_not_an_unkeyed_hash(workspace):
    path = workspace.path("secrets", "pii.key")
    path.parent.mkdir(parents=True, exist_ok=True)
    for bad in ["", "abc", "zz" * 32, "ab" * 31, "ab" * 33]:
        path.write_text(bad)
        with pytest.raises(IntegrityError, match="pii.key is damaged.*delete the file"):
            privacy.workspace_key()
        with pytest.raises(IntegrityError, match="pii.key is damaged"):
            aieng.snapshot(PII_FRAME, name="r", pii="redact")
    assert len(aieng.list_snapshots()) == 0
    path.write_text("ab" * 32 + "\n")
    assert privacy.workspace_key() == bytes.fromhex("ab" * 32)


def test_a_crash_while_writing_the_key_leaves_no_key_file(workspace, monkeypatch):
    path = workspace.path("secrets", "pii.key")
    real_fsync = os.fsync

    def crash(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="No space left"):
        privacy.workspace_key()
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert not path.exists()  # no empty key for the next process to hash with
    assert [p.name for p in path.parent.iterdir()] == []  # and no temp file left behind
    key = privacy.workspace_key()
    assert len(key) == 32 and privacy.workspace_key() == key
    assert (path.stat().st_mode & 0o777) == 0o600


def test_a_key_placed_by_another_process_first_wins(workspace, monkeypatch):
    path = workspace.path("secrets", "pii.key")
    theirs = bytes(range(32))
    real_link = os.link

    def other_process_first(src, dst, *a, **kw):
        if str(dst) == str(path):
            path.write_text(theirs.hex())  # another process linked its key in between
        return real_link(src, dst, *a, **kw)

    monkeypatch.setattr(os, "link", other_process_first)
    assert privacy.workspace_key() == theirs
    assert path.read_text() == theirs.hex()
    assert [p.name for p in path.parent.iterdir()] == ["pii.key"]


def test_concurrent_processes_all_get_the_same_full_key(workspace):
    script = (
        "import sys, pathlib, aieng_nb.privacy as p, aieng_nb.workspace as w\n"
        "print(p.workspace_key(w.Workspace(pathlib.Path(sys.argv[1]))).hex())\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(workspace.root)], stdout=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    keys = {p.communicate(timeout=120)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(keys) == 1 and len(next(iter(keys))) == 64
    assert privacy.workspace_key().hex() in keys


def test_allow_skips_the_scan(workspace):
    rec = aieng.snapshot(PII_FRAME, name="a", pii="allow")
    assert rec.pii == {"policy": "allow", "scanned": False, "findings": []}


def test_policy_from_config_and_bad_policy_names(workspace, monkeypatch):
    monkeypatch.setenv("AIENG_PII_POLICY", "block")
    with pytest.raises(privacy.PIIBlockedError):
        aieng.snapshot(PII_FRAME, name="cfg")
    for bad in ("strict", "", "WARN"):
        with pytest.raises(ValidationError, match="unknown PII policy"):
            aieng.snapshot(PII_FRAME, name="x", pii=bad)
    assert len(aieng.list_snapshots()) == 0


def test_redact_works_on_series_and_returns_input_unchanged_without_pii():
    s = pd.Series(["ann@example.com", "x"], name="mail")
    red, res = privacy.redact(s, key=b"k" * 32)
    assert red.name == "mail" and red[0].startswith("<email:") and red[1] == "x" and s[0] == "ann@example.com"
    clean = pd.DataFrame({"a": ["x", "y"]})
    same, res = privacy.redact(clean, key=b"k" * 32)
    assert not res.findings and same is clean


def test_many_distinct_phone_numbers_are_validated_on_a_sample_and_extrapolated():
    phones = [f"+1 415 555 {i:04d}" for i in range(3000)] + ["x"] * 1000
    res = privacy.scan(pd.DataFrame({"contact": phones}))
    (f,) = res.findings
    assert f.kind == "phone" and f.estimated and f.count == pytest.approx(3000, rel=0.1)
    red, full = privacy.redact(pd.DataFrame({"contact": phones}), key=b"k" * 32)
    assert not full.findings[0].estimated and full.findings[0].count == 3000  # redaction checks every value
    assert red["contact"].str.startswith("<phone:").sum() == 3000
