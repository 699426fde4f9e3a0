"""Framework-free datasets and image I/O (docs/specification.md §3): synthetic pairs, paired folders, transfer tuples,
the all-in-one mix, and the embedded offline photographs."""

from degplug.data.all_in_one import AllInOneDataset
from degplug.data.embedded import embedded_photo_paths, export_embedded_photos
from degplug.data.folders import list_image_files
from degplug.data.image_io import ImageReadError, read_image, write_image
from degplug.data.paired_folders import PairedFolderDataset, match_pairs
from degplug.data.synthetic_pairs import SyntheticPairDataset
from degplug.data.transfer_tuples import TransferTupleDataset

__all__ = [
    "AllInOneDataset",
    "ImageReadError",
    "PairedFolderDataset",
    "SyntheticPairDataset",
    "TransferTupleDataset",
    "embedded_photo_paths",
    "export_embedded_photos",
    "list_image_files",
    "match_pairs",
    "read_image",
    "write_image",
]
