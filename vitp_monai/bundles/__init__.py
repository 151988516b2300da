"""MONAI bundle templates (segmentation, classification) for ViTP backbones and their tools."""

from vitp_monai.bundles.create import BUNDLE_TASKS, METADATA_SCHEMA_PATH, TEMPLATES_DIR, init_bundle
from vitp_monai.bundles.verify import verify_bundle

__all__ = ["BUNDLE_TASKS", "METADATA_SCHEMA_PATH", "TEMPLATES_DIR", "init_bundle", "verify_bundle"]
