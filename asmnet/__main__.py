import sys

from asmnet.cli import main

sys.exit(main())
