"""Run the head-turn liveness decision on real clips, photo attacks and generated flat attacks.

    python bench/liveness_study.py [--faces ../shared/faces] [--liveness FACES/../liveness]
                                   [--yaw 0.15] [--json out.json]

Every sequence is detected with the shipped detector, turned into observations and decided for
both step orders, ["left", "right"] and ["right", "left"]. Prints one markdown row per
sequence (frames, frames with a face, rc range, nose depth per side, lowest face proportion
over its frontal value, both decisions) and the false-reject / false-accept counts, then the
whole as JSON. Real turning clips must pass the orders they contain; everything else must fail.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.liveness_attacks import (  # noqa: E402
    DoorTurn,
    door_turn,
    face_card,
    observe,
    repeated,
    spliced,
)
from face_engine.config import load_settings  # noqa: E402
from face_engine.head_turn import HeadTurnCheck  # noqa: E402
from face_engine.liveness import (  # noqa: E402
    FrameObservation,
    LivenessPolicy,
    check_liveness,
    face_proportion,
)
from face_engine.types import BGRImage  # noqa: E402
from face_engine.vision.pipeline import FaceEngine  # noqa: E402

ORDERS = (("left", "right"), ("right", "left"))
TURNING = {"intel_female_headturn": ORDERS, "liveportrait_d3_turns": (ORDERS[0],)}
NOT_TURNING = [
    "intel_male_frontal",
    "bioid_nod_pitch",
    "intel_two_faces_tilt",
    "attacks/real_reference/sfas_demo_real",
]
ATTACK_CLIPS = ["attacks/sfas_demo_phone_screen", "attacks/sfas_demo_printed_photo"]
DOORS = {
    "centre hinge, 2 widths away, 60 deg": DoorTurn(first="left"),
    "edge hinge, 1.2 widths away, 60 deg": DoorTurn(hinge=-0.5, distance=1.2, first="left"),
    "edge hinge, 1.5 widths, 45 deg, right first": DoorTurn(
        hinge=0.5, distance=1.5, max_angle=45.0, first="right"
    ),
    "centre hinge, 3 widths, small photo, right first": DoorTurn(
        distance=3.0, width=200.0, first="right"
    ),
}


def read_image(path: Path) -> BGRImage:
    image = cv2.imread(str(path))
    if image is None:
        raise SystemExit(f"cannot read {path}")
    return np.asarray(image, dtype=np.uint8)


def read_clip(folder: Path) -> list[BGRImage]:
    frames = [read_image(p) for p in sorted(folder.glob("*.jpg"))]
    if not frames:
        raise SystemExit(f"no frames in {folder}")
    return frames


def letterbox(frame: BGRImage, size: tuple[int, int] = (640, 480)) -> BGRImage:
    """``frame`` scaled to fit ``size`` and centred on grey, as one camera would deliver it."""
    scale = min(size[0] / frame.shape[1], size[1] / frame.shape[0])
    w, h = round(frame.shape[1] * scale), round(frame.shape[0] * scale)
    canvas = np.full((size[1], size[0], 3), 128, np.uint8)
    x, y = (size[0] - w) // 2, (size[1] - h) // 2
    canvas[y : y + h, x : x + w] = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
    return canvas


Sequence = tuple[str, str, tuple[tuple[str, str], ...], list[BGRImage]]


def sequences(engine: FaceEngine, live: Path, faces: Path) -> Iterator[Sequence]:
    """(name, kind, orders expected to pass, frames) for everything the study tries."""
    for name, orders in TURNING.items():
        yield name, "real turn", orders, read_clip(live / name)
    female = read_clip(live / "intel_female_headturn")
    yield "intel_female_headturn frames 1-18 (left, right)", "real turn", ORDERS[:1], female[:18]
    yield (
        "intel_female_headturn letterboxed 640x480",
        "real turn",
        ORDERS,
        [letterbox(f) for f in female],
    )
    for name in NOT_TURNING:
        yield name, "real, no turn", (), read_clip(live / name)
    for name in ATTACK_CLIPS:
        yield name, "attack clip", (), read_clip(live / name)
    stills = sorted((live / "attacks" / "stills").glob("*.jpg"))
    stills += sorted((live / "attacks" / "real_reference").glob("*.jpg"))
    for path in stills:
        image = read_image(path)
        kind = "real still" if "real_reference" in str(path) else "attack still"
        yield f"{path.name} x1", kind, (), [image]
        yield f"{path.name} x30", kind, (), repeated(image, 30)
        yield f"{path.name} x30 noisy", kind, (), repeated(image, 30, noise=2.0)
    yield "intel_female frame 10 x30", "repeat", (), repeated(female[9], 30)
    half = [letterbox(f) for f in read_clip(live / "liveportrait_d3_turns")]
    yield (
        "splice: intel_female 1-11 + liveportrait 30-59",
        "splice",
        (),
        [
            *[letterbox(f) for f in female[:11]],
            *half[29:],
        ],
    )
    warps: dict[str, list[BGRImage]] = {}
    for k, path in enumerate(sorted((faces / "people").glob("*/*.jpg"))):
        photo = read_image(path)
        card = face_card(photo, engine.detect(photo)[0].box, margin=0.6)
        for j, (label, turn) in enumerate(DOORS.items()):
            name = f"flat {path.parent.name}/{path.name}: {label}"
            warps[name] = door_turn(card, dataclasses.replace(turn, seed=10 * k + j))
            yield name, "flat photo", (), warps[name]
    names = list(warps)
    for a, b in zip(names[::4], names[5::4], strict=False):
        yield (
            f"splice: {a.split(':')[0]} + {b.split(':')[0]}",
            "splice",
            (),
            spliced(warps[a], warps[b]),
        )


def study(
    engine: FaceEngine,
    live: Path,
    faces: Path,
    policy: LivenessPolicy,
    observer: Callable[[list[BGRImage]], list[FrameObservation]],
) -> list[dict[str, Any]]:
    rows = []
    for name, kind, expected, frames in sequences(engine, live, faces):
        observations = observer(frames)
        with_face = [o for o in observations if o.landmarks is not None and o.box is not None]
        proportions = [
            face_proportion(o.landmarks, o.box)
            for o in with_face
            if o.landmarks is not None and o.box is not None
        ]
        decisions = {}
        for order in ORDERS:
            result = check_liveness(observations, list(order), policy)
            decisions["-".join(order)] = (result.passed, result.code, result.detail)
        wrong = ["-".join(o) for o in ORDERS if decisions["-".join(o)][0] != (o in expected)]
        rows.append(
            {
                "name": name,
                "kind": kind,
                "frames": len(frames),
                "face_frames": len(with_face),
                "rc_min": result.max_left,
                "rc_max": result.max_right,
                "depth_left": result.depth.get("left"),
                "depth_right": result.depth.get("right"),
                "lowest_cos": min(proportions) / float(np.percentile(proportions, 95))
                if proportions
                else None,
                "decisions": decisions,
                "expected_pass": ["-".join(o) for o in expected],
                "errors": wrong,
            }
        )
    return rows


def fmt(value: float | None) -> str:
    return "" if value is None else f"{value:+.2f}"


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| sequence | kind | frames | with face | rc min | rc max | depth L | depth R "
        "| lowest cos | left-right | right-left | ok |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        cells = [
            "pass" if ok else code
            for ok, code, _ in (r["decisions"][k] for k in ("left-right", "right-left"))
        ]
        lines.append(
            f"| {r['name']} | {r['kind']} | {r['frames']} | {r['face_frames']} "
            f"| {fmt(r['rc_min'])} "
            f"| {fmt(r['rc_max'])} | {fmt(r['depth_left'])} | {fmt(r['depth_right'])} "
            f"| {'' if r['lowest_cos'] is None else format(r['lowest_cos'], '.2f')} "
            f"| {cells[0]} | {cells[1]} | {'yes' if not r['errors'] else 'NO'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    faces = Path(os.environ.get("FACE_TEST_DATA", ROOT.parent / "shared" / "faces"))
    parser.add_argument("--faces", type=Path, default=faces)
    parser.add_argument("--liveness", type=Path, default=faces.parent / "liveness")
    parser.add_argument("--yaw", type=float, default=LivenessPolicy().yaw_needed)
    parser.add_argument("--min-depth", type=float, default=LivenessPolicy().min_depth)
    parser.add_argument(
        "--observer",
        choices=("service", "full"),
        default="service",
        help="service: what the service runs (full detections every [liveness] detect_every "
        "frames, O-Net in between); full: a full detection on every frame",
    )
    parser.add_argument("--json", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    policy = dataclasses.replace(LivenessPolicy(), yaw_needed=args.yaw, min_depth=args.min_depth)
    settings = load_settings(None, os.environ)
    engine = FaceEngine(settings)
    if args.observer == "service":
        check = HeadTurnCheck(engine, settings.liveness)

        def observer(frames: list[BGRImage]) -> list[FrameObservation]:
            return check.observe(frames)[0]
    else:

        def observer(frames: list[BGRImage]) -> list[FrameObservation]:
            return observe(engine, frames)

    rows = study(engine, args.liveness, args.faces, policy, observer)
    real = [r for r in rows if r["expected_pass"]]
    false_rejects = sum(len(set(r["expected_pass"]) & set(r["errors"])) for r in real)
    false_accepts = sum(1 for r in rows if not r["expected_pass"] and r["errors"])
    summary = {
        "observer": args.observer,
        "detect_every": settings.liveness.detect_every,
        "policy": dataclasses.asdict(policy),
        "real_turn_orders_tried": sum(len(r["expected_pass"]) for r in real),
        "false_rejects": false_rejects,
        "sequences_expected_to_fail": sum(1 for r in rows if not r["expected_pass"]),
        "false_accepts": false_accepts,
        "other_errors": [r["name"] for r in rows if r["errors"]],
    }
    print(markdown(rows))
    print()
    print(json.dumps(summary, indent=1))
    document = json.dumps({"summary": summary, "rows": rows}, indent=1)
    if args.json:
        args.json.write_text(document)
    else:
        print(document)


if __name__ == "__main__":
    main()
