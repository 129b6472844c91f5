"""``python -m graphroute.cli``: the same as the `graphroute` command."""

import sys

from graphroute.cli import main

sys.exit(main())
