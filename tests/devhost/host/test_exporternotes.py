"""The exporter's `Exporter is missing a valid region.` is said once on the host's console, with
what it means (devhost/host/exporternotes.py names the exporter's source). Said by the
exporter's own StatsbeatConfig.from_exporter, given what an exporter holds for an endpoint
without a region (building real exporters would also run `uname`: a process)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

# At collection: the exporter's first import runs `uname` (azure-identity asks platform).
from azure.monitor.opentelemetry.exporter._connection_string_parser import ConnectionStringParser
from azure.monitor.opentelemetry.exporter.statsbeat._manager import StatsbeatConfig

from devhost.host.exporternotes import (
    MISSING_REGION,
    STATSBEAT_LOGGER,
    RegionNote,
    explain_missing_region,
)

GLOBAL = "InstrumentationKey=00000000-0000-0000-0000-000000000001"  # no IngestionEndpoint


@pytest.fixture()
def statsbeat_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", raising=False)
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED", "true")  # no call out
    yield
    logger = logging.getLogger(STATSBEAT_LOGGER)
    for note in [f for f in logger.filters if isinstance(f, RegionNote)]:
        logger.removeFilter(note)


def test_the_region_warning_is_explained_once(statsbeat_on: None,
                                              caplog: pytest.LogCaptureFixture) -> None:
    parsed = ConnectionStringParser(GLOBAL)
    exporter = SimpleNamespace(_instrumentation_key=parsed.instrumentation_key,
                               _endpoint=parsed.endpoint, _region=parsed.region)
    assert explain_missing_region(GLOBAL) is not None
    with caplog.at_level(logging.WARNING, logger=STATSBEAT_LOGGER):
        for _ in ("spans", "logs"):  # the host's two exporters
            assert StatsbeatConfig.from_exporter(exporter) is None
    said = [r.getMessage() for r in caplog.records if r.name == STATSBEAT_LOGGER]
    assert len(said) == 1, said
    assert said[0].startswith(MISSING_REGION + " (azure-monitor-opentelemetry-exporter: "
                              "the ingestion endpoint https://dc.services.visualstudio.com "
                              "names no Azure region")


def test_no_note_for_a_loopback_or_regional_endpoint_that_needs_none() -> None:
    assert explain_missing_region(GLOBAL + ";IngestionEndpoint=http://127.0.0.1:9/") is None
    assert explain_missing_region("") is None
