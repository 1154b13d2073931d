"""The host side of an InvocationRequest, field by field as the real host fills it."""

from __future__ import annotations

from typing import Any

from devhost import rpc
from devhost.host.channel import Invocation
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
