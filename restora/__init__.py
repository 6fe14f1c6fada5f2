"""Restora: repair and take apart recordings with neural models.

Sub-packages: ``restora.dsp`` (signal code, audio I/O), ``restora.models`` (ONNX
models and their store), ``restora.graph`` (nodes, processing graph, presets),
``restora.cli`` (command line) and ``restora.app`` (Qt GUI).
"""

__version__ = "0.1.0"
