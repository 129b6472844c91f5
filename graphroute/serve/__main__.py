"""``python -m graphroute.serve``: the same as `graphroute serve`."""

import sys

from .cli import main

sys.exit(main())
