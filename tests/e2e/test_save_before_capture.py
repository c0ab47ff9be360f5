"""At ``%aieng end`` a real kernel asks the frontend (over the ``aieng_nb`` comm) to save the notebook,
and attaches the saved copy. The test client plays the frontend: it opens the comm as a JupyterLab
extension does and, on the save request, writes the notebook as JupyterLab's ``docmanager:save`` would."""

from __future__ import annotations

import json
import os
import queue
import time
import uuid

import pytest

from aieng_nb.jobs.notebook import write_notebook

pytestmark = pytest.mark.slow


def _wait_idle(kc, msg_id, on_msg=None, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            msg = kc.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            continue
        if on_msg is not None:
            on_msg(msg)
        if (
            msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
            and msg["parent_header"].get("msg_id") == msg_id
        ):
            return
    raise AssertionError("the cell never finished")


def test_end_asks_the_frontend_to_save_and_attaches_the_saved_copy(tmp_path, python_env, workspace):
    from jupyter_client.manager import start_new_kernel
    from mlflow.tracking import MlflowClient

    nb = write_notebook(tmp_path / "open.ipynb", ["%load_ext aieng_nb"])  # the stale copy on disk
    old = time.time() - 300
    os.utime(nb, (old, old))
    env = {**python_env, "AIENG_NOTEBOOK_PATH": str(nb)}
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(tmp_path))
    requests: list[dict] = []
    replies: list[dict] = []
    try:
        kc.execute_interactive("%load_ext aieng_nb", timeout=60)
        comm_id = uuid.uuid4().hex
        opened = kc.session.msg(
            "comm_open", {"comm_id": comm_id, "target_name": "aieng_nb", "data": {"capabilities": ["save"]}}
        )
        kc.shell_channel.send(opened)
        kc.execute_interactive(
            "import aieng_nb as aieng\n%aieng start --name saved\nrun_id = aieng.active_run().id", timeout=60
        )
        kc.execute_interactive("x = 41 + 1", timeout=30)

        def frontend(msg):
            data = msg["content"].get("data") or {}
            if msg["msg_type"] == "comm_msg" and msg["content"].get("comm_id") == comm_id and data.get("action"):
                requests.append(data)
                write_notebook(data["path"], ["%load_ext aieng_nb", "%aieng start --name saved", "x = 41 + 1"])

        _wait_idle(kc, kc.execute("%aieng end"), frontend)
        reply = kc.execute_interactive("print(run_id)", timeout=30, output_hook=replies.append)
        assert reply["content"]["status"] == "ok"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert requests == [{"action": "save", "path": str(nb)}]
    run_id = next(m["content"]["text"].strip() for m in replies if m["msg_type"] == "stream")
    client = MlflowClient(workspace.tracking_uri)
    tags = client.get_run(run_id).data.tags
    assert tags["mlflow.source.name"] == str(nb) and tags["mlflow.source.type"] == "NOTEBOOK"
    assert "aieng.notebook.stale" not in tags and "aieng.notebook.rebuilt" not in tags
    local = client.download_artifacts(run_id, "aieng/notebook/open.ipynb", str(tmp_path))
    assert len(json.loads(open(local).read())["cells"]) == 3  # the copy the frontend saved
