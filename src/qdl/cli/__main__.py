"""``python -m qdl.cli``: the same as the ``qdl`` console script."""

import sys

from qdl.cli import main

sys.exit(main())
