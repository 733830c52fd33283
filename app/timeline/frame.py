"""TrackFrame: one track in the timeline, under a header row (collapse, label, colour scale,
move up and down, remove) and above a handle that resizes it."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QMouseEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .track import SCALE_MODES, Track, TrackState

HANDLE_HEIGHT = 6


class ResizeHandle(QWidget):
    """A thin bar under a track: drag it to make the track taller or shorter."""

    pressed = Signal()
    dragged = Signal(int)  # pixels moved since the press
    released = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedHeight(HANDLE_HEIGHT)
        self.setCursor(Qt.CursorShape.SizeVerCursor)
        self.setToolTip("Drag to resize the track")
        self._start: float | None = None

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self._start = event.globalPosition().y()
        self.pressed.emit()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._start is not None:
            self.dragged.emit(int(round(event.globalPosition().y() - self._start)))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._start is not None:
            self._start = None
            self.released.emit()


def _button(text: str, tip: str, name: str) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setObjectName(name)
    button.setAutoRaise(True)
    return button


class TrackFrame(QFrame):
    """The header, the track's scene and the resize handle of one track."""

    remove_requested = Signal(object)  # the frame
    move_requested = Signal(object, int)  # the frame, -1 up / +1 down
    changed = Signal()  # height, collapse or scale: what a session saves

    def __init__(self, track: Track, state: TrackState | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.track = track
        self.setObjectName(f"frame_{track.kind}")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.state = state or TrackState(track.kind)
        self.collapsed = False
        self._drag_base = 0
        if self.state.scale and self.state.scale in track.scales:
            track.set_scale(self.state.scale)
        if self.state.options:
            track.set_options(self.state.options)
        self.collapse_button = _button("▾", "Collapse to a one-line summary", "collapse")
        self.collapse_button.clicked.connect(lambda: self.set_collapsed(not self.collapsed))
        self.title_label = QLabel()
        self.title_label.setObjectName("track_label")
        self.title_label.setTextFormat(Qt.TextFormat.RichText)
        self.title_label.setProperty("figure_title", True)  # a figure of the view keeps it
        self.title_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.scale_button = _button("scale", "Colour scale of this track", "scale")
        self.scale_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.scale_menu = QMenu(self.scale_button)
        self.scale_actions: dict[str, QAction] = {}
        group = QActionGroup(self.scale_menu)
        for mode in track.scales:
            action = self.scale_menu.addAction(SCALE_MODES[mode])
            action.setCheckable(True)
            action.setChecked(mode == track.scale)
            action.triggered.connect(lambda _=False, m=mode: self.set_scale(m))
            group.addAction(action)
            self.scale_actions[mode] = action
        self.scale_button.setMenu(self.scale_menu)
        self.scale_button.setVisible(bool(track.scales))
        self.up_button = _button("▲", "Move the track up", "move_up")
        self.down_button = _button("▼", "Move the track down", "move_down")
        self.remove_button = _button("✕", "Remove the track", "remove")
        self.up_button.clicked.connect(lambda: self.move_requested.emit(self, -1))
        self.down_button.clicked.connect(lambda: self.move_requested.emit(self, 1))
        self.remove_button.clicked.connect(lambda: self.remove_requested.emit(self))
        header = QWidget()
        header.setObjectName("track_header")
        row = QHBoxLayout(header)
        row.setContentsMargins(2, 0, 2, 0)
        row.setSpacing(2)
        row.addWidget(self.collapse_button)
        row.addWidget(self.title_label, 1)
        for button in (self.scale_button, self.up_button, self.down_button, self.remove_button):
            row.addWidget(button)
        self.header = header
        self.handle = ResizeHandle()
        self.handle.pressed.connect(self._on_pressed)
        self.handle.dragged.connect(lambda dy: self.set_plot_height(self._drag_base + dy))
        self.handle.released.connect(self.changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(header)
        layout.addWidget(track.graphics)
        layout.addWidget(self.handle)
        track.on_title = self.refresh_header
        self.set_collapsed(self.state.collapsed, emit=False)
        self.fit()

    # ----- size -------------------------------------------------------------------------
    def min_plot_height(self) -> int:
        return self.track.min_height()

    def plot_height(self) -> int:
        """The height of the plot area: what the user set, never under the minimum."""
        return max(self.state.height or 0, self.min_plot_height())

    def fit(self) -> None:
        """Size the track's scene: its plot height plus its title and margins."""
        visible = not self.collapsed and self.track.available
        self.track.graphics.setVisible(visible)
        self.handle.setVisible(visible)
        if visible:
            self.track.graphics.setFixedHeight(self.plot_height() + self.track.chrome_height())
        self.refresh_header()

    def set_plot_height(self, height: int) -> None:
        """Make the plot area ``height`` pixels tall (at least its minimum)."""
        self.state.height = max(int(height), self.min_plot_height())
        self.fit()

    def _on_pressed(self) -> None:
        self._drag_base = self.plot_height()

    # ----- header -----------------------------------------------------------------------
    def set_collapsed(self, collapsed: bool, emit: bool = True) -> None:
        self.collapsed = bool(collapsed)
        self.state.collapsed = self.collapsed
        self.collapse_button.setText("▸" if self.collapsed else "▾")
        self.collapse_button.setToolTip("Expand the track" if self.collapsed
                                        else "Collapse to a one-line summary")
        self.fit()
        if emit:
            self.changed.emit()

    def set_scale(self, mode: str) -> None:
        self.track.set_scale(mode)
        self.state.scale = mode
        if mode in self.scale_actions:
            self.scale_actions[mode].setChecked(True)
        self.refresh_header()
        self.changed.emit()

    def refresh_header(self) -> None:
        """The label (and the summary when collapsed or when there is nothing to draw)."""
        track = self.track
        text = track.summary() if self.collapsed or not track.available else track.title()
        if text != self.title_label.text():
            self.title_label.setText(text)
            self.title_label.setToolTip(text)
        if track.scales:
            self.scale_button.setText(f"scale: {track.scale}")

    def set_movable(self, up: bool, down: bool) -> None:
        self.up_button.setEnabled(up)
        self.down_button.setEnabled(down)
