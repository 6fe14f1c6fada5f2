"""Reproducible training pipeline: data preparation, training, ONNX export and model cards.

Only the ``prepare_*`` modules need restora (and the corpus); the training and
export modules need torch and numpy alone, so they run on the training machine
(PyTorch 2.11, no audio libraries) as well as with the pinned CPU torch here.
The app never imports this package.
"""
