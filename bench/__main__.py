import sys

if sys.argv[1:2] == ["sites"]:  # python -m bench sites ...: many sites at once (bench/sites.py)
    from bench.sites import main

    sys.exit(main(sys.argv[2:]))
if sys.argv[1:2] == ["window"]:  # python -m bench window ...: the outage window against the earlier code
    from bench.window import main

    sys.exit(main(sys.argv[2:]))
from bench.run import main

sys.exit(main())
