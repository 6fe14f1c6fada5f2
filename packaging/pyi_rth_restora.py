"""PyInstaller runtime hook (packaging/restora.spec), run before the app in the frozen bundle.

On Linux, sounddevice finds PortAudio with ``ctypes.util.find_library("portaudio")``, which only searches the
system (ldconfig), so a machine without libportaudio2 had no playback although the bundle carries the library.
Here that look-up answers with the system's PortAudio when there is one (it matches the system's ALSA), else with
the bundled copy, but only where ALSA's configuration is installed: without it (a bare system with no sound set
up) the bundled ALSA library aborts the process, and the app says instead that playback is off.
"""

import ctypes.util
import glob
import os
import sys

_BUNDLED = ("portaudio",)  # libraries the bundle carries that are looked up by name at run time
_ALSA_CONF = os.environ.get("ALSA_CONFIG_PATH") or "/usr/share/alsa/alsa.conf"

if sys.platform.startswith("linux") and hasattr(sys, "_MEIPASS"):
    _system_find_library = ctypes.util.find_library

    def _find_library(name):
        found = _system_find_library(name)
        if found or name not in _BUNDLED or not os.path.isfile(_ALSA_CONF.split(":")[0]):
            return found
        bundled = sorted(glob.glob(os.path.join(sys._MEIPASS, f"lib{name}.so*")))
        return bundled[0] if bundled else None

    ctypes.util.find_library = _find_library
