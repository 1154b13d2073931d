"""An activity: its module imports the app's shared code through the `__app__` package, as
v1 apps do."""

from ..shared_code.greeting import greeting


def main(name: str) -> str:
    return greeting(name)
