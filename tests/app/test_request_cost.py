"""A request's cost is bounded before it is paid: the issue's attacks through the API, with
the real models, counting what the engine was made to do.

Each attack is a head-turn login of 60 frames (the most a challenge may carry): flat 4-megapixel
PNGs (small files), a mosaic of about 100 faces, noise with no face; and the preview of the
mosaic. The counts come from the real engine, wrapped to count its calls.
"""

from __future__ import annotations

import io
import threading
from collections import Counter

import numpy as np
import pytest

from app.concurrency import ClientSlots
from app.errors import ApiError
from bench.request_attacks import (
    big_png_frames,
    faceless_frames,
    head_turn_frames,
    jpeg,
    mosaic_frames,
    mosaic_image,
)
from tests.helpers import NO_LIMITS, post_form

pytestmark = pytest.mark.integration


@pytest.fixture
def calls(engine, monkeypatch) -> Counter[str]:
    """How often the engine decoded a frame, ran a full detection and tracked faces."""
    counted: Counter[str] = Counter()

    def counting(name: str, target: object) -> None:
        original = getattr(target, name)

        def wrapper(*args, **kwargs):
            counted[name] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(target, name, wrapper)

    counting("decode", engine)
    counting("detect", engine.detector)
    counting("refine", engine.detector)
    return counted


def challenge(client) -> str:
    r = client.post("/api/challenge")
    assert r.status_code == 200, r.json
    return str(r.json["challenge"])


def send(client, url: str, frames: list[bytes], **fields: str):
    data: dict = {"image": [(io.BytesIO(f), f"{i:03d}.jpg") for i, f in enumerate(frames)]}
    return post_form(client, url, {**data, **fields})


def test_big_frames_are_refused_from_their_headers_before_any_is_decoded(live_app, calls):
    """60 flat 2000x2000 PNGs (17 KB each): each header says 4 megapixels, over a webcam's."""
    client = live_app.test_client()
    r = send(client, "/api/login", big_png_frames(), challenge=challenge(client))
    assert r.status_code == 422 and r.json["error"] == "bad_image", r.json
    assert r.json["detail"].startswith("image 1: ") and "webcam" in r.json["detail"]
    assert calls["decode"] == 0 and calls["detect"] == 0


def test_one_big_frame_among_small_ones_is_named_before_any_is_decoded(live_app, calls):
    frames = head_turn_frames()
    frames[7] = big_png_frames(1)[0]
    client = live_app.test_client()
    r = send(client, "/api/login", frames, challenge=challenge(client))
    assert r.status_code == 422 and r.json["detail"].startswith("image 8: "), r.json
    assert calls["decode"] == 0


def test_a_frame_bigger_in_bytes_than_a_webcam_sends_is_refused(live_app, calls):
    noise = np.random.default_rng(1).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    heavy = jpeg(noise, quality=100)
    assert len(heavy) > 1_048_576
    client = live_app.test_client()
    frames = head_turn_frames()
    frames[0] = heavy
    r = send(client, "/api/login", frames, challenge=challenge(client))
    assert r.status_code == 422 and r.json["detail"].startswith("image 1: "), r.json
    assert "bytes" in r.json["detail"] and calls["decode"] == 0


def test_a_mosaic_of_faces_is_refused_at_its_first_frame(live_app, calls):
    client = live_app.test_client()
    r = send(client, "/api/login", mosaic_frames(), challenge=challenge(client))
    assert r.status_code == 422 and r.json["error"] == "too_many_faces", r.json
    assert calls["decode"] == 1, "only the first frame was decoded"
    assert calls["detect"] <= 2 and calls["refine"] == 0


def test_frames_without_a_face_fail_after_the_full_detections_alone(live_app, calls, engine):
    client = live_app.test_client()
    r = send(client, "/api/login", faceless_frames(), challenge=challenge(client))
    assert r.status_code == 401, r.json
    assert r.json["error"] == "liveness_failed" and r.json["reason"] == "too_few_faces"
    anchors = len({*range(0, 60, engine.settings.liveness.detect_every), 59})
    assert calls["decode"] == anchors, "only the frames of the full detections were decoded"
    assert calls["refine"] == 0


