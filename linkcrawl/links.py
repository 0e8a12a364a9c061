"""Moved to :mod:`linkcrawl.extract.links`;
this name is kept for one release (CHANGELOG, 0.2.0)."""

from linkcrawl.extract.links import *  # noqa: F403
