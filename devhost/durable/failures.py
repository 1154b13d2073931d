"""A failed activity as the orchestration receives it: the TaskFailed event's Reason and
Details as extension 3.x writes them for an out-of-process worker. The Python SDK (1.7.0,
TaskOrchestrationExecutor) raises `Exception(f"{Reason} \\n {Details}")` in the orchestrator,
so this text is what `str(exc)` shows and what code parses (durable-extension issue #2990).

The chain, as read at azure-functions-durable-extension v3.x (92fecfc) and
azure-functions-host dev (89dc438):
- the host turns the worker's failure into `RpcException(result, message, stack)`, whose
  Message is `Result: Failure\\nException: <message>\\nStack: <stack>`
  (Workers/Rpc/RpcException.cs, StatusResultExtensions.GetRpcException);
- TaskActivityShim.RunAsync strips the FunctionInvocationException and, through
  OutOfProcExceptionHelpers.TryGetExceptionWithFriendlyMessage, wraps the RpcException in
  `new Exception(<the text between "\\nException:" and "\\nStack:">, rpcException)`: the
  friendly message keeps the space after the colon;
- it throws TaskFailureException(`Activity function '<name>' failed: <friendly>`,
  Utils.SerializeCause(friendly, ErrorDataConverter)): Newtonsoft with TypeNameHandling
  .Objects (ErrorSerializerSettingsFactory), no indentation. System.Exception is
  [Serializable], so it is written through GetObjectData (ClassName, Message, … WatsonBuckets);
  RpcException is not, so through its public properties.

Not reproduced: the RpcException's .NET StackTrace and Source (where the host rethrew it), and
the host's Sanitizer pass over the message; the stack is the worker's, with devhost's own
frames left out (console.user_stack), as the console shows it.
"""

from __future__ import annotations

import json
from typing import Any

# HResult of System.Exception (COR_E_EXCEPTION), which RpcException does not change.
_COR_E_EXCEPTION = -2146233088
_RPC_EXCEPTION = ("Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException, "
                  "Microsoft.Azure.WebJobs.Script")
_MESSAGE_LABEL = "\nException:"
_STACK_LABEL = "\nStack:"


def rpc_message(message: str, stack: str) -> str:
    """RpcException.Message for a failed invocation."""
    return f"Result: Failure{_MESSAGE_LABEL} {message}{_STACK_LABEL} {stack}"


def friendly_message(rpc: str) -> str:
    """OutOfProcExceptionHelpers.TryGetFullOutOfProcMessage: the text between the labels."""
    start = rpc.index(_MESSAGE_LABEL) + len(_MESSAGE_LABEL)
    return rpc[start:rpc.index(_STACK_LABEL)]


def activity_failure(name: str, message: str, stack: str) -> tuple[str, str]:
    """(Reason, Details) of the TaskFailed event for activity `name` whose worker reported
    `message` (the runtime's `<Type>: <text>`) and `stack`."""
    rpc = rpc_message(message, stack)
    friendly = friendly_message(rpc)
    inner: dict[str, Any] = {
        "$type": _RPC_EXCEPTION,
        "IsUserException": False,
        "RemoteStackTrace": stack,
        "RemoteMessage": message,
        "RemoteTypeName": None,
        "Message": rpc,
        "Data": {"$type": "System.Collections.ListDictionaryInternal, System.Private.CoreLib"},
        "InnerException": None,
        "HelpLink": None,
        "Source": None,
        "HResult": _COR_E_EXCEPTION,
        "StackTrace": None,
    }
    outer = {
        "$type": "System.Exception, System.Private.CoreLib",
        "ClassName": "System.Exception",
        "Message": friendly,
        "Data": None,
        "InnerException": inner,
        "HelpURL": None,
        "StackTraceString": None,
        "RemoteStackTraceString": None,
        "RemoteStackIndex": 0,
        "ExceptionMethod": None,
        "HResult": _COR_E_EXCEPTION,
        "Source": None,
        "WatsonBuckets": None,
    }
    details = json.dumps(outer, ensure_ascii=False, separators=(",", ":"))
    return f"Activity function '{name}' failed: {friendly}", details
