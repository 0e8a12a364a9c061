"""The bundled demo web: eight sites on seven registered domains, shipped as package data."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["web_root"]


def web_root() -> Path:
    """The folder of the demo web's sites, one sub-folder per host name.

    It is found through the installed package, not the working directory, so that
    ``linkcrawl demo`` works from any folder and from a wheel as from a checkout.

    >>> from linkcrawl.demo.localweb import LocalWeb
    >>> "www.alpha-example.com" in LocalWeb(web_root()).hosts()
    True
    """
    # A package installed from a wheel or a checkout is a folder on disk, so its resources
    # are plain paths; LocalWeb serves files from a folder, not from a zip archive.
    return Path(str(files(__name__) / "web"))
