"""The app logger: correlation attributes, no raw newlines, no secrets."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from telemetry import attributes as attr
from telemetry.logs import LOGGER_NAME, correlated, get_logger, setup


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture()
def records() -> Iterator[list[logging.LogRecord]]:
    setup()
    capture = _Capture()
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(capture)
    yield capture.records
    logger.removeHandler(capture)


def test_records_get_the_active_correlation(records: list[logging.LogRecord]) -> None:
    with correlated({attr.ROOT_INSTANCE_ID: "root-1", attr.INSTANCE_ID: "root-1:child"}):
        get_logger().info("inside", customer_id="c-1")
    get_logger().info("outside")
    inside, outside = records
    assert getattr(inside, attr.ROOT_INSTANCE_ID) == "root-1"
    assert getattr(inside, attr.INSTANCE_ID) == "root-1:child"
    assert vars(inside)["customer_id"] == "c-1"
    assert not hasattr(outside, attr.ROOT_INSTANCE_ID)


def test_newlines_from_input_cannot_forge_lines(records: list[logging.LogRecord]) -> None:
    get_logger().info("customer %s", "evil\nINFO forged line\r")
    assert "\n" not in records[0].getMessage() and "\r" not in records[0].getMessage()
    assert "evil\\nINFO forged line\\r" in records[0].getMessage()


def test_secrets_are_redacted(records: list[logging.LogRecord]) -> None:
    secret = ("InstrumentationKey=11111111-2222-3333-4444-555555555555;"
              "IngestionEndpoint=https://example.invalid/")
    get_logger().info(f"using {secret} and AccountKey=abc123secret",
                      connection_string=secret, password="hunter2")
    record = records[0]
    message = record.getMessage()
    assert "11111111-2222" not in message and "abc123secret" not in message
    assert vars(record)["connection_string"] != secret
    assert vars(record)["password"] != "hunter2"
