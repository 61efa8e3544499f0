"""The installed version, read from the package metadata (pyproject.toml is its one source)."""

from __future__ import annotations

from importlib import metadata


def version() -> str:
    """visionflow's version; "0+unknown" when running from a source tree that was never installed."""
    try:
        return metadata.version("visionflow")
    except metadata.PackageNotFoundError:
        return "0+unknown"


__version__ = version()
