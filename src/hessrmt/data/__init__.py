"""Built-in data sets (offline: scikit-learn's bundled sets, synthetic and random data) and the
few tables shipped with hessrmt."""

from hessrmt.data.datasets import DATASETS, Dataset, load_dataset

__all__ = ["DATASETS", "Dataset", "load_dataset"]
