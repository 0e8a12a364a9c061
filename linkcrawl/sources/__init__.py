"""Link data that does not come from a live crawl: edge lists, and later WARC archives."""
