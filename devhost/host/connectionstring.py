"""Application Insights connection strings, read the way the Azure Monitor exporter reads them.

The host reads `APPLICATIONINSIGHTS_CONNECTION_STRING` and hands it to the Azure Monitor
exporter (its own rows, devhost/host/telemetry.py; the app's exporter in the workers reads the
same variable). devhost never posts telemetry itself, so what matters about a connection
string is where *that exporter* will post, and this follows its parser,
azure-monitor-opentelemetry-exporter 1.0.0b58
(`azure/monitor/opentelemetry/exporter/_connection_string_parser.py`,
`ConnectionStringParser._parse_connection_string` and `_initialize`):

- pairs are separated by `;`, and every pair must split on `=` into exactly a key and a value
  (`dict(s.split("=") for s in pairs)`): an empty pair (a trailing `;`) or a value holding
  `=` makes the whole string invalid, and so does an `Authorization` other than `ikey`;
- keys are compared case-insensitively (lowercased); neither keys nor values are trimmed, so
  ` IngestionEndpoint` is an unknown key, which the exporter ignores;
- a later pair wins over an earlier one;
- without an IngestionEndpoint, `EndpointSuffix` (with `Location`, when the suffix is given)
  builds `https://<location.>dc.<suffix>`; an empty or missing endpoint falls back to the
  global `https://dc.services.visualstudio.com`.

The exporter also falls back to the endpoint in `APPLICATIONINSIGHTS_CONNECTION_STRING` when
the string it is given has none; every string devhost reads *is* that variable (or the
instrumentation key alone, when the variable is empty), so this reads the given string only.
The app's `telemetry/config.py` keeps a copy of these rules (the app never imports devhost);
`tests/devhost/test_one_fact.py` holds both to the exporter's answers.
"""

from __future__ import annotations

DEFAULT_INGESTION_ENDPOINT = "https://dc.services.visualstudio.com"


def parse(connection_string: str) -> dict[str, str] | None:
    """The pairs, keys lowercased; None for a string the exporter refuses."""
    pairs: dict[str, str] = {}
    for pair in connection_string.split(";"):
        parts = pair.split("=")
        if len(parts) != 2:
            return None
        pairs[parts[0].lower()] = parts[1]
    authorization = pairs.get("authorization")
    if authorization is not None and authorization.lower() != "ikey":
        return None
    return pairs


def ingestion_endpoint(connection_string: str) -> str | None:
    """Where the exporter posts with this string; None when it would refuse the string."""
    pairs = parse(connection_string)
    if pairs is None:
        return None
    endpoint = pairs.get("ingestionendpoint")
    suffix = pairs.get("endpointsuffix")
    if endpoint is None and suffix:
        location = pairs.get("location")
        endpoint = f"https://{'' if location is None else location + '.'}dc.{suffix}"
    return endpoint or DEFAULT_INGESTION_ENDPOINT


def refusal(connection_string: str) -> str | None:
    """Why the Azure Monitor exporter refuses this string, in its own words (the ValueError
    its ConnectionStringParser raises when an exporter is built: a string that does not
    parse, or an instrumentation key that is not a UUID), or None when it accepts it."""
    from azure.monitor.opentelemetry.exporter._connection_string_parser import (
        ConnectionStringParser,
    )

    try:
        ConnectionStringParser(connection_string)
    except ValueError as exc:
        return str(exc)
    return None
