"""``python -m domprune.bench``: the bench without the main CLI."""

import sys

from .cli import main

sys.exit(main())
