"""Item 13: `vitp-torchgeo` without its extra's libraries says in one line what to install."""

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["einops", "torchgeo"])
def test_vitp_torchgeo_import_without_its_extra_prints_one_line(module: str) -> None:
    pytest.importorskip("vitp_torchgeo")
    code = f"import sys\nsys.modules[{module!r}] = None\nfrom vitp_torchgeo.cli import main\n"
    env = {k: v for k, v in os.environ.items() if k != "VITP_DEBUG"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith(f"vitp-torchgeo needs the optional dependency '{module}")
    assert line.endswith('pip install "vitp[torchgeo]"')
