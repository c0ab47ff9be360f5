"""How a logged call is laid out in the metric journal: one ``struct`` record per call.

A call's keys are interned once per process: the first call with a new key set (in the order
given) writes a *keys record* (``TAG_KEYS``, a number, the keys marshalled) and every later call
with the same keys is packed by that key set's precompiled :class:`struct.Struct`: a header (tag and
key-set number), the time, the step (omitted for the automatic step) and the values as doubles,
then an end byte. No bytes of keys, no dict, no marshal on the hot path, and ``struct`` does the type
checks (a value is packed through ``__float__``, as the conversion to MLflow rows reads it; a step
must be an int). A segment starts with every keys record written so far, so a record can always be
decoded from its own segment, whichever thread switched segments meanwhile. Anything else (odd
values, a step that is not an int, rows) is marshalled whole, as before; the two kinds are told apart
by their first byte (marshal's type codes are printable).

The end byte catches a record torn by a SIGKILL in the middle of its copy (only the call in flight
then, which had not returned); a zero first byte is space never written.

>>> s = Schemas()
>>> entry, record = s.define(("loss", "acc"))
>>> table: dict = {}
>>> data = record + entry[1](entry[0], 1.5, 3, 0.5, 0.25, END)
>>> parse(data, 10, table)[0]
[(1.5, 3, {'loss': 0.5, 'acc': 0.25})]
"""

from __future__ import annotations

import io
import marshal
import struct
from collections.abc import Callable
from typing import Any

TAG_KEYS, TAG_STEP, TAG_AUTO = 1, 2, 3
END = 0xA5  # the last byte of every struct record
MAX_SCHEMAS = 4096  # key sets interned per process; past this, calls are marshalled whole
MAX_VALUES = 64  # more values in one call: marshalled whole
_MARSHAL_FIRST = frozenset(b"()[") | frozenset(c | 0x80 for c in b"()[")  # tuple, small tuple, list
_KEYS_HEAD = struct.Struct("<II")  # tag | number << 8, length of the marshalled keys
_HEAD = struct.Struct("<I")

# an interned key set as the hot path uses it: (header with TAG_STEP, pack with step, pack without, count)
Entry = tuple[int, Callable[..., bytes], Callable[..., bytes], int]


class Schemas:
    """The key sets this process interned (the writer's side). ``table`` is the hot path's lookup."""

    def __init__(self) -> None:
        self.table: dict[tuple[str, ...], Entry] = {}
        self.records: list[bytes] = []  # every keys record, written again at each segment's start

    def define(self, keys: tuple[Any, ...]) -> tuple[Entry, bytes] | tuple[None, None]:
        """A new entry and its keys record (not yet in :attr:`table`: the journal adds it once the
        record is written), or (None, None) for keys that are not interned (the call is marshalled)."""
        n = len(keys)
        if not 0 < n <= MAX_VALUES or len(self.records) >= MAX_SCHEMAS or any(type(k) is not str for k in keys):
            return None, None
        number = len(self.records) + 1
        blob = marshal.dumps(keys)
        record = _KEYS_HEAD.pack(TAG_KEYS | number << 8, len(blob)) + blob + bytes([END])
        values = "d" * n
        entry = (
            TAG_STEP | number << 8,
            struct.Struct(f"<Idq{values}B").pack,
            struct.Struct(f"<Id{values}B").pack,
            n,
        )
        return entry, record

    def add(self, keys: tuple[str, ...], entry: Entry, record: bytes) -> None:
        self.records.append(record)
        self.table[keys] = entry

    def block(self) -> bytes:
        return b"".join(self.records)


def _decoders(keys: tuple[str, ...]) -> tuple[tuple[str, ...], struct.Struct, struct.Struct]:
    values = "d" * len(keys)
    return keys, struct.Struct(f"<Idq{values}B"), struct.Struct(f"<Id{values}B")


def parse(data: bytes, limit: int, table: dict[int, Any], keep: bool = True) -> tuple[list[Any], int, bool]:
    """Up to ``limit`` calls from the start of ``data``: (calls ``(time, step, {key: value})`` or
    rows, bytes consumed, whether the segment ends here: never-written space, or a torn or unknown
    record from a killed process). Keys records met on the way go into ``table`` (this segment's);
    ``keep=False`` only reads those (the calls are skipped, not returned)."""
    out: list[Any] = []
    n = len(data)
    pos = 0
    head_from = _HEAD.unpack_from
    fh: io.BytesIO | None = None
    while pos < n and len(out) < limit:
        tag = data[pos]
        if tag == TAG_STEP or tag == TAG_AUTO:
            if pos + 4 > n:
                return out, pos, False
            found = table.get(head_from(data, pos)[0] >> 8)
            if found is None:
                return out, pos, True
            keys, with_step, auto = found
            st = with_step if tag == TAG_STEP else auto
            end = pos + st.size
            if end > n:
                return out, pos, False
            if data[end - 1] != END:
                return out, pos, True
            if not keep:
                pos = end
                continue
            fields = st.unpack_from(data, pos)
            if tag == TAG_STEP:
                out.append((fields[1], fields[2], dict(zip(keys, fields[3:-1], strict=True))))
            else:
                out.append((fields[1], None, dict(zip(keys, fields[2:-1], strict=True))))
            pos = end
        elif tag == TAG_KEYS:
            if pos + 8 > n:
                return out, pos, False
            head, size = _KEYS_HEAD.unpack_from(data, pos)
            end = pos + 8 + size + 1
            if end > n:
                return out, pos, False
            if data[end - 1] != END:
                return out, pos, True
            try:
                keys = marshal.loads(data[pos + 8 : end - 1])
            except (ValueError, EOFError, TypeError):
                return out, pos, True
            table[head >> 8] = _decoders(tuple(keys))
            pos = end
        elif tag in _MARSHAL_FIRST:  # a call or rows marshalled whole
            if fh is None:
                fh = io.BytesIO(data)
            fh.seek(pos)
            try:
                record = marshal.load(fh)
            except EOFError:  # the rest of this record is in the next chunk
                return out, pos, False
            except (ValueError, TypeError):
                return out, pos, True
            if type(record) is not list and (type(record) is not tuple or len(record) != 3):
                return out, pos, True
            if keep:
                out.append(record)
            pos = fh.tell()
        else:  # zero: never written; anything else: not a record
            return out, pos, True
    return out, pos, False
