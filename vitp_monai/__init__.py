"""vitp_monai package."""
