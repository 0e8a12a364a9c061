"""linkcrawl: crawl seed domains, store every link as Parquet, rank backlinks by authority."""

from __future__ import annotations

from linkcrawl.storage import Dataset, DatasetError, open_dataset

__version__ = "0.1.0"
__all__ = ["Dataset", "DatasetError", "__version__", "open_dataset"]
