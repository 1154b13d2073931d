"""The starter's and the activities' spans: one `with` or one decorator per function.

Orchestrators get nothing from here: they are replayed, so anything they emitted would be
emitted again on every replay (see `orchestration.py` for what they may use).
"""

from __future__ import annotations

import functools
import inspect
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, overload

from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind

from . import attributes as attr
from . import logs, propagation
from .correlation import Correlation, unwrap, wrap

TRACER_NAME = "durable_workflow.telemetry"

_tracers: weakref.WeakKeyDictionary[trace.TracerProvider, trace.Tracer] = \
    weakref.WeakKeyDictionary()


@functools.cache
def _global_tracer() -> trace.Tracer:
    # Once per process: the SDK builds a new Tracer on every get_tracer call (a quarter of
    # an activity's telemetry cost). Before configure() this is the API's proxy tracer,
    # which binds to the real provider when it is set.
    return trace.get_tracer(TRACER_NAME)


def _tracer(tracer_provider: trace.TracerProvider | None = None) -> trace.Tracer:
    """The global provider's tracer, or the given provider's. OpenTelemetry's
    instrumentations take a `tracer_provider` and fall back to the global one when it is
    None (opentelemetry-instrumentation-logging 0.66b2, `LoggingInstrumentor._instrument`:
    `kwargs.get("tracer_provider", None) or get_tracer_provider()`; the API's
    `trace.get_tracer(name, tracer_provider=...)` does the same), so a test or a second
    pipeline can use its own provider without touching the global one. One tracer per
    provider, for the reason above."""
    if tracer_provider is None:
        return _global_tracer()
    tracer = _tracers.get(tracer_provider)
    if tracer is None:
        tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)
        _tracers[tracer_provider] = tracer
    return tracer


@dataclass(frozen=True)
class Started:
    """What the starter passes to `start_new`: the new root id and the wrapped input."""

    instance_id: str
    correlation: Correlation

    def wrap(self, payload: Any) -> dict[str, Any]:
        return wrap(self.correlation, payload)


@contextmanager
def start_orchestration(orchestrator: str, function_context: Any = None,
                        instance_id: str | None = None, *,
                        tracer_provider: trace.TracerProvider | None = None
                        ) -> Iterator[Started]:
    """Span + log correlation around starting a root orchestration.

    The root instance id is chosen here (the starter is not replayed, so a random id is
    fine) so the correlation record can carry it; the span stays current while `start_new`
    runs, which is how the SDK forwards `traceparent` to the Durable extension.
    `tracer_provider`: where the span goes (default: the global provider `configure()` sets).
    """
    instance_id = instance_id or uuid.uuid4().hex
    attributes = {attr.TYPE: attr.TYPE_ORCHESTRATION, attr.TASK_NAME: orchestrator,
                  attr.INSTANCE_ID: instance_id, attr.ROLE: attr.ROLE_STARTER,
                  attr.ROOT_INSTANCE_ID: instance_id, attr.PARENT_INSTANCE_ID: "",
                  attr.ORCHESTRATION_NAME: orchestrator}
    with _tracer(tracer_provider).start_as_current_span(
            attr.starter_span_name(orchestrator), kind=SpanKind.INTERNAL,
            context=propagation.from_function_context(function_context),
            attributes=attributes), logs.correlated(attributes):
        correlation = Correlation(root_instance_id=instance_id, parent_instance_id="",
                                  instance_id=instance_id, orchestration_name=orchestrator,
                                  trace=propagation.capture())
        yield Started(instance_id, correlation)


