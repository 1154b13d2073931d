"""The classic Application Insights tables as Kusto declares them, for semantic analysis.

Types follow the classic (non-workspace) schema: `success` is a string there ("True"/
"False"), which is why the queries compare `tobool(success)`, which also works on devhost's
boolean column.
"""

COMMON = ("timestamp:datetime, itemType:string, itemId:string, operation_Id:string, "
          "operation_ParentId:string, operation_Name:string, cloud_RoleName:string, "
          "cloud_RoleInstance:string, sdkVersion:string, appId:string, appName:string, "
          "iKey:string, itemCount:int, "
          "customDimensions:dynamic, customMeasurements:dynamic")

TABLES = {
    "requests": "id:string, name:string, url:string, source:string, duration:real, "
                "success:string, resultCode:string, performanceBucket:string",
    "dependencies": "id:string, name:string, target:string, type:string, data:string, "
                    "duration:real, success:string, resultCode:string, "
                    "performanceBucket:string",
    "traces": "message:string, severityLevel:int",
    "exceptions": "problemId:string, type:string, outerType:string, outerMessage:string, "
                  "innermostMessage:string, message:string, method:string, "
                  "severityLevel:int, details:dynamic, handledAt:string, assembly:string",
    "customEvents": "name:string",
}


def kusto_schema() -> dict[str, str]:
    """Table name → Kusto schema string `(col:type, …)`."""
    return {table: f"({COMMON}, {columns})" for table, columns in TABLES.items()}
