"""`python -S packaged_runner.py <origins.json> <devhost args…>`: runs devhost like
`python -m devhost`, then records the file every imported module was loaded from, so the
test can tell the package's code from anything else on the machine.

`python -S packaged_runner.py <origins.json> -m devhost.worker <worker args…>` does the same
for a worker process: devhost starts it so when `languageWorkers:python:arguments` is
`packaged_runner.py <origins.json>` (the host's setting for a worker's interpreter arguments)."""

import atexit
import json
import runpy
import sys


def _record(path: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        json.dump({name: getattr(module, "__file__", None)
                   for name, module in list(sys.modules.items())}, out)


atexit.register(_record, sys.argv[1])
if sys.argv[2:3] == ["-m"]:
    module, sys.argv = sys.argv[3], [sys.argv[3], *sys.argv[4:]]
else:
    module, sys.argv = "devhost", ["devhost", *sys.argv[2:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
