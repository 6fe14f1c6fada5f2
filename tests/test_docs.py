"""Documentation generated from code stays current."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_node_reference_is_current():
    spec = importlib.util.spec_from_file_location("gen_node_docs", ROOT / "scripts" / "gen_node_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "nodes.md").read_text() == module.render(), \
        "docs/nodes.md is stale: run .venv/bin/python scripts/gen_node_docs.py"
