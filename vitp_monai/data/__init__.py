"""Datalists for the vitp_monai bundles: paired NIfTI folders and MedMNIST files."""

from vitp_monai.data.medmnist import medmnist_datalist
from vitp_monai.data.nifti import paired_nifti_datalist, split_cases

__all__ = ["medmnist_datalist", "paired_nifti_datalist", "split_cases"]
