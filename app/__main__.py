"""`python -m app`: the same as the `blastscan` command."""

import sys

from app.cli import main

sys.exit(main())
