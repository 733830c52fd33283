"""One file per panel. Each panel class has ``title``, ``area`` and ``__init__(self, ctx)``.

``area`` is ``"view"`` (a tab in the central area) or a dock side (``"left"``, ``"right"``,
``"bottom"``); ``app/main.py`` lists the panel classes and places them.
"""
