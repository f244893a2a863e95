"""Entry script of the frozen (PyInstaller) `seemore`: the same `console` as the installed one."""

from seemore_core.cli import console

if __name__ == "__main__":
    console()
