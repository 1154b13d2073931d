"""The Functions host's sampling of its own rows: host.json
`logging.applicationInsights.samplingSettings`.

Read as azure-functions-host reads it (`Config/ApplicationInsightsLoggerOptionsSetup.cs`):
adaptive sampling is on unless `isEnabled` is false, `maxTelemetryItemsPerSecond` defaults to
20 (the host's own default, not the SDK's 5), and `excludedTypes` / `includedTypes` are
semicolon lists of telemetry types. The estimator follows the App Insights SDK's
SamplingPercentageEstimatorSettings (initial 100 %, min 0.1 %, max 100 %, evaluated every 15 s
over a moving average, decreases after 2 s, increases after 15 min) and keeps a whole
operation or none of it: the decision is the SDK's score of the operation id, the same
function the Python exporter's ApplicationInsightsSampler uses.

Durable tracing V2 rows are not sampled here: the Durable extension sends them through a
TelemetryConfiguration of its own (TelemetryActivator.SetupTelemetryConfiguration), which has
no sampling processor, and its listener records AllData (DurableTelemetryModule).
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from azure.monitor.opentelemetry.exporter.export.trace._utils import (  # same score as the SDKs
    _get_DJB2_sample_score,
)
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, format_trace_id, get_current_span
from opentelemetry.util.types import Attributes

from devhost.dotnet.timespan import parse_timespan

SAMPLE_RATE = "_MS.sampleRate"  # what the Azure Monitor exporter turns into sampleRate
DURABLE_TYPE = "durabletask.type"
def _timespan(value: Any, default: float) -> float:
    if value is None:
        return default
    interval = parse_timespan(str(value))
    if interval is None:
        raise ValueError(f"not a TimeSpan (d.hh:mm:ss): {value!r}")
    return interval.total_seconds()


def _types(value: Any) -> frozenset[str]:
    return frozenset(t.strip().lower() for t in str(value or "").split(";") if t.strip())


@dataclass(frozen=True)
class SamplingSettings:
    enabled: bool = True
    max_items_per_second: float = 20.0
    initial_percentage: float = 100.0
    min_percentage: float = 0.1
    max_percentage: float = 100.0
    evaluation_interval: float = 15.0
    decrease_timeout: float = 2.0
    increase_timeout: float = 900.0
    moving_average_ratio: float = 0.25
    excluded: frozenset[str] = frozenset()
    included: frozenset[str] = frozenset()

    @classmethod
    def from_host_json(cls, document: dict[str, Any]) -> SamplingSettings:
        """Keys are matched case-insensitively, as .NET configuration binds them."""
        def child(node: Any, key: str) -> Any:
            if not isinstance(node, dict):
                return None
            return next((v for k, v in node.items() if str(k).lower() == key.lower()), None)

        raw = child(child(child(document, "logging"), "applicationInsights"),
                    "samplingSettings")
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise ValueError("host.json logging.applicationInsights.samplingSettings must be "
                             "an object")

        def number(key: str, default: float) -> float:
            value = child(raw, key)
            try:
                return default if value is None else float(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"samplingSettings.{key} must be a number") from exc

        enabled = child(raw, "isEnabled")
        return cls(
            enabled=True if enabled is None else str(enabled).lower() == "true",
            max_items_per_second=number("maxTelemetryItemsPerSecond", 20.0),
            initial_percentage=number("initialSamplingPercentage", 100.0),
            min_percentage=number("minSamplingPercentage", 0.1),
            max_percentage=number("maxSamplingPercentage", 100.0),
            evaluation_interval=_timespan(child(raw, "evaluationInterval"), 15.0),
            decrease_timeout=_timespan(child(raw, "samplingPercentageDecreaseTimeout"), 2.0),
            increase_timeout=_timespan(child(raw, "samplingPercentageIncreaseTimeout"), 900.0),
            moving_average_ratio=number("movingAverageRatio", 0.25),
            excluded=_types(child(raw, "excludedTypes")),
            included=_types(child(raw, "includedTypes")),
        )

    @classmethod
    def from_app_dir(cls, app_dir: Path) -> SamplingSettings:
        path = app_dir / "host.json"
        return cls.from_host_json(json.loads(path.read_text())) if path.is_file() else cls()

    def applies_to(self, item_type: str) -> bool:
        """AdaptiveSamplingTelemetryProcessor: excluded types are never sampled; with an
        included list, only those are."""
        kind = item_type.lower()
        if not self.enabled or kind in self.excluded:
            return False
        return not self.included or kind in self.included


def _round(percentage: float) -> float:
    """The SDK only uses 100/n percentages, so every kept item stands for n."""
    if percentage >= 100.0:
        return 100.0
    return 100.0 / math.ceil(100.0 / max(percentage, 1e-6))


class AdaptiveEstimator:
    """SamplingPercentageEstimatorTelemetryProcessor, reduced to what a local host needs."""

    def __init__(self, settings: SamplingSettings, clock: Any = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self.percentage = _round(min(settings.initial_percentage, settings.max_percentage))
        self._window_start = clock()
        self._count = 0
        self._average: float | None = None
        self._changed = clock()

    def observe(self) -> float:
        """Count one item (before sampling) and return the percentage to apply to it."""
        with self._lock:
            self._count += 1
            now = self._clock()
            elapsed = now - self._window_start
            if elapsed >= self.settings.evaluation_interval and elapsed > 0:
                self._evaluate(self._count / elapsed, now)
                self._window_start, self._count = now, 0
            return self.percentage

    def _evaluate(self, rate: float, now: float) -> None:
        ratio = self.settings.moving_average_ratio
        self._average = rate if self._average is None else (
            self._average * (1 - ratio) + rate * ratio)
        if self._average <= 0:
            return
        suggested = self.settings.max_items_per_second * 100.0 / self._average
        suggested = _round(min(max(suggested, self.settings.min_percentage),
                               self.settings.max_percentage))
        waited = now - self._changed
        if (suggested < self.percentage and waited >= self.settings.decrease_timeout) or (
                suggested > self.percentage and waited >= self.settings.increase_timeout):
            self.percentage = suggested
            self._changed = now


def keeps(operation_id: str, percentage: float) -> bool:
    """SamplingScoreGenerator: an item is kept when its operation's score is below the
    percentage, so a whole operation is kept or dropped; an item outside any operation is
    scored at random, as the SDK does."""
    if percentage >= 100.0:
        return True
    if not operation_id:
        return random.random() * 100.0 < percentage
    return _get_DJB2_sample_score(operation_id.lower()) * 100.0 < percentage


class HostSampler(Sampler):
    """The sampler of the host's own provider: its request rows by host.json, Durable V2
    spans always (they are another pipeline's)."""

    def __init__(self, settings: SamplingSettings,
                 estimator: AdaptiveEstimator | None = None) -> None:
        self.settings = settings
        # One estimator per TelemetryConfiguration: the host's rows and its logs share it.
        self.estimator = estimator or AdaptiveEstimator(settings)

    def should_sample(self, parent_context: Context | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Attributes = None,
                      links: Sequence[Link] | None = None, trace_state: Any = None
                      ) -> SamplingResult:
        state = get_current_span(parent_context).get_span_context().trace_state
        if attributes and DURABLE_TYPE in attributes:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, state)
        item_type = "Request" if kind in (SpanKind.SERVER, SpanKind.CONSUMER) else "Dependency"
        if not self.settings.applies_to(item_type):
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, state)
        percentage = self.estimator.observe()
        if not keeps(format_trace_id(trace_id), percentage):
            return SamplingResult(Decision.DROP, None, state)
        return SamplingResult(Decision.RECORD_AND_SAMPLE,
                              {**(attributes or {}), SAMPLE_RATE: percentage}, state)

    def get_description(self) -> str:
        return f"HostSampler(adaptive={self.settings.enabled})"
