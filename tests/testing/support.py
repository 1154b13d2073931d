"""Helpers shared by the plugin's tests (imported, never a conftest): the small user project
they run (tests/testing/user: function_app.py and host.json), and its files as text, for
the tests that copy it into a project of their own."""

from __future__ import annotations

from pathlib import Path

USER_PROJECT = Path(__file__).parent / "user"
USER_APP = (USER_PROJECT / "function_app.py").read_text(encoding="utf-8")
USER_HOST_JSON = (USER_PROJECT / "host.json").read_text(encoding="utf-8")
