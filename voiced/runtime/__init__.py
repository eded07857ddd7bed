"""Board detection, onnxruntime thread plan, sd_notify."""
