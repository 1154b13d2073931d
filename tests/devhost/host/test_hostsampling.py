"""host.json samplingSettings for the host's own rows (azure-functions-host
Config/ApplicationInsightsLoggerOptionsSetup.cs), Durable V2 rows never sampled
(DurableTask.ApplicationInsights DurableTelemetryModule; TelemetryActivator
.SetupTelemetryConfiguration adds no sampling processor)."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from devhost.host.sampling import AdaptiveEstimator, HostSampler, SamplingSettings
from devhost.host.telemetry import HostEnvelopeExporter
from devhost.insights.ingest import IngestionServer
from devhost.insights.query import run_kql


def test_settings_as_the_host_reads_them() -> None:
    """ApplicationInsightsLoggerOptionsSetup.Configure / ApplySamplingSettings: on by
    default at 20 items/s; isEnabled false turns it off; excluded/included types."""
    default = SamplingSettings.from_host_json({"version": "2.0"})
    assert default.enabled and default.max_items_per_second == 20
    off = SamplingSettings.from_host_json(
        {"logging": {"applicationInsights": {"samplingSettings": {"isEnabled": False}}}})
    assert not off.enabled and not off.applies_to("Request")
    excluded = SamplingSettings.from_host_json({"Logging": {"ApplicationInsights": {
        "SamplingSettings": {"ExcludedTypes": "Request;Exception",
                             "maxTelemetryItemsPerSecond": 5,
                             "evaluationInterval": "01:00:00"}}}})
    assert not excluded.applies_to("request") and excluded.applies_to("Dependency")
    assert excluded.max_items_per_second == 5 and excluded.evaluation_interval == 3600
    with pytest.raises(ValueError, match="maxTelemetryItemsPerSecond"):
        SamplingSettings.from_host_json({"logging": {"applicationInsights": {
            "samplingSettings": {"maxTelemetryItemsPerSecond": "lots"}}}})


def test_repo_host_json_keeps_adaptive_sampling_on() -> None:
    settings = SamplingSettings.from_app_dir(Path(__file__).resolve().parents[3])
    assert settings.enabled


def test_adaptive_estimator_drops_to_a_100_over_n_percentage() -> None:
    """SamplingPercentageEstimatorTelemetryProcessor: over the max rate, the percentage falls
    (after the decrease timeout) to a 100/n value; it never rises before the increase
    timeout."""
    now = [0.0]
    settings = SamplingSettings(max_items_per_second=10, evaluation_interval=1.0,
                                decrease_timeout=0.0)
    estimator = AdaptiveEstimator(settings, clock=lambda: now[0])
    for _ in range(100):  # 100 items within one second: 10x the budget
        now[0] += 0.01
        estimator.observe()
    assert estimator.percentage == 10.0
    now[0] += 5.0
    estimator.observe()  # quiet now, but increases wait 15 minutes
    assert estimator.percentage == 10.0


def test_host_rows_sampled_whole_operations_and_durable_rows_never(tmp_path: Path) -> None:
    """Kept request rows carry the rate, so local insights' itemCount is 100/percentage;
    V2 rows (durabletask.type) are all kept with itemCount 1."""
    settings = SamplingSettings(initial_percentage=25)
    with IngestionServer(tmp_path / "insights.duckdb") as server:
        provider = TracerProvider(sampler=HostSampler(settings))
        provider.add_span_processor(SimpleSpanProcessor(
            HostEnvelopeExporter.create(server.connection_string, provider)))
        tracer = provider.get_tracer("test")
        for i in range(200):
            with tracer.start_as_current_span("start", kind=SpanKind.SERVER,
                                              attributes={"HttpMethod": "POST"}):
                tracer.start_span(f"orchestration:o{i}", kind=SpanKind.SERVER,
                                  attributes={"durabletask.type": "orchestration"}).end()
        provider.shutdown()
    _, http_rows = run_kql(server.store.path, 'requests | where name == "start" '
                                              "| summarize n = count() by itemCount")
    _, durable = run_kql(server.store.path, 'requests | where name startswith "orchestration:" '
                                            "| summarize n = count() by itemCount")
    assert durable == [(1, 200)]
    [(item_count, kept)] = http_rows
    assert item_count == 4 and 20 <= kept <= 80
