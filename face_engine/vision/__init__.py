"""Vision: images in, faces and embeddings out (detection, alignment, embedding, weights).

onnxruntime's telemetry is off before any module here imports onnxruntime: when on, importing
it starts an uploader thread, keeps a device id under ~/.cache/Microsoft and writes
``$TMPDIR/.ses``, and a process forked after the import (a gunicorn worker) crashed at exit
joining that thread.
"""

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
