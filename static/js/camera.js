// Webcam capture with a live preview that says whether exactly one face is in view.
"use strict";

class FaceCamera {
  constructor(video, overlay, status) {
    this.video = video;
    this.overlay = overlay;
    this.status = status;
    this.stream = null;
    this.last = null;       // last /api/preview answer
    this.timer = null;
    this.busy = false;
    this.onUpdate = () => {};
  }

  async start() {
    if (!window.isSecureContext || !navigator.mediaDevices) {
      this.tell("The camera needs a secure page (https or localhost). Use photo upload below.", "error");
      return false;
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" },
        audio: false,
      });
    } catch (err) {
      const why = {
        NotAllowedError: "Camera permission was denied. Allow it in the browser, or upload a photo below.",
        NotFoundError: "No camera was found. Upload a photo below instead.",
        NotReadableError: "The camera is busy in another program.",
      }[err.name] || "The camera could not start (" + err.name + "). Upload a photo below instead.";
      this.tell(why, "error");
      return false;
    }
    this.video.srcObject = this.stream;
    await new Promise((resolve) => {
      if (this.video.readyState >= 2) resolve();
      else this.video.onloadeddata = () => resolve();
    });
    this.tell("Camera on. Looking for your face…");
    this.timer = setInterval(() => this.preview(), 500);
    return true;
  }

  stop() {
    clearInterval(this.timer);
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
  }

  tell(text, kind) {
    this.status.textContent = text;
    this.status.className = "status " + (kind || "");
  }

  canvasOf(maxWidth) {
    const w = this.video.videoWidth;
    const h = this.video.videoHeight;
    const scale = Math.min(1, maxWidth / w);
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(w * scale);
    canvas.height = Math.round(h * scale);
    canvas.getContext("2d").drawImage(this.video, 0, 0, canvas.width, canvas.height);
    return canvas;
  }

  frame(maxWidth = 640, quality = 0.92) {
    const canvas = this.canvasOf(maxWidth);
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
  }

  async preview() {
    if (this.busy || !this.video.videoWidth) return;
    this.busy = true;
    try {
      const body = new FormData();
      body.append("image", await this.frame(320, 0.8), "preview.jpg");
      const { status, data } = await api("POST", "/api/preview", { body });
      if (status === 200) {
        this.last = data;
        this.draw(data);
        const n = data.faces.length;
        if (n === 1) this.tell(this.centred() ? "One face in view. Hold still." : "One face in view. Move to the centre.", "ok");
        else if (n === 0) this.tell("No face in view.", "warn");
        else this.tell(n + " faces in view. Only one person, please.", "warn");
      } else if (status === 429) {
        this.tell("Slow down: too many preview requests.", "warn");
      }
      this.onUpdate(this.last);
    } finally {
      this.busy = false;
    }
  }

  draw(data) {
    const canvas = this.overlay;
    canvas.width = data.width;
    canvas.height = data.height;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.lineWidth = Math.max(2, data.width / 160);
    ctx.strokeStyle = data.faces.length === 1 ? "#2e9d5b" : "#d9822b";
    for (const face of data.faces) {
      const [x, y, w, h] = face.box;
      ctx.strokeRect(x, y, w, h);
    }
  }

  // One face, its centre in the middle half of the frame, at least 12% of its width.
  centred() {
    const data = this.last;
    if (!data || data.faces.length !== 1) return false;
    const [x, y, w, h] = data.faces[0].box;
    const cx = (x + w / 2) / data.width;
    const cy = (y + h / 2) / data.height;
    return cx > 0.25 && cx < 0.75 && cy > 0.2 && cy < 0.8 && w / data.width > 0.12;
  }

  waitForCentredFace(timeoutMs = 20000) {
    return new Promise((resolve) => {
      const started = Date.now();
      const check = () => {
        if (this.centred()) return resolve(true);
        if (Date.now() - started > timeoutMs) return resolve(false);
        setTimeout(check, 200);
      };
      check();
    });
  }

  async frames(count, gapMs = 150) {
    const shots = [];
    for (let i = 0; i < count; i++) {
      shots.push(await this.frame());
      if (i < count - 1) await new Promise((r) => setTimeout(r, gapMs));
    }
    return shots;
  }
}

function pageCamera() {
  return new FaceCamera(
    document.getElementById("video"),
    document.getElementById("overlay"),
    document.getElementById("camera-status"),
  );
}
