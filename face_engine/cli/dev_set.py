"""A development set's faces, embedded once: ``people/<name>/<photo>`` (the largest face of
each photo) and ``group/<photo>`` (every face; all of one photo's faces are different
people), and the distances the calibration and the gallery evaluation read from them."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from face_engine.distance import cross, within
from face_engine.vision.pipeline import FaceEngine

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
# Group photos that are collages of a few people shown many times, not of different people
# (seen by eye: three photos of one actress; four actors, six times each). Their pairs would
# count one person's faces as strangers' and make every threshold needlessly strict.
NOT_DIFFERENT_PEOPLE = frozenset({"3ddfa_emma.jpg", "dlib_bald_guys.jpg"})


@dataclass(frozen=True, slots=True, eq=False)
class DevFaces:
    """Embedded faces of a development set."""

    names: list[str]  # one per row of ``people``
    people: NDArray[np.float32]
    groups: list[NDArray[np.float32]]  # one matrix per group photo
    photos_without_face: int

    def distances(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(same-person, different-person) distances: every pair of ``people`` rows, and
        every pair of faces within one group photo."""
        d = cross(self.people, self.people).astype(np.float64)
        names = np.array(self.names)
        upper = np.triu(np.ones_like(d, dtype=bool), k=1)
        same_person = names[:, None] == names[None, :]
        same = d[upper & same_person]
        different = [d[upper & ~same_person]]
        for faces in self.groups:
            if len(faces) > 1:
                g = within(faces).astype(np.float64)
                different.append(g[np.triu(np.ones_like(g, dtype=bool), k=1)])
        return same, np.concatenate(different)


def photos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)


def embed_dev_set(engine: FaceEngine, root: Path) -> DevFaces:
    """Embed ``root``'s people (largest face per photo) and group photos (every face)."""
    names: list[str] = []
    vectors: list[NDArray[np.float32]] = []
    missing = 0
    people = sorted(p for p in (root / "people").iterdir() if p.is_dir())
    files = [(person.name, photo) for person in people for photo in photos(person)]
    for number, (name, path) in enumerate(files, start=1):
        print(f"\rembedding {number}/{len(files)}", end="", file=sys.stderr, flush=True)
        image = engine.decode(path.read_bytes())
        faces = engine.detect(image)
        if not faces:
            missing += 1
            continue
        names.append(name)
        vectors.append(engine.embed(image, max(faces, key=lambda f: f.size)).embedding)
    groups: list[NDArray[np.float32]] = []
    group_folder = root / "group"
    group_files = [
        p
        for p in (photos(group_folder) if group_folder.is_dir() else [])
        if p.name not in NOT_DIFFERENT_PEOPLE
    ]
    for number, path in enumerate(group_files, start=1):
        print(f"\rgroup photo {number}/{len(group_files)}", end="", file=sys.stderr, flush=True)
        found = engine.faces(engine.decode(path.read_bytes()))
        dim = engine.identity.dim
        groups.append(
            np.stack([f.embedding for f in found]) if found else np.empty((0, dim), np.float32)
        )
    print(file=sys.stderr)
    return DevFaces(names, np.stack(vectors), groups, missing)
