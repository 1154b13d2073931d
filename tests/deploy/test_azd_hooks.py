"""azure.yaml's hooks: the task hub check before provisioning, and the first deploy waiting
for the identity's storage role. The publish side runs against a loopback stand-in for ARM
and the Flex deployment endpoint, speaking what azd's client expects (azure-dev
cli/azd/pkg/azsdk/funcapp_host_client.go: POST /api/publish → 202 and the deployment id as a
JSON string; GET /api/deployments/<id> → status 0-2 while running, 3 failed with
status_text, 4 success), and the failure text of azure-dev #8026."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from deploy.azd_hooks import (
    CONFIRMED,
    HookError,
    Publisher,
    await_storage_access,
    check_parameters,
    main,
    run_await,
)
from devhost.durable.taskhub import TaskHubError, task_hub_name

from .requirements import REPO

# As the platform reported it in azure-dev #8026.
DENIED = ("InaccessibleStorageException: Failed to access storage account for deployment: "
          "BlobUploadFailedException: Failed to upload blob to storage account: Response "
          "status code does not indicate success: 403 (This request is not authorized to "
          "perform this operation using this permission.).")
ENV = {"AZURE_SUBSCRIPTION_ID": "sub-1", "AZURE_RESOURCE_GROUP": "rg-x",
       "AZURE_FUNCTION_APP_NAME": "func-x", "DEPLOY_IDENTITY_PRINCIPAL_ID": "principal-1"}


class FakeAzure(ThreadingHTTPServer):
    """ARM's site GET and the Flex publish API; the first `denied` publishes fail as a
    role not yet applied makes them fail."""

    def __init__(self, denied: int = 0, fail_with: str = "") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.denied, self.fail_with = denied, fail_with
        self.uploads: list[bytes] = []
        self.polls: dict[str, int] = {}
        self.auth: set[str] = set()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def status_of(self, deployment: str) -> dict[str, Any]:
        number = int(deployment.removeprefix("dep-"))
        self.polls[deployment] = polls = self.polls.get(deployment, 0) + 1
        if polls == 1:
            return {"status": 1}  # building: the client must keep polling
        if number <= self.denied:
            return {"status": 3, "status_text": DENIED}
        if self.fail_with:
            return {"status": 3, "status_text": self.fail_with}
        return {"status": 4, "status_text": ""}


class _Handler(BaseHTTPRequestHandler):
    server: FakeAzure

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.auth.add(self.headers.get("Authorization", ""))
        if self.path.startswith("/subscriptions/sub-1/resourceGroups/rg-x/providers/"
                                "Microsoft.Web/sites/func-x?api-version="):
            self._send(200, {"properties": {"hostNameSslStates": [
                {"name": "func-x.azurewebsites.net", "hostType": "Standard"},
                {"name": self.server.host, "hostType": "Repository"}]}})
        elif self.path.startswith("/api/deployments/"):
            self._send(200, self.server.status_of(self.path.rsplit("/", 1)[1]))
        else:
            self._send(404, {"error": self.path})

    def do_POST(self) -> None:
        assert self.path == "/api/publish"  # no RemoteBuild=true: the package is prebuilt
        assert self.headers["Content-Type"] == "application/zip"
        self.server.uploads.append(self.rfile.read(int(self.headers["Content-Length"])))
        self._send(202, f"dep-{len(self.server.uploads)}")


@pytest.fixture()
def azure(request: pytest.FixtureRequest) -> Iterator[FakeAzure]:
    server = FakeAzure(**getattr(request, "param", {}))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01},
                              daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


class Clock:
    """Stands in for time.sleep: records the waits, so backoff is checked without waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _publisher(azure: FakeAzure, clock: Clock) -> Publisher:
    return Publisher(token="tok", arm=f"http://{azure.host}", scheme="http", sleep=clock)


@pytest.mark.parametrize("azure", [{"denied": 3}], indirect=True)
def test_first_deploy_waits_out_the_role_assignment(azure: FakeAzure, tmp_path: Path) -> None:
    package = tmp_path / "function-app.zip"
    package.write_bytes(b"PK-package")
    clock, recorded = Clock(), dict[str, str]()
    message = run_await(ENV, publisher=_publisher(azure, clock), package=package,
                        record=recorded.__setitem__)
    assert "attempt 4" in message
    assert azure.uploads == [b"PK-package"] * 4
    backoff = [w for w in clock.waits if w != 1.0]  # 1 s: polling a running deployment
    assert backoff == [10.0, 20.0, 40.0]
    assert recorded == {CONFIRMED: "principal-1"}
    assert azure.auth == {"Bearer tok"}


