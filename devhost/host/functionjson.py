"""The v1 programming model's metadata, read by the host from the `function.json` files.

A v1 app (one folder per function, each with `function.json` and its script, no
`function_app.py`) is not indexed by the worker: `azure_functions_runtime_v1` answers the
FunctionsMetadataRequest with `use_default_metadata_indexing`, and the host falls back to its
own reader (azure-functions-host v4.1036.3, src/WebJobs.Script/Host/FunctionMetadataProvider.cs
`GetFunctionMetadataAsync` → HostFunctionMetadataProvider.cs `ReadFunctionsMetadata`):

- every folder of the script root with a `function.json` is a function named after the folder
  (`Utility.IsValidFunctionName`);
- `bindings` must hold at least one binding ("At least one binding must be declared.");
- the script is `scriptFile` (relative to the folder, and it must exist), else the folder's
  only file, else its `run.*` or `__init__.py` (`DeterminePrimaryScriptFile`);
- `entryPoint` as written (the runtime's default is `main`).

The host then sends one FunctionLoadRequest per function (GrpcWorkerChannel.cs
`GetFunctionLoadRequest`): name, directory, script file, entry point, a new function id and
each binding's type, direction and data type — no raw bindings, which only worker indexing
produces. devhost keeps the raw JSON for itself (routes, Durable triggers, the client binding)
as it does for the v2 model.

A function.json the host cannot read stops devhost with its file and line (the host logs it
as the function's error and starts without it; devhost has no portal to show that error).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from devhost import rpc
from devhost.host.metadata import AppLoadError, FunctionInfo, function_info

METADATA_FILE = "function.json"
# Utility.IsValidFunctionName (azure-functions-host v4.1036.3, src/WebJobs.Script/Utility.cs)
_VALID_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,127}$", re.IGNORECASE)
_DIRECTIONS = rpc.BindingInfo.Direction
_DATA_TYPES = rpc.BindingInfo.DataType


def is_v1_app(app_dir: Path) -> bool:
    """Any folder of the app holding a function.json: the host's reader would find it."""
    return any((folder / METADATA_FILE).is_file() for folder in _folders(app_dir))


def _folders(app_dir: Path) -> list[Path]:
    try:
        return sorted(p for p in app_dir.iterdir() if p.is_dir())
    except OSError:
        return []


class FunctionJsonError(AppLoadError):
    """A function.json the host refuses: the message in the host's words, where it is."""

    def __init__(self, message: str, path: Path, line: int | None = None) -> None:
        super().__init__(message)
        self.location = (str(path), line)


def _primary_script(folder: Path, script_file: str | None) -> Path | None:
    """HostFunctionMetadataProvider.DeterminePrimaryScriptFile."""
    if script_file:
        path = folder / script_file
        if not path.is_file():
            raise FunctionJsonError(
                "Invalid script file name configuration. The 'scriptFile' property is set to a "
                "file that does not exist.", folder / METADATA_FILE)
        return path.resolve()
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.name.lower() != METADATA_FILE)
    if len(files) == 1:
        return files[0].resolve()
    primary = next((p for p in files if p.stem.lower() == "run"
                    or p.name.lower() in ("index.js", "index.mjs", "index.cjs", "__init__.py")),
                   None)
    return primary.resolve() if primary is not None else None


def _read(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FunctionJsonError(f"{path.parent.name}: {path} is not valid JSON: {exc.msg} "
                                f"(line {exc.lineno}, column {exc.colno})",
                                path, exc.lineno) from None
    if not isinstance(config, dict):
        raise FunctionJsonError(f"{path.parent.name}: {path} must hold a JSON object", path, 1)
    return config


def _binding_info(binding: dict[str, Any]) -> rpc.BindingInfo:
    """BindingMetadata.Create → ToBindingInfo: type, direction, data type."""
    direction = str(binding.get("direction", "in")).lower()
    data_type = str(binding.get("dataType", "")).lower()
    return rpc.BindingInfo(
        type=str(binding.get("type", "")),
        direction=direction if direction in _DIRECTIONS.keys() else "in",
        data_type=data_type if data_type in _DATA_TYPES.keys() else "undefined")


def function_id(folder: Path) -> str:
    """The host reads the metadata once and sends every worker the same id (FunctionMetadata
    `GetFunctionId`, a new Guid per read); devhost reads it again for each worker it starts,
    a replacement too, so the id is derived from the folder: the same for all of them."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, folder.resolve().as_uri()))


def read_function(folder: Path) -> tuple[rpc.RpcFunctionMetadata, FunctionInfo]:
    """One function folder: the FunctionLoadRequest's metadata, and what devhost routes by."""
    path = folder / METADATA_FILE
    name = folder.name
    if not _VALID_NAME.match(name):
        raise FunctionJsonError(f"'{name}' is not a valid function name.", path)
    config = _read(path)
    bindings = config.get("bindings")
    if not isinstance(bindings, list) or not bindings:
        raise FunctionJsonError(f"{name}: At least one binding must be declared.", path)
    if not all(isinstance(b, dict) and b.get("type") and b.get("name") for b in bindings):
        raise FunctionJsonError(f"{name}: every binding needs a 'type' and a 'name'", path)
    script = _primary_script(folder, config.get("scriptFile"))
    metadata = rpc.RpcFunctionMetadata(
        name=name, directory=str(folder.resolve()), script_file=str(script or ""),
        entry_point=str(config.get("entryPoint") or ""), function_id=function_id(folder),
        language="python")
    for binding in bindings:
        metadata.bindings[str(binding["name"])].CopyFrom(_binding_info(binding))
    described = rpc.RpcFunctionMetadata()
    described.CopyFrom(metadata)
    described.raw_bindings.extend(json.dumps(b) for b in bindings)
    try:
        info = function_info(described)
    except AppLoadError as exc:
        raise FunctionJsonError(str(exc), path) from None
    return metadata, replace(info, retry_policy="retry" in config)


def read_functions(app_dir: Path) -> list[tuple[rpc.RpcFunctionMetadata, FunctionInfo]]:
    """Every function folder of the app, in name order."""
    return [read_function(folder) for folder in _folders(app_dir)
            if (folder / METADATA_FILE).is_file()]
