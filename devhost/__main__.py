import sys

if sys.argv[1:2] == ["insights"]:
    from devhost.insights.cli import main as insights_main

    sys.exit(insights_main(sys.argv[2:]))

from devhost.cli import main

sys.exit(main())
