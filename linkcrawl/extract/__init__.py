"""One response in, its links out: link records (rel, follow, anchor, position, kind)
and URL normalisation."""
