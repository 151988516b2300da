"""The ``vitp-torchgeo`` console script: TorchGeo's CLI with the ViTP entries registered.

``vitp-torchgeo fit --config examples/torchgeo/rsscn7_vitp.yaml`` is ``torchgeo fit``
after ``import vitp_torchgeo`` (which registers the ViTP models and weights), so YAML
files may name ViTP weights by enum name even with TorchGeo's own trainers.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run TorchGeo's LightningCLI (``fit``, ``validate``, ``test``, ``predict``).

    Args:
        argv: Arguments after the program name; default ``sys.argv[1:]``.

    Returns:
        0 on success (LightningCLI exits on errors).
    """
    from torchgeo.main import main as torchgeo_main

    import vitp_torchgeo  # noqa: F401  (registration)

    torchgeo_main(list(sys.argv[1:] if argv is None else argv))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
