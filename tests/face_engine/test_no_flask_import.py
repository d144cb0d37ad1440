"""face_engine must not depend on the web layer."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_face_engine_imports_no_flask():
    code = (
        "import sys, pkgutil, importlib, face_engine\n"
        "for m in pkgutil.walk_packages(face_engine.__path__, 'face_engine.'):\n"
        "    if m.name != 'face_engine.__main__': importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug', 'app')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
