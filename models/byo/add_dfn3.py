"""``restora models add`` for DeepFilterNet exports: three graphs and a config.ini, made stateful on the way in.

Accepted: the export tarball (``*.tar.gz``, as DeepFilterNet's ``export.py``
writes it; members found by base name), or any of ``enc.onnx``,
``erb_dec.onnx``, ``df_dec.onnx`` in a folder that also holds the other two
and ``config.ini``. Each graph is checked like any added file
(:func:`restora.models.byo.inspect_onnx.check_safe`), rewritten with GRU
states and convolution contexts as explicit inputs and outputs
(:func:`restora.models.dfn3_graphs.make_stateful`, as the bundled model is),
and the result is loaded and run once in a separate process.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

from restora.errors import ModelError

GRAPHS = ("enc.onnx", "erb_dec.onnx", "df_dec.onnx")
CONFIG = "config.ini"
MAX_MEMBER_BYTES = 1 << 30  # a DeepFilterNet graph is a few MB; a larger member is not one


def is_dfn3_export(path: Path) -> bool:
    """True for a tarball, or a graph of an export folder (its siblings present)."""
    path = Path(path)
    if path.name.endswith((".tar.gz", ".tgz")):
        return True
    return path.name in GRAPHS and all((path.parent / n).is_file() for n in (*GRAPHS, CONFIG))


def read_members(path: Path) -> dict[str, bytes]:
    """``{base name: bytes}`` of the three graphs and config.ini; ModelError naming what is missing or wrong."""
    path = Path(path)
    if not path.name.endswith((".tar.gz", ".tgz")):
        return {name: (path.parent / name).read_bytes() for name in (*GRAPHS, CONFIG)}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                base = os.path.basename(member.name)
                if member.isfile() and base in (*GRAPHS, CONFIG) and base not in found:
                    if member.size > MAX_MEMBER_BYTES:
                        raise ModelError(f"{path.name}: {member.name} is {member.size} bytes, too large for a "
                                         "DeepFilterNet graph")
                    found[base] = tar.extractfile(member).read()
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise ModelError(f"{path.name}: not a readable .tar.gz ({exc})") from None
    missing = [n for n in (*GRAPHS, CONFIG) if n not in found]
    if missing:
        raise ModelError(f"{path.name}: not a DeepFilterNet export: it lacks {', '.join(missing)}")
    return found


def contract_dict(config: Path) -> dict:
    """The ``dfn3`` contract from the export's config.ini (its sample rate)."""
    from restora.models.dfn3 import Dfn3Config

    try:
        cfg = Dfn3Config.from_ini(config)
    except (KeyError, ValueError) as exc:
        raise ModelError(f"the export's config.ini lacks DeepFilterNet settings ({exc})") from None
    return {"kind": "dfn3", "task": "enhance", "sample_rate": cfg.sr, "channels": 1, "stems": ["main"]}


def build(members: dict[str, bytes], part: Path) -> list[str]:
    """Write the checked, stateful graphs and config.ini into ``part``; returns the file names."""
    import onnx

    from restora.models.byo.inspect_onnx import check_safe
    from restora.models.dfn3_graphs import make_stateful

    raw = part / ".raw"
    raw.mkdir()
    for name in GRAPHS:
        (raw / name).write_bytes(members[name])
        check_safe(raw / name)
        try:
            stateful = make_stateful(onnx.load_from_string(members[name]))
            onnx.checker.check_model(stateful, full_check=True)
        except Exception as exc:  # the rewrite expects DeepFilterNet's structure (Pad before conv, GRUs)
            raise ModelError(f"{name}: not a DeepFilterNet graph Restora can stream ({_first_line(exc)})") from None
        (part / name).write_bytes(stateful.SerializeToString())
        (raw / name).unlink()
    raw.rmdir()
    (part / CONFIG).write_bytes(members[CONFIG])
    return [*GRAPHS, CONFIG]


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:200]
