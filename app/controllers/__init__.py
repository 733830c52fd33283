"""What the window's menus do, as objects the window owns: ``DocumentsController`` (new, open,
save, Open recent, the unsaved-changes question, consent to run a file's code) and
``ExportController`` (figures, animations, data and the streamed trace)."""
