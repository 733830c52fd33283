"""lstm-viz's data files, installed as ``lstm_viz.resources``: the demo models with the scripts
that trained them (``models/``), their sample inputs (``samples/``), ``demos.json`` that lists
them, the application icon (``icons/``) and the freedesktop entry (``lstm-viz.desktop``).

Read them with ``importlib.resources.files("lstm_viz.resources")`` (``lstm_viz.demos``).
"""
