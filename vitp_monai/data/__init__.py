"""Datalists and transforms of the vitp_monai bundles.

NIfTI folders (Decathlon layout), MedMNIST files, and plain image folders (images with
masks and fields of view, class folders, labels files).
"""

from vitp_monai.data.images import image_class_datalist, image_datalist, image_mask_datalist
from vitp_monai.data.medmnist import medmnist_datalist
from vitp_monai.data.nifti import paired_nifti_datalist, split_cases
from vitp_monai.data.transforms import ApplyFieldOfViewd, EnsureChannelsd, ToLabelIndicesd

__all__ = [
    "ApplyFieldOfViewd",
    "EnsureChannelsd",
    "ToLabelIndicesd",
    "image_class_datalist",
    "image_datalist",
    "image_mask_datalist",
    "medmnist_datalist",
    "paired_nifti_datalist",
    "split_cases",
]
