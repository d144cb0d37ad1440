"""The head-turn challenge through the JSON API, as shipped (liveness on for login and
registration), with the real models on real clips and made-up attacks.

Clips: ``../shared/liveness`` (its README). The flat-photo attacks are made here from
``../shared/faces`` photos: turned like a door, shifted and scaled; the same frame repeated;
two people's frames spliced.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.liveness_attacks import DoorTurn, door_turn, repeated, spliced
from tests.helpers import NO_LIMITS, post_form

pytestmark = pytest.mark.integration

LEFT_RIGHT = ("left", "right")
RIGHT_LEFT = ("right", "left")


@pytest.fixture
def live_app(tmp_path, engine):
    from app import create_app

    # The replay memory on, as an operator whose logins come from live cameras sets it.
    env = {"FACE_LOGIN_DATA": str(tmp_path / "live"), "FACE_LOGIN_LIVENESS_REPLAY_KEEP": "5"}
    application = create_app({"TESTING": True, **NO_LIMITS}, env=env, engine=engine)
    yield application
    accounts = application.extensions.get("face_login")
    if accounts is not None:
        accounts.store.close()


def clip(folder: Path) -> list[bytes]:
    return [path.read_bytes() for path in sorted(folder.glob("*.jpg"))]


def encoded(frames: list[np.ndarray]) -> list[bytes]:
    return [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for f in frames]


def webcam_sized(data: bytes, side: int = 640) -> np.ndarray:
    """A photo shrunk to the longer side a page's frames have."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    scale = side / max(image.shape[:2])
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def challenge(client, steps: tuple[str, ...] | None = None) -> str:
    """A challenge id, asking again until its steps are ``steps`` (the order is random)."""
    for _ in range(50):
        r = client.post("/api/challenge")
        assert r.status_code == 200, r.json
        assert set(r.json) == {"challenge", "steps", "expires_in"} and r.json["expires_in"] > 0
        if steps is None or tuple(r.json["steps"]) == steps:
            return str(r.json["challenge"])
    raise AssertionError(f"no challenge in the order {steps} in 50 tries")


def send(client, url: str, frames: list[bytes], challenge_id: str | None, **fields: str):
    data: dict = {"image": [(io.BytesIO(f), f"{i:03d}.jpg") for i, f in enumerate(frames)]}
    if challenge_id is not None:
        data["challenge"] = challenge_id
    data.update(fields)
    return post_form(client, url, data)


def login(client, frames: list[bytes], steps=LEFT_RIGHT):
    return send(client, "/api/login", frames, challenge(client, steps))


def mirrored(frames: list[bytes]) -> list[bytes]:
    """The clip seen in a mirror: another capture of the same turns, sides swapped."""
    return encoded([cv2.imdecode(np.frombuffer(f, np.uint8), 1)[:, ::-1] for f in frames])


def test_real_head_turns_register_and_log_in(live_app, liveness_data):
    client = live_app.test_client()
    first = client.post("/api/challenge").json
    assert first["expires_in"] == 60 and len(first["steps"]) == 2
    assert set(first["steps"]) == {"left", "right"}
    ana = clip(liveness_data / "intel_female_headturn")
    # Registered from the mirrored clip: the login frames below were never seen before.
    r = send(client, "/api/register", mirrored(ana), challenge(client, RIGHT_LEFT), username="ana")
    assert r.status_code == 201, r.json
    assert r.json["username"] == "ana" and 2 <= r.json["faces"] <= 3
    r = login(live_app.test_client(), ana, LEFT_RIGHT)  # no cookie, like curl
    assert r.status_code == 200, r.json
    assert r.json["ok"] is True and r.json["username"] == "ana"
    # Small (about 20 degree) turns pass the challenge; the woman is not registered.
    r = login(live_app.test_client(), clip(liveness_data / "liveportrait_d3_turns"), LEFT_RIGHT)
    assert r.status_code == 401 and r.json["error"] == "not_recognized", r.json


