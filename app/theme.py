"""Colours that follow the application palette, so that a dark palette gives dark plots.

Every function reads the current ``QApplication`` palette when it is called; plots, the States
equation box and the Shapes diagram ask here instead of naming white or black. ``apply`` sets
pyqtgraph's defaults for the plots built after it; ``restyle`` repaints the plots that exist.

The colours that mean something, one meaning each, from the Okabe–Ito palette (told apart with
every common kind of colour blindness):

============  =========  ==========================================================
CURSOR        #D55E00    vermillion: the current step (time cursor) and the focus unit
FORECAST      #0072B2    blue: what the head predicts (forecast, p(true next token))
ERROR         #E69F00    orange: how wrong it is (error line, loss per step)
TRUTH         #009E73    bluish green: the true next value beside two runs of a what-if
============  =========  ==========================================================

The true next value on its own is grey, and the run before a what-if edit dashed grey. No other
plot line is drawn in these colours. Warnings in text stay a deep red: they are not plot data.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QObject, QSettings, Qt
from PySide6.QtGui import QAction, QActionGroup, QColor, QGuiApplication, QPalette, QPen
from PySide6.QtWidgets import QApplication, QLabel, QMenu, QStyleFactory, QWidget

CURSOR = "#D55E00"
FORECAST = "#0072B2"
ERROR = "#E69F00"
TRUTH = "#009E73"
_LIGHT_CURSOR = QColor(213, 94, 0, 210)
_DARK_CURSOR = QColor(255, 128, 64, 230)  # the same vermillion, lighter on a dark background


def palette() -> QPalette:
    """The application's palette (a plain light one before the application exists)."""
    if QGuiApplication.instance() is not None:
        return QGuiApplication.palette()
    pal = QPalette()
    role = QPalette.ColorRole
    for r, c in ((role.Window, "#efefef"), (role.WindowText, "#212121"), (role.Base, "#ffffff"),
                 (role.Text, "#212121")):
        pal.setColor(r, QColor(c))
    return pal


def is_dark() -> bool:
    """True when the palette's window colour is darker than its text."""
    pal = palette()
    return pal.color(QPalette.ColorRole.Window).lightness() \
        < pal.color(QPalette.ColorRole.WindowText).lightness()


def background() -> QColor:
    """Plot and diagram background: the palette's Base (the colour behind text fields)."""
    return QColor(palette().color(QPalette.ColorRole.Base))


def foreground() -> QColor:
    """Axes, ticks and plot titles: the palette's Text colour."""
    return QColor(palette().color(QPalette.ColorRole.Text))


def muted() -> QColor:
    """Secondary text (arrow labels, notes): halfway between text and background."""
    return mix(foreground(), background(), 0.3)


def grid() -> QColor:
    """Grid lines and thin rules: a faint step from the background towards the text."""
    return mix(background(), foreground(), 0.18)


def edge() -> QColor:
    """Outlines and arrows in diagrams: readable on the background, quieter than text."""
    return mix(foreground(), background(), 0.25)


def warning() -> QColor:
    """Text that warns (a layout that differs from what the caller passes): deep red on a
    light background, a light red on a dark one."""
    return QColor("#ff8a80") if is_dark() else QColor("#b71c1c")


def cursor_pen() -> QPen:
    """The time cursor across heatmaps: vermillion, lighter on a dark background."""
    return pg.mkPen(_DARK_CURSOR if is_dark() else _LIGHT_CURSOR, width=2)


def cursor_label_colours() -> tuple[QColor, QColor]:
    """(text, fill) for the cursor's ``t=`` label."""
    fill = QColor(background())
    fill.setAlpha(210)
    return (QColor("#ffab80") if is_dark() else QColor("#a34700")), fill


def legend_brush() -> QColor:
    """A plot legend's box: the plot background, slightly see-through."""
    fill = QColor(background())
    fill.setAlpha(210)
    return fill


def equation_style() -> str:
    """The style sheet of a boxed rich-text panel (the States equation box)."""
    pal = palette()
    role = QPalette.ColorRole
    return (f"background: {pal.color(role.Base).name()}; color: {pal.color(role.Text).name()};"
            f" border: 1px solid {grid().name()}; padding: 4px;")


def mix(a: QColor, b: QColor, amount: float) -> QColor:
    """``a`` moved ``amount`` (0..1) of the way towards ``b``."""
    return QColor.fromRgbF(a.redF() + (b.redF() - a.redF()) * amount,
                           a.greenF() + (b.greenF() - a.greenF()) * amount,
                           a.blueF() + (b.blueF() - a.blueF()) * amount)


def relative_luminance(colour: QColor) -> float:
    """WCAG relative luminance of an sRGB colour (0 black .. 1 white)."""
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    return (0.2126 * channel(colour.redF()) + 0.7152 * channel(colour.greenF())
            + 0.0722 * channel(colour.blueF()))


