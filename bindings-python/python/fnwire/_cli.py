"""The `fnwire` console script: the host, compiled into the extension."""

from __future__ import annotations

import os
import signal
import sys

from . import _native


def main() -> None:
    # The host handles Ctrl-C and SIGTERM itself (it stops the worker, then exits); Python's own
    # SIGINT handler would only turn them into a KeyboardInterrupt after the host returned.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Python apps run on this interpreter (where fnwire is installed) unless a virtualenv is
    # active or FNWIRE_PYTHON names another.
    if not os.environ.get("VIRTUAL_ENV"):
        os.environ.setdefault("FNWIRE_PYTHON", sys.executable)
    argv = ["fnwire", *sys.argv[1:]]
    sys.exit(_native.host_main(argv))


if __name__ == "__main__":
    main()
