"""linkcrawl: crawl seed domains, store every link as Parquet, rank backlinks by authority."""

from __future__ import annotations

from linkcrawl.dataset.reader import Dataset, open_dataset
from linkcrawl.errors import DatasetError, LinkcrawlError

__version__ = "0.1.0"
__all__ = ["Dataset", "DatasetError", "LinkcrawlError", "__version__", "open_dataset"]