def test_a_login_sent_again_is_refused_as_replayed(live_app, liveness_data):
    """Issue 15: the frames of an earlier successful login, sent again as they were or
    re-encoded with noise, logged in 10 of 10; the replay memory refuses them."""
    ana = clip(liveness_data / "intel_female_headturn")
    client = live_app.test_client()
    r = send(client, "/api/register", mirrored(ana), challenge(client, RIGHT_LEFT), username="ana")
    assert r.status_code == 201, r.json
    assert login(live_app.test_client(), ana, LEFT_RIGHT).status_code == 200
    rng = np.random.default_rng(15)
    noisy = [
        np.clip(
            cv2.imdecode(np.frombuffer(f, np.uint8), 1) + rng.normal(0, 3, (270, 480, 3)), 0, 255
        )
        for f in ana
    ]
    for again, steps in [(ana, LEFT_RIGHT), (ana, RIGHT_LEFT), (encoded(noisy), LEFT_RIGHT)]:
        r = login(live_app.test_client(), again, steps)
        assert r.status_code == 401 and r.json["error"] == "liveness_failed", r.json
        assert r.json["reason"] == "replayed" and r.json["detail"]
    # The registration's frames are remembered too.
    r = login(live_app.test_client(), mirrored(ana), RIGHT_LEFT)
    assert r.status_code == 401 and r.json["reason"] == "replayed", r.json


@pytest.mark.parametrize(
    ("folder", "reason"),
    [
        ("intel_male_frontal", "turn_not_seen"),
        ("bioid_nod_pitch", "turn_not_seen"),
        ("intel_two_faces_tilt", "multiple_faces"),
        ("attacks/sfas_demo_phone_screen", "turn_not_seen"),
        ("attacks/sfas_demo_printed_photo", "turn_not_seen"),
        ("attacks/real_reference/sfas_demo_real", "turn_not_seen"),
    ],
)
def test_people_who_do_not_turn_and_attacks_fail(live_app, liveness_data, folder, reason):
    r = login(live_app.test_client(), clip(liveness_data / folder))
    assert r.status_code == 401 and r.json["error"] == "liveness_failed", r.json
    assert r.json["reason"] == reason and r.json["detail"]
    if reason == "turn_not_seen":
        assert r.json["detail"].startswith("turn your head further to your ")


@pytest.mark.parametrize("still", ["stills/sfas_printed_photo.jpg", "stills/sfas_phone_screen.jpg"])
def test_a_still_attack_sent_as_frames_fails(live_app, liveness_data, still):
    frame = cv2.imread(str(liveness_data / "attacks" / still))
    noisy = encoded(repeated(frame, 30, noise=2.0))
    r = login(live_app.test_client(), noisy)
    assert r.status_code == 401 and r.json["error"] == "liveness_failed", r.json
    same = encoded([frame] * 30)
    r = login(live_app.test_client(), same)
    assert r.status_code == 401 and r.json["reason"] == "repeated_frames", r.json


@pytest.mark.parametrize(
    "turn",
    [
        DoorTurn(first="left", max_angle=60.0),
        DoorTurn(first="right", max_angle=45.0, hinge=0.5),
        DoorTurn(first="left", max_angle=50.0, shift=120.0, scale=0.3, seed=3),
    ],
    ids=["door-60", "hinge-edge-45", "moving-50"],
)
def test_a_flat_photo_turned_in_front_of_the_camera_fails(live_app, face_data, turn):
    photo = cv2.imread(str(face_data / "people" / "barack_obama" / "1.jpg"))
    frames = encoded(door_turn(photo, turn))
    for steps in (LEFT_RIGHT, RIGHT_LEFT):
        r = login(live_app.test_client(), frames, steps)
        assert r.status_code == 401 and r.json["error"] == "liveness_failed", r.json


def test_two_people_spliced_fail(live_app, liveness_data):
    ana = clip(liveness_data / "intel_female_headturn")
    other = clip(liveness_data / "liveportrait_d3_turns")
    frames = [cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR) for f in ana + other]
    mixed = encoded(spliced(frames[: len(ana)], frames[len(ana) :]))
    r = login(live_app.test_client(), mixed)
    assert r.status_code == 401 and r.json["error"] == "liveness_failed", r.json


