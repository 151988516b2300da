import subprocess
import sys


def test_core_does_not_import_adapters_or_their_libraries() -> None:
    code = (
        "import sys, vitp_core, vitp_core.training, vitp_core.corpus, vitp_core.cli;"
        "bad=[m for m in ('torchgeo','monai','vitp_torchgeo','vitp_monai') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
