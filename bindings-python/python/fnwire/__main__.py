"""`python -m fnwire <host arguments>`: the worker a Functions host launches."""

from ._loader import main

if __name__ == "__main__":
    main()
