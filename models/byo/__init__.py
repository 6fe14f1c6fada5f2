"""Bring-your-own models (issue 9): contracts, inspection and safety checks, runtimes for users' ONNX files."""
