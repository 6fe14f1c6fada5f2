"""The ``upscale`` node's methods, apart from the node so that the CLI can list them without loading its DSP."""

#: Methods the node offers: "fold" (DSP) and "neural" (the sr-extender model).
METHODS = ("fold", "neural")
#: The method used when none is given (node parameter and ``restora upscale --method``): the model, which
#: beats folding on held-out speech and matches or beats it on music (docs/benchmarks.md).
DEFAULT_METHOD = "neural"
