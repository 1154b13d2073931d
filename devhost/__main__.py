"""`devhost …` (the console script) and `python -m devhost …`."""

import sys


def main() -> int:
    # `insights` reads the captured tables only: it needs none of the host's imports.
    if sys.argv[1:2] == ["insights"]:
        from devhost.insights.cli import main as insights_main

        return insights_main(sys.argv[2:])
    from devhost.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
