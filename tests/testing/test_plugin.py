"""The durable_app fixture from the outside: pytest sessions of small user projects (made
with pytester), each holding a user's function_app.py that knows nothing of this repository,
for what only a pytest session of its own shows: ini options, markers against them, scope,
failure reports and errors. What the fixture gives a test is test_fixture.py's."""

from __future__ import annotations

import json

import pytest

from .support import USER_APP, USER_HOST_JSON


def project(pytester: pytest.Pytester, test: str, ini: str = "",
            app_path: str = "function_app.py") -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    target = pytester.path / app_path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(USER_APP, encoding="utf-8")
    (target.parent / "host.json").write_text(USER_HOST_JSON, encoding="utf-8")
    pytester.makepyfile(test_user=test)


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


def test_timer_skipping_can_be_turned_off_in_the_ini_file(pytester: pytest.Pytester) -> None:
    """The marker and the attribute turn it off too: test_fixture.py."""
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
