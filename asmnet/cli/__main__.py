"""``python -m asmnet.cli``: the same as the ``asmnet`` command."""
import sys

from asmnet.cli import main

sys.exit(main())