def test_a_confirmed_identity_is_not_waited_for_again(tmp_path: Path) -> None:
    """Later deploys (same identity) skip the extra publish; nothing is contacted."""
    message = run_await({**ENV, CONFIRMED: "principal-1"}, package=tmp_path / "absent.zip")
    assert "already confirmed" in message


@pytest.mark.parametrize("azure", [{"denied": 99}], indirect=True)
def test_the_wait_is_bounded_and_says_what_to_do(azure: FakeAzure) -> None:
    clock = Clock()
    with pytest.raises(HookError, match=r"run `azd deploy` again later") as raised:
        await_storage_access(_publisher(azure, clock), azure.host, b"PK", budget=100)
    assert "after 70 s" in str(raised.value)  # 10 + 20 + 40; the next 80 would pass 100
    assert len(azure.uploads) == 4


@pytest.mark.parametrize("azure", [{"fail_with": "Failed to deploy: host.json is invalid"}],
                         indirect=True)
def test_any_other_failure_is_not_retried(azure: FakeAzure) -> None:
    with pytest.raises(HookError, match="deployment failed: Failed to deploy: host.json"):
        await_storage_access(_publisher(azure, Clock()), azure.host, b"PK", budget=900)
    assert len(azure.uploads) == 1


def test_missing_outputs_name_the_setting(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "sub-1")
    assert main(["await-storage-access"]) == 1
    line = json.loads(capsys.readouterr().err)
    assert line["field"] == "AZURE_RESOURCE_GROUP" and "azd provision" in line["error"]


@pytest.mark.parametrize("name", ["SubOrchestrationHub", "Hub", "a" + "1" * 44, None])
def test_task_hub_names_the_extension_accepts_pass(name: str | None) -> None:
    env = {} if name is None else {"TASKHUB_NAME": name}
    assert check_parameters(env) == (name or "SubOrchestrationHub")
    assert task_hub_name(name or "SubOrchestrationHub", {})  # devhost agrees


@pytest.mark.parametrize("name", ["my-hub", "1Hub", "Hu", "a" * 46, "hub_1", "Hub é"])
def test_task_hub_names_the_extension_refuses_are_refused_before_provisioning(
        name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKHUB_NAME", name)
    assert main(["check-parameters"]) == 1
    line = json.loads(capsys.readouterr().err)
    assert line["field"] == "TASKHUB_NAME" and name in line["error"]
    # devhost, like the extension, refuses them too; both only enforce 50 characters, not
    # the 45 their message states (and the hub's longest container name needs).
    if len(name) <= 45:
        with pytest.raises(TaskHubError):
            task_hub_name(name, {})


def test_usage_is_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy-everything"]) == 2
    assert json.loads(capsys.readouterr().err)["field"] == "command"


def test_azure_yaml_runs_the_hooks_and_ships_the_prebuilt_package() -> None:
    """No remote build (azure-dev #8538: Flex's Oryx build ran Python 3.11.8); azd zips
    `dist` — the folder `make package` writes — and the hooks above run where azd calls them."""
    text = (REPO / "azure.yaml").read_text()
    service = text[text.index("  api:"):]
    assert re.search(r"^    dist: dist/function-app$", service, re.MULTILINE)
    assert re.search(r"^    remoteBuild: false$", service, re.MULTILINE)
    assert re.search(r"^      prepackage:\n        shell: sh\n        run: make package$",
                     service, re.MULTILINE)
    assert re.search(r"^      predeploy:\n(?:        #.*\n)*        shell: sh\n        run: "
                     r"python3 -m deploy\.azd_hooks await-storage-access$", service,
                     re.MULTILINE)
    project = text[:text.index("services:")]
    assert re.search(r"^  preprovision:\n(?:    #.*\n)*    shell: sh\n    run: python3 -m "
                     r"deploy\.azd_hooks check-parameters$", project, re.MULTILINE)
    makefile = (REPO / "Makefile").read_text()
    assert "PACKAGE_DIR := dist/function-app\n" in makefile
