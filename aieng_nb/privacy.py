"""PII guard: find personal data in string columns before it is stored, and redact it.

Detectors (regex plus a checksum or validation where one exists, so ids do not trip them):

===============  =================================================================================
``email``        RFC-ish address pattern
``phone``        ``+`` international numbers anywhere, national numbers as a whole cell; validated
                 with ``phonenumbers`` (default regions ``US`` and ``GB``; date-shaped values never count)
``card``         13-19 digits (spaces/dashes allowed) with a known issuer prefix and length
                 (Visa, Mastercard 51-55 and 2221-2720, Amex, Discover, JCB, Diners, UnionPay,
                 Maestro) **and** the Luhn check: 13-digit millisecond timestamps and order ids fail
``iban``         country code + check digits + BBAN, validated with ISO 7064 mod-97
``ip``           IPv4 (each octet 0-255, not part of a longer dotted version) and IPv6
``national_id``  US SSN ``ddd-dd-dddd`` with the never-issued ranges excluded; UK NINO; Spanish DNI/NIE
                 (check letter, mod 23); Indian Aadhaar ``dddd dddd dddd`` (Verhoeff check digit)
===============  =================================================================================

Column names are a hint: a column called ``phone`` also accepts bare digit phone numbers, one
called ``ssn`` bare 9-digit SSNs; in a column named like an id, timestamp or version
(``order_id``, ``ts``, ``version``...) the weaker kinds (card, phone, ip, national id) are
reported only when at least half of the scanned cells match, and a column named like a version
(``version``, ``build``, ``release``) never reports IP addresses.

Speed: everything is vectorized with Arrow's RE2 kernels; one pre-filter pass plus per-cell digit
and capital counts route cells to the detectors that can match; columns with repeated values are
scanned once per distinct value; validation (checksums, ``phonenumbers``) runs once per distinct
candidate. When a column has more distinct candidates than ``max_validate`` (1,000 phone numbers,
10,000 for the checksum kinds), a fixed random sample of them is validated and the count is
extrapolated (``estimated: true``); redaction always validates every value.
``mode="auto"`` scans every row of frames up to ``full_threshold`` rows (200,000) and a fixed
random sample of ``sample_rows`` rows (100,000) above that, reporting estimated counts
(``estimated: true``); ``mode="full"`` always scans everything (redaction always does).

Findings hold the column, kind, count, share and up to five row positions, never the values.

Policies: ``warn`` (store, record and show findings), ``block`` (raise, store nothing),
``redact`` (replace matched cells with keyed-hash tokens: equal values give equal tokens, so
joins still work; the key stays in the workspace), ``allow`` (no scan).

>>> import pandas as pd
>>> res = scan(pd.DataFrame({"contact": ["ann@example.com", "n/a"], "ts": ["1700000000000", "x"]}))
>>> [(f.column, f.kind, f.count) for f in res.findings]
[('contact', 'email', 1)]
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .exceptions import AiengError, IntegrityError, ValidationError
from .fsutil import fsync_dir

POLICIES = ("warn", "block", "redact", "allow")
KINDS = ("email", "phone", "card", "iban", "ip", "national_id")
MODES = ("auto", "full", "sample")
WEAK_KINDS = {"card", "phone", "ip", "national_id"}

# --- patterns (RE2 syntax: no look-around) -------------------------------------------------------
_DIGITS = r"\d(?:[ ().\-/]?\d){5,}"
_IPV4_ISH = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"
_HEX = "[0-9A-Fa-f]{1,4}"
_IPV6_ISH = r"[0-9A-Fa-f]{0,4}::?[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}"
EMAIL = r"(?:^|[^\w.+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?:[^\w\-]|$)"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = rf"(?:^|[^\w.])(?:{_OCTET}\.){{3}}{_OCTET}(?:[^\w.]|$|\.(?:\s|$))"
IPV6 = (
    rf"(?:^|[^\w:])(?:(?:{_HEX}:){{7}}{_HEX}|(?:{_HEX}:){{1,6}}(?::{_HEX}){{1,6}}|(?:{_HEX}:){{1,7}}:|::(?:{_HEX}:){{0,6}}{_HEX})"
    r"(?:[^\w:]|$)"
)
CARD_RUN = r"(?:^|[^\d])(?P<num>\d(?:[ \-]?\d){12,18})(?:[^\d]|$)"
# issuer prefix + length (digits only)
CARD_ISSUER = (
    r"^(?:4(?:\d{12}|\d{15}|\d{18})"  # Visa 13/16/19
    r"|5[1-5]\d{14}"  # Mastercard
    r"|2(?:22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)\d{12}"  # Mastercard 2-series
    r"|3[47]\d{13}"  # Amex
    r"|(?:6011|65\d\d|64[4-9]\d)\d{12,15}"  # Discover
    r"|35(?:2[89]|[3-8]\d)\d{12,15}"  # JCB
    r"|3(?:0[0-59]|[689]\d)\d{10,15}"  # Diners
    r"|62\d{14,17}"  # UnionPay
    r"|(?:5018|5020|5038|5893|6304|6759|676[1-3])\d{8,15}"  # Maestro
    r")$"
)
IBAN_RUN = r"(?:^|[^A-Za-z0-9])(?P<iban>[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30})(?:[^A-Za-z0-9]|$)"
PHONE_INTL = r"(?:^|[^\w+])(?P<p>\+\d(?:[ \-.()]{0,2}\d){6,14})(?:[^\w]|$)"
PHONE_NATIONAL = r"^\s*(?P<p>\(?\d{3}\)?[ \-.]?\d{3}[ \-.]\d{4}|0\d{2,4}[ \-]\d{3,4}[ \-]?\d{3,4})\s*$"
PHONE_HINTED = r"^\s*(?P<p>\+?[\d \-.()]{7,20})\s*$"
SSN = r"(?:^|[^\d\-])(?P<s>\d{3}-\d{2}-\d{4})(?:[^\d\-]|$)"
SSN_HINTED = r"^\s*(?P<s>\d{3}-?\d{2}-?\d{4})\s*$"
NINO = r"^\s*(?P<s>[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D])\s*$"
DNI = r"(?:^|[^\w])(?P<s>[XYZ]?\d{7,8}-?[A-HJ-NP-TV-Z])(?:[^\w]|$)"
AADHAAR = r"(?:^|[^\d])(?P<s>[2-9]\d{3} \d{4} \d{4})(?:[^\d]|$)"

_HINTS = {
    "email": re.compile(r"e_?mail|mail_?addr"),
    "phone": re.compile(r"phone|mobile|cell|tel(?:ephone)?\b|fax|msisdn"),
    "card": re.compile(r"card|\bcc\b|cc_|credit|\bpan\b"),
    "iban": re.compile(r"iban|account|bank"),
    "ip": re.compile(r"\bip\b|ip_?addr|ipv[46]|remote_?addr|client_?ip"),
    "national_id": re.compile(r"ssn|social_?sec|nino|national_?id|tax_?id|passport|dni|nie\b|aadhaar"),
}
_VERSION_NAME = re.compile(r"(?:^|_)(?:version|ver|release|build|firmware|fw)(?:_|$)")
_ANTI_HINT = re.compile(
    r"(?:^|_)(?:id|ids|uuid|guid|key|order|order_?id|ts|timestamp|time|date|datetime|version|ver|sku|hash|checksum|build|seq)(?:_|$)"
)


@dataclass
class Finding:
    """One kind of PII in one column: counts and row positions, never the values."""

    column: str
    kind: str
    count: int
    share: float
    positions: list[int] = field(default_factory=list)
    estimated: bool = False
    hint: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        approx = "~" if self.estimated else ""
        return f"{self.column}: {approx}{self.count} {self.kind} ({self.share:.1%}) e.g. rows {self.positions}"


@dataclass
class ScanResult:
    """Outcome of :func:`scan`."""

    findings: list[Finding]
    mode: str
    rows: int
    rows_scanned: int
    columns_scanned: list[str]
    seconds: float

    @property
    def found(self) -> bool:
        return bool(self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": [f.to_dict() for f in self.findings],
            "mode": self.mode,
            "rows": self.rows,
            "rows_scanned": self.rows_scanned,
            "columns_scanned": self.columns_scanned,
            "seconds": round(self.seconds, 4),
        }

    def summary(self) -> str:
        if not self.findings:
            return "no PII found"
        return "; ".join(str(f) for f in self.findings)


class PIIBlockedError(AiengError):
    """Raised by the ``block`` policy; nothing was written."""

    def __init__(self, result: ScanResult) -> None:
        self.result = result
        super().__init__(
            f"PII found, snapshot blocked (nothing written): {result.summary()}. "
            "Use pii='redact' to store keyed-hash tokens instead, or pii='allow' to store as is"
        )


def check_policy(policy: str | None) -> str:
    """A valid policy name (``None`` means the configured default).

    >>> check_policy("redact")
    'redact'
    """
    if policy is None:
        from . import config

        policy = str(config.get("pii_policy") or "warn")
    if policy not in POLICIES:
        raise ValidationError(f"unknown PII policy {policy!r}: use one of {', '.join(POLICIES)}")
    return policy


# --- helpers ---------------------------------------------------------------------------------------


def _luhn_ok(digits: Any) -> np.ndarray:
    """Vectorized Luhn over an Arrow array of digit strings (13-19 characters, no nulls)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(digits) == 0:
        return np.zeros(0, dtype=bool)
    padded = (
        pc.utf8_lpad(digits, width=19, padding="0").combine_chunks()
        if isinstance(digits, pa.ChunkedArray)
        else pc.utf8_lpad(digits, width=19, padding="0")
    )
    buf = padded.buffers()[2]
    offsets = np.frombuffer(padded.buffers()[1], dtype=np.int32, count=len(padded) + 1, offset=padded.offset * 4)
    raw = np.frombuffer(buf, dtype=np.uint8)[offsets[0] : offsets[-1]].reshape(-1, 19).astype(np.int16) - 48
    doubled = raw[:, 1::2] * 2  # from the right, positions 17, 15, ... are doubled (index 18 is the check digit)
    doubled -= 9 * (doubled > 9)
    total = raw[:, 0::2].sum(axis=1) + doubled.sum(axis=1)
    return total % 10 == 0


