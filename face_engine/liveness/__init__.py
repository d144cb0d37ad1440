"""Head-turn liveness: decide from the detector's landmarks whether one live head turned as asked.

``check_liveness`` (pure NumPy, in ``checks``) takes one ``FrameObservation`` per frame, made by
``observe`` from the engine's detector; ``synthetic`` makes flat-photo, repeated and spliced
attacks for the study (bench/liveness_study.py) and the tests. Figures: docs/liveness.md.
"""

from face_engine.liveness.checks import (
    DETAILS,
    STEPS,
    FrameObservation,
    LivenessPolicy,
    LivenessResult,
    check_liveness,
    faces_needed,
)
from face_engine.liveness.observe import observation, signature
from face_engine.liveness.yaw import face_proportion, yaw_proxy

__all__ = [
    "DETAILS",
    "STEPS",
    "FrameObservation",
    "LivenessPolicy",
    "LivenessResult",
    "check_liveness",
    "face_proportion",
    "faces_needed",
    "observation",
    "signature",
    "yaw_proxy",
]
