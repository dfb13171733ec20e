import sys

from serlib.cli import main

sys.exit(main())
