"""Wire the parts devhost stands in for, as `func start` does: settings → local insights →
workers (which index the app) → the extensions (the Durable engine on its store, timers) →
the host's HTTP server. The host (devhost/host/) knows no extension: this is the one place
that names them, as Core Tools' extension bundle decides which extensions the host loads."""

from __future__ import annotations

import asyncio
import atexit
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from devhost.durable.engine import Engine, EngineOptions
from devhost.durable.extension import DurableExtension
from devhost.durable.store import Store
from devhost.durable.taskhub import task_hub_name
from devhost.durable.tracing import tracing_v2_enabled
from devhost.durable.versioning import overrides_any_state, versioning_from
from devhost.host.app import AppIndex
from devhost.host.connectionstring import ingestion_endpoint
from devhost.host.exporternotes import explain_missing_region
from devhost.host.extensions import Extension
from devhost.host.inprocess import LocalWorkers
from devhost.host.logs import HostLogs, configure_log_levels
from devhost.host.loopback import is_loopback_url
from devhost.host.processes import ProcessWorkers
from devhost.host.server import HostServer
from devhost.host.settings import (
    apply_local_settings,
    read_host_json,
    set_aside_unusable_telemetry_setting,
)
from devhost.host.telemetry import (
    OPEN_TELEMETRY,
    configure_sampling,
    configure_telemetry_mode,
    host_connection_string,
    offline_if_loopback,
    telemetry_mode,
)
from devhost.insights.ingest import IngestionServer, connection_string
from devhost.insights.remote import portal_url
from devhost.insights.serving import server_of
from devhost.timers.extension import TimerExtension


@dataclass
class HostConfig:
    app_module: str = "function_app"
    app_dir: Path = Path(".")
    data_dir: Path = Path(".devhost")
    local_insights: bool = True
    # False: the worker's dispatcher and azure_functions_runtime run in this process (same
    # messages, no process and no socket) — for benchmarks and tests that read telemetry
    # in memory. True: worker processes over gRPC, like the Functions host.
    worker_processes: bool = True
    # The Executing/Executed console line of every invocation (`devhost start --quiet`: off).
    console_invocations: bool = True


def durable_options(app_dir: Path) -> EngineOptions:
    """Concurrency and hub name from host.json, as the Durable extension reads them: the hub
    name's `%SETTING%` tokens resolve from the app settings (applied to the environment)."""
    durable: dict[str, Any] = read_host_json(app_dir).get("extensions", {}).get(
        "durableTask", {})
    return EngineOptions(
        max_concurrent_activities=int(durable.get("maxConcurrentActivityFunctions", 10)),
        max_concurrent_orchestrations=int(durable.get("maxConcurrentOrchestratorFunctions", 10)),
        max_entity_operation_batch_size=int(durable.get("maxEntityOperationBatchSize", 5000)),
        task_hub=task_hub_name(durable.get("hubName"), os.environ),
        tracing_v2=tracing_v2_enabled(durable),
        trace_replay_events=_flag(durable, "traceReplayEvents"),
        trace_inputs_and_outputs=_flag(durable, "traceInputsAndOutputs"),
        versioning=versioning_from(durable),
        override_any_state=overrides_any_state(durable),
    )


def _flag(durable: dict[str, Any], name: str) -> bool:
    """extensions.durableTask.tracing.<name>, bound as .NET configuration binds a bool
    (keys in any case; both default to false)."""
    tracing = next((v for k, v in durable.items() if k.lower() == "tracing"), None)
    if not isinstance(tracing, dict):
        return False
    value = next((v for k, v in tracing.items() if k.lower() == name.lower()), False)
    return str(value).lower() == "true"


_LOCAL_INSIGHTS: list[IngestionServer] = []
_LOCAL_DB: list[Path] = []


