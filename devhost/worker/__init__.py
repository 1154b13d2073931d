"""devhost's Python language worker: a thin proxy around Microsoft's `azure_functions_runtime`
(or `azure_functions_runtime_v1` for a v1-model app, as the proxy worker chooses: dispatcher.py).

Laid out like Azure's proxy worker (azure-functions-python-worker, workers/proxy_worker): the
host starts it as its own process (`python -m devhost.worker --host … --port … --workerId …
--requestId …`), it connects back over FunctionRpc `EventStream`, hands every request to the
runtime's verbs and sends the runtime's responses and the process's log records back. It
imports nothing of the host.
"""
