"""A command whose optional dependencies are missing says in one line which extra to install."""

import sys

import pytest

from vitp_core.cli import main
from vitp_core.extras import MissingExtraError, extra_for_module, extra_required


@pytest.mark.parametrize(
    ("module", "extra"),
    [
        ("jsonschema", "monai"),
        ("monai.bundle", "monai"),
        ("nibabel", "monai"),
        ("einops", "torchgeo"),
        ("torchgeo.main", "torchgeo"),
        ("rasterio", "geo"),
        ("lightly", "bench"),
        ("requests_oauthlib", None),
    ],
)
def test_extra_for_module(module: str, extra: str | None) -> None:
    assert extra_for_module(module) == extra


def test_extra_required_turns_a_missing_module_into_one_line() -> None:
    with pytest.raises(MissingExtraError) as err, extra_required("vitp monai-bundle"):
        raise ModuleNotFoundError("No module named 'jsonschema'", name="jsonschema")
    text = str(err.value)
    assert "\n" not in text
    assert text == (
        "vitp monai-bundle needs the optional dependency 'jsonschema': pip install \"vitp[monai]\""
    )
    # a module that is no optional dependency of vitp is a bug: it is not disguised
    with pytest.raises(ModuleNotFoundError, match="no_such_thing"), extra_required("vitp x"):
        raise ModuleNotFoundError("No module named 'no_such_thing'", name="no_such_thing")


def test_monai_bundle_without_jsonschema(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path
) -> None:
    pytest.importorskip("vitp_monai")
    for name in [m for m in sys.modules if m.startswith("vitp_monai.bundles")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # as if vitp[monai] were not installed
    assert main(["monai-bundle", "init", "--out", str(tmp_path / "b")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "vitp monai-bundle needs the optional dependency 'jsonschema': pip install \"vitp[monai]\""
    )


def test_plugin_whose_package_cannot_import(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path
) -> None:
    """`vitp predict` comes from vitp_torchgeo, whose import fails without einops.

    A stand-in adapter module fails the same way (importing the real one takes seconds).
    """
    from importlib.metadata import EntryPoint

    import vitp_core.cli as cli

    (tmp_path / "fake_adapter_cli.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'einops'\", name='einops')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    fake = EntryPoint("predict", "fake_adapter_cli:register", "vitp.commands")
    monkeypatch.setattr(cli, "entry_points", lambda group: [fake])
    assert main(["predict", "--help"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "vitp predict needs the optional dependency 'einops': pip install \"vitp[torchgeo]\""
    )


def test_vitp_torchgeo_script_without_torchgeo_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    cli = pytest.importorskip("vitp_torchgeo.cli")
    monkeypatch.setitem(sys.modules, "torchgeo.main", None)
    with pytest.raises(SystemExit) as stop:
        cli.main(["fit", "--help"])
    assert stop.value.code == 1
    assert capsys.readouterr().err.strip() == (
        "vitp-torchgeo needs the optional dependency 'torchgeo.main': "
        'pip install "vitp[torchgeo]"'
    )


def test_package_import_guard_prints_one_line_when_uncaught(tmp_path) -> None:
    """A console script whose package ``__init__`` needs an extra fails before ``main``."""
    import subprocess

    package = tmp_path / "fake_adapter"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from vitp_core.extras import extra_required\n"
        "with extra_required('vitp-torchgeo', 'torchgeo', at_import=True):\n"
        "    import einops_is_not_here as einops\n"
    )
    code = (
        "import sys\n"
        "sys.modules['einops_is_not_here'] = None\n"
        "import vitp_core.extras as extras\n"
        "extras.EXTRA_OF_MODULE['einops_is_not_here'] = 'torchgeo'\n"
        "from fake_adapter import main\n"
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path)}
    env.pop("VITP_DEBUG", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "vitp-torchgeo needs the optional dependency 'einops_is_not_here': "
        'pip install "vitp[torchgeo]"'
    )
