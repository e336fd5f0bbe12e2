"""Quantization methods. INT8 runs in ONNX Runtime (QDQ); low-bit QAT uses Brevitas."""
