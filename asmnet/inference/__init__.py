"""Inference: the crop rule, face detectors, the predictor and its fast / ONNX runtimes, uncertainty, box
refinement, the pre-label pipeline (images or a workspace in, predictions into the store) and its
progress reporting."""
