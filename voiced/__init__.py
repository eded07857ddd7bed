"""voiced: an offline voice-command daemon for ARM edge boards."""

__version__ = "0.1.0"
