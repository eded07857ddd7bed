"""Accuracy evaluation: labelled WAV sets run through the daemon's own recognition path.

labels.py reads and checks a labels file against the grammar, runner.py runs every WAV
(VAD, endpointer, recogniser, matcher), scoring.py turns the results into figures,
report.py prints and writes them, synth.py renders the synthetic set with espeak-ng.
"""
