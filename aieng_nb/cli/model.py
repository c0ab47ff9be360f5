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

    sv = sub.add_parser("serve", help="MLflow's scoring server for NAME@ALIAS or NAME/VERSION (foreground)")
    sv.add_argument("ref", metavar="REF")
    sv.add_argument("--port", "-p", type=int, default=5001)
    sv.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    sv.add_argument("--workers", "-w", type=int, default=1)
    sv.add_argument(
        "--follow",
        type=float,
        nargs="?",
        const=2.0,
        metavar="SECONDS",
        help="watch the alias (every 2 s) and restart with the new version when it moves",
    )
    sv.set_defaults(func=_serve)

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


def _status(args: argparse.Namespace) -> int:
    from ..registry import status

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


def _serve(args: argparse.Namespace) -> int:
    import signal

    from ..registry import serve

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the scoring server too (it runs in its own session)

    signal.signal(signal.SIGTERM, stop)
    server = serve(args.ref, port=args.port, host=args.host, workers=args.workers)
    print(f"{server}  (Ctrl-C stops; log {server.log_path})", flush=True)
    try:
        if args.follow:
            from ..registry.serving import follow

            follow(server, interval=args.follow, on_swap=lambda a, b: print(server.swapped(a, b), flush=True))
        else:
            server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0 if server.process.returncode in (0, None, -15) else 1


def _list(args: argparse.Namespace) -> int:
    from ..registry.status_view import list_models

    models = list_models()
    if args.json:
        print_json(models.to_dicts())
    else:
        print(models)
    return 0
