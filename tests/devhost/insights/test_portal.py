"""The local portal and the run views against `devhost start`, as a user runs it: the recipe
served on devhost, a held-out app (tests/devhost/insights/greeting_app, a greeting whose
activity fails for Tokyo) run by a second devhost that files its telemetry into the same
database, and the pages read in Debian's headless Chromium.

One devhost and one browser for the module (each start is a second of a budget the whole
suite shares). Screenshots go to the test's tmp_path, or to DEVHOST_PORTAL_SCREENSHOTS when
set (`make portal-pictures` regenerates the docs' pictures).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devhost.insights import cli as insights_cli
from devhost.insights.envelopes import Row
from devhost.insights.ingest import IngestionServer, connection_string
from devhost.insights.parameters import TimeRange, substitute
from devhost.insights.query import run_kql
from devhost.insights.serving import server_of
from devhost.insights.view import load_run, render_html, render_text

from ...hosting import REPO, Host, devhost_env, start
from ..support import http, start_and_wait

pytestmark = pytest.mark.host

GREETING_APP = Path(__file__).resolve().parent / "greeting_app"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
STARTER = "/api/start-sub-orchestration"
FAILURE = "greeting service unavailable for Tokyo"
CALLER = "00-5f1e0c8a9b2d4e6f8a0b1c2d3e4f5a6b-0123456789abcdef-01"
REFUSED = "00-4d0c1b2a39485766a5b4c3d2e1f00a1b-0123456789abcdef-01"


def _start_recipe(host: Host, headers: dict[str, str] | None = None) -> str:
    started, final = start_and_wait(host.base + STARTER, headers=headers)
    assert final["runtimeStatus"] == "Completed", final
    return str(started["id"])


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`devhost start` on the recipe with one finished run; the held-out app's failed run
    filed by `devhost run` into the same database through the first devhost's endpoint."""
    tmp = Path(tmp_path_factory.mktemp("portal"))
    # The app posts each span as it ends (its default batches them for up to 5 s): the
    # workbook reads the app's rows, and a test waits on them.
    host = start(tmp, REPO, TELEMETRY_SYNC_EXPORT="true")
    try:
        db = host.data_dir / "insights.duckdb"
        served = server_of(db)
        assert served is not None
        recipe = _start_recipe(host)
        # Run from a copy outside the checkout: its tracebacks (in the pictures' stacks)
        # then name no worktree path.
        app = Path(shutil.copytree(GREETING_APP, tmp / "greeting_app"))
        failed = subprocess.run(
            [sys.executable, "-m", "devhost", "run", "hello_cities", "--app-dir",
             str(app), "--data-dir", str(tmp / "greeting"), "--instance-id",
             "greeting-run"],
            cwd=REPO, capture_output=True, text=True, timeout=60,
            env=devhost_env(APPLICATIONINSIGHTS_CONNECTION_STRING=connection_string(db, served)))
        assert failed.returncode == 1 and FAILURE in failed.stdout, failed.stderr
        yield {"host": host, "db": db, "served": served, "recipe": recipe,
               "failed": "greeting-run", "tmp": tmp}
    finally:
        host.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("no Chromium at /usr/bin/chromium: `apt-get install -y chromium` (Debian; "
                    "`make test` does it as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        yield launched
        launched.close()


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`devhost insights …` in this process: it asks the devhost over its query API, as a
    CLI in another shell does (this process holds no writer of the database)."""
    code = insights_cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_portal_is_on_the_loopback_query_server_only(portal: dict[str, Any],
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    host: Host = portal["host"]
    url = portal["served"].rstrip("/") + "/insights/"
    assert f"portal: {url}  (loopback only)" in host.log.read_text()
    code, out, _ = _cli(capsys, "open", "--db", str(portal["db"]))
    assert (code, out.strip()) == (0, url)
    assert http("GET", url)[0] == 200
    # Not where the functions listen (`--host` may open that port to the network).
    assert http("GET", host.base + "/insights/")[0] == 404
    # A page elsewhere whose name rebinds to 127.0.0.1 sends its own Host: refused.
    status, body, _ = http("POST", url + "api/query", body={"query": "requests | take 1"},
                           headers={"Host": "attacker.example"})
    assert (status, body["field"]) == (403, "Host")


def test_query_api_takes_kql_only(portal: dict[str, Any]) -> None:
    url = portal["served"].rstrip("/") + "/insights/api/query"
    for text in ("SELECT * FROM requests", "DROP TABLE requests", ".drop table requests"):
        status, body, _ = http("POST", url, body={"query": text})
        assert status == 400 and body["error"]["field"] == "query", (text, body)
    status, body, _ = http("POST", url, body={"query": "requests | count"})
    assert status == 200 and body["tables"][0]["rows"][0][0] > 0
    status, body, _ = http("POST", url, body={
        "query": "requests | where timestamp {TimeRange} | count",
        "parameters": {"TimeRange": "soon"}})
    assert (status, body["error"]["field"]) == (400, "parameters.TimeRange")


def test_insights_run_prints_the_exception_under_its_span(
        portal: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "run", portal["failed"], "--db", str(portal["db"]))
    assert code == 0, err
    lines = out.splitlines()
    failed = next(i for i, x in enumerate(lines) if "✗ activity:say_hello" in x
                  and i + 1 < len(lines) and "! RuntimeError" in lines[i + 1])
    assert f"! RuntimeError: {FAILURE}" in lines[failed + 1]
    assert "function_app.py:" in lines[failed + 1] and "in say_hello" in lines[failed + 1]


def test_insights_query_runs_a_workbook_query_file_with_its_parameters(
        portal: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "query", str(REPO / "dashboards/queries/runs.kql"),
                          "--param", "TimeRange=1h", "--format", "json",
                          "--db", str(portal["db"]))
    assert code == 0, err
    rows = json.loads(out)  # the recipe's runs only: the greeting app has no starter row
    assert portal["recipe"] in [r["root"] for r in rows]
    assert {r["status"] for r in rows} == {"Completed"}


def test_portal_in_chromium(portal: dict[str, Any], browser: Any, tmp_path: Path) -> None:
    """Runs → a run's waterfall → the failure and its stack → the workbook, in one tab."""
    shots = Path(os.environ.get("DEVHOST_PORTAL_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    url = portal["served"].rstrip("/") + "/insights/"
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # A request the starter refuses (HTTP 400): success as Functions counts it (the
        # function returned a response; azure-webjobs-sdk f79ea0b,
        # ApplicationInsightsLogger.LogFunctionResult), so Completed, with its code shown.
        refused, _, _ = http("POST", portal["host"].base + STARTER, raw=b"not json",
                             headers={"traceparent": REFUSED})
        assert refused == 400
        page.goto(url)
        page.wait_for_selector("#runs-table")
        row = page.locator(f"tr.run[data-operation='{REFUSED.split('-')[1]}']")
        row.wait_for()
        assert row.get_attribute("data-status") == "Completed"
        assert row.locator(".code").inner_text() == "400"
        assert page.locator("tr.run .code").count() == 1
        # A run that finishes while the list is open appears without a reload (the page
        # polls every second; how soon is a timing figure, not a pass/fail line here).
        page.evaluate("window.sameDocument = true")
        # Started as `devhost call` does, with a caller's `traceparent`: the starter's row
        # has a parent id that is not stored, and is still the run's root (App Insights'
        # transaction view roots a trace at the row whose parent is not among its rows).
        second = _start_recipe(portal["host"], headers={"traceparent": CALLER})
        page.wait_for_selector(f"tr.run:has-text('{second}')", timeout=30_000)
        assert page.evaluate("window.sameDocument === true"), "the list was reloaded"
        called = page.locator(f"tr.run:has-text('{second}')")
        assert called.get_attribute("data-operation") == CALLER.split("-")[1]
        assert called.locator("td").nth(1).inner_text() == "start_sub_orchestration"
        assert page.locator("tr.run[data-status=Completed]").count() >= 2
        page.screenshot(path=str(shots / "portal-runs.png"), full_page=True)
        # Filters: free text over instance ids (and names, dimensions, messages), status.
        page.fill("#run-filter", portal["failed"])
        page.wait_for_function("document.querySelectorAll('tr.run').length === 1")
        assert page.locator("tr.run[data-status=Failed]").count() == 1
        page.fill("#run-filter", "")
        page.select_option("#status-filter", "Completed")
        page.wait_for_function("[...document.querySelectorAll('tr.run')].every("
                               "r => r.dataset.status === 'Completed')")
        assert page.locator("tr.run").count() >= 2
        page.select_option("#status-filter", "")
        page.wait_for_selector("tr.run[data-status=Failed]")

        # The failed run: its exception in the rows and on top, without a click.
        page.click("tr.run[data-status=Failed]")
        page.wait_for_selector(".wf-row")
        headline = page.inner_text("#failure")
        assert "RuntimeError" in headline and FAILURE in headline
        # The whole message once, on the row where it began; the rows above say what failed.
        failed_rows = page.locator(".wf-row[data-failed=true]")
        assert [t for t in failed_rows.locator(".err").all_inner_texts()
                if FAILURE in t] == [f"RuntimeError: {FAILURE}"]
        assert failed_rows.count() > 1
        # Nothing selected yet: no details pane, the waterfall takes the width.
        assert not page.is_visible("#details")
        assert page.evaluate("document.getElementById('waterfall').getBoundingClientRect()"
                             ".width / document.querySelector('.layout').clientWidth") > 0.95
        # The banner selects the row where the failure began.
        page.click("#failure")
        assert FAILURE in page.inner_text(".wf-row.selected .err")
        assert f"RuntimeError: {FAILURE}" in page.inner_text("#details .exception")
        # The stack, on click: the failed orchestration's reason carries the worker's traceback.
        page.click(".wf-row[data-failed=true][data-name='orchestration:hello_cities']")
        assert "function_app.py" in page.inner_text("#status-description")
        stack = page.inner_text("#remote-stack")
        assert 'function_app.py", line' in stack and "in say_hello" in stack
        # The activity's own row (the host's exception row has no frames): the same stack.
        page.locator(".wf-row[data-failed=true][data-name='activity:say_hello']").last.click()
        assert f"RuntimeError: {FAILURE}" in page.inner_text("#details .exception")
        assert 'function_app.py", line' in page.inner_text("#remote-stack")
        page.click(".wf-row[data-failed=true][data-name='orchestration:hello_cities']")
        assert "durabletask.task.instance_id" in page.inner_text("#details")
        history = page.get_attribute("#details a:text('history')", "href")
        assert history == (f"{portal['host'].base}/runtime/webhooks/durabletask/instances/"
                           f"{portal['failed']}?showHistory=true&showHistoryOutput=true")
        page.screenshot(path=str(shots / "portal-transaction.png"), full_page=True)
        # The host's Executing/Executed lines are folded until asked for.
        assert "Executing 'Functions." not in page.inner_text("#waterfall")
        page.check("#show-host-logs")
        assert "Executing 'Functions.say_hello'" in page.inner_text("#waterfall")

        # The recipe's run (rooted at the starter a caller's traceparent parented): its
        # names and instance ids are whole (not wrapped, not clipped), with the details
        # pane open too.
        page.goto(f"{url}#/run/{CALLER.split('-')[1]}")
        page.click(".wf-row[data-name='orchestration:parent_workflow_orchestrator']")
        assert page.is_visible("#details")
        assert page.get_attribute(".wf-row", "data-name") == "start_sub_orchestration"
        page.screenshot(path=str(tmp_path / "portal-run.png"), full_page=True)
        broken = page.eval_on_selector_all(".wf-row .label, .wf-row .inst", """nodes =>
            nodes.filter(n => { const r = document.createRange(); r.selectNodeContents(n);
                const name = n.closest('.name');
                return r.getClientRects().length > 1 || name.scrollWidth > name.clientWidth;
            }).map(n => n.textContent)""")
        assert broken == []

        # The workbook, reached by its link in the same tab, lists the recipe's runs as
        # `devhost insights query` does on the same data.
        page.get_by_role("link", name="Workbook", exact=True).click()
        page.wait_for_selector(".wb-item[data-name=runs] table.wb-grid")
        assert len(context.pages) == 1
        grid = page.locator(".wb-item[data-name=runs] table.wb-grid")
        headers = grid.locator("th").all_inner_texts()
        shown = sorted(r.split("\t")[headers.index("root")]
                       for r in grid.locator("tbody tr").all_inner_texts())
        runs = (REPO / "dashboards/queries/runs.kql").read_text()
        day = {"TimeRange": TimeRange(86_400_000)}  # the workbook's default range
        columns, rows = run_kql(portal["db"], substitute(runs, day))
        assert shown == sorted(str(r[columns.index("root")]) for r in rows)
        assert sorted([portal["recipe"], second]) == shown
        # Its drill-down: a run's row sets RootInstanceId, which shows the run's spans.
        assert page.locator(".wb-item[data-name=run_tree]").count() == 0
        grid.locator(f"tbody tr:has-text('{second}')").click()
        page.wait_for_selector(".wb-item[data-name=run_tree] table.wb-grid")
        assert page.input_value("input[data-param=RootInstanceId]") == second
        page.screenshot(path=str(shots / "portal-workbook.png"), full_page=True)
    finally:
        context.close()
    assert errors == []


def test_tree_shows_parent_children_and_activities(portal: dict[str, Any]) -> None:
    root = portal["recipe"]
    lines = render_text(load_run(portal["db"], root)).splitlines()
    parent = next(i for i, x in enumerate(lines)
                  if "orchestration:parent_workflow_orchestrator" in x)
    for child, name, activity in (
            ("customer-sync", "customer_sync_sub_orchestrator", "sync_customer_profile"),
            ("inventory-sync", "inventory_sync_sub_orchestrator", "build_inventory_snapshot")):
        line = next(x for x in lines if f"orchestration:{name}  " in x and f"[{root}:{child}]" in x)
        assert lines.index(line) > parent and "✓" in line
        assert any(f"activity:{activity}" in x and f"[{root}:{child}]" in x for x in lines)


def test_html_waterfall_renders_in_chromium(portal: dict[str, Any], browser: Any) -> None:
    """`insights run --html`'s page: self-contained, every span drawn."""
    root = portal["recipe"]
    page_html = render_html(load_run(portal["db"], root), f"Run {root}")
    assert "http://" not in page_html and "https://" not in page_html
    page = browser.new_page()
    try:
        page.set_content(page_html)
        bars = page.eval_on_selector_all(
            ".row", "rows => rows.map(r => ({name: r.dataset.name, instance: r.dataset.instance,"
                    " width: r.querySelector('.bar').getBoundingClientRect().width}))")
    finally:
        page.close()
    drawn = {(b["name"], b["instance"]) for b in bars if b["width"] > 0}
    assert ("orchestration:parent_workflow_orchestrator", root) in drawn
    assert ("orchestration:customer_sync_sub_orchestrator", f"{root}:customer-sync") in drawn
    assert ("activity:build_inventory_snapshot", f"{root}:inventory-sync") in drawn


def test_html_waterfall_of_a_failed_run_names_the_exception(portal: dict[str, Any],
                                                             browser: Any, tmp_path: Path) -> None:
    """The failed run's page says what `insights run` prints under the failed span (type,
    message, the user's frame), folds the host's Executing/Executed lines until asked, and
    draws no duration label over a bar."""
    page_html = render_html(load_run(portal["db"], portal["failed"]), "Run greeting-run")
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    try:
        page.set_content(page_html)
        errors = page.locator(".row.failed[data-name='activity:say_hello'] .err")
        text = " ".join(errors.all_inner_texts())
        assert f"RuntimeError: {FAILURE}" in text
        assert "function_app.py:" in text and "in say_hello" in text
        assert "Executing 'Functions." not in page.inner_text(".waterfall")
        page.check("#show-host")
        assert "Executing 'Functions.say_hello'" in page.inner_text(".waterfall")
        overlaps = page.eval_on_selector_all(".row", """rows => rows.filter(r => {
            const m = r.querySelector('.ms').getBoundingClientRect();
            const lane = r.querySelector('.lane').getBoundingClientRect();
            return m.right > lane.left; }).length""")
        assert overlaps == 0
        page.screenshot(path=str(tmp_path / "insights-run-html.png"), full_page=True)
    finally:
        page.close()


def _workbook_item(kind: int, name: str, **content: Any) -> dict[str, Any]:
    return {"type": kind, "name": name, "content": content}


def test_workbook_renderer_draws_each_visualization_and_names_what_it_cannot(
        browser: Any, tmp_path: Path) -> None:
    """The renderer is generic: a workbook written here (not the shipped one) with a dropdown
    filled by its own query, a bar chart, a time chart, tiles, conditional visibility, and
    items it does not support, on rows filed into an in-process ingestion server."""
    now = datetime.now(UTC).replace(tzinfo=None)
    query = {"version": "KqlItem/1.0", "queryType": 0}
    workbook = {"version": "Notebook/1.0", "items": [
        _workbook_item(1, "intro", json="## Local view\n- **bold** and `code`\n"
                       "- spans (`app.durable.*`, `durabletask.*`) *each*"),
        _workbook_item(9, "params", parameters=[
            {"name": "TimeRange", "type": 4, "value": {"durationMs": 3_600_000},
             "typeSettings": {"selectableValues": [{"durationMs": 3_600_000}]}},
            {"name": "Fn", "label": "Function", "type": 2,
             "query": "requests | where timestamp {TimeRange} | distinct name | order by name asc"},
            {"name": "Other", "type": 7}]),
        _workbook_item(3, "bars", **query, visualization="barchart",
                       query="requests | summarize n = count() by name"),
        _workbook_item(3, "line", **query, visualization="timechart",
                       query="requests | summarize n = count() by bin(timestamp, 1m)"),
        _workbook_item(3, "tiles", **query, visualization="tiles",
                       query="requests | summarize n = count() by name"),
        _workbook_item(3, "pie", **query, visualization="piechart",
                       query="requests | summarize n = count() by name"),
        _workbook_item(10, "metrics"),
        {**_workbook_item(3, "picked", **query, visualization="table",
                          query='requests | where name == "{Fn}" | project name, duration'),
         "conditionalVisibility": {"parameterName": "Fn", "comparison": "isNotEqualTo",
                                   "value": ""}}]}
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "dashboards" / "local.workbook").write_text(json.dumps(workbook))
    with IngestionServer(tmp_path / "i.duckdb") as server:
        server.portal.workbooks = tmp_path / "dashboards"
        server.store.insert([
            Row("requests", {"timestamp": now - timedelta(seconds=70 * i), "operation_Id": f"op{i}",
                             "id": f"s{i}", "name": name, "duration": 1.0 + i,
                             "success": True, "itemType": "request"})
            for i, name in enumerate(["alpha", "alpha", "beta"])])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        try:
            page.goto(server.portal_url + "#/workbook/local.workbook")
            page.wait_for_selector(".wb-item[data-name=tiles] .tile")
            assert page.inner_text(".md h3") == "Local view"
            # A `*` inside a code span is literal: no emphasis starts or ends there.
            assert page.locator(".md code").all_inner_texts() == [
                "code", "app.durable.*", "durabletask.*"]
            assert page.locator(".md i").all_inner_texts() == ["each"]
            assert page.locator(".wb-item[data-name=bars] svg.chart rect").count() == 2
            assert page.locator(".wb-item[data-name=line] svg.chart polyline").count() == 1
            # One point per minute bin: the rows are 70 s apart.
            assert page.locator(".wb-item[data-name=line] svg.chart circle").count() == 3
            tiles = page.locator(".wb-item[data-name=tiles] .tile").all_inner_texts()
            assert sorted(t.split("\n") for t in tiles) == [["alpha", "2"], ["beta", "1"]]
            notes = page.locator(".unsupported").all_inner_texts()
            assert any('visualization "piechart"' in n for n in notes)
            assert any("item type 10" in n for n in notes)
            assert any("parameter type 7" in n for n in notes)
            assert page.locator(".wb-item[data-name=pie] table.wb-grid").count() == 1
            assert page.locator(".wb-item[data-name=picked]").count() == 0
            page.select_option("select[data-param=Fn]", "beta")
            page.wait_for_selector(".wb-item[data-name=picked] table.wb-grid")
            rows = page.locator(".wb-item[data-name=picked] tbody tr").all_inner_texts()
            assert [r.split("\t")[0] for r in rows] == ["beta"]
            shots = Path(os.environ.get("DEVHOST_PORTAL_SCREENSHOTS") or tmp_path)
            page.screenshot(path=str(shots / "portal-workbook-visuals.png"), full_page=True)
        finally:
            page.close()
