"""Entry script of the frozen (PyInstaller) `seemore`: the same `main` as the installed one."""

import sys

from seemore_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
