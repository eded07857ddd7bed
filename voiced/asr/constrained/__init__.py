"""Grammar-constrained decoding: the recogniser's decoder searches only the sentences a grammar
can say, on the encoder states of the utterance it just transcribed.

    compiled = compile_grammar(grammar, transcriber.tokenizer)        # once per grammar
    scorer = transcriber.scorer(int8=True)
    found = search(compiled, scorer.growth(states), scorer.end_ids)    # per utterance

compile.py turns the grammar into a token automaton (automaton.py) without expanding it, with
the spellings the recogniser writes (spelling.py); search.py runs a beam search of the decoder
inside it and says what each finished sentence means (intent, template, slots).
"""
from voiced.asr.constrained.automaton import Said
from voiced.asr.constrained.compile import GrammarAutomaton, compile_grammar
from voiced.asr.constrained.search import SearchSettings, SearchStats, Sentence, search

__all__ = ["GrammarAutomaton", "Said", "SearchSettings", "SearchStats", "Sentence", "compile_grammar", "search"]
