"""Where the URLs of one crawl wait: shared between --workers processes or through Redis."""
