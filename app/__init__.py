"""The lstm-viz desktop app: PySide6 + pyqtgraph views on top of the ``lstm_viz`` engine."""
