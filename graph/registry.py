"""Node types by name, imported lazily so the CLI starts fast.

A preset refers to node types by these names (``"type": "deepfilternet3"``).
"""

from __future__ import annotations

import importlib

from restora.errors import UsageError
from restora.graph.node import Node

_NODE_TYPES: dict[str, str] = {
    "gain": "restora.graph.nodes_basic:GainNode",
    "highpass": "restora.graph.nodes_basic:HighPassNode",
    "eq": "restora.graph.nodes_basic:ParametricEqNode",
    "limiter": "restora.graph.nodes_basic:LimiterNode",
    "loudness-meter": "restora.graph.nodes_loudness:LoudnessMeterNode",
    "loudness-normalize": "restora.graph.nodes_loudness:LoudnessNormalizeNode",
    "deepfilternet3": "restora.graph.nodes_dfn3:Dfn3Node",
    "gtcrn": "restora.graph.nodes_models:GtcrnNode",
    "dnsmos": "restora.graph.nodes_models:DnsmosNode",
    "vad": "restora.graph.nodes_models:VadNode",
    "separate": "restora.graph.nodes_separate:SeparateNode",
    "extract": "restora.graph.nodes_extract:ExtractNode",
    "upscale": "restora.graph.nodes_upscale:UpscaleNode",
    "de-hum": "restora.graph.nodes_dehum:DehumNode",
    "de-ess": "restora.graph.nodes_deess:DeessNode",
    "de-click": "restora.graph.nodes_declick:DeclickNode",
    "de-clip": "restora.graph.nodes_declip:DeclipNode",
    "de-noise-profile": "restora.graph.nodes_denoise_profile:NoiseProfileNode",
    "dereverb": "restora.graph.nodes_dereverb:DereverbNode",
}


_EXTRA: dict[str, type[Node]] = {}


def register_node_type(type_name: str, cls: type[Node]) -> None:
    """Add a node type at run time (plug-ins, user ONNX models, tests)."""
    _EXTRA[type_name] = cls


def node_types(added: bool = True) -> list[str]:
    """Names of every node type, sorted: the bundled ones, then (``added``) ``model:<id>`` for each model the
    user added."""
    from restora.graph import nodes_user_model

    return sorted(set(_NODE_TYPES) | set(_EXTRA)) + (nodes_user_model.type_names() if added else [])


def node_class(type_name: str) -> type[Node]:
    """The class implementing ``type_name``; UsageError when unknown (ModelError for an unknown added model)."""
    if type_name in _EXTRA:
        return _EXTRA[type_name]
    if type_name.startswith("model:"):
        from restora.graph import nodes_user_model

        return nodes_user_model.node_class(type_name)
    try:
        target = _NODE_TYPES[type_name]
    except KeyError:
        raise UsageError(f"unknown node type {type_name!r} "
                         f"(known: {', '.join(node_types())})") from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)
