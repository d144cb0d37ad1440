"""The engine's command line: detect, compare, evaluate, bench (real models, real photos)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def run_cli(*args: str, check: bool = True) -> tuple[int, dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "face_engine", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_detect_group_photo(face_data):
    _, out = run_cli("detect", str(face_data / "group" / "two_people.jpg"))
    assert len(out["faces"]) == 2
    assert set(out["faces"][0]["landmarks"]) == {
        "left_eye",
        "right_eye",
        "nose",
        "mouth_left",
        "mouth_right",
    }


def test_detect_bad_file_is_json_error(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    code, out = run_cli("detect", str(bad), check=False)
    assert code != 0 and out["error"] == "bad_image"


def test_compare_same_and_different(face_data):
    people = face_data / "people"
    _, same = run_cli(
        "compare", str(people / "barack_obama/1.jpg"), str(people / "barack_obama/2.jpg")
    )
    _, diff = run_cli(
        "compare", str(people / "barack_obama/1.jpg"), str(people / "joe_biden/1.jpg")
    )
    assert same["same"] is True and diff["same"] is False
    assert same["distance"] < diff["distance"]


def test_evaluate_pairs_at_shipped_threshold(face_data, tmp_path, settings):
    plot = tmp_path / "distances.png"
    _, out = run_cli("evaluate", str(face_data / "pairs.csv"), "--plot", str(plot))
    for key in (
        "pairs",
        "no_face",
        "threshold",
        "accuracy",
        "tar",
        "far",
        "best_threshold",
        "best_accuracy",
    ):
        assert key in out
    assert out["pairs"] == 136 and out["no_face"] == 0
    assert out["threshold"] == settings.engine.threshold
    assert out["accuracy"] == 1.0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_reports_both_pipelines(face_data):
    _, out = run_cli("bench", "--runs", "2", "--json", "--faces", str(face_data))
    for side in ("ours", "baseline"):
        assert set(out[side]) >= {
            "decode",
            "detect",
            "detect_all",
            "align",
            "embed",
            "detect+align+embed",
            "detect_all+align+embed",
        }
        assert all(value > 0 for value in out[side].values())
    assert {"detect+align+embed", "detect_all+align+embed"} <= set(out["ratio"])