def local_insights(data_dir: Path, workbooks: Path | None = None) -> IngestionServer | None:
    """Stand in for Application Insights unless the user configured a telemetry backend:
    then their connection string / OTLP endpoint is left exactly as it is.

    One process writes a database: when a devhost already serves this one (`devhost start`
    in another shell), this process posts its telemetry there instead of opening the file.
    The portal of the server shows the workbooks in `workbooks` (the app's `dashboards/`)."""
    if _LOCAL_DB:
        return _LOCAL_INSIGHTS[0] if _LOCAL_INSIGHTS else None
    if os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip() or \
            os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
        return None
    db = data_dir / "insights.duckdb"
    serving_url = server_of(db)
    if serving_url is not None:
        os.environ["APPLICATIONINSIGHTS_CONNECTION_STRING"] = connection_string(db, serving_url)
        offline_if_loopback(os.environ["APPLICATIONINSIGHTS_CONNECTION_STRING"])
        _LOCAL_DB.append(db)
        return None
    server = IngestionServer(db).__enter__()
    server.portal.workbooks = workbooks
    server.flushers.append(lambda: flush_telemetry(5_000))  # `insights run` from elsewhere
    atexit.register(_close_at_exit, server)  # runs before the store's own close: LIFO
    os.environ["APPLICATIONINSIGHTS_CONNECTION_STRING"] = server.connection_string
    offline_if_loopback(server.connection_string)  # before the workers inherit the environment
    _LOCAL_INSIGHTS.append(server)
    _LOCAL_DB.append(db)
    return server


def _close_at_exit(server: IngestionServer) -> None:
    """What this process's exporters still hold is posted before the endpoint closes: their
    own exit hooks run after this one, and would find nobody listening."""
    try:
        flush_telemetry(5_000)
    finally:
        server.close()


def local_insights_db() -> Path | None:
    """Where this process's telemetry is filed locally, if it is."""
    return _LOCAL_DB[0] if _LOCAL_DB else None


def link_portal(functions_port: int) -> None:
    """The portal links each instance to its status and history in the management API of
    the host serving on `functions_port` (by its loopback address, whatever `--host` binds)."""
    if _LOCAL_INSIGHTS:
        _LOCAL_INSIGHTS[0].portal.management_url = (
            f"http://127.0.0.1:{functions_port}/runtime/webhooks/durabletask")


def portal_of_this_process() -> str | None:
    """The portal that shows this process's telemetry: its own, or that of the devhost
    serving the same database."""
    if _LOCAL_INSIGHTS:
        return _LOCAL_INSIGHTS[0].portal_url
    db = local_insights_db()
    url = server_of(db) if db is not None else None
    return portal_url(url) if url is not None else None


def telemetry_destination() -> str:
    """The banner's line on where the run's telemetry goes, and how to look at a run."""
    db = local_insights_db()
    if db is not None:
        portal = portal_of_this_process()
        return (f"Telemetry: local Application Insights, {db}\n"
                + (f"  portal: {portal}  (loopback only)\n" if portal else "")
                + "  see a run: python -m devhost insights run <instanceId>   "
                "query: python -m devhost insights query '<KQL>'")
    if os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip():
        return "Telemetry: your Application Insights (APPLICATIONINSIGHTS_CONNECTION_STRING)"
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
        endpoint = os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"].strip()
        if telemetry_mode() == OPEN_TELEMETRY:
            return (f"Telemetry: OTLP at {endpoint} (the app's, and the host's requests, "
                    "Durable spans and logs: telemetryMode OpenTelemetry)")
        return (f"Telemetry: OTLP at {endpoint}, the app's only (the host exports over OTLP "
                "only with host.json telemetryMode OpenTelemetry)")
    return "Telemetry: not captured (no connection string, no OTLP endpoint)"


def script_file(app_module: str) -> str:
    """`--app` names the script the worker indexes (PYTHON_SCRIPT_FILE_NAME on Azure)."""
    return app_module if app_module.endswith(".py") else app_module + ".py"


def load_app(app_module: str = "function_app", app_dir: Path = Path("."), *,
             worker_processes: bool = True, count: int | None = None,
             console_invocations: bool = True,
             worker_env: dict[str, str] | None = None) -> AppIndex:
    """Start the worker(s) on the app and return what they indexed. The index's `worker`
    is how the host invokes; `index.workers.stop()` ends the processes. `worker_env`: settings
    the worker processes get on top of this process's environment."""
    script = script_file(app_module)
    if not worker_processes:
        return LocalWorkers.for_app(app_dir, script).index
    return ProcessWorkers(app_dir, HostLogs(invocations=console_invocations), count=count,
                          script_file=script, worker_env=worker_env).start()


