"""The aarch64 smoke tests run only on arm64 (under qemu from .ci/arm64-smoke.sh, or on a board).

On any other machine they are not collected, so a plain `pytest` on a developer box skips them."""
from __future__ import annotations

import platform

collect_ignore = [] if platform.machine() in ("aarch64", "arm64") else ["test_arm64_smoke.py"]
