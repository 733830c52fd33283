"""The Qt binding we install must not leak references to None (shiboken6 6.12.0 on Python < 3.12
drops one per void call, and the interpreter aborts after a few thousand: see pyproject.toml)."""

from __future__ import annotations

import os
import subprocess
import sys

CHECK = """
import sys
from PySide6.QtWidgets import QApplication, QLabel
app = QApplication.instance() or QApplication([])
label = QLabel("x")
before = sys.getrefcount(None)
for _ in range(2000):
    label.setText("y")
    label.isVisible()
print(sys.getrefcount(None) - before)
"""


def test_void_qt_calls_keep_none_alive():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    res = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-500:]
    assert abs(int(res.stdout.strip().splitlines()[-1])) < 100
