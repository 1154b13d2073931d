"""`python -m devhost insights …`: query the captured tables and look at a run."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import NoReturn

from devhost.insights.errors import QueryError, StoreBusyError
from devhost.insights.parameters import ParameterError, parse_assignments, substitute, unset
from devhost.insights.query import run_kql
from devhost.insights.remote import portal_url, remote_flush
from devhost.insights.serving import server_of
from devhost.insights.view import Node, load_run, render_html, render_text

DEFAULT_DB = Path(".devhost/insights.duckdb")


class JsonErrorParser(argparse.ArgumentParser):
    """argparse with devhost's answer to a mistake: one JSON line naming the flag or argument
    (argparse's own is a usage block and a sentence), exit 2. Subcommands inherit it. It
    lives here, the lowest layer with a command line, so `devhost insights` (which imports
    nothing of the host) and the other commands (devhost.cli) answer alike."""

    def error(self, message: str) -> NoReturn:
        named = re.search(r"argument (?:-{1,2})?([\w-]+)|required: (?:-{1,2})?([\w-]+)"
                          r"|unrecognized arguments: (?:-{1,2})?([\w-]+)", message)
        field = next((g for g in named.groups() if g), None) if named else None
        print(json.dumps({"error": f"{self.prog}: {message} (see {self.prog} --help)",
                          **({"field": field.replace("-", "_")} if field else {})}),
              file=sys.stderr)
        sys.exit(2)


def _kql_text(given: str) -> str:
    """The query itself, or the `.kql` file it names (a workbook's query saved as a file)."""
    path = Path(given)
    if given.endswith(".kql") and "\n" not in given:
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise QueryError(f"cannot read {given}: {exc.strerror}", "kql") from exc
    return given


def _query(args: argparse.Namespace) -> int:
    try:
        kql = substitute(_kql_text(args.kql), parse_assignments(args.param))
    except (ParameterError, QueryError) as exc:
        print(json.dumps({"error": str(exc), "field": exc.field}), file=sys.stderr)
        return 2
    try:
        columns, rows = run_kql(args.db, kql)
    except (QueryError, FileNotFoundError, StoreBusyError) as exc:
        field = {"field": exc.field} if isinstance(exc, QueryError) and exc.field else {}
        message = str(exc)
        if isinstance(exc, QueryError) and unset(kql):
            names = ", ".join("{" + n + "}" for n in unset(kql))
            message += (f" (the query names workbook parameters with no value: {names}; "
                        "pass --param NAME=VALUE)")
        print(json.dumps({"error": message, **field}), file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str,
                         indent=2))
    else:
        widths = [max([len(c)] + [len(str(r[i])) for r in rows]) for i, c in enumerate(columns)]
        print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
        for row in rows:
            print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
    return 0


def _run(args: argparse.Namespace) -> int:
    try:
        roots, waited = _wait_for_run(args.db, args.instance_id)
    except (QueryError, FileNotFoundError, StoreBusyError) as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 2
    if not roots:
        after = (" (the devhost serving the database posted what its host held, and the "
                 "app's exporter schedule passed once)") if waited else ""
        after += ("; rows name an instance only through Durable distributed tracing V2 "
                  "(host.json extensions.durableTask.tracing) or the app's own spans")
        print(json.dumps({"error": f"no telemetry for instance {args.instance_id!r}{after}",
                          "field": "instanceId"}), file=sys.stderr)
        return 1
    print(render_text(roots))
    if args.html:
        args.html.write_text(render_html(roots, f"Run {args.instance_id}"), encoding="utf-8")
        print(f"\nwaterfall written to {args.html}")
    return 0


def _wait_for_run(db: Path, instance_id: str) -> tuple[list[Node], bool]:
    """The run's rows once those still in flight have landed. A devhost serving the database
    batches its host's rows (the OpenTelemetry batch processors post every 5 s): it is asked
    to post what it holds and answers when they are filed. The app's own rows leave its
    worker processes on their exporter's schedule, so a run with none yet is looked for
    again until that schedule has passed once (OTEL_BSP_SCHEDULE_DELAY, 5 s by default).
    Returns the tree and whether it waited."""
    url = server_of(db)
    if url is None:  # nobody writes the file now: what it holds is all there is
        return load_run(db, instance_id), False
    try:
        remote_flush(url)
    except OSError:
        return load_run(db, instance_id), False
    deadline = time.monotonic() + _schedule_delay_s()
    while not (roots := load_run(db, instance_id)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return roots, True


def _schedule_delay_s() -> float:
    try:
        return float(os.environ.get("OTEL_BSP_SCHEDULE_DELAY", "5000")) / 1000
    except ValueError:
        return 5.0


def _open(args: argparse.Namespace) -> int:
    url = server_of(args.db)
    if url is None:
        print(json.dumps({"error": f"no devhost serves {args.db}: the portal runs with "
                          "`devhost start` (same --data-dir)", "field": "db"}), file=sys.stderr)
        return 1
    print(portal_url(url))
    if args.browser:
        import webbrowser

        webbrowser.open(portal_url(url))
    return 0


def register(subparsers: argparse._SubParsersAction[JsonErrorParser]) -> None:
    insights = subparsers.add_parser("insights", help="local Application Insights tables")
    sub = insights.add_subparsers(dest="insights_command", required=True)
    query = sub.add_parser("query", help="run KQL over the captured tables")
    query.add_argument("kql", help="the query, or a path to a .kql file")
    query.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                       help="a workbook parameter, substituted as the workbook does "
                            "(repeatable; TimeRange takes a duration such as 1h)")
    query.add_argument("--db", type=Path, default=DEFAULT_DB)
    query.add_argument("--format", choices=["json", "table"], default="table")
    query.set_defaults(handler=_query)
    run = sub.add_parser("run", help="show one run: parent → children → activities")
    run.add_argument("instance_id")
    run.add_argument("--db", type=Path, default=DEFAULT_DB)
    run.add_argument("--html", type=Path, help="also write a self-contained waterfall page")
    run.set_defaults(handler=_run)
    portal = sub.add_parser("open", help="print the URL of the portal of the running devhost")
    portal.add_argument("--db", type=Path, default=DEFAULT_DB)
    portal.add_argument("--browser", action="store_true", help="also open it in a browser")
    portal.set_defaults(handler=_open)


def main(argv: list[str]) -> int:
    """`python -m devhost insights …` on its own: reading the tables needs none of the host,
    so this path skips importing it (about half of a query's wall time)."""
    parser = JsonErrorParser(prog="devhost")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["insights", *argv])
    return int(args.handler(args))
