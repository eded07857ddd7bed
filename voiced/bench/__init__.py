"""Instrumented runs behind `voiced bench e2e` and `voiced bench fuzz`."""