@contextmanager
def activity_span(name: str, correlation: Correlation | None, function_context: Any = None,
                  *, tracer_provider: trace.TracerProvider | None = None) -> Iterator[None]:
    """The span an activity runs in, in the run's one trace.

    Parent: the host's invocation span when it belongs to the starter's trace (Durable
    distributed tracing on), which gives the nicest tree; otherwise the starter's context
    from the correlation record, with a link to the host's span, so the run still has ONE
    trace.
    """
    host = propagation.from_function_context(function_context)
    host_span = propagation.span_context_of(host)
    parent, links = host, []
    # With Durable distributed tracing on, the host's span is already in the starter's trace:
    # the record's traceparent then needs no second parse (its outcome would be `host`).
    if correlation is not None and not propagation.in_trace(correlation.trace, host_span):
        starter = propagation.extract(correlation.trace)
        starter_span = propagation.span_context_of(starter)
        if starter_span is not None and (host_span is None
                                         or host_span.trace_id != starter_span.trace_id):
            parent = starter
            links = [Link(host_span)] if host_span is not None else []
    attributes = {attr.TYPE: attr.TYPE_ACTIVITY, attr.TASK_NAME: name,
                  attr.INSTANCE_ID: correlation.instance_id if correlation else "",
                  attr.ROLE: attr.ROLE_ACTIVITY,
                  **(correlation.attributes() if correlation else {})}
    with _tracer(tracer_provider).start_as_current_span(
            attr.activity_span_name(name), context=parent, kind=SpanKind.INTERNAL,
            attributes=attributes, links=links, record_exception=True,
            set_status_on_exception=True), logs.correlated(attributes):
        yield


@overload
def activity[**P, R](fn: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def activity[**P, R](*, tracer_provider: trace.TracerProvider | None = None
                     ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def activity[**P, R](fn: Callable[P, R] | None = None, /, *,
                     tracer_provider: trace.TracerProvider | None = None
                     ) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate an activity: unwrap the correlation record from its input, run it inside
    its span.

    `@activity`, or `@activity(tracer_provider=...)` to send its spans to that provider
    instead of the global one (as OpenTelemetry's instrumentations take it).
    The wrapper keeps the function's signature (the worker binds parameters by name and
    passes `context` when one is declared); the function itself sees only its payload.
    """
    if fn is None:
        return functools.partial(_instrument, tracer_provider=tracer_provider)
    return _instrument(fn, tracer_provider)


def _instrument[**P, R](fn: Callable[P, R],
                        tracer_provider: trace.TracerProvider | None) -> Callable[P, R]:
    signature = inspect.signature(fn)
    input_name = next(p for p in signature.parameters if p != "context")
    # The by-name path takes only calls `bind` would accept as they are: every required
    # parameter given, none unknown, none that must be positional.
    parameters = frozenset(signature.parameters)
    required = frozenset(name for name, p in signature.parameters.items()
                         if p.default is p.empty
                         and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
    by_name = all(p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                  for p in signature.parameters.values())

    def prepare(args: Any, kwargs: Any) -> tuple[Any, dict[str, Any], Correlation | None, Any]:
        """(args, kwargs) for `fn` with the payload in place of the wrapped input, the
        record, and the function context if `fn` takes one. The worker passes every
        parameter by name (azure-functions-runtime 1.3.0 utils/executor.py: `execute_sync`
        and `execute_async` call `function(**args)`), so that call needs no `inspect`
        binding; any other call shape is bound by the signature, which refuses a bad one
        before the span starts."""
        if by_name and not args and required <= kwargs.keys() <= parameters:
            correlation, payload = unwrap(kwargs[input_name])
            return (), {**kwargs, input_name: payload}, correlation, kwargs.get("context")
        bound = signature.bind(*args, **kwargs)
        correlation, payload = unwrap(bound.arguments[input_name])
        bound.arguments[input_name] = payload
        return bound.args, bound.kwargs, correlation, bound.arguments.get("context")

    def name_of(correlation: Correlation | None) -> str:
        return (correlation.activity_name if correlation and correlation.activity_name
                else fn.__name__)

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            call_args, call_kwargs, correlation, context = prepare(args, kwargs)
            with activity_span(name_of(correlation), correlation, context,
                               tracer_provider=tracer_provider):
                return await fn(*call_args, **call_kwargs)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        call_args, call_kwargs, correlation, context = prepare(args, kwargs)
        with activity_span(name_of(correlation), correlation, context,
                           tracer_provider=tracer_provider):
            return fn(*call_args, **call_kwargs)

    return wrapper
