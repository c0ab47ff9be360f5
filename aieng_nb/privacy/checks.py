"""Checksums and validators that turn a pattern match into a finding (so ids and timestamps do not count)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np


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
