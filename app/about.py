"""Help > About: lstm-viz's version, the versions of what it runs on, and the torch devices.

``about_text()`` is the same as plain text (the dialog's *Copy* button), for bug reports.
"""

from __future__ import annotations

import platform

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
)

import lstm_viz
from lstm_viz.tracing import method_choice

from .desktop import app_icon

HOMEPAGE_TEXT = "PyTorch's nn.LSTM, gate by gate and step by step."


def versions() -> dict[str, str]:
    """lstm-viz's version and those of Python, torch, PySide6, Qt, pyqtgraph and numpy."""
    import numpy
    import pyqtgraph
    import PySide6
    import torch
    from PySide6.QtCore import qVersion

    return {"lstm-viz": lstm_viz.__version__, "Python": platform.python_version(),
            "torch": str(torch.__version__), "PySide6": PySide6.__version__,
            "Qt": qVersion(), "pyqtgraph": pyqtgraph.__version__, "numpy": numpy.__version__}


def device_lines() -> list[str]:
    """One line per torch device lstm-viz can run on, then each missing backend and why."""
    import torch

    lines = []
    for name in lstm_viz.devices():
        if name.startswith("cuda:"):
            name = f"{name} ({torch.cuda.get_device_name(int(name.split(':')[1]))})"
        lines.append(name)
    lines += [f"no {kind}: {why}" for kind, why in lstm_viz.unavailable_devices().items()]
    return lines


def trace_steps_line() -> str:
    """How CPU traces compute their steps here (never builds anything: a GUI thread asks)."""
    return lstm_viz.trace_steps(build=False)


def about_text() -> str:
    """The dialog's contents as plain text."""
    rows = [f"{name}: {value}" for name, value in versions().items()]
    return "\n".join([f"lstm-viz {lstm_viz.__version__}: {HOMEPAGE_TEXT}", *rows,
                      "devices: " + "; ".join(device_lines()),
                      f"trace steps: {trace_steps_line()}",
                      f"trace method: {method_choice.describe()}", f"{platform.platform()}"])


class AboutDialog(QDialog):
    """What is installed: versions, devices, the platform; *Copy* puts it on the clipboard."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("About lstm-viz")
        self.setObjectName("AboutDialog")
        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(96, 96))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        title = QLabel(f"<h2>lstm-viz {lstm_viz.__version__}</h2><p>{HOMEPAGE_TEXT}</p>"
                       "<p>MIT License</p>")
        title.setTextFormat(Qt.TextFormat.RichText)
        head = QHBoxLayout()
        head.addWidget(icon)
        head.addWidget(title, 1)
        form = QFormLayout()
        self.fields: dict[str, QLabel] = {}
        for name, value in versions().items():
            self.fields[name] = self._value(value)
            form.addRow(f"{name}:", self.fields[name])
        self.fields["devices"] = self._value("\n".join(device_lines()))
        form.addRow("Devices:", self.fields["devices"])
        self.fields["trace steps"] = self._value(trace_steps_line())
        self.fields["trace steps"].setToolTip("How traces of float32 inputs on the CPU compute"
                                              " each step: in compiled C where it builds here,"
                                              " else in torch calls (the same numbers, slower)")
        form.addRow("Trace steps:", self.fields["trace steps"])
        self.fields["trace method"] = self._value(method_choice.describe())
        self.fields["trace method"].setWordWrap(True)
        self.fields["trace method"].setToolTip(
            "Which method the last trace took and why: each size is measured once on its"
            " first trace and the fastest method kept (LSTM_VIZ_METHOD forces one)")
        form.addRow("Trace method:", self.fields["trace method"])
        self.fields["platform"] = self._value(platform.platform())
        form.addRow("Platform:", self.fields["platform"])
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = buttons.addButton("Copy", QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.setToolTip("Copy these versions, e.g. for a bug report")
        self.copy_button.clicked.connect(self.copy)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addLayout(form)
        layout.addWidget(buttons)

    @staticmethod
    def _value(text: str) -> QLabel:
        label = QLabel(text)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(about_text())
