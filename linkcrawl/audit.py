"""Moved to :mod:`linkcrawl.reports.audit`;
this name is kept for one release (CHANGELOG, 0.2.0)."""

from linkcrawl.reports.audit import *  # noqa: F403
