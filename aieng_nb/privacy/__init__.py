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

More detectors: every detector registered in :data:`aieng_nb.plugins.pii_detectors` runs (see
:mod:`aieng_nb.privacy.detectors`; a package adds one with an ``aieng_nb.pii_detectors`` entry
point), and its findings guard snapshots exactly like the built-in kinds.

Modules: :mod:`.patterns` and :mod:`.checks` (the built-ins' patterns and validators),
:mod:`.routing` (their shared vectorized pass), :mod:`.detectors` (the detector contract and the
registry lookup), :mod:`.scan`, :mod:`.redaction`, :mod:`.keys` (the workspace's redaction key) and
:mod:`.findings` (the records).

Policies: ``warn`` (store, record and show findings), ``block`` (raise, store nothing),
``redact`` (replace matched cells with keyed-hash tokens: equal values give equal tokens, so
joins still work; the key stays in the workspace), ``allow`` (no scan).

>>> import pandas as pd
>>> res = scan(pd.DataFrame({"contact": ["ann@example.com", "n/a"], "ts": ["1700000000000", "x"]}))
>>> [(f.column, f.kind, f.count) for f in res.findings]
[('contact', 'email', 1)]
"""

from __future__ import annotations

from .detectors import BuiltinDetector, Detector, PluginDetector
from .findings import Finding, PIIBlockedError, ScanResult, check_policy
from .keys import workspace_key
from .patterns import KINDS, MODES, POLICIES, WEAK_KINDS
from .redaction import redact, token
from .scan import scan, string_columns

__all__ = [
    "KINDS",
    "MODES",
    "POLICIES",
    "WEAK_KINDS",
    "BuiltinDetector",
    "Detector",
    "Finding",
    "PIIBlockedError",
    "PluginDetector",
    "ScanResult",
    "check_policy",
    "redact",
    "scan",
    "string_columns",
    "token",
    "workspace_key",
]
