"""Build the workbook and its ARM template from `queries/*.kql`, so they can never drift.

    python dashboards/build.py          # rewrite the generated files
    python dashboards/build.py --check  # exit 1 if they differ from a fresh build
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
QUERIES = HERE / "queries"
WORKBOOK = HERE / "sub-orchestration-runs.workbook"
ARM = HERE / "deploy" / "workbook.json"
SCHEMA_URL = ("https://github.com/Microsoft/Application-Insights-Workbooks/blob/master/"
              "schema/workbook.json")

# (query file, title, visualization, extra item settings)
VIEWS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("runs", "Parent runs with their child runs", "table",
     {"exportFieldName": "root", "exportParameterName": "RootInstanceId",
      "exportDefaultValue": ""}),
    ("run_tree", "Selected run: every span, parent links included", "table",
     {"exportFieldName": "instance", "exportParameterName": "ChildInstanceId",
      "exportDefaultValue": "",
      "conditionalVisibility": {"parameterName": "RootInstanceId",
                                "comparison": "isNotEqualTo", "value": ""}}),
    ("child_logs", "Logs of the selected child run, with their span", "table",
     {"conditionalVisibility": {"parameterName": "ChildInstanceId",
                                "comparison": "isNotEqualTo", "value": ""}}),
    ("failures", "Failed children and the run they belong to", "table", {}),
    ("latency", "p50 / p95 per child orchestration and activity", "table", {}),
    ("host_rows", "Host (Durable tracing V2) activity rows and the app span beneath", "table",
     {}),
]

PARAMETERS = [
    {"id": "b6f3d0d2-0001-4a4e-9a51-5f2f3c1e0001", "version": "KqlParameterItem/1.0",
     "name": "AppInsights", "label": "Application Insights", "type": 5, "isRequired": True,
     "typeSettings": {"resourceTypeFilter": {"microsoft.insights/components": True},
                      "additionalResourceOptions": ["value::1"]},
     "value": "value::1"},
    {"id": "b6f3d0d2-0002-4a4e-9a51-5f2f3c1e0002", "version": "KqlParameterItem/1.0",
     "name": "TimeRange", "label": "Time range", "type": 4, "isRequired": True,
     "value": {"durationMs": 86400000},
     "typeSettings": {"selectableValues": [{"durationMs": d} for d in
                                           (3600000, 14400000, 86400000, 604800000)],
                      "allowCustom": True}},
    {"id": "b6f3d0d2-0003-4a4e-9a51-5f2f3c1e0003", "version": "KqlParameterItem/1.0",
     "name": "RootInstanceId", "label": "Parent run (instance id)", "type": 1,
     "isRequired": False, "value": ""},
    {"id": "b6f3d0d2-0004-4a4e-9a51-5f2f3c1e0004", "version": "KqlParameterItem/1.0",
     "name": "ChildInstanceId", "label": "Child run (instance id)", "type": 1,
     "isRequired": False, "value": ""},
]

INTRO = ("## Sub-orchestration runs\n"
         "One row per parent run with both child runs side by side. Click a run to see all "
         "its spans; click a row of that run to see the logs of that child run. Rows come "
         "from the app's correlation attributes (`app.durable.*`, `durabletask.*`) and, when "
         "Durable distributed tracing V2 is on, from the host's `orchestration:`/`activity:` "
         "rows.")


def queries() -> dict[str, str]:
    return {path.stem: path.read_text(encoding="utf-8").strip() + "\n"
            for path in sorted(QUERIES.glob("*.kql"))}


def substitute(query: str, time_range: str = "> ago(1d)", root: str = "",
               child: str = "") -> str:
    """What the workbook does to a query before running it: `{TimeRange}` becomes a
    time predicate, text parameters their (quote-escaped) value."""
    def text(value: str) -> str:
        return value.replace("\\", "\\\\").replace('"', '\\"')

    return (query.replace("{TimeRange}", time_range)
            .replace("{RootInstanceId}", text(root))
            .replace("{ChildInstanceId}", text(child)))


def workbook() -> dict[str, Any]:
    texts = queries()
    items: list[dict[str, Any]] = [
        {"type": 1, "content": {"json": INTRO}, "name": "intro"},
        {"type": 9, "content": {"version": "KqlParameterItem/1.0", "parameters": PARAMETERS,
                                "style": "pills", "queryType": 0,
                                "resourceType": "microsoft.insights/components"},
         "name": "parameters"},
    ]
    for name, title, visualization, extra in VIEWS:
        visibility = extra.get("conditionalVisibility")
        content = {"version": "KqlItem/1.0", "query": texts[name], "size": 0, "title": title,
                   "timeContextFromParameter": "TimeRange", "queryType": 0,
                   "resourceType": "microsoft.insights/components",
                   "crossComponentResources": ["{AppInsights}"],
                   "visualization": visualization,
                   **{k: v for k, v in extra.items() if k != "conditionalVisibility"}}
        item: dict[str, Any] = {"type": 3, "content": content, "name": name}
        if visibility:
            item["conditionalVisibility"] = visibility
        items.append(item)
    missing = set(texts) - {v[0] for v in VIEWS}
    if missing:
        raise SystemExit(f"queries without a view: {sorted(missing)}")
    return {"version": "Notebook/1.0", "items": items, "fallbackResourceIds": [],
            "$schema": SCHEMA_URL}


def arm_template(serialized: str) -> dict[str, Any]:
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/"
                   "deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "appInsightsResourceId": {"type": "string", "metadata": {
                "description": "Resource id of the Application Insights component"}},
            "workbookDisplayName": {"type": "string", "defaultValue": "Sub-orchestration runs"},
            # Stable per App Insights resource: a redeploy updates the workbook, no copy.
            "workbookId": {"type": "string", "defaultValue": "[guid(resourceGroup().id, "
                           "parameters('appInsightsResourceId'), 'sub-orchestration-runs')]"},
            "location": {"type": "string", "defaultValue": "[resourceGroup().location]"},
        },
        # Starts with "{", so ARM never reads it as an expression.
        "variables": {"workbook": serialized},
        "resources": [{
            "type": "Microsoft.Insights/workbooks",
            "apiVersion": "2022-04-01",
            "name": "[parameters('workbookId')]",
            "location": "[parameters('location')]",
            "kind": "shared",
            "properties": {
                "displayName": "[parameters('workbookDisplayName')]",
                # fallbackResourceIds: what the workbook queries when opened from the
                # Azure Monitor hub rather than from the App Insights resource.
                "serializedData": "[string(union(json(variables('workbook')), createObject("
                                  "'fallbackResourceIds', createArray("
                                  "parameters('appInsightsResourceId')))))]",
                "version": "Notebook/1.0",
                "sourceId": "[parameters('appInsightsResourceId')]",
                "category": "workbook",
            },
        }],
        "outputs": {"workbookId": {"type": "string", "value": "[resourceId("
                                   "'Microsoft.Insights/workbooks', parameters('workbookId'))]"}},
    }


def rendered() -> dict[Path, str]:
    document = json.dumps(workbook(), indent=2) + "\n"
    serialized = json.dumps(workbook(), separators=(",", ":"))
    return {WORKBOOK: document, ARM: json.dumps(arm_template(serialized), indent=2) + "\n"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    stale = [p for p, text in rendered().items()
             if not p.exists() or p.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path} is stale: run python dashboards/build.py", file=sys.stderr)
        return 1 if stale else 0
    for path, text in rendered().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
