"""Audio in: WAV files, resampling to 16 kHz mono, and the live sources the daemon listens to."""

SAMPLE_RATE = 16000  # Hz: what the VAD and the recogniser expect
