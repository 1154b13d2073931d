"""Recipe tests import function_app, which configures telemetry at import: point its local
exporter at a temporary folder and keep any real backend out of the test process; give the
settings local.settings.json would (subprocesses inherit them)."""

from __future__ import annotations

import os
import tempfile

os.environ.pop("APPLICATIONINSIGHTS_CONNECTION_STRING", None)
os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
os.environ.setdefault("TELEMETRY_LOCAL_DIR", tempfile.mkdtemp(prefix="telemetry-"))
os.environ.setdefault("TELEMETRY_CONSOLE_LOGS", "false")
# host.json's hubName is %TASKHUB_NAME%; local.settings.json (git-ignored) would set it.
os.environ.setdefault("TASKHUB_NAME", "SubOrchestrationHub")

# tests/testing runs pytest sessions of small user projects (the plugin's own tests).
pytest_plugins = ["pytester"]
