"""The host side of an InvocationRequest, field by field as the real host fills it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from devhost import rpc
from devhost.host.channel import Invocation, Peer, handshake
from devhost.host.metadata import Binding, FunctionInfo


def _request(**kwargs: Any) -> rpc.InvocationRequest:
    trigger = Binding("activityTrigger", "input", "in", {})
    fn = FunctionInfo(name="f", function_id="fid", trigger=trigger, bindings=(trigger,))
    return Invocation(fn, [], "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "",
                      **kwargs).message().invocation_request


def test_no_retry_context_without_a_function_retry_policy() -> None:
    """ScriptInvocationContextExtensions.SetRetryContext copies ExecutionContext.RetryContext,
    which WebJobs' FunctionExecutorExtensions.TryExecuteAsync creates only for a function with
    a RetryStrategy: Durable triggers (and devhost, which applies no function retry policy)
    send none, so an activity retried by Durable sees no retry count."""
    request = _request()
    assert not request.HasField("retry_context")


def test_trace_context_carries_the_host_span() -> None:
    """ScriptInvocationContextExtensions.ToRpcInvocationRequest: TraceParent from the host's
    Activity, TraceState beside it."""
    request = _request()
    assert request.trace_context.trace_parent.endswith("-b7ad6b7169203331-01")
    assert request.function_id == "fid" and request.invocation_id


class _ScriptedWorker(Peer):
    """A worker that answers every request with success and remembers what it got."""

    def __init__(self) -> None:
        super().__init__("scripted")
        self.got: list[str] = []

    async def send(self, message: rpc.StreamingMessage) -> None:
        kind = str(message.WhichOneof("content"))
        self.got.append(kind)
        ok = rpc.StatusResult(status=rpc.StatusResult.Success)
        if kind == "worker_init_request":
            self.receive(rpc.StreamingMessage(worker_init_response=rpc.WorkerInitResponse(
                result=ok, capabilities={"RpcHttpTriggerMetadataRemoved": "true"})))
        elif kind == "functions_metadata_request":
            self.receive(rpc.StreamingMessage(
                function_metadata_response=rpc.FunctionMetadataResponse(
                    result=ok, function_metadata_results=[_METADATA])))
        elif kind == "function_load_request":
            self.receive(rpc.StreamingMessage(function_load_response=rpc.FunctionLoadResponse(
                function_id=message.function_load_request.function_id, result=ok)))


_METADATA = rpc.RpcFunctionMetadata(
    name="f", function_id="fid",
    raw_bindings=['{"type": "activityTrigger", "name": "input", "direction": "in"}'])


def test_only_the_first_worker_is_asked_for_the_apps_functions(tmp_path: Path) -> None:
    """RpcFunctionInvocationDispatcher: the workers started after the first (and those that
    replace one) get WorkerInitRequest with the host's capabilities and the first one's
    FunctionLoadRequests, no FunctionsMetadataRequest; the worker's capabilities are kept for
    what the host sends it."""
    first, second = _ScriptedWorker(), _ScriptedWorker()
    indexed = asyncio.run(handshake(first, tmp_path))
    asyncio.run(handshake(second, tmp_path, indexed))
    assert first.got == ["worker_init_request", "functions_metadata_request",
                         "function_load_request"]
    assert second.got == ["worker_init_request", "function_load_request"]
    assert second.capabilities == {"RpcHttpTriggerMetadataRemoved": "true"}
