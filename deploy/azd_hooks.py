"""azd hooks (azure.yaml): refuse a bad task hub name before anything is provisioned, and let
the first deploy wait until the identity can write the deployment package.

`python3 -m deploy.azd_hooks check-parameters` (preprovision): Bicep has no pattern decorator,
so the Durable extension's character rule for TASKHUB_NAME is checked here.

`python3 -m deploy.azd_hooks await-storage-access` (predeploy): Flex Consumption stores the
package in its deployment container *as the app's identity*, whose Storage Blob Data Owner role
was created by the same `azd up`. Azure RBAC can take minutes to apply, azd retries only
`ContainerNotFound` (azure-dev #8026), and shared keys are off: the first upload can fail 403.
So, once per identity, this publishes the package `make package` built through the same
endpoint azd uses (azure-dev cli/azd/pkg/azsdk/funcapp_host_client.go Publish: POST
`https://<scm host>/api/publish`, poll `/api/deployments/<id>`), retrying with backoff while the
platform reports the storage 403, then records the identity in the azd environment
(DEPLOY_STORAGE_ACCESS_CONFIRMED) so later deploys skip it. azd's own deploy follows.

Standard library only: hooks run before `make install` may have made the venv.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

# AzureStorageOptions.ValidateHubName (azure-functions-durable-extension): letters and digits,
# a letter first, 3 to 45 characters (its message; main.bicep checks the length too).
TASK_HUB = re.compile(r"[A-Za-z][A-Za-z0-9]{2,44}")
DEFAULT_TASK_HUB = "SubOrchestrationHub"  # main.parameters.json's fallback
ARM = "https://management.azure.com"
ARM_SCOPE = "https://management.azure.com//.default"
SITE_API = "2024-04-01"
PACKAGE = Path("dist/function-app.zip")
CONFIRMED = "DEPLOY_STORAGE_ACCESS_CONFIRMED"
# Deployment status codes (funcapp_host_client.go PublishStatus).
FAILED, SUCCESS = 3, 4
DONE = {-1: "cancelled", 3: "failed", 5: "conflict (another deployment in progress)",
        6: "partially successful"}
# What the platform says when the identity cannot write the container yet (azure-dev #8026:
# "InaccessibleStorageException ... BlobUploadFailedException ... 403 (This request is not
# authorized to perform this operation using this permission.)").
STORAGE_DENIED = re.compile(r"InaccessibleStorageException|AuthorizationPermissionMismatch|"
                            r"not authorized to perform this operation", re.IGNORECASE)


class HookError(Exception):
    """One line for the user: what failed and what to do."""

    def __init__(self, message: str, field_name: str | None = None) -> None:
        super().__init__(message)
        self.field = field_name


class StorageDenied(Exception):
    pass


def check_parameters(env: Mapping[str, str]) -> str:
    name = env.get("TASKHUB_NAME") or DEFAULT_TASK_HUB
    if not TASK_HUB.fullmatch(name):
        raise HookError(f"TASKHUB_NAME {name!r}: letters and digits only, a letter first, 3 to "
                        "45 characters (the Durable extension's rule); azd env set TASKHUB_NAME "
                        "<name>", "TASKHUB_NAME")
    return name


@dataclass
class Publisher:
    """Publishes a zip to a Flex Consumption app, as azd does, with a bearer token for ARM."""

    token: str
    arm: str = ARM
    scheme: str = "https"
    poll_seconds: float = 1.0  # azd's poll interval, "recommended by the service team"
    sleep: Callable[[float], None] = time.sleep
    timeout: float = 60.0
    published: int = field(default=0, init=False)

    def _request(self, method: str, url: str, body: bytes | None = None,
                 content_type: str | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(url, data=body, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Accept": "application/json",
            **({"Content-Type": content_type} if content_type else {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def scm_host(self, subscription: str, group: str, app: str) -> str:
        """The app's deployment (Kudu) host, from the site's hostNameSslStates as azd reads it
        (function_app.go functionAppRepositoryHost): Flex apps may have unique host names."""
        url = (f"{self.arm}/subscriptions/{subscription}/resourceGroups/{group}/providers/"
               f"Microsoft.Web/sites/{app}?api-version={SITE_API}")
        status, body = self._request("GET", url)
        if status != 200:
            raise HookError(f"reading function app {app}: HTTP {status} {body[:300]!r}",
                            "AZURE_FUNCTION_APP_NAME")
        for state in json.loads(body)["properties"].get("hostNameSslStates", []):
            if state.get("hostType") == "Repository":
                return str(state["name"])
        raise HookError(f"function app {app} has no deployment (Repository) host name")

    def publish(self, host: str, package: bytes) -> None:
        """One publish; StorageDenied when the platform could not write the package."""
        self.published += 1
        status, body = self._request("POST", f"{self.scheme}://{host}/api/publish", package,
                                     "application/zip")
        if status != 202:
            text = body.decode(errors="replace")[:500]
            if status == 403 and STORAGE_DENIED.search(text):
                raise StorageDenied(text)
            raise HookError(f"publish to {host}: HTTP {status} {text}")
        location = f"{self.scheme}://{host}/api/deployments/{json.loads(body)}"
        not_found = 0
        while True:
            status, body = self._request("GET", location)
            if status == 404 and not_found < 3:  # a deployment takes a moment to "come alive"
                not_found += 1
                self.sleep(self.poll_seconds)
                continue
            if status not in (200, 202):
                raise HookError(f"deployment status {location}: HTTP {status}")
            state = json.loads(body)
            code, text = state.get("status"), str(state.get("status_text") or "")
            if code == SUCCESS:
                return
            if code == FAILED and STORAGE_DENIED.search(text):
                raise StorageDenied(text)
            if code in DONE:
                raise HookError(f"deployment {DONE[code]}: {text}")
            self.sleep(self.poll_seconds)


def await_storage_access(publisher: Publisher, host: str, package: bytes, *,
                         budget: float, first_delay: float = 10.0,
                         max_delay: float = 120.0) -> int:
    """Publish until the platform can write with the identity, waiting with exponential
    backoff between attempts, within `budget` seconds of waiting in all; returns attempts."""
    waited, delay = 0.0, first_delay
    while True:
        try:
            publisher.publish(host, package)
            return publisher.published
        except StorageDenied as denied:
            if waited + delay > budget:
                raise HookError(
                    f"the app's identity still cannot write its deployment container after "
                    f"{int(waited)} s ({denied}). Role assignments can take up to 30 minutes "
                    "to apply: run `azd deploy` again later.") from None
            print(f"deployment storage not writable by the app's identity yet (role "
                  f"assignment still applying); retrying in {int(delay)} s", file=sys.stderr)
            publisher.sleep(delay)
            waited += delay
            delay = min(delay * 2, max_delay)


def _azd(*args: str) -> str:
    done = subprocess.run(["azd", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise HookError(f"azd {args[0]} {args[1]}: {done.stderr.strip()[:300]}")
    return done.stdout


def run_await(env: Mapping[str, str], *, publisher: Publisher | None = None,
              record: Callable[[str, str], object] | None = None,
              package: Path = PACKAGE) -> str:
    required = ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZURE_FUNCTION_APP_NAME",
                "DEPLOY_IDENTITY_PRINCIPAL_ID")
    missing = [name for name in required if not env.get(name)]
    if missing:
        raise HookError(f"{missing[0]} is not in the azd environment: run azd provision first",
                        missing[0])
    principal = env["DEPLOY_IDENTITY_PRINCIPAL_ID"]
    if env.get(CONFIRMED) == principal:
        return "storage access already confirmed for this identity"
    if not package.is_file():
        raise HookError(f"{package} is missing: run make package", "package")
    if publisher is None:
        token = json.loads(_azd("auth", "token", "--output", "json", "--scope", ARM_SCOPE))
        publisher = Publisher(token=token["token"])
    host = publisher.scm_host(env["AZURE_SUBSCRIPTION_ID"], env["AZURE_RESOURCE_GROUP"],
                              env["AZURE_FUNCTION_APP_NAME"])
    budget = float(env.get("DEPLOY_ROLE_WAIT_SECONDS") or 900)
    attempts = await_storage_access(publisher, host, package.read_bytes(), budget=budget)
    (record or (lambda key, value: _azd("env", "set", key, value)))(CONFIRMED, principal)
    return f"the app's identity wrote the deployment package (attempt {attempts})"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    commands = {"check-parameters": check_parameters, "await-storage-access": run_await}
    if len(args) != 1 or args[0] not in commands:
        print(json.dumps({"error": f"usage: python3 -m deploy.azd_hooks "
                                   f"{{{'|'.join(commands)}}}", "field": "command"}),
              file=sys.stderr)
        return 2
    try:
        result = commands[args[0]](os.environ)
    except HookError as error:
        print(json.dumps({"error": str(error), **({"field": error.field} if error.field
                                                   else {})}), file=sys.stderr)
        return 1
    print(f"{args[0]}: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
