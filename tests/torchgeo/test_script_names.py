"""No script of the TorchGeo/MONAI examples and tests shadows a module it imports.

``python examples/torchgeo/x.py`` puts ``examples/torchgeo`` first on ``sys.path``, and
pytest puts ``tests`` there (``pythonpath``): a file named ``inspect.py`` or ``torchgeo.py``
in those folders would be imported instead of the real module.
"""

import importlib.util
import sys
from pathlib import Path

from vitp_torchgeo_helpers import REPO_ROOT

FOLDERS = ["examples/torchgeo", "examples/monai", "tests/torchgeo", "tests/monai", "bench"]
#: Third-party top-level modules these scripts import (directly or through the libraries).
LIBRARIES = {"torch", "torchgeo", "monai", "timm", "lightning", "rasterio", "kornia", "numpy"}


def test_no_script_is_named_like_a_module() -> None:
    clashes = [
        path.relative_to(REPO_ROOT)
        for folder in FOLDERS
        for path in (REPO_ROOT / folder).rglob("*.py")
        if path.stem in sys.stdlib_module_names or path.stem in LIBRARIES
    ]
    assert clashes == []


def test_test_folders_do_not_shadow_the_libraries() -> None:
    """``tests/torchgeo`` and ``tests/monai`` (no ``__init__.py``) lose to the real packages."""
    for name in ("torchgeo", "monai"):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None
        assert Path(spec.origin).name == "__init__.py"
        assert not Path(spec.origin).is_relative_to(REPO_ROOT / "tests")
