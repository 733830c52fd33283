"""Small reusable widgets: a labelled form field with an error line under it, and a frame
for text that changes at every step."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QLabel,
    QScrollArea,
    QSpinBox,
    QStyle,
    QStyleOptionComboBox,
    QStylePainter,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

ERROR_STYLE = "color: #c62828;"
WARNING_STYLE = "color: #a15c00;"


class Field(QWidget):
    """One editable value (``name`` as torch spells it) plus a message line shown on error.

    ``changed`` fires when the user commits a new value (spin boxes do not fire per keystroke).
    """

    changed = Signal()

    def __init__(self, name: str, editor: QWidget, tooltip: str = "", parent=None):
        super().__init__(parent)
        self.name = name
        #: the text in front of it in a form (the name unless told otherwise)
        self.label = name
        self.editor = editor
        self.editor.setObjectName(f"field_{name}")
        if tooltip:
            self.editor.setToolTip(tooltip)
        self.message = QLabel(self)
        self.message.setObjectName(f"message_{name}")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        #: the editor, the message line, and whatever a panel adds below them
        self.rows = QVBoxLayout(self)
        self.rows.setContentsMargins(0, 0, 0, 0)
        self.rows.setSpacing(1)
        self.rows.addWidget(self.editor)
        self.rows.addWidget(self.message)
        self._connect()

    def _connect(self) -> None:
        e = self.editor
        if isinstance(e, (QSpinBox, QDoubleSpinBox)):
            e.setKeyboardTracking(False)
            e.valueChanged.connect(self.changed)
        elif isinstance(e, QCheckBox):
            e.toggled.connect(self.changed)
        elif isinstance(e, QComboBox):
            e.currentIndexChanged.connect(self.changed)

    # ----- value ------------------------------------------------------------------------
    def value(self):
        e = self.editor
        if isinstance(e, (QSpinBox, QDoubleSpinBox)):
            return e.value()
        if isinstance(e, QCheckBox):
            return e.isChecked()
        if isinstance(e, QComboBox):
            return e.currentData()
        raise TypeError(type(e))

    def set_value(self, value) -> None:
        """Show ``value`` without firing ``changed``."""
        e = self.editor
        e.blockSignals(True)
        try:
            if isinstance(e, (QSpinBox, QDoubleSpinBox)):
                e.setValue(value)
            elif isinstance(e, QCheckBox):
                e.setChecked(bool(value))
            elif isinstance(e, QComboBox):
                index = e.findData(value)
                if index >= 0:
                    e.setCurrentIndex(index)
        finally:
            e.blockSignals(False)

    # ----- message ----------------------------------------------------------------------
    def set_error(self, text: str = "", warning: bool = False) -> None:
        """Show ``text`` under the editor (red for an error, amber for a warning); '' hides it."""
        self.message.setText(text)
        self.message.setStyleSheet(WARNING_STYLE if warning else ERROR_STYLE)
        self.message.setVisible(bool(text))



def int_field(name: str, lo: int, hi: int, value: int, tooltip: str = "") -> Field:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setValue(value)
    return Field(name, box, tooltip)


def float_field(name: str, lo: float, hi: float, value: float, step: float,
                tooltip: str = "") -> Field:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setDecimals(2)
    box.setSingleStep(step)
    box.setValue(value)
    return Field(name, box, tooltip)


def bool_field(name: str, text: str, value: bool, tooltip: str = "") -> Field:
    box = QCheckBox(text)
    box.setChecked(value)
    return Field(name, box, tooltip)


class ElidedComboBox(QComboBox):
    """A combo box that draws a current text too long for it as "Text through a voc…"; the
    whole text is in the list and in the tooltip."""

    def tooltip_text(self) -> str:
        """The current label, then the field's own tooltip."""
        return "\n".join(t for t in (self.currentText(), self.toolTip()) if t)

    def event(self, event):
        if event.type() == QEvent.Type.ToolTip:
            QToolTip.showText(event.globalPos(), self.tooltip_text(), self)
            return True
        return super().event(event)

    def paintEvent(self, event):  # noqa: N802 - Qt override
        painter = QStylePainter(self)
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, opt)
        field = self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, opt,
                                            QStyle.SubControl.SC_ComboBoxEditField, self)
        opt.currentText = self.fontMetrics().elidedText(opt.currentText,
                                                        Qt.TextElideMode.ElideRight,
                                                        field.width())
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, opt)


def choice_field(name: str, choices: Sequence[tuple[str, object]], tooltip: str = "") -> Field:
    """A combo box of ``(label, value)`` pairs; its tooltip starts with the current label."""
    box = ElidedComboBox()
    # long labels must not widen a narrow dock: elide instead
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(8)
    for label, value in choices:
        box.addItem(label, value)
        box.setItemData(box.count() - 1, label, Qt.ItemDataRole.ToolTipRole)
    return Field(name, box, tooltip)


class Steady(QScrollArea):
    """A frameless holder for a widget whose text changes at every step (a readout, an
    equation): a label's new text makes Qt lay out every widget above it again, up to the
    window, and repaint the window with them; a scroll area keeps the change inside itself.
    No horizontal scroll bar; a vertical one only when the text is taller than the room."""

    def __init__(self, widget: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(f"steady_{widget.objectName()}")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWidget(widget)
