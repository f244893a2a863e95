"""Entry script for the frozen (PyInstaller) app: the same `main` as `seemore-gui`."""

import sys

from seemore_app.main import main

if __name__ == "__main__":
    sys.exit(main())
