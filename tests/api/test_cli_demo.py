"""``interest-graph demo``'s key message and ``interest-graph stop``'s API half."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.cli_demo import KEY_HINT, _stop_api, demo_key_message
from app.settings import load_settings
from graphdb.local.server import process_alive
from graphdb.store import GraphStore


def test_first_run_shows_a_key_and_a_rerun_says_how_to_make_one(store: GraphStore) -> None:
    settings = load_settings(api_auth=True)
    first = demo_key_message(store, settings)
    assert first is not None and "shown once" in first and "igk_" in first
    key = first.split("KEY=")[1].split()[0]
    again = demo_key_message(store, settings)
    assert again is not None and KEY_HINT in again and key not in again
    assert len(store.api_keys.all()) == 1  # a rerun makes no second key by itself
    assert demo_key_message(store, load_settings(api_auth=False)) is None


def test_stop_ends_the_process_named_in_the_pid_file(tmp_path: Path) -> None:
    api = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    pid_file = tmp_path / "api.pid"
    pid_file.write_text(f"{api.pid}\n")
    try:
        assert _stop_api(pid_file) is True
        assert not process_alive(api.pid) and not pid_file.exists()
        assert _stop_api(pid_file) is False  # nothing to stop: said, not raised
    finally:
        if api.poll() is None:
            api.kill()
