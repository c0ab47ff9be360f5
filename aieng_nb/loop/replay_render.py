"""The replay's report: the policies side by side, the metric per batch, group gaps, the loop's events."""

from __future__ import annotations

import math
from typing import Any

from ..reports.base import Report, Section
from ..reports.markup import esc, figure_html, new_figure, table_html


def build_report(result: Any) -> Report:
    rep = Report("replay", f"Replay: {result.target} ({result.task}), {result.n_batches} batches of "
                           f"{result.batch_size}, label delay {result.label_delay}")  # fmt: skip
    for name, p in result.policies.items():
        key = name.replace(":", "_")
        rep.metrics[f"{key}.mean_{result.metric}"] = p.mean
        rep.metrics[f"{key}.retrains"] = float(p.retrains)
        rep.metrics[f"{key}.refused"] = float(p.refused)
        rep.metrics[f"{key}.rollbacks"] = float(p.rollbacks)
        rep.metrics[f"{key}.cpu_seconds"] = p.cpu_seconds
    rep.details = result.to_dict()
    rep.sections.append(Section("Policies", table_html(result.headers, result.rows())))
    rep.sections.append(Section(f"{result.metric} per batch", _plot(result, lambda b: b.value, result.metric)))
    if result.sensitive:
        rep.sections.append(Section(f"Per-group gap ({result.sensitive})",
                                    _plot(result, lambda b: b.group_gap, "max - min group metric")))  # fmt: skip
    loop = result.policies.get("loop")
    if loop is not None and any(b.estimated is not None for b in loop.batches):
        rows = [[b.batch, b.time, b.estimated, b.value, "yes" if b.trusted else "no"] for b in loop.batches]
        rep.sections.append(Section("The loop's estimate before labels vs realized",
                                    table_html(["batch", "time", "estimated", "realized", "trusted"], rows)))  # fmt: skip
    moves = [[name, m["batch"], m["action"], f"v{m['previous'] or '-'} -> v{m['version']}", m["reason"] or ""]
             for name, p in result.policies.items() for m in p.moves]  # fmt: skip
    if moves:
        rep.sections.append(Section("Champion moves in the replay's registry",
                                    table_html(["policy", "batch", "action", "move", "reason"], moves)))  # fmt: skip
    events = [f"<li>{esc(e)}</li>" for p in result.policies.values() for e in p.events if p.name == "loop"]
    if events:
        rep.sections.append(Section("The loop's events", "<ul>" + "".join(events[:300]) + "</ul>"))
    return rep


def _plot(result: Any, value: Any, label: str) -> str:
    fig = new_figure(7.0, 2.8)
    ax = fig.add_subplot(1, 1, 1)
    for name, p in result.policies.items():
        xs = [b.batch for b in p.batches]
        ys = [value(b) if value(b) is not None else math.nan for b in p.batches]
        ax.plot(xs, ys, label=name, linewidth=1.2)
        if name == "loop":
            promoted = [(b.batch, value(b)) for b in p.batches if b.promoted and value(b) is not None]
            if promoted:
                ax.scatter(*zip(*promoted, strict=True), marker="^", s=18, label="loop: promoted")
    ax.set_xlabel("batch", fontsize=8)
    ax.set_ylabel(label, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    return figure_html(fig, alt=label)
