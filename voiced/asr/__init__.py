"""Speech recognition: Moonshine models run by onnxruntime."""
