"""Vocabulary from outside the command sets: grammars built from what the home announces."""
