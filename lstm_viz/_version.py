"""lstm-viz's version, as installed (a module of its own, so any part of the engine can name it
without importing the package's other names)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lstm-viz")
except PackageNotFoundError:  # a source tree that was never installed has no version
    __version__ = "0+unknown"
