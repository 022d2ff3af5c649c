"""Every test session runs on a fresh cache and a fresh build folder, so nothing passes because an old
artifact was left behind. The dequantised packaged models are the one exception (a minute each to make):
set STICKY_SHARED_CACHE to reuse them."""

import os
import tempfile
from pathlib import Path

_session = Path(tempfile.mkdtemp(prefix="sticky-test-"))
os.environ["STICKY_CACHE"] = str(_session / "cache")
os.environ["STICKY_BUILD"] = str(_session)
os.environ["STICKY_FIGURES"] = str(_session / "figures")
os.environ["STICKY_TIMINGS"] = str(_session / "timings.json")
