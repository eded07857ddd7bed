"""Audio in: WAV files, resampling to 16 kHz mono, and the live sources the daemon listens to."""

SAMPLE_RATE = 16000  # Hz: what the VAD and the recogniser expect
# What any input may claim. Outside these, a header or a setting is wrong rather than unusual,
# and trusting it costs memory: a WAV claiming 1 Hz grew to 22 GB when resampled to 16 kHz.
MIN_RATE, MAX_RATE = 8000, 384000  # Hz
MAX_CHANNELS = 32
CONVERT_HINT = "convert with: sox in.wav -r 16000 -c 1 -b 16 out.wav"
