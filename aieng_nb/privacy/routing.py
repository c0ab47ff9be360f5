"""The built-in detectors' one vectorized pass over a column (Arrow RE2 kernels).

One pre-filter pass plus per-cell digit and capital counts route cells to the detectors that can
match; validation runs once per distinct candidate. The built-ins share this pass (running them one
by one would scan each column six times), :mod:`.detectors` exposes each kind on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .checks import _aadhaar_ok, _dni_ok, _iban_ok, _luhn_ok, _nino_ok, _phone_validator, _ssn_ok
from .patterns import (
    _DIGITS,
    _IPV4_ISH,
    _IPV6_ISH,
    AADHAAR,
    CARD_ISSUER,
    CARD_RUN,
    DNI,
    EMAIL,
    IBAN_RUN,
    IPV4,
    IPV6,
    NINO,
    PHONE_HINTED,
    PHONE_INTL,
    PHONE_NATIONAL,
    SSN,
    SSN_HINTED,
    hints,
)


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

    hinted, _ = hints(column)
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