def test_a_real_head_turn_still_registers_and_logs_in(live_app, calls):
    client = live_app.test_client()
    frames = head_turn_frames()
    r = send(client, "/api/register", frames, challenge=challenge(client), username="ana")
    assert r.status_code == 201, r.json
    fresh = live_app.test_client()
    r = send(fresh, "/api/login", frames, challenge=challenge(fresh))
    assert r.status_code == 200 and r.json["username"] == "ana", r.json
    assert calls["decode"] == 2 * len(frames)


def test_the_preview_of_a_mosaic_is_refused_and_a_face_is_found_small(
    live_app, engine, monkeypatch
):
    client = live_app.test_client()
    r = send(client, "/api/preview", [jpeg(mosaic_image())])
    assert r.status_code == 422 and r.json["error"] == "too_many_faces", r.json
    frame = head_turn_frames()[11]
    sides: list[int] = []
    original = engine.detector.detect

    def recording(image, min_size=0.0, max_side=0):
        sides.append(max_side)
        return original(image, min_size, max_side)

    monkeypatch.setattr(engine.detector, "detect", recording)
    r = send(client, "/api/preview", [frame])
    monkeypatch.undo()
    assert r.status_code == 200 and len(r.json["faces"]) == 1, r.json
    assert sides == [engine.settings.detector.preview_max_side] == [320]
    x, y, w, h = r.json["faces"][0]["box"]
    full = engine.detect(engine.decode(frame))[0]
    assert abs(x - full.box[0]) < 0.15 * full.box[2] and abs(w - full.box[2]) < 0.3 * full.box[2]
    assert (r.json["width"], r.json["height"]) == (480, 270)


def test_a_client_over_its_work_budget_is_refused_until_the_window_passes(tmp_path, engine):
    from app import create_app

    env = {"FACE_LOGIN_DATA": str(tmp_path / "budget")}
    application = create_app(
        {"TESTING": True, **NO_LIMITS, "CLIENT_WORK_LIMIT": "1 per hour"}, env=env, engine=engine
    )
    client = application.test_client()
    frame = head_turn_frames()[11]
    assert send(client, "/api/preview", [frame]).status_code == 200
    r = send(client, "/api/preview", [frame])
    assert r.status_code == 429 and r.json["error"] == "too_much_work", r.json
    other = application.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    assert send(other, "/api/preview", [frame]).status_code == 200
    application.extensions["face_login"].store.close()


def test_client_slots_refuse_a_second_request_of_one_client_at_once() -> None:
    slots = ClientSlots(1)
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with slots.hold("face", "10.0.0.1"):
            entered.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert entered.wait(30)
    with pytest.raises(ApiError) as refused:
        with slots.hold("face", "10.0.0.1"):
            pass
    assert refused.value.status == 429 and refused.value.code == "too_many_concurrent_requests"
    with slots.hold("preview", "10.0.0.1"), slots.hold("face", "10.0.0.2"):
        pass  # another kind, another client
    release.set()
    holder.join(30)
    with slots.hold("face", "10.0.0.1"):
        pass  # free again
    with ClientSlots(0).hold("face", "x"), ClientSlots(0).hold("face", "x"):
        pass  # 0: no limit


@pytest.mark.parametrize(
    ("key", "value"),
    [("CLIENT_WORK_LIMIT", "lots"), ("PREVIEW_RATE_LIMIT", "5 per fortnight")],
)
def test_a_bad_limit_stops_start_up_with_one_line(key, value) -> None:
    from app.config import load_config
    from face_engine import ConfigError

    with pytest.raises(ConfigError) as stopped:
        load_config({f"FACE_LOGIN_APP_{key}": value})
    assert key.lower() in str(stopped.value) and "\n" not in str(stopped.value)
