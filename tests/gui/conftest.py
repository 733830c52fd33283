"""GUI tests run on Qt's offscreen platform unless a display platform was chosen explicitly."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
