"""The durable_app fixture from the outside: pytest sessions of small user projects (made
with pytester), each holding a user's function_app.py that knows nothing of this repository."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .support import USER_APP

REPO = Path(__file__).resolve().parents[2]


# Durable distributed tracing V2 is off unless host.json turns it on (TraceOptions), as on
# Azure; the user's project turns it on like the recipe's host.json does.
HOST_JSON = {"version": "2.0", "extensions": {"durableTask": {"tracing": {
    "distributedTracingEnabled": True, "version": "V2"}}}}


def project(pytester: pytest.Pytester, test: str, ini: str = "",
            app_path: str = "function_app.py") -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    target = pytester.path / app_path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(USER_APP, encoding="utf-8")
    (target.parent / "host.json").write_text(json.dumps(HOST_JSON), encoding="utf-8")
    pytester.makepyfile(test_user=test)


def test_spans_and_logs_of_any_app_are_what_app_insights_stores(
        pytester: pytest.Pytester) -> None:
    project(pytester, """
        import pytest
        from devhost.testing import DevhostError

        def test_it(durable_app):
            run = durable_app.start("greeter", "ada")
            status = run.wait()
            assert status.runtime_status == "Completed" and status.output == "hello ada"
            (span,) = run.spans(name="gree*")
            assert span.attributes["greeting.name"] == "ada"
            # the SERVER row (a request); its CLIENT twin is a dependency
            (host_span,) = [s for s in run.spans(name="activity:greet")
                            if s.item_type == "request"]
            assert span.parent_id == host_span.id
            # Twice, as on Azure: the app's own exporter files its record (under its span),
            # and the worker's root handler forwards it as an RpcLog, which the host files
            # under the invocation (Category Function.<name>.User).
            (record,) = [r for r in run.logs(message="greeting") if "Category" not in r.attributes]
            assert record.message == "greeting someone" and record.attributes["who"] == "ada"
            assert record.parent_id == span.id
            (forwarded,) = [r for r in run.logs(message="greeting") if "Category" in r.attributes]
            assert forwarded.attributes["Category"] == "Function.greet.User"
            assert forwarded.parent_id == host_span.id
            # The host's own rows of the invocation (func start's Executing/Executed lines).
            (executing,) = run.logs("Executing 'Functions.greet'")
            (executed,) = run.logs("Executed 'Functions.greet' (Succeeded")
            assert executing.attributes["Category"] == executed.attributes["Category"] == \
                "Function.greet"
            assert executing.attributes["InvocationId"] == executed.attributes["InvocationId"] \
                == forwarded.attributes["InvocationId"]
            assert executing.parent_id == executed.parent_id == host_span.id
            assert run.kql("requests | where name startswith 'orchestration:' | count") == [[1]]
            assert run.kql("traces | where message has 'greeting' | project message") == \
                [["greeting someone"], ["greeting someone"]]
            with pytest.raises(DevhostError, match="KQL error: .*\\nquery: traces [|] frobnicate"):
                run.kql("traces | frobnicate")
    """)
    pytester.runpytest().assert_outcomes(passed=1)


def test_the_apps_rows_are_readable_when_the_run_ends_whatever_its_batch_delay(
        pytester: pytest.Pytester) -> None:
    """The app's batch processors would hold its span and log for ten minutes: the worker's
    testing switch (devhost/worker/flush.py) exports them before it answers the invocation,
    so they are filed when the engine sees the activity complete. FunctionRpc itself has no
    such message, and Azure's workers flush nothing per invocation (no `force_flush` in
    azure-functions-python-worker 4.34.0 azure_functions_worker/dispatcher.py, nor in
    azure-functions-runtime 1.3.0)."""
    project(pytester, """
        import pytest

        @pytest.mark.durable_app(settings={"OTEL_BSP_SCHEDULE_DELAY": "600000",
                                           "OTEL_BLRP_SCHEDULE_DELAY": "600000"})
        def test_it(durable_app):
            run = durable_app.start("greeter", "ada")
            assert run.wait().runtime_status == "Completed"
            assert [s.name for s in run.spans(name="greet")] == ["greet"]
            assert [r.message for r in run.logs("greeting") if "who" in r.attributes] == [
                "greeting someone"]
    """)
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_failing_activity_is_in_the_exceptions_table(pytester: pytest.Pytester) -> None:
    project(pytester, """
        def test_it(durable_app):
            run = durable_app.start("exploder", "boom")
            status = run.wait()
            assert status.runtime_status == "Failed" and "boom" in status.output
            errors = run.exceptions()
            assert errors and {e.type for e in errors} == {"ValueError"}
            assert all(e.message == "boom" for e in errors)
            (host_span,) = [s for s in run.spans(name="activity:explode")
                            if s.item_type == "request"]
            assert host_span.success is False
            assert host_span.id in {e.parent_id for e in errors}
    """)
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_failing_assertion_shows_the_run_tree(pytester: pytest.Pytester) -> None:
    project(pytester, """
        def test_it(durable_app):
            run = durable_app.start("greeter", "bob")
            assert run.wait().output == "bonjour bob"
    """)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*- devhost insights run * -*",
        "*orchestration:greeter*",
        "*activity:greet*",
        "*greet  *",
        "*· log: greeting someone*",
    ])


def test_settings_come_from_local_settings_json_and_a_marker_overrides_them(
        pytester: pytest.Pytester) -> None:
    project(pytester, """
        import pytest

        def test_file(durable_app):
            assert durable_app.start("greeter", "cy").wait().output == "hi cy"

        @pytest.mark.durable_app(settings={"GREETING": "hey"})
        def test_marker(durable_app):
            assert durable_app.start("greeter", "cy").wait().output == "hey cy"

        def test_attribute_before_first_use(durable_app):
            durable_app.settings["GREETING"] = "yo"
            assert durable_app.start("greeter", "cy").wait().output == "yo cy"
    """)
    (pytester.path / "local.settings.json").write_text(json.dumps(
        {"IsEncrypted": False, "Values": {"GREETING": "hi"}}), encoding="utf-8")
    pytester.runpytest().assert_outcomes(passed=3)


def test_ini_options_name_another_module_and_folder(pytester: pytest.Pytester) -> None:
    project(pytester, """
        def test_it(durable_app):
            assert durable_app.start("greeter", "di").wait().output == "hello di"
    """, ini="durable_app_module = my_app\ndurable_app_dir = src", app_path="src/my_app.py")
    pytester.runpytest().assert_outcomes(passed=1)


def test_timer_skipping_can_be_turned_off(pytester: pytest.Pytester) -> None:
    project(pytester, """
        import pytest

        @pytest.mark.durable_app(skip_timers=False)
        def test_marker(durable_app):
            assert durable_app.start("greeter", "ed").wait(timeout=1).runtime_status == "Running"

        def test_attribute(durable_app):
            durable_app.skip_timers = False
            assert durable_app.start("greeter", "ed").wait(timeout=1).runtime_status == "Running"
    """)
    pytester.runpytest().assert_outcomes(passed=2)
    project(pytester, """
        def test_ini(durable_app):
            assert durable_app.start("greeter", "ed").wait(timeout=1).runtime_status == "Running"
    """, ini="durable_app_skip_timers = false")
    pytester.runpytest().assert_outcomes(passed=1)


def test_each_test_gets_its_own_host_unless_the_module_shares_one(
        pytester: pytest.Pytester) -> None:
    test = """
        def test_one(durable_app):
            durable_app.start("greeter", "a").wait()
            assert len(durable_app.instances()) == 1

        def test_two(durable_app):
            durable_app.start("greeter", "b").wait()
            assert len(durable_app.instances()) == EXPECTED
    """
    project(pytester, test.replace("EXPECTED", "1"))
    pytester.runpytest().assert_outcomes(passed=2)
    project(pytester, test.replace("EXPECTED", "2"), ini="durable_app_scope = module")
    pytester.runpytest().assert_outcomes(passed=2)


def test_a_missing_app_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_user="""
        def test_it(durable_app):
            durable_app.start("greeter")
    """)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no Functions app: *function_app.py does not exist*"])


def test_an_app_that_fails_to_import_says_why(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    (pytester.path / "function_app.py").write_text("raise RuntimeError('broken on purpose')\n")
    pytester.makepyfile(test_user="""
        def test_it(durable_app):
            durable_app.start("greeter")
    """)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*devhost could not start the app*",
                                 "*RuntimeError: broken on purpose*"])


def test_an_unknown_marker_argument_is_refused(pytester: pytest.Pytester) -> None:
    project(pytester, """
        import pytest

        @pytest.mark.durable_app(skip_timer=False)
        def test_it(durable_app):
            pass
    """)
    result = pytester.runpytest()
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*unknown argument 'skip_timer'*"])


def test_a_direct_start_without_v2_tracing_still_covers_its_activities(
        pytester: pytest.Pytester) -> None:
    """No host.json: Durable's V2 tracing is off (TraceOptions' default), as on Azure, so
    each activity invocation starts a trace of its own (the host's Activity has no Durable
    parent). The run still covers them: the recipe's spans and logs carry
    `durabletask.task.instance_id`, and the README's example holds as written."""
    for name in ("function_app.py", "workflow.py"):
        shutil.copy(REPO / name, pytester.path / name)
    shutil.copytree(REPO / "telemetry", pytester.path / "telemetry",
                    ignore=shutil.ignore_patterns("__pycache__"))
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_user="""
        def test_it(durable_app):
            run = durable_app.start("parent_workflow_orchestrator", {"customer_id": "c-1"})
            assert run.wait().runtime_status == "Completed"
            spans = run.spans(name="run_activity:*")
            assert len(spans) == 2
            for span in spans:
                assert span.attributes["app.durable.root_instance_id"] == run.instance_id
            assert len({span.operation_id for span in spans}) == 2  # a trace each
            assert run.logs(message="Synced customer profile")[0].attributes[
                "customer_id"] == "c-1"
            assert not run.spans(name="activity:*")  # no Durable rows without V2
    """)
    pytester.runpytest().assert_outcomes(passed=1)
