"""Serving benchmark: our endpoint against `mlflow models serve`, side by side in one run.

    python benchmarks/bench_serving.py [--requests 400] [--concurrent 8] [--seconds 8]

Targets (issue "Serving that closes the loop"):

* single-row latency overhead over the in-process pyfunc ``predict``: <= 2 ms at the median
  (p99 reported), for ``aieng model serve`` (one process, uvicorn in it) and ``mlflow models serve``;
* throughput at 8 concurrent clients (keep-alive connections), both servers;
* with the inference log and a shadow challenger on, the median latency within 10% of without
  (the three configurations of ours are measured in interleaved rounds so load drifts hit all);
* rollback from a fresh process (``aieng model rollback``), wall time, next to
  ``python -c "MlflowClient().set_registered_model_alias(...)"``; ``aieng model status`` too.

Model: ``RandomForestClassifier(n_estimators=60)`` on the synthetic loop data, logged with MLflow
and registered twice (v1 champion, v2 challenger). Every server is a separate process started by
this script; the clients are threads here, each with its own HTTP/1.1 keep-alive connection.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import warnings


def _train(tmp: str) -> object:
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.ensemble import RandomForestClassifier

    import aieng_nb as aieng
    from aieng_nb.loop.synthetic import FEATURES, batch

    train = batch(5000, concept=1, seed=0)
    X = train[FEATURES]
    for seed in (1, 2):
        model = RandomForestClassifier(n_estimators=60, random_state=seed, n_jobs=1).fit(X, train["label"])
        with aieng.start_run(experiment="bench-serving") as run:  # MLflow's fluent API is on this run
            mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(X.head(100), model.predict(X.head(100))),
                pip_requirements=["scikit-learn"],
                skops_trusted_types=["sklearn.tree._tree.Tree"],
            )
        aieng.register_model(run.id, "bench", alias="challenger" if seed == 2 else None)
    aieng.promote("bench", 1)
    return batch(2000, concept=1, seed=7)[FEATURES]


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _start(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                return proc
        except OSError:
            time.sleep(0.25)
    raise SystemExit(f"server did not start: {cmd}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def _bodies(X: object, n: int) -> list[bytes]:
    return [
        json.dumps({"dataframe_split": json.loads(X.iloc[[i % len(X)]].to_json(orient="split", index=False))}).encode()
        for i in range(n)
    ]


def _sequential(port: int, bodies: list[bytes]) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    out = []
    for body in bodies:
        t0 = time.perf_counter()
        conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        out.append(time.perf_counter() - t0)
        assert resp.status == 200
    conn.close()
    return out


def _throughput(port: int, bodies: list[bytes], clients: int, seconds: float) -> float:
    done = threading.Event()
    counts = [0] * clients

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        i = k
        while not done.is_set():
            conn.request("POST", "/invocations", bodies[i % len(bodies)], {"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            counts[k] += resp.status == 200
            i += clients
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    done.set()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def _wall(cmd: list[str], env: dict[str, str], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrent", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    tmp = tempfile.mkdtemp(prefix="aieng-bench-serving-")
    os.environ["AIENG_WORKSPACE"] = os.path.join(tmp, ".aieng")
    os.chdir(tmp)
    X = _train(tmp)

    import aieng_nb as aieng
    from aieng_nb.serving import free_port
    from aieng_nb.workspace import current

    ws = current()
    env = {**os.environ, "MLFLOW_TRACKING_URI": ws.tracking_uri, "MLFLOW_REGISTRY_URI": ws.tracking_uri}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    model = aieng.load_model("bench/1", record_use=False)
    bodies = _bodies(X, args.requests)
    for i in range(20):
        model.predict(X.iloc[[i]])
    inproc: list[float] = []

    def in_process() -> None:
        for i in range(args.requests):
            one = X.iloc[[i % len(X)]]
            t0 = time.perf_counter()
            model.predict(one)
            inproc.append(time.perf_counter() - t0)

    ours = [sys.executable, "-m", "aieng_nb", "model", "serve", "bench@champion", "--log-seconds", "2"]
    configs = {
        "ours": [*ours, "--no-log"],
        "ours+log+shadow": [*ours, "--shadow", "challenger"],
        "mlflow": [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            "models:/bench/1",
            "--env-manager",
            "local",
        ],
    }
    servers = {}
    for key, cmd in configs.items():
        port = free_port()
        port_args = ["-h", "127.0.0.1", "-p", str(port)] if key == "mlflow" else ["--port", str(port)]
        servers[key] = (port, _start([*cmd, *port_args], env, port))
    lat: dict[str, list[float]] = {k: [] for k in servers}
    tput: dict[str, list[float]] = {k: [] for k in servers}
    try:
        for port, _ in servers.values():
            _sequential(port, bodies[:30])  # warm
        for _ in range(args.rounds):  # interleaved, so load drifts hit every configuration
            in_process()
            for key, (port, _) in servers.items():
                lat[key] += _sequential(port, bodies)
        for key, (port, _) in servers.items():
            tput[key].append(_throughput(port, bodies, args.concurrent, args.seconds))
    finally:
        for _, proc in servers.values():
            _stop(proc)

    aieng.promote("bench", 2, force=True, reason="benchmark")
    rollback = _wall([sys.executable, "-m", "aieng_nb", "model", "rollback", "bench"], env, repeat=1)
    alias_cmd = (
        "from mlflow import MlflowClient; "
        f"MlflowClient({ws.tracking_uri!r}, registry_uri={ws.tracking_uri!r}).set_registered_model_alias('bench', 'champion', '1')"
    )
    alias_only = _wall([sys.executable, "-c", alias_cmd], env)
    status = _wall([sys.executable, "-m", "aieng_nb", "model", "status", "bench"], env)
    import_mlflow = _wall([sys.executable, "-c", "import mlflow"], env)

    med_in = statistics.median(inproc) * 1000
    out: dict[str, object] = {"inprocess_predict_median_ms": round(med_in, 2)}
    for key in servers:
        med = statistics.median(lat[key]) * 1000
        out[key] = {
            "median_ms": round(med, 2),
            "p99_ms": round(_pct(lat[key], 0.99) * 1000, 2),
            "overhead_ms": round(med - med_in, 2),
            f"throughput_{args.concurrent}_clients_rps": round(statistics.median(tput[key]), 1),
        }
    base, full = statistics.median(lat["ours"]), statistics.median(lat["ours+log+shadow"])
    out["log_shadow_ratio"] = round(full / base, 3)
    out["rollback_cli_s"] = round(rollback, 3)
    out["set_alias_python_c_s"] = round(alias_only, 3)
    out["status_cli_s"] = round(status, 3)
    out["import_mlflow_s"] = round(import_mlflow, 3)
    out["load_average"] = os.getloadavg()[0]
    print(json.dumps(out, indent=2))
    o, m = out["ours"], out["mlflow"]
    print(
        f"overhead over in-process predict ({med_in:.2f} ms): ours {o['overhead_ms']} ms, mlflow {m['overhead_ms']} ms; target <= 2 ms"
    )  # type: ignore[index]
    print(f"log+shadow median / without: {full / base:.3f}; target <= 1.10")
    print(
        f"rollback from a fresh process {rollback:.2f} s vs python -c set_alias {alias_only:.2f} s; status {status:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
