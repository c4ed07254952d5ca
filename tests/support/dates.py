"""The date the test suite runs "on": configs are validated against it (runtime deprecation), so no
test depends on the day it runs. tests/conftest.py exports it to every subprocess too."""
from __future__ import annotations

import datetime

PINNED_TODAY = datetime.date(2026, 11, 1)
