"""The InvocationRequest and WorkerInitRequest the host builds, without a worker: the trigger
types the worker-process tests do not reach, and the settings' refusals.

Sources: azure-functions-host v4.1036.3 ScriptInvocationContextExtensions.ToRpcInvocationRequest
(ShouldSkipBindingData: the HttpRequest only when the worker announced
RpcHttpTriggerMetadataRemoved), GrpcWorkerChannel.SendWorkerInitRequest and
EnvironmentExtensions.IsV2CompatibilityMode, RpcWorkerConfigFactory.GetWorkerProcessCount
("The TimeSpan must not be negative."); azure-functions-durable-extension v3.x 92fecfc6
Orchestration/Entity/ActivityTriggerAttributeBindingProvider.BindAsync and
DurableActivityContext.GetInput; azure-webjobs-sdk-extensions 2e7550f7
TimerTriggerBinding.CreateBindingData.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from devhost import rpc
from devhost.host import triggerdata, typed
from devhost.host.channel import Invocation, host_capabilities
from devhost.host.metadata import AppLoadError, Binding, FunctionInfo
from devhost.host.processes import STARTUP_INTERVAL_SETTING, startup_interval


def _fn(trigger_type: str, name: str = "context") -> FunctionInfo:
    trigger = Binding(name=name, type=trigger_type, direction="in", settings={})
    return FunctionInfo(name="f", function_id="id-f", trigger=trigger, bindings=(trigger,))


def _request(fn: FunctionInfo, data: rpc.TypedData, capabilities: dict[str, str] | None = None
             ) -> rpc.InvocationRequest:
    invocation = Invocation(fn, [typed.binding(fn.trigger.name, data)])
    return invocation.message(capabilities).invocation_request


def _plain(metadata: object) -> dict[str, tuple[str, object]]:
    out = {}
    for key, value in metadata.items():  # type: ignore[attr-defined]
        kind = value.WhichOneof("data")
        out[key] = (kind, getattr(value, kind))
    return out


@pytest.mark.parametrize("trigger_type", ["orchestrationTrigger", "entityTrigger"])
def test_a_durable_context_trigger_binds_its_name_to_the_context_string(
        trigger_type: str) -> None:
    request = _request(_fn(trigger_type), typed.string('{"instanceId": "i"}'))
    assert _plain(request.trigger_metadata) == {"context": ("string", '{"instanceId": "i"}')}
    assert dict(request.trace_context.attributes) == {"OperationName": "f"}


def test_a_timer_binds_the_time_as_dotnet_prints_it() -> None:
    assert _plain(triggerdata.timer(datetime(2026, 3, 4, 5, 6, 7))) == {
        "TimerTrigger": ("string", "03/04/2026 05:06:07")}
    assert set(_request(_fn("timerTrigger", "timer"), typed.string("{}")).trigger_metadata) \
        == {"TimerTrigger"}


@pytest.mark.parametrize(("input_json", "as_string", "data"), [
    ('"plain"', "plain", '"plain"'),  # JValue.ToObject(typeof(string)): no quotes
    ("true", "True", "true"),
    ("[1, 2]", "[1,2]", "[1,2]"),
    ("null", None, "null"),  # a null value is not sent
])
def test_an_activity_binds_instance_id_input_and_data(input_json: str, as_string: str | None,
                                                      data: str) -> None:
    metadata = _plain(triggerdata.activity("value", "iid", input_json))
    expected: dict[str, tuple[str, object]] = {"instanceId": ("string", "iid"),
                                               "data": ("json", data)}
    if as_string is not None:
        expected["value"] = ("string", as_string)
    assert metadata == expected


def test_the_http_request_itself_goes_only_to_a_worker_that_asks_for_it() -> None:
    fn = _fn("httpTrigger", "req")
    http = rpc.TypedData(http=rpc.RpcHttp(method="GET", url="http://h/api/x?a=1",
                                          body=rpc.TypedData(bytes=b"not json")))
    kept = _plain(_request(fn, http, {}).trigger_metadata)
    assert set(kept) == {"a", "Query", "Headers", "$request", "req"}
    assert kept["req"][0] == "http"
    removed = _request(fn, http, {"RpcHttpTriggerMetadataRemoved": "true"})
    assert set(removed.trigger_metadata) == {"a", "Query", "Headers"}
    assert dict(removed.trace_context.attributes) == {}


def test_empty_tags_are_left_out_of_the_attributes() -> None:
    """GetRpcTraceContext: a tag with a null or empty value is not sent."""
    invocation = Invocation(_fn("activityTrigger"), [], attributes={"a": "1", "b": ""})
    assert dict(invocation.message().invocation_request.trace_context.attributes) == {"a": "1"}


def test_the_host_announces_multistream_and_v2_compatibility_when_set(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FUNCTIONS_V2_COMPATIBILITY_MODE", raising=False)
    monkeypatch.delenv("FUNCTIONS_EXTENSION_VERSION", raising=False)
    assert host_capabilities() == {"MultiStream": "10"}
    monkeypatch.setenv("FUNCTIONS_V2_COMPATIBILITY_MODE", "True")
    assert host_capabilities() == {"V2Compatable": "true", "MultiStream": "10"}


@pytest.mark.parametrize("value", ["-1", "soon", "nan", "inf"])
def test_a_bad_startup_interval_is_refused_naming_the_setting(
        monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(STARTUP_INTERVAL_SETTING, value)
    with pytest.raises(AppLoadError) as caught:
        startup_interval()
    assert STARTUP_INTERVAL_SETTING in str(caught.value) and repr(value) in str(caught.value)


def test_the_startup_interval_is_the_hosts_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """WorkerProcessCountOptions.ProcessStartupInterval: 10 s."""
    monkeypatch.delenv(STARTUP_INTERVAL_SETTING, raising=False)
    assert startup_interval() == 10.0
    monkeypatch.setenv(STARTUP_INTERVAL_SETTING, "0.5")
    assert startup_interval() == 0.5


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,  # IsJson, but not an object: JObject.Parse throws
    b'{"a": ' * 100_000 + b"1" + b"}" * 100_000,  # deeper than the reader allows
    b'{"a": ' * 65 + b"1" + b"}" * 65,  # 65 objects: past Json.NET's MaxDepth of 64
    b"{not json}",
])
def test_a_body_the_host_cannot_read_as_an_object_adds_no_binding_data(body: bytes) -> None:
    """Utility.ApplyBindingData catches whatever JObject.Parse throws."""
    request = rpc.RpcHttp(method="POST", url="http://h/api/x", body=rpc.TypedData(bytes=body))
    assert set(triggerdata.http(request)) == {"Query", "Headers"}


def test_a_body_at_the_readers_depth_limit_is_read() -> None:
    body = b'{"a": ' * 64 + b"1" + b"}" * 64  # 64 objects: JsonReader.Push allows them
    request = rpc.RpcHttp(method="POST", url="http://h/api/x", body=rpc.TypedData(bytes=body))
    assert set(triggerdata.http(request)) == {"a", "Query", "Headers"}
