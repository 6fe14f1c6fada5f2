"""Presets: versioned JSON descriptions of a processing graph.

Format (version 1)::

    {
      "restora_preset": 1,
      "name": "dialogue-clean",
      "description": "...",
      "nodes": [
        {"id": "denoise", "type": "deepfilternet3", "input": "input",
         "params": {"atten_lim_db": 100}, "bypass": false, "mix": 1.0},
        {"id": "level", "type": "loudness-normalize", "input": "denoise"}
      ],
      "outputs": {"main": "level"}
    }

``input`` names the stream a node reads: ``"input"`` (the file), ``"<id>"``
(that node's main output), ``"<id>.<port>"`` (a named output), or
``"<id>.residual"`` (what the node removed: its input minus its main output,
sample-aligned, so target + residual == input). ``outputs`` maps output names
(file names in multi-output graphs) to streams written the same way.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from restora.errors import UsageError
from restora.graph.node import ParameterError
from restora.graph.registry import node_class

PRESET_VERSION = 1
GRAPH_INPUT = "input"
RESIDUAL = "residual"


@dataclass
class NodeSpec:
    """One node of a preset, validated."""

    id: str
    type: str
    input: str = GRAPH_INPUT
    params: dict[str, Any] = field(default_factory=dict)
    bypass: bool = False
    mix: float = 1.0


@dataclass
class Preset:
    """A validated graph description: nodes in file order and named outputs."""

    name: str
    nodes: list[NodeSpec]
    outputs: dict[str, str]
    description: str = ""
    source: str = ""

    def node(self, node_id: str) -> NodeSpec:
        for spec in self.nodes:
            if spec.id == node_id:
                return spec
        raise UsageError(f"preset {self.name!r} has no node {node_id!r} "
                         f"(nodes: {', '.join(s.id for s in self.nodes)})")

    def working_rate(self, input_rate: int) -> int:
        """Rate (Hz) the graph runs at for an input at ``input_rate`` Hz.

        The highest :meth:`~restora.graph.node.Node.stream_rate` of the
        non-bypassed nodes: the input's own rate unless an ``upscale`` node asks
        for more (a bypassed node has no effect, not even on the rate).
        """
        return max([int(input_rate)] + [node_class(s.type).stream_rate(s.params, input_rate)
                                        for s in self.nodes if not s.bypass])

    def to_json(self) -> dict:
        return {
            "restora_preset": PRESET_VERSION, "name": self.name, "description": self.description,
            "nodes": [{"id": s.id, "type": s.type, "input": s.input, "params": s.params,
                       "bypass": s.bypass, "mix": s.mix} for s in self.nodes],
            "outputs": self.outputs,
        }

    def with_overrides(self, assignments: list[str]) -> "Preset":
        """A copy with ``NODE_ID.PARAM=VALUE`` assignments applied and validated.

        ``bypass`` and ``mix`` may be set like parameters (``denoise.mix=0.5``).
        """
        new = copy.deepcopy(self)
        for text in assignments:
            key, sep, value = text.partition("=")
            node_id, dot, param = key.strip().partition(".")
            if not sep or not dot or not node_id or not param:
                raise UsageError(f"--set {text!r}: expected NODE_ID.PARAM=VALUE")
            spec = new.node(node_id)
            if param in ("bypass", "mix"):
                setattr(spec, param, value)
            else:
                spec.params[param] = value
        return preset_from_dict(new.to_json(), new.source or new.name)


def builtin_names() -> list[str]:
    """Names of the presets shipped with Restora."""
    folder = resources.files("restora.resources") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def load_preset(name_or_path: str | Path) -> Preset:
    """Load a built-in preset by name or a preset file by path; UsageError on any fault."""
    text = str(name_or_path)
    path = Path(text)
    if text in builtin_names() and not path.exists():
        data = (resources.files("restora.resources") / "presets" / f"{text}.json").read_text()
        source = f"built-in preset {text!r}"
    elif path.is_file():
        try:
            data = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read preset file {path}: {exc}") from None
        source = f"preset file {path}"
    else:
        raise UsageError(f"unknown preset {text!r}: not a file and not one of "
                         f"{', '.join(builtin_names())}")
    try:
        raw = json.loads(data)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} "
                         f"column {exc.colno}") from None
    return preset_from_dict(raw, source)


def preset_from_dict(raw: Any, source: str) -> Preset:
    """A validated Preset from parsed preset JSON; ``source`` names it in error messages (UsageError)."""
    if not isinstance(raw, dict):
        raise UsageError(f"{source}: the top level must be a JSON object")
    version = raw.get("restora_preset")
    if version != PRESET_VERSION:
        raise UsageError(f"{source}: unsupported preset version {version!r} "
                         f"(this Restora reads version {PRESET_VERSION})")
    nodes_raw = raw.get("nodes")
    if not isinstance(nodes_raw, list) or not nodes_raw:
        raise UsageError(f"{source}: 'nodes' must be a non-empty list")
    nodes: list[NodeSpec] = []
    streams = {GRAPH_INPUT}
    for index, item in enumerate(nodes_raw):
        spec = _node_spec(item, index, source, streams)
        nodes.append(spec)
        cls = node_class(spec.type)
        streams.update({spec.id, f"{spec.id}.{RESIDUAL}"})
        streams.update(f"{spec.id}.{port}" for port in cls.OUTPUTS)
    outputs = raw.get("outputs")
    if not isinstance(outputs, dict) or not outputs:
        raise UsageError(f"{source}: 'outputs' must map output names to node streams")
    for out_name, stream in outputs.items():
        if not isinstance(stream, str) or stream not in streams:
            raise UsageError(f"{source}: output {out_name!r} reads {stream!r}, which no node produces")
        if not out_name or "/" in out_name or out_name.startswith("."):
            raise UsageError(f"{source}: output name {out_name!r} is not a valid file name")
    return Preset(name=str(raw.get("name", "")), nodes=nodes, outputs=dict(outputs),
                  description=str(raw.get("description", "")), source=source)


def _node_spec(item: Any, index: int, source: str, streams: set[str]) -> NodeSpec:
    if not isinstance(item, dict):
        raise UsageError(f"{source}: node #{index + 1} must be a JSON object")
    node_id = item.get("id")
    if not isinstance(node_id, str) or not node_id or "." in node_id or node_id == GRAPH_INPUT:
        raise UsageError(f"{source}: node #{index + 1} needs an 'id' (a name without dots)")
    if any(node_id == s.split(".")[0] for s in streams if s != GRAPH_INPUT):
        raise UsageError(f"{source}: node id {node_id!r} is used twice")
    where = f"{source}: node {node_id!r}"
    type_name = item.get("type")
    if not isinstance(type_name, str):
        raise UsageError(f"{where}: missing 'type'")
    try:
        cls = node_class(type_name)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None
    input_stream = item.get("input", GRAPH_INPUT)
    if input_stream not in streams:
        raise UsageError(f"{where}: input {input_stream!r} is not produced by an earlier node")
    params = item.get("params", {})
    if not isinstance(params, dict):
        raise UsageError(f"{where}: 'params' must be an object")
    try:
        # Constructing a node only validates its parameters; sessions load in start().
        validated = cls(**params).params
    except ParameterError as exc:
        raise UsageError(f"{where} ({type_name}): parameter {exc}") from None
    try:
        mix = float(item.get("mix", 1.0))
    except (TypeError, ValueError):
        raise UsageError(f"{where}: mix={item.get('mix')!r} is not a number") from None
    if not 0.0 <= mix <= 1.0:
        raise UsageError(f"{where}: mix={mix} is out of range [0, 1]")
    bypass = item.get("bypass", False)
    if isinstance(bypass, str):
        bypass = bypass.strip().lower() in ("1", "true", "yes", "on")
    return NodeSpec(id=node_id, type=type_name, input=input_stream, params=validated,
                    bypass=bool(bypass), mix=mix)
