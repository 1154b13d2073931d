"""The run view: tree text and the HTML waterfall, drawn in a real headless Chromium."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devhost.insights.ingest import IngestionServer
from devhost.insights.view import load_run, render_html, render_text

pytestmark = pytest.mark.host

REPO = Path(__file__).resolve().parents[3]
APPS = REPO / "tests" / "devhost" / "apps"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def run_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A real run of the devhost test app's fan-out of children, captured by the exporter
    (devhost's own host spans: the test app has no instrumentation of its own)."""
    tmp = Path(tmp_path_factory.mktemp("view"))
    with IngestionServer(tmp / "insights.duckdb") as server:
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO),
               "APPLICATIONINSIGHTS_CONNECTION_STRING": server.connection_string,
               "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
               "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
               "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true"}
        proc = subprocess.run(
            [sys.executable, "-m", "devhost", "run", "fan_out_children", "--input", "2",
             "--app", "semantics_app", "--app-dir", str(APPS),
             "--instance-id", "view-run", "--data-dir", str(tmp / "data")],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    return server.store.path, "view-run"


def test_tree_shows_parent_children_and_activities(run_db: tuple[Path, str]) -> None:
    db, root = run_db
    text = render_text(load_run(db, root))
    lines = text.splitlines()
    parent = next(i for i, x in enumerate(lines) if "orchestration:fan_out_children" in x)
    for child in (f"{root}:c0", f"{root}:c1"):
        line = next(x for x in lines if "orchestration:one_child  " in x and f"[{child}]" in x)
        assert lines.index(line) > parent and "✓" in line
        assert any("activity:double" in x and f"[{child}]" in x for x in lines)


def test_html_waterfall_renders_in_chromium(run_db: tuple[Path, str], tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("no Chromium at /usr/bin/chromium: `apt-get install -y chromium` (Debian; "
                    "`make test` does it as root)")
    from playwright.sync_api import sync_playwright

    db, root = run_db
    page_file = tmp_path / "run.html"
    page_file.write_text(render_html(load_run(db, root), f"Run {root}"), encoding="utf-8")
    assert "http://" not in page_file.read_text() and "https://" not in page_file.read_text()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        page = browser.new_page()
        page.goto(page_file.as_uri())
        bars = page.eval_on_selector_all(
            ".row", "rows => rows.map(r => ({name: r.dataset.name, instance: r.dataset.instance,"
                    " width: r.querySelector('.bar').getBoundingClientRect().width}))")
        browser.close()
    drawn = {(b["name"], b["instance"]) for b in bars if b["width"] > 0}
    assert ("orchestration:fan_out_children", root) in drawn
    assert ("orchestration:one_child", f"{root}:c0") in drawn
    assert ("orchestration:one_child", f"{root}:c1") in drawn


