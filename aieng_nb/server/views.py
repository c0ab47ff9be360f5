"""HTML views of stored things for front ends: a job's output notebook, a snapshot's profile, a report.

Each is addressed by id or hash only, never by a path a client supplies; the caller serves the
HTML sandboxed (the panel's REST API sends ``Content-Security-Policy: sandbox`` and shows it in a
sandboxed iframe).

>>> html = job_output_html("20260101-120000-abc123")   # doctest: +SKIP
"""

from __future__ import annotations

import html as _html
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..exceptions import NotFoundError, ValidationError

if TYPE_CHECKING:
    from ..workspace import Workspace

_HASH = re.compile(r"\A[0-9a-f]{6,64}\Z")


def job_output_html(job_id: str, *, workspace: Workspace | None = None) -> str:
    """The executed notebook of a job as HTML (its stored rendering, else rendered now). The files
    are found from the job's id inside its folder, never from paths stored in its record."""
    from ..jobs import get_job
    from ..jobs.remote import read_text
    from ..workspace import current

    ws = workspace or current()
    record = get_job(job_id, recover=False, workspace=ws)  # a GET only reads
    try:  # the job folder's file, else the object store's (a job run by a worker without this disk)
        return read_text(ws, record.job_id, "output.html")
    except NotFoundError:
        pass
    try:
        output = read_text(ws, record.job_id, "output.ipynb")
    except NotFoundError:
        raise NotFoundError(f"job {record.job_id} has no output notebook yet (status {record.status})") from None
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.reads(output, as_version=4)
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    return str(body)


def snapshot_profile_html(digest: str, *, workspace: Workspace | None = None) -> str:
    """A snapshot's profile (schema, per-column statistics, PII findings) as an HTML page, by hash."""
    from ..snapshots import show
    from ..snapshots.records import profile_html

    if not isinstance(digest, str) or not _HASH.match(digest):
        raise ValidationError(f"{digest!r} is not a snapshot hash (6 to 64 lowercase hex digits)")
    record = show(digest, workspace=workspace)
    findings = "".join(f"<li>{_html.escape(str(f))}</li>" for f in record.findings)
    title = _html.escape(record.ref)
    pii = f"<h3>PII findings</h3><ul>{findings}</ul>" if findings else "<p>No PII findings.</p>"
    profile = profile_html(record.profile) if record.profile else "<p>No profile stored.</p>"
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body><h2>{title}</h2>{profile}{pii}</body></html>"


def report_html(run_id: str, name: str, *, workspace: Workspace | None = None) -> str:
    """A stored report's HTML, by run id and report name."""
    from ..reports import load_report_html

    return load_report_html(run_id, name, workspace=workspace)


def report_evidently_html(run_id: str, name: str, *, workspace: Workspace | None = None) -> str:
    """The interactive Evidently page (``evidently.html``) stored with a monitoring report."""
    from ..reports.storage import read_artifact

    try:
        return read_artifact(run_id, name, "evidently.html", workspace=workspace)
    except NotFoundError:
        raise NotFoundError(
            f"report {name!r} has no evidently.html (not a monitoring report, or kept without it)"
        ) from None


_TEXT = {".txt", ".log", ".json", ".yaml", ".yml", ".csv", ".py", ".md", ".jsonl", ".toml", ".cfg", ".ini", ".ipynb"}
_IMAGES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".svg": "image/svg+xml",
}
MAX_ARTIFACT_BYTES = 20_000_000


def artifact_html(run_id: str, path: str, *, workspace: Workspace | None = None) -> str:
    """One artifact of a run as a page: HTML as it is, images inline, text in ``<pre>``, else its size."""
    import base64
    import tempfile

    from ..tracking import download_artifact

    if not path or "\0" in path or path.startswith("/") or ".." in Path(path).parts:
        raise ValidationError(f"{path!r} is not an artifact path of the run")
    suffix = Path(path).suffix.lower()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(download_artifact(run_id, path, tmp, workspace=workspace))
        except NotFoundError:
            raise
        except Exception as exc:  # stores raise their own types for a missing artifact
            raise NotFoundError(f"no artifact {path!r} on run {run_id}: {exc}") from None
        if local.is_dir():
            raise ValidationError(f"{path!r} is a folder; open one of its files")
        size = local.stat().st_size
        title = _html.escape(path)
        if size > MAX_ARTIFACT_BYTES:
            body = f"<p>{title}: {size:,} bytes, too large to show here.</p>"
        elif suffix in (".html", ".htm"):
            return local.read_text(encoding="utf-8", errors="replace")
        elif suffix == ".ipynb":
            import nbformat
            from nbconvert import HTMLExporter

            html, _ = HTMLExporter(template_name="lab").from_notebook_node(nbformat.read(local, as_version=4))
            return str(html)
        elif suffix in _IMAGES:
            data = base64.b64encode(local.read_bytes()).decode()
            body = f"<img alt='{title}' style='max-width:100%' src='data:{_IMAGES[suffix]};base64,{data}'>"
        elif suffix in _TEXT or size < 200_000:
            text = local.read_text(encoding="utf-8", errors="replace")
            body = f"<pre style='white-space:pre-wrap'>{_html.escape(text)}</pre>"
        else:
            body = f"<p>{title}: {size:,} bytes of binary data.</p>"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>"
        f"{title}</title></head><body style='font-family:sans-serif;color:#222;background:#fff'>"
        f"<h3>{title}</h3>{body}</body></html>"
    )
