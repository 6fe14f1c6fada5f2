"""PyInstaller's entry script for both executables of the bundle (``restora`` and ``restora-gui``): see
:mod:`restora.frozen`."""

import sys

from restora.frozen import main

if __name__ == "__main__":
    sys.exit(main())
