"""vitp_monai: ViTP backbones in MONAI networks and bundles, 2D and 3D.

* :mod:`vitp_monai.networks`: ``VitpUNETR`` (segmentation), ``VitpClassifier``, the shared
  ``VitpEncoder`` (2D weights inflated to 3D), weight loading and timm <-> MONAI
  ``ViT``/``UNETR`` converters.
* :mod:`vitp_monai.bundles`: MONAI bundle templates, their metadata schema,
  ``init_bundle`` and ``verify_bundle`` (``vitp monai-bundle init|verify``).
* :mod:`vitp_monai.data`: datalists for the bundles (paired NIfTI folders, MedMNIST).

Submodules are imported on use, so ``import vitp_monai`` stays cheap.
"""
