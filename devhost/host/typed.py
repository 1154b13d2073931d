"""TypedData the host sends and reads: the host's side of the conversions
(azure-functions-host, src/WebJobs.Script.Grpc/MessageExtensions/GrpcMessageConversionExtensions.cs
`ToRpc`: a string is sent as `string`, bytes as `bytes`; an HTTP request as `RpcHttp` with
the raw body bytes when the worker announced RawHttpBodyBytes)."""

from __future__ import annotations

import json

from devhost import rpc


def string(value: str) -> rpc.TypedData:
    return rpc.TypedData(string=value)


def json_data(value: str) -> rpc.TypedData:
    return rpc.TypedData(json=value)


def binding(name: str, data: rpc.TypedData) -> rpc.ParameterBinding:
    return rpc.ParameterBinding(name=name, data=data)


def text(data: rpc.TypedData | None) -> str | None:
    """The text of a returned value (json/string/bytes), None when there is none."""
    if data is None:
        return None
    kind = data.WhichOneof("data")
    if kind in ("json", "string"):
        return str(getattr(data, kind))
    if kind in ("bytes", "stream"):
        return bytes(getattr(data, kind)).decode("utf-8")
    if kind == "int":
        return str(data.int)
    if kind == "double":
        return json.dumps(data.double)
    return None


def body_bytes(data: rpc.TypedData | None) -> bytes:
    kind = data.WhichOneof("data") if data is not None else None
    if kind in ("bytes", "stream"):
        return bytes(getattr(data, kind))
    value = text(data)
    return b"" if value is None else value.encode("utf-8")
