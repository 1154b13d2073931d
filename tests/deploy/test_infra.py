"""The azd template, read as text (no Bicep compiler here): modules get the parameters they
declare, azd's parameters file matches main.bicep, and the resources have the shape the
deployment needs — Flex Consumption Python 3.13, one user-assigned identity holding the
roles Durable Functions and Entra-only App Insights need, no keys anywhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from devhost.durable.taskhub import task_hub_name

from .bicep import BicepFile, block, object_keys
from .requirements import REPO

INFRA = REPO / "infra"
MAIN = BicepFile(INFRA / "main.bicep")
RESOURCES = BicepFile(INFRA / "app" / "resources.bicep")
WORKBOOK = BicepFile(REPO / "dashboards" / "deploy" / "workbook.bicep")
ALL = [MAIN, RESOURCES, WORKBOOK]
# Azure built-in role definition ids (the same in every tenant).
STORAGE_ROLES = {"b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
                 "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
                 "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor"}
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"


def test_azure_yaml_deploys_this_folder_as_a_python_function_app() -> None:
    text = (REPO / "azure.yaml").read_text()
    service = text[text.index("services:"):]
    assert re.search(r"^  api:\n    project: \.\n    language: python\n    host: function$",
                     service, re.MULTILINE), service


@pytest.mark.parametrize("bicep", ALL, ids=lambda b: b.path.name)
def test_modules_get_exactly_what_they_declare(bicep: BicepFile) -> None:
    for module in bicep.modules():
        assert module.path.is_file(), module.path
        declared = BicepFile(module.path).params()
        unknown = set(module.params) - set(declared)
        required = {n for n, p in declared.items() if p.default is None}
        assert not unknown, f"{bicep.path.name} → {module.path.name}: unknown {unknown}"
        assert required <= set(module.params), (module.symbol, required - set(module.params))


@pytest.mark.parametrize("bicep", ALL, ids=lambda b: b.path.name)
def test_loaded_files_exist(bicep: BicepFile) -> None:
    for path in re.findall(r"load(?:Json|Text)Content\('([^']+)'\)", bicep.text):
        assert (bicep.path.parent / path).is_file(), path


def test_azd_parameters_match_main() -> None:
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared = MAIN.params()
    assert set(given) <= set(declared), set(given) - set(declared)
    required = {n for n, p in declared.items() if p.default is None}
    assert required <= set(given), required - set(given)
    assert "location" in MAIN.text and "type: 'location'" in MAIN.text


def test_default_task_hub_names_are_ones_the_extension_accepts() -> None:
    default = MAIN.params()["taskHubName"].default
    assert default is not None
    assert task_hub_name(default.strip("'"), {}) == "SubOrchestrationHub"
    given = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    fallback = re.fullmatch(r"\$\{TASKHUB_NAME=(\w+)\}", given["taskHubName"]["value"])
    assert fallback and task_hub_name(fallback.group(1), {}) == fallback.group(1)


def _props(symbol: str) -> dict[str, str]:
    body = RESOURCES.resource_body(symbol)
    return object_keys(block(body, body.index("properties:")))


def test_flex_consumption_python_313() -> None:
    plan = RESOURCES.resource_body("plan")
    assert "name: 'FC1'" in plan and "tier: 'FlexConsumption'" in plan
    app = RESOURCES.resource_body("functionApp")
    assert RESOURCES.resource_type("functionApp").startswith("Microsoft.Web/sites@")
    assert "kind: 'functionapp,linux'" in app
    runtime = block(app, app.index("runtime:"))
    assert object_keys(runtime) == {"name": "'python'", "version": "'3.13'"}
    assert "tags: union(tags, { 'azd-service-name': 'api' })" in app


def test_one_user_assigned_identity_for_everything() -> None:
    app = RESOURCES.resource_body("functionApp")
    assert "type: 'UserAssigned'" in app
    assert "userAssignedIdentities: { '${identity.id}': {} }" in app
    deployment = block(app, app.index("deployment:"))
    assert "type: 'UserAssignedIdentity'" in deployment
    assert "userAssignedIdentityResourceId: identity.id" in deployment


def test_roles_durable_functions_and_app_insights_need() -> None:
    storage_roles = RESOURCES.resource_body("storageRoleAssignments")
    assert "scope: storage" in storage_roles
    assert "for role in items(storageRoles)" in RESOURCES.text
    roles = object_keys(block(RESOURCES.text, RESOURCES.text.index("var storageRoles")))
    assert {v.strip("'") for v in roles.values()} == set(STORAGE_ROLES)
    publisher = RESOURCES.resource_body("metricsPublisher")
    assert "scope: appInsights" in publisher
    assert f"var monitoringMetricsPublisher = '{MONITORING_METRICS_PUBLISHER}'" in RESOURCES.text
    for body in (storage_roles, publisher):
        assert "principalId: identity.properties.principalId" in body
        assert "principalType: 'ServicePrincipal'" in body
    # The app starts only once it holds its roles.
    settings = RESOURCES.resource_body("appSettings")
    depends = block(settings.replace("dependsOn: [", "dependsOn: {").replace("]", "}"),
                    settings.index("dependsOn:"))
    assert {"storageRoleAssignments", "metricsPublisher"} <= set(depends.split())


def test_no_shared_keys_and_no_local_auth() -> None:
    assert _props("storage")["allowSharedKeyAccess"] == "false"
    assert _props("storage")["allowBlobPublicAccess"] == "false"
    assert _props("appInsights")["DisableLocalAuth"] == "true"
    assert "listKeys" not in RESOURCES.text and "AccountKey" not in RESOURCES.text


def test_workbook_module_redeploys_in_place_and_opens_from_the_hub() -> None:
    (workbook,) = RESOURCES.modules()
    assert workbook.path == WORKBOOK.path.resolve()
    assert workbook.params["appInsightsResourceId"] == "appInsights.id"
    default = WORKBOOK.params()["workbookId"].default
    assert default is not None and default.startswith("guid(") and "newGuid" not in WORKBOOK.text
    assert "appInsightsResourceId" in default
    assert "fallbackResourceIds: [appInsightsResourceId]" in WORKBOOK.text
    assert "serializedData: string(content)" in WORKBOOK.text


def test_bicep_reader_sees_through_comments_and_strings(tmp_path: Path) -> None:
    """The checks above are only as good as this reader."""
    path = tmp_path / "x.bicep"
    path.write_text("param a string\nparam b int = 2 // c\n/* param z string */\n"
                    "module m 'x.bicep' = {\n  params: {\n    a: '}{'\n    b: { c: 1 }\n  }\n}\n")
    bicep = BicepFile(path)
    assert set(bicep.params()) == {"a", "b"}
    (module,) = bicep.modules()
    assert module.params == {"a": "'}{'", "b": "{ c: 1 }"}


def _decorators(bicep: BicepFile, param: str) -> str:
    """The decorators right above `param <name>` (comments already blanked)."""
    at = re.search(rf"^param {param} ", bicep.text, re.MULTILINE)
    assert at, param
    lines = bicep.text[:at.start()].rstrip("\n").split("\n")
    kept: list[str] = []
    depth = 0
    for line in reversed(lines):
        depth += line.count("]") + line.count(")") - line.count("[") - line.count("(")
        if not line.strip() or (depth == 0 and not line.lstrip().startswith("@")):
            break
        kept.insert(0, line)
    return "\n".join(kept)


def test_location_is_one_of_the_flex_consumption_regions() -> None:
    """`@allowed` with the regions Microsoft's Flex Consumption template lists
    (Azure-Samples/durable-functions-quickstart-python-azd infra/main.bicep at d402727), so
    a region without Flex is refused before anything is created."""
    decorators = _decorators(MAIN, "location")
    allowed = re.search(r"@allowed\(\[(.*?)\]\)", decorators, re.DOTALL)
    assert allowed, decorators
    regions = re.findall(r"'([^']*)'", allowed.group(1))
    assert len(regions) == len(set(regions)) == 32 and regions == sorted(regions)
    assert all(re.fullmatch(r"[a-z0-9]+", r) for r in regions), regions
    assert {"eastus", "westeurope", "swedencentral", "australiaeast"} <= set(regions)
    assert "type: 'location'" in decorators  # azd still prompts, now only with these
    source = (INFRA / "main.bicep").read_text()
    assert "durable-functions-quickstart-python-azd infra/main.bicep at d402727" in source


def test_task_hub_length_is_the_extensions_rule() -> None:
    """3 to 45 characters: the range AzureStorageOptions.ValidateHubName states
    (azure-functions-durable-extension, MinTaskHubNameSize/MaxTaskHubNameSize); devhost
    applies the same rule, so a name Bicep lets through is one the host starts with."""
    decorators = _decorators(MAIN, "taskHubName")
    assert "@minLength(3)" in decorators and "@maxLength(45)" in decorators
    assert task_hub_name("H" * 45, {}) == "H" * 45
    assert task_hub_name("Hub", {}) == "Hub"


def test_site_serves_http2_and_has_ftp_disabled() -> None:
    """What checkov's CKV_AZURE_18 and CKV_AZURE_78 read (checkov 3.3.30
    arm/checks/resource/AppServiceHttps20Enabled.py, AppServiceFTPSState.py):
    properties.siteConfig.http20Enabled true and ftpsState Disabled."""
    app = RESOURCES.resource_body("functionApp")
    site_config = object_keys(block(app, app.index("siteConfig:")))
    assert site_config["http20Enabled"] == "true"
    assert site_config["ftpsState"] == "'Disabled'"
    assert site_config["minTlsVersion"] == "'1.2'"


def test_checkov_skips_each_have_a_reason() -> None:
    """infra/.checkov.yaml lists the checks that stay failing, each with why it holds for
    Flex Consumption; the two this template must pass are never among them."""
    text = (INFRA / ".checkov.yaml").read_text()
    skips = dict(re.findall(r"^  - (CKV_\w+)\s+#\s*(.+)$", text, re.MULTILINE))
    listed = re.findall(r"^  - (CKV_\w+)", text, re.MULTILINE)
    assert len(listed) == len(skips) == len(set(listed)) > 0, listed
    assert not {"CKV_AZURE_18", "CKV_AZURE_78"} & set(skips)
    short = {check: reason for check, reason in skips.items() if len(reason) < 40}
    assert not short, short
    assert re.search(r"^framework:\n  - bicep$", text, re.MULTILINE)
