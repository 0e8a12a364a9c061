"""Moved to :mod:`linkcrawl.dataset` (and the exceptions to :mod:`linkcrawl.errors`); this
name is kept for one release."""

from linkcrawl.dataset import *  # noqa: F403
from linkcrawl.dataset import __all__  # noqa: F401
