"""Injecting parameters: papermill's ``injected-parameters`` cell, in the kernel's language.

Python gets ``repr`` literals proved by ``ast.literal_eval``; other kernels get papermill's
translators. The cell replaces an earlier injected cell, else follows the ``parameters`` cell.

>>> render_literal({"a": [1, 2.5, None]})
"{'a': [1, 2.5, None]}"
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from ..exceptions import ValidationError
from .params import INJECTED_TAG, check_literal, check_name, is_python, parameters_cell_index


def render_literal(value: Any) -> str:
    """``repr`` of plain data, verified to read back as the same value."""
    value = check_literal(value)
    text = repr(value)
    if ast.literal_eval(text) != value:  # pragma: no cover - repr of plain data always round-trips
        raise ValidationError(f"cannot write {value!r} as a literal")
    return text


def injected_source(
    parameters: Mapping[str, Any], *, kernel_name: str | None = None, language: str | None = None
) -> str:
    """The source of the ``injected-parameters`` cell in the kernel's language.

    Python gets ``repr`` literals proved by ``ast.literal_eval``; other languages get papermill's
    translator for the kernel (R, Scala, Julia, Matlab, C#, F#, PowerShell, bash), on values
    already checked to be plain data.

    >>> print(injected_source({"msg": "hello world"}, kernel_name="bash", language="bash"), end="")
    # Parameters
    msg='hello world'
    """
    checked = {check_name(name): check_literal(value, f"parameter {name!r}") for name, value in parameters.items()}
    if is_python(language) and (kernel_name or "python") not in _NON_PYTHON_KERNELS:
        lines = ["# Parameters"]
        lines += [f"{name} = {render_literal(value)}" for name, value in checked.items()]
        return "\n".join(lines) + "\n"
    from papermill.exceptions import PapermillException
    from papermill.translators import papermill_translators

    try:
        translator = papermill_translators.find_translator(kernel_name, language)
    except PapermillException as exc:
        raise ValidationError(f"cannot pass parameters to this notebook: {exc}") from None
    try:
        return str(translator.codify(checked, "Parameters"))
    except NotImplementedError as exc:
        raise ValidationError(f"cannot pass these parameters to a {language} kernel: {exc}") from None


# papermill's own kernel-name registrations that are not Python despite the notebook's language
_NON_PYTHON_KERNELS = {"sparkkernel", "sparkrkernel"}


def injected_cell_index(nb: Mapping[str, Any]) -> int | None:
    for i, cell in enumerate(nb.get("cells", [])):
        if INJECTED_TAG in (cell.get("metadata", {}).get("tags") or []):
            return i
    return None


def inject(
    nb: dict[str, Any],
    parameters: Mapping[str, Any],
    *,
    kernel_name: str | None = None,
    language: str | None = None,
) -> dict[str, Any]:
    """Papermill's placement: with parameters, the ``injected-parameters`` cell replaces an existing
    one in place, else goes after the ``parameters`` cell (or first); without parameters an existing
    injected cell (a papermill output run again) is kept as it is."""
    cells = nb.setdefault("cells", [])
    if not parameters:
        return nb
    cell: dict[str, Any] = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": [INJECTED_TAG]},
        "outputs": [],
        "source": injected_source(parameters, kernel_name=kernel_name, language=language),
    }
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) >= (4, 5):
        import uuid

        cell["id"] = uuid.uuid4().hex[:12]
    existing = injected_cell_index(nb)
    if existing is not None:
        cells[existing] = cell
        # papermill keeps only the first: later copies would re-assign stale values
        nb["cells"] = [c for i, c in enumerate(cells) if i <= existing or INJECTED_TAG not in _tags(c)]
        return nb
    index = parameters_cell_index(nb)
    cells.insert(0 if index is None else index + 1, cell)
    return nb


def _tags(cell: Mapping[str, Any]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags") or [])
