"""The FunctionRpc messages, as one namespace: what the worker runtime calls `protos`.

azure-functions-runtime receives this module in `request.properties["protos"]` and builds
its responses with it (`protos.InvocationResponse(...)`), exactly as Azure's proxy worker
hands it its own compiled protocol. The code is generated from the .proto files here by the
package build (setup.py, grpcio-tools): every wheel carries it, an editable install writes it
next to them (`make install`), `make proto` redoes it. It is never committed. The build
writes the messages' type stubs beside it (*_pb2.pyi), so mypy sees every name imported here
with its type.
"""

from __future__ import annotations

try:
    from devhost.rpc.FunctionRpc_pb2 import *  # noqa: F403
    from devhost.rpc.FunctionRpc_pb2_grpc import (
        FunctionRpcServicer,
        FunctionRpcStub,
        add_FunctionRpcServicer_to_server,
    )
    from devhost.rpc.NullableTypes_pb2 import *  # noqa: F403
except ModuleNotFoundError as exc:
    if not (exc.name or "").startswith(f"{__name__}."):  # grpcio or protobuf missing: say so
        raise
    # a checkout used without installing it
    raise ImportError("devhost/rpc/FunctionRpc.proto is not compiled: install the project "
                      f"(`make install`, or pip), or run `make proto` ({exc})") from exc

__all__ = ["FunctionRpcServicer", "FunctionRpcStub", "add_FunctionRpcServicer_to_server"]