def test_five_people_in_five_frames_are_refused(live_app, app, photo, liveness_data):
    people = [
        "people/barack_obama/1.jpg",
        "people/joe_biden/1.jpg",
        "people/kit_harington/1.jpg",
        "people/rose_leslie/1.jpg",
        "people/kate_siegel/1.jpg",
    ]
    frames = [photo(name) for name in people]
    # Liveness off: every frame of a login must show the same person.
    r = send(app.test_client(), "/api/login", frames, None)
    assert r.status_code == 422 and r.json["error"] == "faces_differ", r.json
    # Liveness on: five people are no head turn (frames at a webcam's size, as a page sends).
    webcam = encoded([webcam_sized(f) for f in frames])
    r = login(live_app.test_client(), webcam * 4)
    assert r.status_code == 401 and r.json["error"] == "liveness_failed", r.json


def test_login_without_a_challenge_is_refused(live_app, photo):
    r = send(live_app.test_client(), "/api/login", [photo("people/barack_obama/1.jpg")], None)
    assert r.status_code == 400 and r.json["error"] == "challenge_required", r.json
    r = send(
        live_app.test_client(),
        "/api/register",
        [photo("people/barack_obama/1.jpg")],
        None,
        username="obama",
    )
    assert r.status_code == 400 and r.json["error"] == "challenge_required", r.json


def test_without_a_challenge_nothing_else_is_judged_first(live_app, photo):
    """Issue 15: 20 frames without a challenge answered too_many_images; a missing challenge
    is said first, whatever else is wrong (too many frames, none, no username, bad bytes)."""
    face = photo("people/barack_obama/1.jpg")
    client = live_app.test_client()
    for url, frames, fields in [
        ("/api/login", [face] * 20, {}),
        ("/api/login", [], {}),
        ("/api/login", [b"not an image"], {"username": "nobody"}),
        ("/api/register", [face] * 20, {"username": "obama"}),
        ("/api/register", [face] * 20, {}),
        ("/api/register", [], {"username": ""}),
    ]:
        r = send(client, url, frames, None, **fields)
        assert r.status_code == 400 and r.json["error"] == "challenge_required", (url, r.json)


def test_used_unknown_and_foreign_challenges_are_invalid(live_app, liveness_data):
    ana = clip(liveness_data / "intel_female_headturn")
    client = live_app.test_client()
    used = challenge(client)
    send(client, "/api/login", ana, used)  # takes the challenge, whatever the outcome
    r = send(client, "/api/login", ana, used)
    assert r.status_code == 400 and r.json["error"] == "challenge_invalid", r.json
    r = send(client, "/api/login", ana, "no-such-challenge")
    assert r.status_code == 400 and r.json["error"] == "challenge_invalid"
    mine = challenge(client)
    other = live_app.test_client()
    other.environ_base["REMOTE_ADDR"] = "127.0.0.2"
    r = send(other, "/api/login", ana, mine)
    assert r.status_code == 400 and r.json["error"] == "challenge_invalid"
    assert "another client" in r.json["detail"]


def test_an_expired_challenge_is_invalid(tmp_path, engine, liveness_data):
    from app import create_app

    env = {"FACE_LOGIN_DATA": str(tmp_path), "FACE_LOGIN_LIVENESS_CHALLENGE_SECONDS": "1"}
    app = create_app({"TESTING": True, **NO_LIMITS}, env=env, engine=engine)
    client = app.test_client()
    issued = challenge(client)
    time.sleep(1.2)
    r = send(client, "/api/login", clip(liveness_data / "intel_female_headturn"), issued)
    assert r.status_code == 400 and r.json["error"] == "challenge_invalid"
    assert "expired" in r.json["detail"]
    app.extensions["face_login"].store.close()


def test_a_taken_username_is_refused_before_the_challenge_is_spent(live_app, liveness_data):
    client = live_app.test_client()
    ana = clip(liveness_data / "intel_female_headturn")
    assert send(client, "/api/register", ana, challenge(client), username="ana").status_code == 201
    other = live_app.test_client()
    kept = challenge(other)
    r = send(other, "/api/register", ana[:1], kept, username="ANA")
    assert r.status_code == 409 and r.json["error"] == "username_taken"
    # The challenge was not taken: it still answers (here: liveness, on one frame).
    r = send(other, "/api/login", ana[:1], kept)
    assert r.json["error"] == "liveness_failed", r.json
