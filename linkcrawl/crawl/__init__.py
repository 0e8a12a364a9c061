"""What runs inside Scrapy besides the spider: settings, scope and trap guards, items,
the pipeline, middlewares, the runner, and the frontier."""
