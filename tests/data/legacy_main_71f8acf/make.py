"""Run with main's code (commit 71f8acf) in a folder holding notebooks/loop/*.ipynb, with AIENG_WORKSPACE and
AIENG_STATE_DIR set: a workspace folder as main writes it (schedules, a loop with events, audit)."""

from aieng_nb import audit, loop, schedules
from aieng_nb.loop.store import event, load_state, locked_loop, save_state
from aieng_nb.workspace import current

ws = current()
schedules.add("nightly", "score.ipynb", "0 3 * * *", timezone="Europe/Paris", parameters={"model": "churn@champion"})
schedules.set_paused("nightly", True)
loop.add("churn", score="score.ipynb", retrain="train.ipynb", cron="0 * * * *", retrain_params={"variant": "good"})
with locked_loop("churn", ws):
    state = load_state("churn", ws)
    state.processed = ["j1", "j2"]
    event("churn", state, ws, "scored", "scoring job j1: checks passed", job_id="j1")
    event("churn", state, ws, "breach", "drift_share 0.6 > 0.3", job_id="j2")
    save_state("churn", state, ws)
audit.append("run.start", {"run_id": "r1"})
print(audit.verify().ok, len(audit.entries()))
