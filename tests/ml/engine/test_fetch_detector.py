"""manage.py fetch_detector: verifies a local file, downloads over HTTP (from a local server here),
refuses files that are not YuNet, and fails clearly when the internet is out of reach."""
from __future__ import annotations

import functools
import http.server
import json
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import free_port


def run(*args) -> dict:
    out = StringIO()
    call_command("fetch_detector", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_from_file_verifies_and_copies(yunet_model_path, tmp_path):
    result = run("--from-file", str(yunet_model_path), "--dest", str(tmp_path))
    target = tmp_path / yunet_model_path.name
    assert result["path"] == str(target) and target.read_bytes() == yunet_model_path.read_bytes()
    assert result["verified"] is True and result["faces_on_test_photo"] >= 1
    assert result["env"] == f"EMO7ION_YUNET_MODEL={target}"
    assert len(result["sha256"]) == 64


def test_human_output_prints_the_setting(yunet_model_path, tmp_path):
    out = StringIO()
    call_command("fetch_detector", "--from-file", str(yunet_model_path), "--dest", str(tmp_path), stdout=out)
    assert f"EMO7ION_YUNET_MODEL={tmp_path / yunet_model_path.name}" in out.getvalue()


def test_from_file_refuses_a_file_that_is_not_yunet(tmp_path):
    bogus = tmp_path / "detector.onnx"
    bogus.write_bytes(b"\x08\x07" + b"not a network" * 100)
    with pytest.raises(CommandError, match="not a usable YuNet detector"):
        run("--from-file", str(bogus), "--dest", str(tmp_path / "models"))
    assert not (tmp_path / "models" / "detector.onnx").exists()
    with pytest.raises(CommandError, match="does not exist"):
        run("--from-file", str(tmp_path / "absent.onnx"), "--dest", str(tmp_path / "models"))


def test_unreachable_url_fails_with_a_clear_message(tmp_path):
    closed = f"http://127.0.0.1:{free_port()}/yunet_n_640_640.onnx"  # nothing listens there
    with pytest.raises(CommandError) as info:
        run("--url", closed, "--dest", str(tmp_path), "--timeout", "5")
    message = str(info.value)
    assert "Could not download" in message and "no internet access" in message
    assert "--from-file" in message and "EMO7ION_YUNET_MODEL" in message and closed in message
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


@pytest.fixture
def http_folder(tmp_path):
    """A real HTTP server on localhost serving tmp_path/www."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_over_http_then_verify(http_folder, yunet_model_path, tmp_path):
    www, base = http_folder
    (www / "yunet_n_640_640.onnx").write_bytes(yunet_model_path.read_bytes())
    dest = tmp_path / "models"
    missing = f"{base}/nothing-here.onnx"
    result = run("--url", missing, "--url", f"{base}/yunet_n_640_640.onnx", "--dest", str(dest))
    assert result["source"] == f"{base}/yunet_n_640_640.onnx"  # the 404 was skipped, the next URL used
    assert (dest / "yunet_n_640_640.onnx").read_bytes() == yunet_model_path.read_bytes()
    assert sorted(p.name for p in dest.iterdir()) == ["yunet_n_640_640.onnx"]


def test_downloaded_file_that_is_not_yunet_is_refused(http_folder, tmp_path):
    www, base = http_folder
    (www / "yunet.onnx").write_text("<html>rate limited</html>")
    dest = tmp_path / "models"
    with pytest.raises(CommandError, match="not a usable YuNet detector"):
        run("--url", f"{base}/yunet.onnx", "--dest", str(dest))
    assert list(dest.iterdir()) == []
