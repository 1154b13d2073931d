"""Helpers shared by the plugin's tests (imported, never a conftest): the small user app they
run, as the text of its function_app.py."""

from __future__ import annotations

from pathlib import Path

USER_APP = (Path(__file__).parent / "user_app.py").read_text(encoding="utf-8")
