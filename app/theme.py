"""Dark (and light) theme: Fusion style, palette, pyqtgraph colours, a small stylesheet.

The dark theme uses neutral greys so spectrogram colours are judged against
a background that tints nothing, and a single accent colour for selection and
checked states so the eye is drawn only to what is active.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#3d9be9"
WINDOW = "#2b2b2b"
BASE = "#1e1e1e"
TEXT = "#dcdcdc"
DISABLED_TEXT = "#9a9a9a"  # about 5:1 against WINDOW, so greyed controls stay readable
PLOT_BACKGROUND = "#161616"
PLOT_FOREGROUND = "#b4b4b4"

# Toggle buttons (mute/solo/A-B/loop) must show their state at a glance; meters get a fixed
# monospace look so changing figures do not shift the layout.
STYLESHEET = f"""
QToolButton:checked, QPushButton:checked {{
    background-color: {ACCENT}; color: #ffffff; border: 1px solid #5fb0f0; border-radius: 3px;
}}
QToolButton[role="mute"]:checked {{ background-color: #c0392b; border-color: #e05545; }}
QToolButton[role="solo"]:checked {{ background-color: #d4a017; color: #1e1e1e; border-color: #f0c040; }}
QLabel[role="meter"] {{
    font-family: monospace; background-color: {BASE}; border: 1px solid #3a3a3a;
    border-radius: 2px; padding: 1px 4px;
}}
QToolTip {{ color: {TEXT}; background-color: #3a3a3a; border: 1px solid #555555; }}
"""


def dark_palette() -> QPalette:
    """The dark palette (neutral greys, one accent colour, readable disabled text)."""
    p = QPalette()
    roles = QPalette.ColorRole
    colours = {
        roles.Window: WINDOW, roles.WindowText: TEXT, roles.Base: BASE,
        roles.AlternateBase: "#262626", roles.ToolTipBase: "#3a3a3a", roles.ToolTipText: TEXT,
        roles.PlaceholderText: DISABLED_TEXT, roles.Text: TEXT, roles.Button: "#353535",
        roles.ButtonText: TEXT, roles.BrightText: "#ff5555", roles.Link: ACCENT,
        roles.Highlight: ACCENT, roles.HighlightedText: "#ffffff", roles.Light: "#4a4a4a",
        roles.Midlight: "#3c3c3c", roles.Mid: "#2f2f2f", roles.Dark: "#1a1a1a", roles.Shadow: "#0d0d0d",
    }
    for role, colour in colours.items():
        p.setColor(role, QColor(colour))
    disabled = QPalette.ColorGroup.Disabled
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        p.setColor(disabled, role, QColor(DISABLED_TEXT))
    p.setColor(disabled, roles.Highlight, QColor("#4a4a4a"))
    p.setColor(disabled, roles.HighlightedText, QColor(DISABLED_TEXT))
    return p


def apply_dark_theme(app: QApplication) -> None:
    """Give ``app`` the Fusion style, the dark palette, the stylesheet and dark plots."""
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(STYLESHEET)
    _configure_plots(PLOT_BACKGROUND, PLOT_FOREGROUND)


def apply_light_theme(app: QApplication) -> None:
    """Fusion's standard light palette, the same stylesheet, light plots."""
    app.setStyle("Fusion")
    app.setPalette(app.style().standardPalette())
    app.setStyleSheet(STYLESHEET.replace(BASE, "#ffffff").replace(TEXT, "#202020"))
    _configure_plots("#ffffff", "#303030")


def _configure_plots(background: str, foreground: str) -> None:
    import pyqtgraph as pg

    # Antialiasing costs a lot on long waveforms redrawn while scrolling and adds nothing at 1 px.
    pg.setConfigOptions(background=background, foreground=foreground, antialias=False)
