"""T21: the backend of AI-assisted social media publishing."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("t21")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
