"""Moved to :mod:`linkcrawl.extract.urls`;
this name is kept for one release (CHANGELOG, 0.2.0)."""

from linkcrawl.extract.urls import *  # noqa: F403
