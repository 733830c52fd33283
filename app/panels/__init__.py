"""One file per panel. Each panel class has ``title``, ``area`` and ``__init__(self, ctx)``.

``area`` is ``"view"`` (a tab in the central area) or a dock side (``"left"``, ``"right"``,
``"bottom"``); ``app/main.py`` lists the panel classes and places them. The views of the trace
share the skeleton in ``base.py``; otherwise panels never import each other (widgets they share
live in ``app/``, e.g. ``app/plots.py``, ``app/whatif.py``). A panel changes the session and
redraws when the context says it changed; it never starts a trace itself.
"""
