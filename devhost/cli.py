"""`python -m devhost …`: the local stand-in for `func start` and the Durable extension."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .durable.engine import DurableError
from .functions.app import AppLoadError
from .functions.settings import SettingsError
from .runtime import HostConfig, flush_telemetry, load, run_sync


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--app", default="function_app", help="app module (default: function_app)")
    parser.add_argument("--app-dir", type=Path, default=Path("."), help="folder of the app")
    parser.add_argument("--data-dir", type=Path, default=Path(".devhost"),
                        help="durable store and local telemetry (default: .devhost)")


def _cmd_run(args: argparse.Namespace) -> int:
    if args.input is not None:
        try:
            json.loads(args.input)
        except json.JSONDecodeError as exc:
            print(json.dumps({"error": f"--input is not valid JSON: {exc}", "field": "input"}),
                  file=sys.stderr)
            return 2
    index, engine = load(HostConfig(args.app, args.app_dir, args.data_dir))
    try:
        status = run_sync(engine, args.orchestrator, args.input, args.instance_id, args.timeout)
    finally:
        flush_telemetry()
    print(json.dumps(status, indent=2))
    return 0 if status["runtimeStatus"] == "Completed" else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one orchestration to completion and print its status")
    run.add_argument("orchestrator")
    run.add_argument("--input", help="orchestration input as JSON")
    run.add_argument("--instance-id", help="instance id (default: a new GUID)")
    run.add_argument("--timeout", type=float, default=120.0, help="seconds to wait")
    _common(run)
    run.set_defaults(handler=_cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (AppLoadError, SettingsError, DurableError) as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 2
