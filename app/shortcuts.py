"""Help > Keyboard shortcuts: every shortcut of the window, read from its actions (menus,
toolbars) and QShortcuts, so the list cannot drift from what the keys do."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMainWindow,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


def _clean(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").strip()


def _menu_paths(window: QMainWindow) -> dict[QAction, str]:
    """Each action in the menu bar -> its menu path ("File > Open recent")."""
    # Menus are found as the menu bar's QMenu children, not with QAction.menu(): before
    # PySide6 6.8 the wrapper that call returns deletes the menu when it is collected.
    menus = {m.menuAction(): m for m in window.menuBar().findChildren(QMenu)}
    paths: dict[QAction, str] = {}

    def walk(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            if action in menus:
                walk(menus[action], f"{path} > {_clean(action.text())}")
            else:
                paths.setdefault(action, path)

    for top in window.menuBar().actions():
        if top in menus:
            walk(menus[top], _clean(top.text()))
    return paths


def _where(action: QAction, menus: dict[QAction, str]) -> str:
    if action in menus:
        return menus[action]
    for obj in action.associatedObjects():
        if isinstance(obj, QWidget) and obj.windowTitle():
            return obj.windowTitle()
    parent = action.parent()
    return parent.windowTitle() if isinstance(parent, QWidget) and parent.windowTitle() \
        else "Window"


def window_shortcuts(window: QMainWindow) -> list[tuple[str, str, str]]:
    """(keys, what it does, where it lives) for every action and QShortcut with a key: the
    menus' in menu order, then the toolbars' and the rest."""
    menus = _menu_paths(window)
    rows = []
    others = [a for a in window.findChildren(QAction) if a not in menus]
    for action in [*menus, *others]:
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts()
                if not k.isEmpty()]
        if keys:
            rows.append((", ".join(keys), _clean(action.text()) or action.toolTip(),
                         _where(action, menus)))
    for shortcut in window.findChildren(QShortcut):
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in shortcut.keys()
                if not k.isEmpty()]
        if keys:
            parent = shortcut.parent()
            where = parent.windowTitle() if isinstance(parent, QWidget) else "Window"
            rows.append((", ".join(keys), shortcut.whatsThis() or shortcut.objectName(),
                         where or "Window"))
    return list(dict.fromkeys(rows))


class ShortcutsDialog(QDialog):
    """A table of ``window_shortcuts(window)``: keys, action, menu or toolbar."""

    def __init__(self, window: QMainWindow):
        super().__init__(window)
        self.setWindowTitle("Keyboard shortcuts")
        self.setObjectName("ShortcutsDialog")
        rows = window_shortcuts(window)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Keys", "Action", "Where"])
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(560, 520)
