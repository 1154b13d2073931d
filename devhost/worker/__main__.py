"""`python -m devhost.worker --host H --port P --workerId W --requestId R`: the worker process.

Started by devhost the way the Functions host starts a language worker (the same arguments
as proxy_worker/start_worker.py). Connects back over gRPC, opens `EventStream` with a
StartStream, then serves requests until the host closes the stream. From then on every log
record of the process goes to the host as an RpcLog; before that (and if the stream breaks)
records go to stderr, which the host shows on its console.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import logging
import os
import sys
from collections.abc import AsyncIterator

import grpc

from devhost import rpc
from devhost.worker import flush
from devhost.worker.dispatcher import Dispatcher, RpcLogHandler, handle_in_background

_CONNECT_TIMEOUT = 5.0
log = logging.getLogger("devhost.worker")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost.worker")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workerId", dest="worker_id", required=True)
    parser.add_argument("--requestId", dest="request_id", required=True)
    parser.add_argument("--grpcMaxMessageLength", dest="grpc_max_msg_len", type=int,
                        default=2_147_483_647)
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    options = [("grpc.max_receive_message_length", args.grpc_max_msg_len),
               ("grpc.max_send_message_length", args.grpc_max_msg_len)]
    loop = asyncio.get_running_loop()
    outbox: asyncio.Queue[rpc.StreamingMessage] = asyncio.Queue()

    def send(message: rpc.StreamingMessage) -> None:  # from any thread (the runtime's pool too)
        loop.call_soon_threadsafe(outbox.put_nowait, message)

    async def outgoing() -> AsyncIterator[rpc.StreamingMessage]:
        yield rpc.StreamingMessage(request_id=args.request_id,
                                   start_stream=rpc.StartStream(worker_id=args.worker_id))
        while True:
            yield await outbox.get()

    async with grpc.aio.insecure_channel(f"{args.host}:{args.port}", options=options) as ch:
        await asyncio.wait_for(ch.channel_ready(), _CONNECT_TIMEOUT)
        stream = rpc.FunctionRpcStub(ch).EventStream(outgoing())
        dispatcher = Dispatcher(args.host, args.request_id, args.worker_id,
                                flush_each_invocation=flush.enabled())
        handler = RpcLogHandler(lambda entry: send(rpc.StreamingMessage(
            request_id=args.request_id, rpc_log=entry)))
        root = logging.getLogger()
        console = root.handlers[:]
        for old in console:
            root.removeHandler(old)
        root.addHandler(handler)
        tasks: set[asyncio.Task[None]] = set()
        try:
            async for message in stream:
                if message.WhichOneof("content") == "worker_terminate":
                    break
                task = asyncio.create_task(handle_in_background(dispatcher, message, send))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            # Back to the console for what the process still says while it exits; the
            # app's exporters flush at exit, quietly unless something fails.
            root.removeHandler(handler)
            for old in console:
                root.addHandler(old)
            root.setLevel(logging.WARNING)
            logging.getLogger("asyncio").setLevel(logging.CRITICAL)
            dispatcher.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="LanguageWorkerConsoleLog %(levelname)s: %(message)s")
    try:
        asyncio.run(serve(args))
    except grpc.aio.AioRpcError as exc:
        if exc.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE):
            return 0  # the host went away: nothing left to serve
        log.exception("gRPC stream failed")
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


def exit_now(code: int) -> None:
    """Run the exit handlers (the app's exporters flush there), then leave without the
    interpreter's teardown, where finalizers of half-torn-down libraries (urllib3's pools)
    print tracebacks that are noise on the host's console."""
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
