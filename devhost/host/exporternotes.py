"""A line the Azure Monitor exporter prints without context, explained once on the host's
console.

`Exporter is missing a valid region.` is azure-monitor-opentelemetry-exporter's
(1.0.0b58, `statsbeat/_manager.py` `StatsbeatConfig.from_exporter`, called from
`BaseExporter.__init__` through `collect_statsbeat_metrics` when statsbeat is on): the
region comes from the ingestion endpoint (`_connection_string_parser.py`
`_extract_region`, `https://<region>[-N].in.applicationinsights.azure.com`), so an
endpoint without one — the global `https://dc.services.visualstudio.com` that a connection
string holding only an InstrumentationKey falls back to, or a proxy — gives the warning once
per exporter (the host builds two: its spans and its logs), and that exporter sends no
statsbeat (its own usage metrics). The telemetry itself is sent as usual. With a loopback
endpoint devhost turns statsbeat off (telemetry.OFFLINE_SWITCHES), so the line never comes.
"""

from __future__ import annotations

import logging

from devhost.host.connectionstring import ingestion_endpoint
from devhost.host.loopback import is_loopback_url

STATSBEAT_LOGGER = "azure.monitor.opentelemetry.exporter.statsbeat._manager"
MISSING_REGION = "Exporter is missing a valid region."


class RegionNote(logging.Filter):
    """The first warning says what it means; the repeats (one per exporter) are dropped."""

    def __init__(self, endpoint: str) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.said = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() != MISSING_REGION:
            return True
        if self.said:
            return False
        self.said = True
        record.msg = (f"{MISSING_REGION} (azure-monitor-opentelemetry-exporter: the ingestion "
                      f"endpoint {self.endpoint} names no Azure region, so the exporter sends "
                      "no statsbeat, its own usage metrics; telemetry is sent as usual)")
        record.args = ()
        return True


def explain_missing_region(connection_string: str) -> RegionNote | None:
    """Install the note for the host's exporters of this connection string (None when the
    exporter would refuse it, or the endpoint is loopback: no statsbeat, no warning)."""
    endpoint = ingestion_endpoint(connection_string) if connection_string else None
    if endpoint is None or is_loopback_url(endpoint):
        return None
    logger = logging.getLogger(STATSBEAT_LOGGER)
    note = next((f for f in logger.filters if isinstance(f, RegionNote)), None)
    if note is None:
        note = RegionNote(endpoint)
        logger.addFilter(note)
    return note
