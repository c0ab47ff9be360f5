"""Which kernel runs a job, and in which language (papermill's and jupyter_client's rules).

The kernel is the one asked for, else the notebook's ``kernelspec.name``, else ``python3``; a
kernelspec named ``python`` means the native Python kernel when no spec of that name is
installed (jupyter_client's ``KernelManager`` maps it to ``python3``, so papermill runs such
notebooks). The language is the installed kernelspec's, else the notebook's ``kernelspec.language``
or ``language_info.name``: it picks papermill's parameter translator and tells whether the job may
add Python of its own (it never does in a bash or R kernel).

>>> resolve_kernel({"metadata": {"kernelspec": {"name": "python"}}}).name   # doctest: +SKIP
'python3'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..exceptions import ValidationError
from ..textutil import clip

NATIVE = "python3"


@dataclass(frozen=True)
class Kernel:
    name: str
    language: str

    @property
    def is_python(self) -> bool:
        return self.language.lower().startswith("python")


def notebook_language(nb: Mapping[str, Any]) -> str | None:
    meta = nb.get("metadata") or {}
    spec = meta.get("kernelspec") or {}
    info = meta.get("language_info") or {}
    language = spec.get("language") or info.get("name")
    return str(language) if language else None


def resolve_kernel(nb: Mapping[str, Any], kernel_name: str | None = None, *, check: bool = True) -> Kernel:
    """The kernel a job of ``nb`` runs on; with ``check`` it must be installed here."""
    requested = kernel_name or ((nb.get("metadata") or {}).get("kernelspec") or {}).get("name") or NATIVE
    if not isinstance(requested, str) or not requested.strip() or "\0" in requested or len(requested) > 200:
        raise ValidationError(f"bad kernel name {clip(requested)!r}")
    fallback = notebook_language(nb) or "python"
    if not check:
        return Kernel(NATIVE if requested == "python" else requested, fallback)
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    ksm = KernelSpecManager()
    names = ksm.find_kernel_specs()
    name = requested
    if name not in names and name == "python":  # jupyter_client: "python" is the native kernel
        name = NATIVE
    try:
        spec = ksm.get_kernel_spec(name)
    except NoSuchKernel:
        known = ", ".join(sorted(names)) or "none"
        raise ValidationError(
            f"no kernel named {clip(requested)!r} is installed (known: {known}; jupyter kernelspec list)"
        ) from None
    return Kernel(name, str(spec.language or fallback))
