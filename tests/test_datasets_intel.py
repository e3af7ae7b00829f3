"""download_intel: offline it explains how to get the data; online failures become one clear error."""
import time

import pytest

from vision_demo import settings
from vision_demo.datasets.intel import KAGGLE_URL, download_intel
from vision_demo.errors import VisionDemoError


def test_offline_says_how_to_get_it(no_network, monkeypatch):
    monkeypatch.setenv("VISION_DEMO_ONLINE", "0")
    with pytest.raises(VisionDemoError) as info:
        download_intel()
    message = str(info.value)
    assert KAGGLE_URL in message and "--online" in message and "--data" in message and "zip" in message
    assert no_network == []


def test_online_without_network_is_a_clear_error(no_network, monkeypatch):
    monkeypatch.setenv("VISION_DEMO_ONLINE", "1")
    monkeypatch.delenv("KAGGLEHUB_CACHE", raising=False)
    start = time.perf_counter()
    with pytest.raises(VisionDemoError, match="failed") as info:
        download_intel()
    print(f"\nfailed in {time.perf_counter() - start:.1f} s: {info.value}")
    assert KAGGLE_URL in str(info.value)
    import os
    assert os.environ["KAGGLEHUB_CACHE"] == str(settings.subdir("datasets", "kaggle"))
    assert no_network, "the download was attempted (and blocked by the test)"