def exporter_storage_in(data_dir: Path) -> None:
    """With a loopback ingestion endpoint, the temp folder of this process and of the workers
    it starts is `<data dir>/tmp`. The Azure Monitor exporter keeps batches it could not send
    under the temp folder (`Microsoft-AzureMonitor-<hash>/opentelemetry-python-<key>`,
    azure-monitor-opentelemetry-exporter export/_base.py _get_storage_directory) and resends
    them from the next exporter with that key: for a local endpoint that is this data folder's
    business, and a fresh key per folder would otherwise leave one folder in /tmp per run.
    An app's exporter has no setting for it but the temp folder; a restart on the same data
    folder still delivers what was held. A real endpoint keeps the system's temp folder."""
    endpoint = ingestion_endpoint(host_connection_string())
    if endpoint is None or not is_loopback_url(endpoint):
        return
    folder = (data_dir / "tmp").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["TMPDIR"] = str(folder)  # the workers inherit it
    tempfile.tempdir = None  # this process's exporters: gettempdir() reads TMPDIR again


def load(config: HostConfig) -> tuple[AppIndex, Engine]:
    """Apply settings, point telemetry at local insights, start the worker(s), which
    import and index the app, then build the engine on the durable store."""
    app_dir = config.app_dir.resolve()
    read_host_json(app_dir)  # a host.json the host cannot parse stops it first, naming it
    applied = apply_local_settings(app_dir)
    unusable, worker_env = set_aside_unusable_telemetry_setting(app_dir, applied,
                                                                config.local_insights)
    if unusable:
        print(unusable, file=sys.stderr, flush=True)
    os.environ.setdefault("FUNCTIONS_WORKER_RUNTIME", "python")
    if config.local_insights:
        local_insights(config.data_dir, app_dir / "dashboards")
    exporter_storage_in(config.data_dir)
    explain_missing_region(host_connection_string())
    options = durable_options(app_dir)  # a host.json the host refuses stops it here
    configure_sampling(app_dir)
    configure_log_levels(app_dir)
    configure_telemetry_mode(app_dir)
    index = load_app(config.app_module, app_dir, worker_processes=config.worker_processes,
                     console_invocations=config.console_invocations, worker_env=worker_env)
    store = Store(config.data_dir / "durable.sqlite")
    return index, Engine(index, store, options)


def extensions(index: AppIndex, engine: Engine, data_dir: Path | None = None
               ) -> list[Extension]:
    """The extensions the host runs the app with, in start order: Durable (its engine on its
    store), then timers, whose listeners may bind a durable client. Timer schedule status
    goes under `data_dir` (default: the durable store's folder)."""
    return [DurableExtension(engine),
            TimerExtension(index, data_dir or engine.store.path.parent)]


def host_server(index: AppIndex, engine: Engine, host: str = "127.0.0.1", port: int = 7071,
                *, data_dir: Path | None = None,
                extra_routes: list[Callable[[web.Application], None]] | None = None
                ) -> HostServer:
    """The Functions host serving the app's functions with devhost's extensions."""
    return HostServer(index, extensions(index, engine, data_dir), host, port,
                      extra_routes=list(extra_routes or []))


def stop_workers(index: AppIndex) -> None:
    """End the worker processes (in-process workers live as long as the process)."""
    if index.served:
        index.workers.stop()


def flush_telemetry(timeout_ms: int = 10_000) -> None:
    """Export what the app's providers still buffer, like the worker does on shutdown."""
    from devhost.host.logs import flush as flush_host_logs
    from devhost.host.telemetry import flush as flush_host
    from devhost.worker.flush import flush_providers

    flush_host(timeout_ms)
    flush_host_logs(timeout_ms)
    flush_providers(timeout_ms)


async def run_orchestration(engine: Engine, name: str, input_json: str | None,
                            instance_id: str | None, timeout: float) -> dict[str, Any]:
    await engine.start()
    try:
        iid = engine.start_new(name, instance_id, input_json)
        await engine.wait(iid, timeout)
        status = engine.status(iid)
        assert status is not None
        return status
    finally:
        await engine.stop()


def run_sync(engine: Engine, name: str, input_json: str | None = None,
             instance_id: str | None = None, timeout: float = 60.0) -> dict[str, Any]:
    return asyncio.run(run_orchestration(engine, name, input_json, instance_id, timeout))
