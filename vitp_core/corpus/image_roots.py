"""Which folders a corpus may read images from.

A corpus is confined to its root: an image path that leaves it (``../../x.jpg``, an
absolute path elsewhere) is a bad record, named by file and line. Other folders are
allowed only when someone says so:

* a mixture entry's ``"allowed_roots": ["/data/rs/rsscn7", ...]`` (relative paths are
  resolved against the mixture file's folder);
* an ``image_roots.json`` beside the JSONL (``{"allowed_roots": [...]}``): vitp's corpus
  builders write it, naming the source data folders whose images they reference in
  place, so a built corpus keeps working wherever it is read from;
* ``InstructionDataModule(allowed_image_roots=...)`` (``--data.allowed_image_roots``);
* the ``VITP_IMAGE_ROOTS`` environment variable (folders separated by ``os.pathsep``),
  read by every corpus reader (``vitp corpus validate``, ``vitp pretrain``...).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = [
    "IMAGE_ROOTS_ENV",
    "IMAGE_ROOTS_FILE",
    "environment_roots",
    "is_inside",
    "minimal_roots",
    "outside_root_reason",
    "read_recorded_roots",
    "write_recorded_roots",
]

#: File beside a corpus JSONL that lists the folders its images may come from.
IMAGE_ROOTS_FILE = "image_roots.json"
#: Environment variable with further allowed folders (``os.pathsep``-separated).
IMAGE_ROOTS_ENV = "VITP_IMAGE_ROOTS"


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def is_inside(path: str | os.PathLike[str], roots: Iterable[str | os.PathLike[str]]) -> bool:
    """Whether ``path`` lies under one of ``roots``.

    Checked both on the normalised path (``..`` removed, no file-system access) and on
    the real path (symbolic links followed): either is enough, so a link that the
    corpus's owner placed inside the root is followed, and a root reached through a
    link still matches.
    """
    lexical, real = os.path.abspath(path), os.path.realpath(path)
    for root in roots:
        if _within(lexical, os.path.abspath(root)) or _within(real, os.path.realpath(root)):
            return True
    return False


def environment_roots() -> tuple[Path, ...]:
    """The folders of ``$VITP_IMAGE_ROOTS`` (empty when unset)."""
    text = os.environ.get(IMAGE_ROOTS_ENV, "")
    return tuple(Path(part) for part in text.split(os.pathsep) if part.strip())


def read_recorded_roots(corpus_dir: str | os.PathLike[str]) -> tuple[Path, ...]:
    """The allowed roots recorded in ``corpus_dir/image_roots.json`` (empty if none).

    Raises:
        ValueError: When the file is not a JSON object with a list of folder paths.
    """
    path = Path(corpus_dir) / IMAGE_ROOTS_FILE
    if not path.is_file():
        return ()
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: not valid JSON ({err.msg}).") from err
    roots = payload.get("allowed_roots") if isinstance(payload, dict) else None
    if not isinstance(roots, list) or not all(isinstance(r, str) and r for r in roots):
        raise ValueError(f'{path}: expected {{"allowed_roots": ["/a/folder", ...]}}.')
    return tuple(Path(corpus_dir, r) if not Path(r).is_absolute() else Path(r) for r in roots)


def minimal_roots(
    images: Iterable[Path], candidates: Sequence[str | os.PathLike[str]]
) -> list[str]:
    """The folders to allow for ``images``: for each, the deepest candidate holding it.

    An image under no candidate contributes its own folder. Folders inside another
    listed one are dropped.

    Args:
        images: Absolute image paths referenced by a corpus.
        candidates: Source data folders (a builder's ``data_roots``).
    """
    roots = sorted({os.path.realpath(c) for c in candidates}, key=len, reverse=True)
    chosen: set[str] = set()
    for image in images:
        real = os.path.realpath(image)
        holder = next((r for r in roots if _within(real, r)), os.path.dirname(real))
        chosen.add(holder)
    ordered = sorted(chosen, key=len)
    kept: list[str] = []
    for root in ordered:
        if not any(_within(root, k) for k in kept):
            kept.append(root)
    return sorted(kept)


def write_recorded_roots(corpus_dir: str | os.PathLike[str], roots: Sequence[str]) -> Path:
    """Write ``corpus_dir/image_roots.json`` (atomically) listing ``roots``."""
    from vitp_core.atomic_io import atomic_write_json

    payload = {
        "allowed_roots": list(roots),
        "what": "folders this corpus's records may read images from (written by the builder)",
    }
    return atomic_write_json(Path(corpus_dir) / IMAGE_ROOTS_FILE, payload)


def outside_root_reason(name: str, root: Path, extra: Sequence[Path]) -> str:
    """The bad-record reason for an image path that leaves the corpus's allowed folders."""
    allowed = f"the corpus root {root}" + (
        f" or the allowed roots {', '.join(map(str, extra))}" if extra else ""
    )
    older = (root / "build_report.json").is_file() and not (root / IMAGE_ROOTS_FILE).is_file()
    rebuild = " (built by a vitp that did not record its roots: rebuild it)" if older else ""
    return (
        f"image {name!r} is outside {allowed}: a corpus only reads images under its root"
        f'{rebuild}. If that folder is meant, allow it ("allowed_roots" in the mixture entry, '
        f"{IMAGE_ROOTS_FILE} beside the corpus, --data.allowed_image_roots or "
        f"{IMAGE_ROOTS_ENV})."
    )
