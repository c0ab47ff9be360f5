"""The kernel's side of the comm the aieng JupyterLab extension answers, so the kernel can ask it to save.

Protocol (comm target ``aieng_nb``), either way round:

- at ``%load_ext aieng_nb`` the kernel opens a comm to the frontend (``{"kernel": "aieng_nb"}``); the
  labextension registers the target and answers ``{"capabilities": ["save"]}`` (a frontend without it
  closes the comm);
- a frontend that connects later (a reloaded page) opens a comm to the kernel with data
  ``{"capabilities": ["save"]}``, answered ``{"ready": true, ...}``.

At ``%aieng end`` the kernel sends ``{"action": "save", "path": "<absolute notebook path>"}`` and waits
a few seconds for the file to change on disk; the frontend saves the notebook whose kernel this is.
Without a frontend that answered, nothing is sent and capture falls back to the executed cells.
Messages from the frontend are only handled between cells, which is why the kernel watches the file
instead of waiting for a reply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TARGET = "aieng_nb"


class FrontendLink:
    """The open comm (if any) and what the frontend said it can do."""

    def __init__(self) -> None:
        self.comm: Any = None
        self.capabilities: set[str] = set()

    def register(self, shell: Any) -> bool:
        """Listen for the frontend's comm (only in a Jupyter kernel); True when registered."""
        kernel = getattr(shell, "kernel", None)
        manager = getattr(kernel, "comm_manager", None)
        if manager is None:
            return False
        manager.register_target(TARGET, self._on_open)
        self._announce()
        return True

    def _announce(self) -> None:
        """Open a comm to the frontend; the labextension answers with its capabilities."""
        try:
            from comm import create_comm

            comm = create_comm(target_name=TARGET, data={"kernel": TARGET})
        except Exception:  # noqa: BLE001 - no frontend to talk to: capture falls back to the executed cells
            return
        comm.on_msg(lambda msg: self._on_answer(comm, msg))

    def _on_answer(self, comm: Any, msg: dict[str, Any]) -> None:
        data = (msg.get("content") or {}).get("data") or {}
        if "capabilities" in data:
            self.comm = comm
            self.capabilities = {str(c) for c in data.get("capabilities", [])}
            comm.on_close(self._on_close)

    def unregister(self, shell: Any) -> None:
        manager = getattr(getattr(shell, "kernel", None), "comm_manager", None)
        if manager is not None:
            manager.unregister_target(TARGET, self._on_open)
        self.comm = None

    def _on_open(self, comm: Any, msg: dict[str, Any]) -> None:
        data = (msg.get("content") or {}).get("data") or {}
        self.comm = comm
        self.capabilities = {str(c) for c in data.get("capabilities", [])}
        comm.on_close(self._on_close)
        comm.send({"ready": True, "capabilities": sorted(self.capabilities & {"save"})})

    def _on_close(self, msg: dict[str, Any]) -> None:
        self.comm = None
        self.capabilities = set()

    def request_save(self, path: Path) -> bool:
        """Ask the frontend to save the notebook at ``path``; False when no frontend can."""
        if self.comm is None or "save" not in self.capabilities:
            return False
        try:
            self.comm.send({"action": "save", "path": str(path)})
        except Exception:  # noqa: BLE001 - a closed comm: capture falls back to the executed cells
            return False
        return True