def _iban_ok(value: str) -> bool:
    s = value.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    num = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(num) % 97 == 1


def _ssn_ok(value: str) -> bool:
    d = value.replace("-", "")
    area, group, serial = d[:3], d[3:5], d[5:]
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


_NINO_BAD_PREFIX = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}


def _nino_ok(value: str) -> bool:
    return value.replace(" ", "")[:2] not in _NINO_BAD_PREFIX


def _dni_ok(value: str) -> bool:
    """Spanish DNI (8 digits) or NIE (X/Y/Z + 7 digits): the letter is the number mod 23."""
    v = value.replace("-", "")
    body, letter = v[:-1], v[-1]
    if body[0] in "XYZ":
        if len(body) != 8:
            return False
        body = str("XYZ".index(body[0])) + body[1:]
    elif len(body) != 8:
        return False
    return "TRWAGMYFPDXBNJZSQVHLCKE"[int(body) % 23] == letter


_VERHOEFF_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]  # fmt: skip
_VERHOEFF_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]  # fmt: skip


def _aadhaar_ok(value: str) -> bool:
    """Indian Aadhaar: 12 digits, first 2-9, Verhoeff check digit."""
    digits = value.replace(" ", "")
    if len(digits) != 12 or digits[0] in "01":
        return False
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][int(ch)]]
    return c == 0


