"""``aieng model register|promote|status|rollback|serve|list``: the model registry from a terminal.

Exit codes: 0 done, 1 the gates refused the promotion (the table says why), 2 bad usage or an
unknown model/version, 3 a conflict (another promotion moved the alias first).
"""

from __future__ import annotations

import argparse
import sys

from .output import print_json

EXIT_REFUSED, EXIT_CONFLICT = 1, 3
EPILOG = "exit codes: 0 done, 1 refused by the gates, 2 bad usage / not found, 3 conflict"


def register(subparsers: argparse._SubParsersAction) -> None:
    model = subparsers.add_parser(
        "model", help="registered models: register, promote (gated), rollback, serve", epilog=EPILOG
    )
    sub = model.add_subparsers(dest="action", metavar="ACTION", required=True)

    reg = sub.add_parser("register", help="register a run's logged model as a new version")
    reg.add_argument("run_id", metavar="RUN_ID")
    reg.add_argument("--name", required=True, help="registered model name")
    reg.add_argument("--model", help="which logged model, when the run logged several")
    reg.add_argument("--alias", help="also point this alias at it (e.g. challenger; not champion)")
    reg.add_argument("--json", action="store_true")
    reg.set_defaults(func=_register)

    pro = sub.add_parser("promote", help="move an alias to a version (champion: gates first)", epilog=EPILOG)
    pro.add_argument("name")
    pro.add_argument("--version", "-v", required=True)
    pro.add_argument("--to", default="champion", help="alias (default champion)")
    pro.add_argument("--force", action="store_true", help="promote even if gates fail (needs --reason; audited)")
    pro.add_argument("--reason", help="why (required with --force)")
    pro.add_argument("--gates", help="gate file (default: gates/NAME.toml|yaml, else the default gate)")
    pro.add_argument("--expect-champion", metavar="V", help="conflict (exit 3) unless the champion is version V now")
    pro.add_argument("--json", action="store_true")
    pro.set_defaults(func=_promote)

    st = sub.add_parser("status", help="champion, challenger, versions, gate results, history, lineage")
    st.add_argument("name")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=_status, read_only=True)

    rb = sub.add_parser("rollback", help="champion back to the previous champion (audited)")
    rb.add_argument("name")
    rb.add_argument("--reason")
    rb.add_argument("--json", action="store_true")
    rb.set_defaults(func=_rollback)

    sv = sub.add_parser(
        "serve",
        help="scoring endpoint for NAME@ALIAS or NAME/VERSION (foreground; swaps when the alias moves)",
        description="MLflow's scoring protocol (/invocations, /ping, /health, /version) in this process. "
        "An alias is followed: when it moves, the new version takes over without dropping a request. "
        "Every request is kept in the inference log (snapshots NAME-inference).",
    )
    sv.add_argument("ref", metavar="REF")
    sv.add_argument("--port", "-p", type=_port, default=5001, help="port (default 5001; 0: a free one)")
    sv.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    sv.add_argument(
        "--follow", type=_seconds, default=2.0, metavar="SECONDS", help="how often to check the alias (default 2)"
    )
    sv.add_argument("--no-follow", action="store_true", help="keep the version the alias points at now")
    sv.add_argument("--shadow", metavar="ALIAS", help="also score each request with this alias (e.g. challenger)")
    sv.add_argument("--no-log", action="store_true", help="do not keep the inference log")
    sv.add_argument("--log-rows", type=_count, default=1000, help="rows per inference-log snapshot (default 1000)")
    sv.add_argument("--log-seconds", type=_log_seconds, default=10.0, help="flush the log at least this often (10)")
    sv.set_defaults(func=_serve)

    lb = sub.add_parser("label", help="ground truth for served requests (joined to the inference log by request id)")
    lb.add_argument("name")
    lb.add_argument("file", metavar="FILE", help="CSV or JSON lines with request_id, label (and row)")
    lb.add_argument("--json", action="store_true")
    lb.set_defaults(func=_label)

    ls = sub.add_parser("list", help="registered models and their champions")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list, read_only=True)


def _register(args: argparse.Namespace) -> int:
    from ..registry import register as reg

    v = reg(args.run_id, args.name, model=args.model, alias=args.alias)
    if args.json:
        print_json(v.to_dict())
    else:
        print(f"registered {v}")
    return 0


def _promote(args: argparse.Namespace) -> int:
    from ..registry import ConflictError, promote
    from ..registry.promotion import GateRefusedError

    try:
        res = promote(
            args.name,
            args.version,
            to=args.to,
            force=args.force,
            reason=args.reason,
            gates=args.gates,
            expect_champion=args.expect_champion,
        )
    except GateRefusedError as exc:
        if args.json:
            print_json(exc.result.to_dict())
        print(f"aieng: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except ConflictError as exc:
        print(f"aieng: {exc}", file=sys.stderr)
        return EXIT_CONFLICT
    if args.json:
        print_json(res.to_dict())
    else:
        print(res)
    return 0


def _settle() -> None:
    """A command completes or undoes the model moves a crash left open before it shows a champion."""
    from ..registry.intents import recover_all
    from ..workspace import current

    for line in recover_all(current()):
        print(f"aieng: recovered: {line}", file=sys.stderr)


def _status(args: argparse.Namespace) -> int:
    from ..registry import status

    _settle()
    st = status(args.name)
    if args.json:
        print_json(st.to_dict())
    else:
        print(st)
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from ..registry import ConflictError, rollback

    try:
        move = rollback(args.name, reason=args.reason)
    except ConflictError as exc:
        print(f"aieng: {exc}", file=sys.stderr)
        return EXIT_CONFLICT
    if args.json:
        print_json(move.to_dict())
    else:
        print(move.summary())
    return 0


def _seconds(text: str, what: str = "follow interval") -> float:
    from ..serving.endpoint import check_interval

    try:
        value = check_interval(text, what)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    assert value is not None
    return value


def _log_seconds(text: str) -> float:
    return _seconds(text, "log flush interval")


def _count(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a whole number >= 1, got {text!r}")
    return int(text)


def _port(text: str) -> int:
    if not text.strip().isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"a port 0-65535, got {text!r}")
    return int(text)


def _serve(args: argparse.Namespace) -> int:
    import signal

    from ..serving.endpoint import serve

    server = serve(
        args.ref,
        port=args.port,
        host=args.host,
        follow=None if args.no_follow else args.follow,
        shadow=args.shadow,
        log=not args.no_log,
        flush_rows=args.log_rows,
        flush_seconds=args.log_seconds,
    )

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    server.on_swap = lambda before, after: print(server.swapped(before, after), flush=True)
    server.on_error = lambda line: print(f"aieng: warning: {line} (still serving v{server.version})", file=sys.stderr)
    print(f"{server}  (Ctrl-C stops)", flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        server.stop()
    if server.log is not None:
        print(f"inference log: {server.log.rows_written} rows in {server.log.snapshot_name}", flush=True)
    return 0


def _label(args: argparse.Namespace) -> int:
    from ..serving.inference import read_labels

    stored = read_labels(args.name, args.file)
    if args.json:
        print_json({"name": args.name, "labels": stored})
    else:
        print(f"{stored} labels stored for {args.name} (joined to its inference log by request id)")
    return 0


def _list(args: argparse.Namespace) -> int:
    from ..registry.status_view import list_models

    _settle()
    models = list_models()
    if args.json:
        print_json(models.to_dicts())
    else:
        print(models)
    return 0
