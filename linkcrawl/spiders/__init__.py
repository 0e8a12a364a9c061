"""The Scrapy spiders of linkcrawl."""
