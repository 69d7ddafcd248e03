"""The `fnwire` console script: the host, compiled into the extension."""

from __future__ import annotations

import signal
import sys

from . import _native


def main() -> None:
    # The host handles Ctrl-C and SIGTERM itself (it stops the worker, then exits); Python's own
    # SIGINT handler would only turn them into a KeyboardInterrupt after the host returned.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    argv = ["fnwire", *sys.argv[1:]]
    sys.exit(_native.host_main(argv))


if __name__ == "__main__":
    main()
