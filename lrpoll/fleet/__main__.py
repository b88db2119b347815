"""``python -m lrpoll.fleet``: see `lrpoll.fleet.main`."""

import sys

from ._command import main

if __name__ == "__main__":
    sys.exit(main())
