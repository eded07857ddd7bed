"""Voice activity: Silero speech probabilities and the endpointer that turns them into utterances."""