_DATE_LIKE = re.compile(r"^\s*(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})\b")


def _phone_validator(regions: tuple[str, ...]) -> Callable[[str], bool]:
    import phonenumbers

    def ok(value: str) -> bool:
        if _DATE_LIKE.match(value):
            return False
        for region in (None,) if value.lstrip().startswith("+") else regions:
            try:
                num = phonenumbers.parse(value, region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(num):
                return True
        return False

    return ok


def _mask(arr: Any) -> np.ndarray:
    import pyarrow.compute as pc

    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _extract(arr: Any, pattern: str) -> tuple[np.ndarray, Any]:
    """Positions where ``pattern`` matches and the captured group there."""
    import pyarrow.compute as pc

    res = pc.extract_regex(arr, pattern)
    valid = _mask(res.is_valid())
    idx = np.flatnonzero(valid)
    field_values = pc.struct_field(res, [0])
    return idx, field_values.take(idx) if len(idx) else field_values.slice(0, 0)


def _validate_unique(values: Any, check: Callable[[str], bool], max_validate: int | None) -> tuple[np.ndarray, float]:
    """Which of ``values`` pass ``check``, validating each distinct value once; plus a count scale.

    With more than ``max_validate`` distinct values a fixed random sample of them is validated: only
    cells holding a sampled valid value are flagged, and the scale (distinct / sampled) estimates the
    full count. The scale is 1.0 when everything was validated.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(values) == 0:
        return np.zeros(0, dtype=bool), 1.0
    items = pc.unique(values).to_pylist()
    scale = 1.0
    if max_validate is not None and len(items) > max_validate:
        rng = np.random.default_rng(0)
        scale = len(items) / max_validate
        items = [items[i] for i in rng.choice(len(items), size=max_validate, replace=False)]
    good = [v for v in items if v is not None and check(v)]
    if not good:
        return np.zeros(len(values), dtype=bool), scale
    hit = pc.is_in(values, value_set=pa.array(good, type=pa.string()))
    return _mask(hit), scale


def _hints(column: str) -> tuple[set[str], bool]:
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", column).lower()
    hinted = {kind for kind, rx in _HINTS.items() if rx.search(name)}
    return hinted, bool(_ANTI_HINT.search(name))


def _scan_strings(
    arr: Any, column: str, *, regions: tuple[str, ...], max_validate: int | None
) -> dict[str, tuple[np.ndarray, float]]:
    """Per kind: (positions in ``arr`` that match, count scale (1.0 = exact)).

    Columns with repeated values are scanned once per distinct value (dictionary encoding).
    """
    import pyarrow.compute as pc

    if len(arr) > 1000 and pc.count_distinct(arr.slice(0, 2000)).as_py() < 1000:
        encoded = pc.dictionary_encode(arr)
        if len(encoded.dictionary) * 2 < len(arr):
            per_value = _scan_distinct(encoded.dictionary, column, regions=regions, max_validate=max_validate)
            codes = encoded.indices.to_numpy(zero_copy_only=False)
            codes = np.where(_mask(encoded.indices.is_valid()), codes, -1)
            return {k: (np.flatnonzero(np.isin(codes, pos)), scale) for k, (pos, scale) in per_value.items()}
    return _scan_distinct(arr, column, regions=regions, max_validate=max_validate)


def _gate(arr: Any, rows: np.ndarray, pattern: str | None = None, literal: str | None = None) -> np.ndarray:
    """The subset of ``rows`` (positions in ``arr``) matching a cheap test, before an expensive extraction."""
    import pyarrow.compute as pc

    if not len(rows):
        return rows
    sub = arr if len(rows) == len(arr) else arr.take(rows)
    hit = pc.match_substring(sub, literal) if literal is not None else pc.match_substring_regex(sub, pattern)
    return rows[_mask(hit)]


def _extract_at(arr: Any, rows: np.ndarray, pattern: str) -> tuple[np.ndarray, Any]:
    """Positions (in ``arr``) among ``rows`` where ``pattern`` matches, and the captured group."""
    if not len(rows):
        return rows, None
    idx, runs = _extract(arr if len(rows) == len(arr) else arr.take(rows), pattern)
    return rows[idx], runs


def _cards(digits: Any, at: np.ndarray) -> np.ndarray:
    """Positions whose digit string has an issuer prefix and length and passes Luhn."""
    import pyarrow.compute as pc

    issuer = np.flatnonzero(_mask(pc.match_substring_regex(digits, CARD_ISSUER)))
    if not len(issuer):
        return at[:0]
    return at[issuer[_luhn_ok(digits.take(issuer))]]


def _scan_distinct(
    arr: Any, column: str, *, regions: tuple[str, ...], max_validate: int | None
) -> dict[str, tuple[np.ndarray, float]]:
    """Per kind: (positions in ``arr`` that match, count scale (1.0 = exact)).

    Cheap features route each cell to the detectors that could match it: digit-only cells only to the
    card check (and hinted phones/ids); other cells by their digit count and whether they hold an
    upper-case letter, so most text meets two or three regular expressions, not a dozen.
    """
    import pyarrow.compute as pc

    hinted, _ = _hints(column)
    found: dict[str, list[np.ndarray]] = {}
    scales: dict[str, float] = {}

    def add(kind: str, positions: np.ndarray, scale: float = 1.0) -> None:
        if len(positions):
            found.setdefault(kind, []).append(positions)
            scales[kind] = max(scales.get(kind, 1.0), scale)

    # cells that are only digits (ids, timestamps, bare numbers): only cards, or hinted phones/ids, can match
    pure_rows = np.flatnonzero(_mask(pc.utf8_is_digit(arr)))
    if len(pure_rows):
        lengths = pc.binary_length(arr).to_numpy(zero_copy_only=False)[pure_rows]
        card_len = pure_rows[(lengths >= 13) & (lengths <= 19)]
        if len(card_len):
            add("card", _cards(arr.take(card_len), card_len))
        phone_ok = _phone_validator(regions)
        for kind, pattern, check in (("phone", PHONE_HINTED, phone_ok), ("national_id", SSN_HINTED, _ssn_ok)):
            if kind in hinted:
                at, runs = _extract_at(arr, pure_rows, pattern)
                if len(at):
                    ok, scale = _validate_unique(runs, check, max_validate)
                    add(kind, at[ok], scale)
        rest = np.ones(len(arr), dtype=bool)
        rest[pure_rows] = False
        cand = _gate(arr, np.flatnonzero(rest), f"@|{_DIGITS}|{_IPV4_ISH}|{_IPV6_ISH}")
    else:
        cand = np.flatnonzero(_mask(pc.match_substring_regex(arr, f"@|{_DIGITS}|{_IPV4_ISH}|{_IPV6_ISH}")))
    if len(cand):
        _scan_text(arr.take(cand), cand, hinted, regions, max_validate, add)
    return {kind: (np.unique(np.concatenate(parts)), scales[kind]) for kind, parts in found.items()}


def _ascii_counts(arr: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per cell: number of ASCII digits and of ASCII upper-case letters (numpy over the UTF-8 buffer)."""
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    _, offsets_buf, data_buf = arr.buffers()[:3]
    offsets = np.frombuffer(offsets_buf, dtype=np.int32, count=n + 1, offset=arr.offset * 4).astype(np.int64)
    start, end = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(data_buf, dtype=np.uint8)[start:end] if data_buf is not None else np.zeros(0, np.uint8)
    rel = offsets - start
    out = []
    for lo, width in ((48, 10), (65, 26)):  # '0'..'9', 'A'..'Z' (uint8 wrap-around: one comparison)
        cum = np.zeros(len(data) + 1, dtype=np.int32)
        np.cumsum((data - np.uint8(lo)) < width, dtype=np.int32, out=cum[1:])
        out.append(cum[rel[1:]] - cum[rel[:-1]])
    return out[0], out[1]


def _scan_text(
    sub: Any,
    base: np.ndarray,
    hinted: set[str],
    regions: tuple[str, ...],
    max_validate: int | None,
    add: Callable[..., None],
) -> None:
    """Detectors over candidate cells ``sub`` (``base`` maps them back to column positions)."""
    import pyarrow.compute as pc

    everything = np.arange(len(sub))
    has_at = _gate(sub, everything, literal="@")
    if len(has_at):
        add("email", base[has_at[_mask(pc.match_substring_regex(sub.take(has_at), EMAIL))]])
    ip_rows = _gate(sub, everything, f"{_IPV4_ISH}|:")
    if len(ip_rows):
        isub = sub.take(ip_rows)
        add(
            "ip",
            base[ip_rows[_mask(pc.match_substring_regex(isub, IPV4)) | _mask(pc.match_substring_regex(isub, IPV6))]],
        )
    digit_rows = _gate(sub, everything, _DIGITS + (r"|\d{7,}" if hinted & {"phone", "national_id"} else ""))
    if not len(digit_rows):
        return
    ndigits, nupper = _ascii_counts(sub.take(digit_rows))
    upper = nupper > 0

    def rows(mask: np.ndarray) -> np.ndarray:
        return digit_rows[mask]

    def validated(kind: str, at: np.ndarray, runs: Any, check: Callable[[str], bool]) -> None:
        if len(at):
            budget = max_validate if max_validate is None or kind == "phone" else max_validate * 10
            ok, scale = _validate_unique(runs, check, budget)
            add(kind, base[at[ok]], scale)

    # cards inside text or with separators: the first run of 13-19 digits
    at, runs = _extract_at(sub, _gate(sub, rows(ndigits >= 13), r"\d(?:[ \-]?\d){12}"), CARD_RUN)
    if len(at):
        add("card", base[_cards(pc.replace_substring_regex(runs, r"[ \-]", ""), at)])
    at, runs = _extract_at(sub, _gate(sub, rows(upper & (ndigits >= 6)), r"[A-Z]{2}\d{2}"), IBAN_RUN)
    validated("iban", at, runs, _iban_ok)
    phone_ok = _phone_validator(regions)
    at, runs = _extract_at(sub, _gate(sub, rows(ndigits >= 7), literal="+"), PHONE_INTL)
    validated("phone", at, runs, phone_ok)
    national = PHONE_HINTED if "phone" in hinted else PHONE_NATIONAL
    at, runs = _extract_at(sub, _gate(sub, rows(ndigits >= 7), national), national)
    validated("phone", at, runs, phone_ok)
    ssn = SSN_HINTED if "national_id" in hinted else SSN
    for mask, gate, pattern, check in (
        (ndigits >= 9, r"\d{3}-?\d{2}-?\d{4}", ssn, _ssn_ok),
        (upper & (ndigits >= 6), NINO, NINO, _nino_ok),
        (upper & (ndigits >= 7), r"\d{7,8}-?[A-Z]", DNI, _dni_ok),
        (ndigits >= 12, r"\d{4} \d{4} \d{4}", AADHAAR, _aadhaar_ok),
    ):
        at, runs = _extract_at(sub, _gate(sub, rows(mask), gate), pattern)
        validated("national_id", at, runs, check)


def string_columns(df: Any) -> list[int]:
    """Positions of columns that hold text (object/str, string, categorical of strings)."""
    import pandas as pd

    out = []
    for pos in range(df.shape[1]):
        dtype = df.dtypes.iloc[pos]
        if isinstance(dtype, pd.CategoricalDtype):
            cdt = dtype.categories.dtype
            if cdt is np.dtype(object) or isinstance(cdt, pd.StringDtype):
                out.append(pos)
        elif dtype is np.dtype(object) or isinstance(dtype, pd.StringDtype):
            out.append(pos)
        elif isinstance(dtype, pd.ArrowDtype) and "string" in str(dtype):
            out.append(pos)
    return out


def _as_arrow(values: Any) -> Any:
    """Text values as an Arrow string array (non-strings in object columns are skipped as null)."""
    import pyarrow as pa

    arr = getattr(getattr(values, "array", values), "_pa_array", None)
    if arr is not None:
        arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        return arr.cast(pa.string()) if not pa.types.is_string(arr.type) else arr
    obj = np.asarray(values, dtype=object)
    try:
        return pa.array(obj, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([v if isinstance(v, str) else None for v in obj], type=pa.string())


def scan(
    data: Any,
    *,
    mode: str = "auto",
    full_threshold: int = 200_000,
    sample_rows: int = 100_000,
    regions: tuple[str, ...] = ("US", "GB"),
    max_validate: int | None = 1_000,
    _positions: dict[str, dict[str, np.ndarray]] | None = None,
    arrow_columns: dict[int, Any] | None = None,
) -> ScanResult:
    """Scan the text columns of a DataFrame (or a Series) for PII. See the module docs.

    ``arrow_columns`` (column position -> Arrow string array of the whole column) lets a caller that
    already converted object columns (the snapshot hash does) skip converting them again.

    >>> import pandas as pd
    >>> scan(pd.Series(["4111 1111 1111 1111"], name="cc")).findings[0].kind
    'card'
    """
    import pandas as pd

    if mode not in MODES:
        raise ValidationError(f"unknown scan mode {mode!r}: use one of {', '.join(MODES)}")
    t0 = time.perf_counter()
    if isinstance(data, pd.Series):
        data = data.to_frame(name=data.name if data.name is not None else "value")
    n = len(data)
    sampled = mode == "sample" or (mode == "auto" and n > full_threshold)
    rows = None
    if sampled and n > sample_rows:
        rows = np.sort(np.random.default_rng(0).choice(n, size=sample_rows, replace=False))
    else:
        sampled = False
    scanned_n = len(rows) if rows is not None else n
    findings: list[Finding] = []
    names: list[str] = []
    for pos in string_columns(data):
        col = data.iloc[:, pos]
        column = str(data.columns[pos])
        names.append(column)
        hinted, anti = _hints(column)
        if isinstance(col.dtype, pd.CategoricalDtype):
            cats = _as_arrow(col.cat.categories.to_series())
            per_cat = _scan_strings(cats, column, regions=regions, max_validate=max_validate)
            codes = np.asarray(col.cat.codes)
            if rows is not None:
                codes = codes[rows]
            matches = {k: (np.flatnonzero(np.isin(codes, v[0])), v[1]) for k, v in per_cat.items()}
            nonnull = int((codes >= 0).sum())
        else:
            arr = (arrow_columns or {}).get(pos)
            if arr is not None:
                arr = arr.take(rows) if rows is not None else arr
            elif rows is not None and pd.api.types.is_object_dtype(col.dtype):
                arr = _as_arrow(col.to_numpy()[rows])  # convert only the sampled cells
            else:
                arr = _as_arrow(col)
                if rows is not None:
                    arr = arr.take(rows)
            matches = _scan_strings(arr, column, regions=regions, max_validate=max_validate)
            nonnull = len(arr) - arr.null_count
        for kind in KINDS:
            if kind not in matches:
                continue
            positions, scale = matches[kind]
            est = scale != 1.0
            count = len(positions) * scale
            share = min(count / nonnull, 1.0) if nonnull else 0.0
            if anti and kind in WEAK_KINDS and kind not in hinted and share < 0.5:
                continue
            if kind == "ip" and "ip" not in hinted and _VERSION_NAME.search(column.lower()):
                continue  # four-part version numbers look exactly like IPv4 addresses
            real = rows[positions] if rows is not None else positions
            if _positions is not None:
                _positions.setdefault(column, {})[kind] = real
            if sampled:
                count = round(count * n / scanned_n)
            findings.append(
                Finding(
                    column,
                    kind,
                    int(count),
                    round(share, 4),
                    [int(p) for p in real[:5]],
                    sampled or est,
                    kind in hinted,
                )
            )
    return ScanResult(findings, "sample" if sampled else "full", n, scanned_n, names, time.perf_counter() - t0)


# --- redaction -------------------------------------------------------------------------------------


def workspace_key(workspace: Any = None) -> bytes:
    """The workspace's redaction key (32 random bytes, created once, mode 0600, never in a snapshot).

    The key is written to a temporary file, fsynced and then hard-linked into place (never over an
    existing key), so ``pii.key`` is either absent or complete: a crash or a concurrent reader never
    sees a half-written key. A key file that is not exactly 64 hex characters raises ``IntegrityError``
    instead of silently hashing with a wrong (or empty) key.

    >>> len(workspace_key())   # doctest: +SKIP
    32
    """
    from .workspace import current

    ws = workspace or current()
    path = ws.path("secrets", "pii.key")
    key = _read_key(path)
    if key is not None:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    key = os.urandom(32)
    tmp = path.parent / f".pii.key.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(key.hex())
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if another process placed its key first: never overwrites
        except FileExistsError:
            pass
        except OSError:  # no hard links on this file system: rename (checked first, a tiny window remains)
            if not path.exists():
                os.rename(tmp, path)
        fsync_dir(path.parent)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    stored = _read_key(path)  # whoever won, every process uses the key on disk
    if stored is None:
        raise IntegrityError(f"redaction key {path} could not be created: check the folder is writable")
    return stored


def _read_key(path: Any) -> bytes | None:
    """The key in ``path``; None when there is none; IntegrityError when the file is not a 32-byte hex key."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raise IntegrityError(
            f"redaction key {path} is damaged ({len(text)} characters, expected 64 hex characters), "
            "for example left empty by a crash. Restore it from a backup to keep `--pii redact` tokens "
            "matching earlier snapshots; if no redacted snapshot was made with it, delete the file and a "
            "new key is created on the next redaction."
        )
    return bytes.fromhex(text)


def token(value: str, kind: str, key: bytes) -> str:
    """Keyed-hash token of a value: equal values give equal tokens; without the key it cannot be reversed.

    >>> token("ann@example.com", "email", b"k" * 32) == token("ann@example.com", "email", b"k" * 32)
    True
    """
    digest = hashlib.blake2b(value.encode("utf-8"), key=key, digest_size=10, person=b"aieng-pii").hexdigest()
    return f"<{kind}:{digest}>"


def redact(data: Any, *, key: bytes | None = None, regions: tuple[str, ...] = ("US", "GB")) -> tuple[Any, ScanResult]:
    """Scan everything and replace each cell holding PII with its keyed-hash token.

    Returns ``(redacted_copy, scan_result)``; the input is not modified.

    >>> import pandas as pd
    >>> out, res = redact(pd.DataFrame({"mail": ["ann@example.com", "-"]}), key=b"k" * 32)
    >>> out["mail"][0].startswith("<email:"), out["mail"][1]
    (True, '-')
    """
    import pandas as pd

    series_name = None
    is_series = isinstance(data, pd.Series)
    if is_series:
        series_name = data.name
        data = data.to_frame(name=series_name if series_name is not None else "value")
    positions: dict[str, dict[str, np.ndarray]] = {}
    result = scan(data, mode="full", regions=regions, max_validate=None, _positions=positions)
    if not result.findings:
        return (data.iloc[:, 0] if is_series else data), result
    key = key if key is not None else workspace_key()
    out = data.copy(deep=False)
    for pos in string_columns(data):
        column = str(data.columns[pos])
        kinds = positions.get(column)
        if not kinds:
            continue
        col = data.iloc[:, pos]
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes = np.asarray(col.cat.codes)
            cats = list(col.cat.categories)
            done: set[int] = set()
            for kind in KINDS:
                for c in np.unique(codes[kinds.get(kind, np.zeros(0, dtype=np.int64))]):
                    if int(c) not in done:
                        cats[c] = token(str(cats[c]), kind, key)
                        done.add(int(c))
            new = col.cat.rename_categories(cats)
        else:
            values = np.asarray(col, dtype=object).copy()
            done = set()
            for kind in KINDS:
                for r in kinds.get(kind, ()):
                    v = values[r]
                    if r not in done and isinstance(v, str):
                        values[r] = token(v, kind, key)
                        done.add(int(r))
            new = pd.Series(values, index=col.index, name=col.name, dtype=col.dtype)
        out.isetitem(pos, new)
    if is_series:
        out = out.iloc[:, 0]
        out.name = series_name
    return out, result
