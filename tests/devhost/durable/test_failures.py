"""A failed activity's exception inside the orchestrator, as extension 3.x delivers it to a
Python orchestrator: TaskFailed Reason `Activity function '<name>' failed: <friendly>` and
Details the Newtonsoft serialization of the wrapping System.Exception (TaskActivityShim,
OutOfProcExceptionHelpers, ErrorSerializerSettingsFactory at azure-functions-durable-extension
v3.x 92fecfc; RpcException at azure-functions-host 89dc438), joined by the SDK (1.7.0) as
`f"{Reason} \\n {Details}"`. Not a Python traceback: code that parses it, like the workaround
in durable-extension issue #2990, gets what it gets on Azure."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from devhost.durable.engine import Engine
from devhost.durable.failures import activity_failure

from .support import drive, run

Factory = Callable[[], Engine]


def test_details_are_the_serialized_exception_not_a_traceback() -> None:
    reason, details = activity_failure("charge", "ValueError: card declined",
                                       'File "function_app.py", line 3, in charge\n  raise')
    # TryGetFullOutOfProcMessage keeps the space after "Exception:".
    assert reason == "Activity function 'charge' failed:  ValueError: card declined"
    assert "\n" not in details  # one line: Newtonsoft, no indentation
    cause = json.loads(details)
    assert list(cause)[:4] == ["$type", "ClassName", "Message", "Data"]
    assert (cause["$type"], cause["Message"], cause["HResult"]) == (
        "System.Exception, System.Private.CoreLib", " ValueError: card declined", -2146233088)
    inner = cause["InnerException"]
    assert inner["$type"].startswith("Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException,")
    assert inner["Message"] == ("Result: Failure\nException: ValueError: card declined\n"
                                'Stack: File "function_app.py", line 3, in charge\n  raise')
    assert inner["RemoteMessage"] == "ValueError: card declined"


@pytest.mark.host
def test_the_issue_2990_workaround_reads_the_activitys_message(engine_factory: Factory) -> None:
    status = drive(engine_factory(), lambda e: run(e, "parses_activity_failure",
                                                   json.dumps("card declined")))
    assert status["runtimeStatus"] == "Completed"
    output = status["output"]
    assert isinstance(output, dict)
    assert output["parsed"] == "card declined"
    first, second = output["text"].split(" \n ", 1)
    assert first == "Activity function 'explode' failed:  ValueError: card declined"
    assert "Traceback" not in first and json.loads(second)["ClassName"] == "System.Exception"
