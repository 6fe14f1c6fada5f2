"""The Python API: load a preset, process a numpy array or a file.

    from restora import api
    preset = api.load_preset("dialogue-clean").with_overrides(["denoise.atten_lim_db=12"])
    outputs, measurements = api.process_array(preset, audio, 44100)   # audio: float32 [frames, channels]
    result = api.process_file(preset, "in.m4a", "out.wav")             # FileResult: outputs, timing, measurements
"""

from restora.graph.file_job import FileResult, OutputOptions, process_array, process_file
from restora.graph.preset import Preset, builtin_names, load_preset

__all__ = ["FileResult", "OutputOptions", "Preset", "builtin_names", "load_preset", "process_array",
           "process_file"]