def contrast_ratio(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio between two colours (1 .. 21); text wants at least 4.5."""
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def dark_palette() -> QPalette:
    """A dark palette for the Fusion style (``lstm-viz --dark``, tests, screenshots)."""
    pal = QPalette()
    role = QPalette.ColorRole
    window, base, text = QColor(45, 45, 48), QColor(30, 30, 30), QColor(230, 230, 230)
    for r, c in ((role.Window, window), (role.WindowText, text), (role.Base, base),
                 (role.AlternateBase, QColor(40, 40, 44)), (role.ToolTipBase, window),
                 (role.ToolTipText, text), (role.Text, text), (role.Button, window),
                 (role.ButtonText, text), (role.BrightText, QColor(255, 82, 82)),
                 (role.Link, QColor(100, 181, 246)), (role.Highlight, QColor(66, 133, 244)),
                 (role.HighlightedText, QColor(255, 255, 255)),
                 (role.PlaceholderText, QColor(150, 150, 150)), (role.Mid, QColor(70, 70, 74)),
                 (role.Dark, QColor(20, 20, 20)), (role.Light, QColor(80, 80, 84))):
        pal.setColor(r, c)
    disabled = QPalette.ColorGroup.Disabled
    for r in (role.WindowText, role.Text, role.ButtonText):
        pal.setColor(disabled, r, QColor(128, 128, 128))
    return pal


#: the foregrounds pyqtgraph was given before (an axis drawn in one of them follows the palette)
_foregrounds: set[str] = set()


def apply() -> None:
    """pyqtgraph's defaults from the palette, for the plots made from now on."""
    _foregrounds.add(QColor(pg.getConfigOption("foreground")).name())
    pg.setConfigOptions(background=background(), foreground=foreground())


def restyle(root: QWidget) -> None:
    """Recolour what exists under ``root`` after the palette changed: plot backgrounds, axes,
    titles are repainted with the palette's colours."""
    apply()
    for view in root.findChildren(pg.GraphicsView):
        view.setBackground(background())
        for item in view.items():
            if isinstance(item, pg.AxisItem):
                # an axis takes the foreground of its day as its pen: one drawn in an earlier
                # foreground gets today's (a pen chosen for a meaning keeps its colour)
                pen = item.pen()
                if pen.style() != Qt.PenStyle.NoPen and pen.color().name() in _foregrounds:
                    item.setPen(foreground())
                if item.textPen().color().name() in _foregrounds:
                    item.setTextPen(foreground())
                item.picture = None  # the axis caches its drawing
                item.update()
            elif isinstance(item, pg.LegendItem):
                item.setBrush(legend_brush())
                item.setLabelTextColor(foreground())
            elif isinstance(item, pg.LabelItem) and item.text:  # plot titles
                item.setText(item.text, color=foreground())
        view.viewport().update()
    for label in root.findChildren(QLabel, "equation"):
        label.setStyleSheet(equation_style())


# ----- the user's choice: View > Theme -------------------------------------------------------
#: settings value -> menu text
THEMES = {"system": "&System", "light": "&Light", "dark": "&Dark"}
#: the application's own style and palette, from before the first explicit choice
_system: dict = {}


def light_palette() -> QPalette:
    """Fusion's light palette (the Light theme, whatever the system uses)."""
    style = QStyleFactory.create("Fusion")
    return style.standardPalette() if style is not None else QPalette()


def use(name: str) -> None:
    """Switch the whole application to theme ``name`` (one of THEMES) now; open windows
    recolour themselves on the palette change. "system" gives back the style and palette the
    application had before the first Light or Dark."""
    if name not in THEMES:
        raise ValueError(f"unknown theme {name!r}; choose one of {', '.join(THEMES)}")
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return
    if name == "system":
        if _system:
            app.setStyle(_system.pop("style"))
            app.setPalette(_system.pop("palette"))
    else:
        if not _system:
            _system.update(style=app.style().name(), palette=QPalette(app.palette()))
        app.setStyle("Fusion")  # a palette of our own needs a style that draws with it
        app.setPalette(dark_palette() if name == "dark" else light_palette())
    apply()
    for window in app.topLevelWidgets():  # also those not shown yet, which get no event
        restyle(window)


class ThemeChooser(QObject):
    """View > Theme: System, Light or Dark, applied at once and kept in ``settings``."""

    KEY = "theme"

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.menu = QMenu("&Theme", parent)
        self.menu.setObjectName("theme_menu")
        group = QActionGroup(self)
        self.actions: dict[str, QAction] = {}
        for name, text in THEMES.items():
            action = QAction(text, self, checkable=True)
            action.setObjectName(f"action_theme_{name}")
            action.triggered.connect(lambda _=False, n=name: self.choose(n))
            group.addAction(action)
            self.menu.addAction(action)
            self.actions[name] = action
        saved = str(settings.value(self.KEY, "system"))
        self.current = saved if saved in THEMES else "system"
        self.actions[self.current].setChecked(True)
        if self.current != "system":  # the system's own palette is there already
            use(self.current)

    def choose(self, name: str) -> None:
        """Use theme ``name`` now and from the next start on."""
        use(name)
        self.current = name
        self.actions[name].setChecked(True)
        self.settings.setValue(self.KEY, name)
