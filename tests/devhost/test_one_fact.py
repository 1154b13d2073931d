"""One infrastructure fact, one answer. The app (`telemetry/`) may not import devhost, so where
both need a fact each keeps a copy; these tests hold the copies to each other and to the
source they follow: the Azure Monitor exporter's own connection-string parser, the standard
library's idea of loopback, the exporter's names for its switches."""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.monitor.opentelemetry.exporter import _constants
from azure.monitor.opentelemetry.exporter._connection_string_parser import ConnectionStringParser

from devhost.host import connectionstring, loopback
from devhost.host import telemetry as host_telemetry
from devhost.insights.ingest import connection_string
from telemetry import config as app_config

IKEY = "00000000-0000-0000-0000-000000000001"
LIVE = "https://westeurope.livediagnostics.monitor.azure.com/"
CONNECTION_STRINGS = [
    f"InstrumentationKey={IKEY};IngestionEndpoint=http://127.0.0.1:9/",
    # As the portal gives it.
    f"InstrumentationKey={IKEY};IngestionEndpoint=https://westeurope-5.in.applicationinsights"
    f".azure.com/;LiveEndpoint={LIVE};ApplicationId=00000000-0000-0000-0000-00000000000a",
    # Keys in any case.
    f"instrumentationkey={IKEY};ingestionendpoint=http://localhost:9/",
    f"INSTRUMENTATIONKEY={IKEY};INGESTIONENDPOINT=https://example.invalid/",
    f"InstrumentationKey={IKEY};iNgEsTiOnEnDpOiNt=http://[::1]:9/",
    # Spaces: a key with a blank is another key (ignored); a value keeps its blanks.
    f"InstrumentationKey={IKEY}; IngestionEndpoint=http://127.0.0.1:9/",
    f"InstrumentationKey={IKEY};IngestionEndpoint = http://127.0.0.1:9/",
    f"InstrumentationKey={IKEY};IngestionEndpoint= http://127.0.0.1:9/",
    # No endpoint: the global one, or one built from EndpointSuffix (and Location).
    f"InstrumentationKey={IKEY}",
    f"InstrumentationKey={IKEY};IngestionEndpoint=",
    f"InstrumentationKey={IKEY};EndpointSuffix=applicationinsights.azure.cn",
    f"InstrumentationKey={IKEY};Location=chinaeast2;EndpointSuffix=applicationinsights.azure.cn",
    f"InstrumentationKey={IKEY};endpointsuffix=localhost:9",
    f"InstrumentationKey={IKEY};Location=westeurope",
    f"InstrumentationKey={IKEY};EndpointSuffix=",
    f"InstrumentationKey={IKEY};IngestionEndpoint=;EndpointSuffix=applicationinsights.azure.cn",
    f"InstrumentationKey={IKEY};IngestionEndpoint=http://127.0.0.1:9/;"
    "EndpointSuffix=applicationinsights.azure.cn",
    # The later of two equal keys wins, whatever their case.
    f"InstrumentationKey={IKEY};IngestionEndpoint=https://example.invalid/;"
    "ingestionendpoint=http://127.0.0.1:9/",
    f"InstrumentationKey={IKEY};Authorization=ikey;IngestionEndpoint=http://127.0.0.1:9/",
    # Refused by the exporter.
    f"InstrumentationKey={IKEY};IngestionEndpoint=http://127.0.0.1:9/;",
    f"InstrumentationKey={IKEY};;IngestionEndpoint=http://127.0.0.1:9/",
    f"InstrumentationKey={IKEY};IngestionEndpoint=http://127.0.0.1:9/?a=b",
    f"InstrumentationKey={IKEY};Authorization=AAD;IngestionEndpoint=http://127.0.0.1:9/",
    f"InstrumentationKey={IKEY};IngestionEndpoint",
    "",
    "garbage",
]


def exporters_endpoint(connection_string: str) -> str | None:
    try:
        return ConnectionStringParser(connection_string).endpoint
    except ValueError:
        return None


@pytest.fixture(autouse=True)
def _no_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exporter falls back to these variables: the strings alone are compared here."""
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("APPINSIGHTS_INSTRUMENTATIONKEY", raising=False)


@pytest.mark.parametrize("connection_string", CONNECTION_STRINGS)
def test_connection_strings_are_read_as_the_exporter_reads_them(connection_string: str) -> None:
    expected = exporters_endpoint(connection_string)
    assert connectionstring.ingestion_endpoint(connection_string) == expected
    assert app_config.ingestion_endpoint(connection_string) == expected


def test_the_table_covers_every_branch() -> None:
    answers = [exporters_endpoint(c) for c in CONNECTION_STRINGS]
    assert answers.count(None) == 7
    assert connectionstring.DEFAULT_INGESTION_ENDPOINT in answers
    assert "https://chinaeast2.dc.applicationinsights.azure.cn" in answers
    assert " http://127.0.0.1:9/" in answers


def test_local_insights_connection_string_reads_back(tmp_path: Path) -> None:
    """What devhost's local App Insights hands the exporters (insights/ingest.py)."""
    written = connection_string(tmp_path / "insights.duckdb", "http://127.0.0.1:9/")
    assert connectionstring.ingestion_endpoint(written) == "http://127.0.0.1:9/"
    assert ConnectionStringParser(written).endpoint == "http://127.0.0.1:9/"


URLS = {
    "http://127.0.0.1:9/": True,
    "http://127.0.0.2/": True,  # all of 127.0.0.0/8
    "http://localhost:9/": True,
    "http://LocalHost/": True,
    "http://[::1]:9/": True,
    " http://127.0.0.1:9/": True,  # a value's blank (see above); urlsplit strips it
    "http://127.example.com/": False,  # a name, not an address
    "http://localhost.example.com/": False,
    "http://0.0.0.0/": False,
    "http://[::]/": False,
    "http://10.0.0.1/": False,
    "https://dc.services.visualstudio.com": False,
    "http://[::1": False,  # not a URL
    "not a url": False,
    "": False,
}


@pytest.mark.parametrize(("url", "expected"), URLS.items())
def test_loopback_is_one_answer(url: str, expected: bool) -> None:
    assert loopback.is_loopback_url(url) is expected
    assert app_config.is_loopback_url(url) is expected


@pytest.mark.parametrize(("host", "expected"), [
    ("127.0.0.1", True), ("::1", True), ("localhost", True), ("127.1.2.3", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.2", False), ("example.com", False),
    ("", False), (None, False)])
def test_a_bind_address_is_loopback_by_the_same_rule(host: str | None, expected: bool) -> None:
    assert loopback.is_loopback(host) is expected


def test_the_offline_switches_are_one_list_and_the_exporters_names() -> None:
    assert host_telemetry.OFFLINE_SWITCHES == app_config.OFFLINE_SWITCHES
    assert set(app_config.OFFLINE_SWITCHES) == {
        _constants._APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL,
        _constants._APPLICATIONINSIGHTS_SDKSTATS_DISABLED,
        _constants._APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED}
