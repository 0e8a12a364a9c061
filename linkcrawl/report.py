"""Moved to :mod:`linkcrawl.reports.html`;
this name is kept for one release (CHANGELOG, 0.2.0)."""

from linkcrawl.reports.html import *  # noqa: F403
