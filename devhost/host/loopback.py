"""Whether an address is this machine's: one answer for every part of devhost that asks.

Asked by the CLI (`devhost start` refuses to bind a non-loopback address unless told),
by the host's telemetry (a loopback ingestion endpoint turns off the exporter's calls to
Azure) and by `devhost.testing` (a test's telemetry may go to loopback only). Loopback as
the standard library's `ipaddress` defines it (127.0.0.0/8 and ::1, RFC 1122 §3.2.1.3 and
RFC 4291 §2.5.3), plus the name `localhost`, which RFC 6761 §6.3 reserves for it. A name
that merely starts with `127.` (`127.example.com`) is not an address, and not loopback.
The app's `telemetry/config.py` keeps the same rule (the app never imports devhost);
`tests/devhost/test_one_fact.py` holds the two to the same answers.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback(host: str | None) -> bool:
    """`host`: a name or an IP address, as a URL's hostname or a bind address gives it."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    try:
        return is_loopback(urlsplit(url).hostname)
    except ValueError:  # not a URL (an unclosed "[" of an IPv6 host)
        return False
