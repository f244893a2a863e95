"""Entry script of the frozen (PyInstaller) `seemore-gui`: the same `main` as the installed one."""

import sys

from seemore_app.main import main

if __name__ == "__main__":
    sys.exit(main())
