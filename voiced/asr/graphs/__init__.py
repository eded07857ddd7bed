"""ONNX graph surgery: models rewritten in memory at load, at the protobuf level.

The recogniser's runtime (voiced.asr: encoder, decoder, transcriber) runs the graphs; these
modules read and rewrite them, without the ``onnx`` package:

* protobuf, graph_io: the wire format, and graphs, nodes and tensors built from it;
* ort_format: an ORT-format (.ort) model handed to onnxruntime as ONNX, so that it is optimised;
* shared_weights: the v2 decoder's two graphs holding their common weights once;
* int8_step, tree_step: the 8-bit and token-tree copies of base-en's cached decoder step that
  teacher-forced scoring (voiced.asr.scoring) runs on.
"""
