"""An InvocationRequest's `trigger_metadata`: the trigger's binding data, as the host sends it.

The host copies the invocation's binding data into `trigger_metadata`, converting each value
with `ToRpc` and skipping null values, `sys` and (when the worker announced
`RpcHttpTriggerMetadataRemoved`, as azure-functions-runtime does) the HttpRequest itself
(azure-functions-host v4.1036.3, src/WebJobs.Script.Grpc/Extensions/
ScriptInvocationContextExtensions.cs `ToRpcInvocationRequest`, `ShouldSkipBindingData`;
GrpcMessageConversionExtensions.cs `ToRpc`: string → `string`, JObject → `json`, any other
object → `json` of its serialization). What each trigger puts there:

- HTTP (azure-webjobs-sdk-extensions 2e7550f7, HttpTriggerAttributeBindingProvider.cs
  `GetBindingData`/`GetRequestBindingData`, Utility.cs `ApplyBindingData`): the JSON body's
  top-level properties (objects as JSON, arrays left out, others as strings), the query
  parameters but `code` (last value wins), the route parameters, then `Query` and `Headers`
  as JSON objects; `$request` and the trigger parameter are the HttpRequest.
- Timer (TimerTriggerBinding.cs `CreateBindingData`): `TimerTrigger`, `DateTime.Now.ToString()`.
- Durable, for the legacy out-of-process protocol Python uses, whose trigger parameter is a
  string (azure-functions-durable-extension v3.x 92fecfc6, Bindings/*TriggerAttributeBinding
  Provider.cs `BindAsync`): orchestration and entity, the trigger name → the context JSON;
  activity, `instanceId`, the trigger name → the input as `GetInput(typeof(string))` gives it,
  and `data` → the input as JSON (DurableActivityContext.cs `GetInputAsJson`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from devhost import rpc

HTTP_METADATA_REMOVED = "RpcHttpTriggerMetadataRemoved"  # RpcWorkerConstants
REQUEST_KEY = "$request"  # HttpTriggerAttributeBindingProvider.RequestBindingName
QUERY_KEY = "Query"
HEADERS_KEY = "Headers"
TIMER_KEY = "TimerTrigger"
INSTANCE_ID_KEY = "instanceId"  # ActivityTriggerAttributeBindingProvider
DATA_KEY = "data"
MAX_DEPTH = 64  # Json.NET 13 JsonReader.MaxDepth default
_NOT_BOUND_QUERY = "code"  # the function key: "system parameters that should not be bound to"

Metadata = dict[str, rpc.TypedData]


def _json(value: Any) -> rpc.TypedData:
    """Json.NET's compact form (`Formatting.None`, non-ASCII kept)."""
    return rpc.TypedData(json=json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def _json_object(body: bytes) -> dict[str, Any] | None:
    """`JObject.Parse` of a body that `Utility.IsJson` accepts, or None where it throws (the
    host catches everything: "it's not an error if the incoming message isn't JSON"),
    including nesting past Json.NET's default MaxDepth."""
    text = body.strip()
    if not (text.startswith(b"{") and text.endswith(b"}")):
        return None
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) and _depth(parsed) <= MAX_DEPTH else None


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1)
                         for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _net_string(value: Any) -> str:
    """`(string)JValue` / `JValue.ToObject(typeof(string))`: booleans as .NET prints them."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def http(request: rpc.RpcHttp, headers: Mapping[str, str] | None = None) -> Metadata:
    """The HTTP trigger's binding data from the request the host received; `headers` as the
    request spelled them (RpcHttp's are lowercased, `Headers` keeps ASP.NET Core's names)."""
    data: Metadata = {}
    body = bytes(request.body.bytes) if request.body.WhichOneof("data") == "bytes" else \
        request.body.string.encode()
    parsed = _json_object(body)
    if parsed is not None:
            for key, value in parsed.items():
                if isinstance(value, dict):
                    data[key] = _json(value)
                elif value is not None and not isinstance(value, list):
                    data[key] = rpc.TypedData(string=_net_string(value))
    query: dict[str, str] = {}
    for key, value in parse_qsl(urlsplit(request.url).query, keep_blank_values=True):
        query[key] = value  # Query.ToDictionary(p => p.Value.Last())
    for key, value in query.items():
        if key.lower() != _NOT_BOUND_QUERY:
            data[key] = rpc.TypedData(string=value)
    for key, value in request.params.items():
        data[key] = rpc.TypedData(string=value)
    data.setdefault(QUERY_KEY, _json(query))
    data.setdefault(HEADERS_KEY, _json(dict(headers if headers is not None else request.headers)))
    return data


def request_entries(trigger_type: str, trigger_name: str,
                    inputs: Iterable[rpc.ParameterBinding],
                    worker_capabilities: Mapping[str, str]) -> Metadata:
    """`$request` and the trigger parameter are the HttpRequest itself, sent as RpcHttp
    unless the worker announced RpcHttpTriggerMetadataRemoved (azure-functions-runtime does)."""
    if trigger_type != "httpTrigger" or worker_capabilities.get(HTTP_METADATA_REMOVED):
        return {}
    trigger = next((b.data for b in inputs if b.name == trigger_name), None)
    if trigger is None or trigger.WhichOneof("data") != "http":
        return {}
    return {REQUEST_KEY: trigger, trigger_name: trigger}


def timer(now: datetime | None = None) -> Metadata:
    """`DateTime.Now.ToString()` in the invariant culture (the host's clock is UTC)."""
    moment = now or datetime.now()
    return {TIMER_KEY: rpc.TypedData(string=moment.strftime("%m/%d/%Y %H:%M:%S"))}


def durable_context(trigger_name: str, context_json: str) -> Metadata:
    """Orchestration and entity triggers: the trigger name → the context string."""
    return {trigger_name: rpc.TypedData(string=context_json)}


def activity(trigger_name: str, instance_id: str, input_json: str | None) -> Metadata:
    data: Metadata = {INSTANCE_ID_KEY: rpc.TypedData(string=instance_id)}
    if input_json is None:
        return data
    value = json.loads(input_json)
    if isinstance(value, (dict, list)):
        data[trigger_name] = rpc.TypedData(
            string=json.dumps(value, separators=(",", ":"), ensure_ascii=False))
    elif value is not None:
        data[trigger_name] = rpc.TypedData(string=_net_string(value))
    data[DATA_KEY] = _json(value)
    return data


def for_trigger(trigger_type: str, trigger_name: str, inputs: Iterable[rpc.ParameterBinding]
                ) -> Metadata:
    """The binding data the trigger's own input tells (an invocation that brings none of
    its own): orchestration, entity, timer, and HTTP with RpcHttp's header names."""
    trigger = next((b.data for b in inputs if b.name == trigger_name), None)
    kind = trigger.WhichOneof("data") if trigger is not None else None
    if trigger is not None and trigger_type == "httpTrigger" and kind == "http":
        return http(trigger.http)
    if trigger is not None and trigger_type in ("orchestrationTrigger", "entityTrigger") \
            and kind == "string":
        return durable_context(trigger_name, trigger.string)
    if trigger_type == "timerTrigger":
        return timer()
    return {}
