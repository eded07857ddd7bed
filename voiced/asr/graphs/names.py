"""Input and output names of the Moonshine decoder graphs, declared once.

The exporters chose them (optimum's for base-en, voiced.export for v2); the decoder
(voiced.asr.decoder), teacher-forced scoring (voiced.asr.scoring) and the steps built from
base-en's graph (int8_step, tree_step) all feed or write graphs by these names.
"""
from __future__ import annotations

STATES = "encoder_hidden_states"
"""the encoder's output [batch, frames, width], an input of every decoder step"""
BRANCH = "use_cache_branch"
"""v1's merged graph: false on the first step (empty past), true on the cached steps"""
INPUT_IDS = "input_ids"
"""token ids [batch, tokens]; v2 calls them decoder_input_ids, so graphs are searched by this ending"""
POSITION_IDS = "position_ids"
"""the token-tree step: each node's depth, its position in its own sentence"""
ATTENTION_BIAS = "attention_bias"
"""the token-tree step: [1, heads, nodes, past + nodes], 0 where a node may look, a large negative elsewhere"""
TREE_INPUTS = (POSITION_IDS, ATTENTION_BIAS)
"""what a token-tree step takes besides the ids and the cache"""
LOGITS = "logits"
"""the steps built at load name their first output so (the 8-bit step keeps the graph's own name)"""
V1_PAST = "past_key_values."
"""prefix of v1's cache inputs: past_key_values.<layer>.decoder|encoder.key|value"""
