"""The built-in detectors' regular expressions (RE2 syntax: no look-around) and column-name hints."""

from __future__ import annotations

import re

POLICIES = ("warn", "block", "redact", "allow")
KINDS = ("email", "phone", "card", "iban", "ip", "national_id")
MODES = ("auto", "full", "sample")
WEAK_KINDS = {"card", "phone", "ip", "national_id"}

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


def hints(column: str) -> tuple[set[str], bool]:
    """The kinds a column's name suggests, and whether it is named like an id/timestamp/version."""
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", column).lower()
    hinted = {kind for kind, rx in _HINTS.items() if rx.search(name)}
    return hinted, bool(_ANTI_HINT.search(name))
