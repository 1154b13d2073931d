"""What a client operation can be refused with, and the HTTP status the extension's
HttpApiHandler answers it with (httpapi/errors.py turns them into responses)."""

from __future__ import annotations


class DurableError(Exception):
    status = 400


class NotFound(DurableError):
    status = 404


class Conflict(DurableError):
    status = 409


class Gone(DurableError):
    status = 410


class PreconditionFailed(DurableError):
    """The instance is not in a state the operation accepts (extension 3.x: a purge of a
    non-terminal instance, a rewind of one that is not Failed)."""

    status = 412
