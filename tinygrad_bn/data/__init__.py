"""Data: IDX files, MNIST/Fashion-MNIST and the offline digits, mini-batch loading, splits, standardization."""
from .datasets import (
    DATASETS,
    Dataset,
    DatasetNotFoundError,
    DownloadError,
    download_files,
    load_dataset,
    load_digits,
    load_mnist,
    search_dirs,
)
from .idx import IDXFormatError, read_idx, write_idx
from .loader import DataLoader, train_dev_test_split
from .preprocessing import Standardizer

__all__ = [
    "load_dataset", "Dataset", "DATASETS", "read_idx", "write_idx", "IDXFormatError", "load_mnist", "load_digits",
    "download_files", "search_dirs",
    "DatasetNotFoundError", "DownloadError", "DataLoader", "train_dev_test_split", "Standardizer",
]
