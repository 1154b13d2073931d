"""The FunctionRpc messages, as one namespace: what the worker runtime calls `protos`.

azure-functions-runtime receives this module in `request.properties["protos"]` and builds
its responses with it (`protos.InvocationResponse(...)`), exactly as Azure's proxy worker
hands it its own compiled protocol. The code is generated from FunctionRpc.proto by
`make proto` (grpcio-tools) and is not committed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    from .FunctionRpc_pb2 import *  # noqa: F403
    from .FunctionRpc_pb2_grpc import (
        FunctionRpcServicer,
        FunctionRpcStub,
        add_FunctionRpcServicer_to_server,
    )
    from .NullableTypes_pb2 import *  # noqa: F403
except ImportError as exc:  # a checkout where `make proto` has not run yet
    raise ImportError("devhost/rpc/FunctionRpc.proto is not compiled: run `make proto` "
                      f"(or any make target that installs) first ({exc})") from exc

if TYPE_CHECKING:  # generated code is not type-checked: its messages are Any to mypy
    def __getattr__(name: str) -> Any: ...

__all__ = ["FunctionRpcServicer", "FunctionRpcStub", "add_FunctionRpcServicer_to_server"]
