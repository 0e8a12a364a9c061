"""Moved to :mod:`linkcrawl.reports.monitor`;
this name is kept for one release (CHANGELOG, 0.2.0)."""

from linkcrawl.reports.monitor import *  # noqa: F403
