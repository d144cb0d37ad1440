// The webcam shared by the login and register pages: a live preview that says at once what is
// wrong (no face, two faces, too far, off-centre), and the head-turn challenge: ask the server
// for steps, show each as an arrow and words on the mirrored preview, capture frames at a
// steady rate while the person turns, and hand them back for sending.
"use strict";

const CAMERA = {
  minFace: 0.10,      // the face's width over the frame's: smaller -> "move closer"
  turn: 0.15,         // |yaw| that counts as a turn on screen (the server decides for real)
  frameMs: 100,       // capture at 10 frames/s ...
  maxFrames: 60,      // ... at most 60 of them
  maxSide: 640,       // frames scaled so the longer side is at most 640
  leadMs: 600,        // looking straight ahead before the first step
  stepMs: 2500,       // a step moves on when the turn is seen, or after this long
  holdMs: 400,        // keep capturing this long after a turn is seen
  tailMs: 500,        // and after the last step,
  minMs: 4000,        // and until at least this long in all (at most maxFrames x frameMs)
  idlePreviewMs: 600, // preview rate while waiting; during a challenge every 3rd frame
};

// Steps are named in the captured, unmirrored frame: "left" = the nose moves to the image's
// left = the person turns to their own right, which the mirrored preview shows as a turn
// towards the screen's right.
const STEP_CUES = {
  left: { arrow: "→", words: "Turn your head to your right", seen: (yaw) => yaw <= -CAMERA.turn },
  right: { arrow: "←", words: "Turn your head to your left", seen: (yaw) => yaw >= CAMERA.turn },
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class FaceCamera {
  constructor() {
    this.video = document.getElementById("video");
    this.overlay = document.getElementById("overlay");
    this.cue = document.getElementById("cue");
    this.progress = document.getElementById("progress");
    this.status = document.getElementById("camera-status");
    this.stream = null;
    this.last = null;        // the last /api/preview answer
    this.lastAt = 0;         // when its frame was taken (performance.now())
    this.timer = null;
    this.busy = false;
    this.stopped = false;
    this.paused = false;     // a capture runs: no idle previews, the status line is its own
    this.onUpdate = () => {};
  }

  async start() {
    if (!window.isSecureContext || !navigator.mediaDevices) {
      this.tell("The camera needs a secure page (https or localhost).", "error");
      return false;
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" },
        audio: false,
      });
    } catch (err) {
      const why = {
        NotAllowedError: "Camera permission was denied. Allow it in the browser and reload.",
        NotFoundError: "No camera was found.",
        NotReadableError: "The camera is busy in another program.",
      }[err.name] || "The camera could not start (" + err.name + ").";
      this.tell(why, "error");
      return false;
    }
    this.video.srcObject = this.stream;
    await new Promise((resolve) => {
      if (this.video.readyState >= 2) resolve();
      else this.video.onloadeddata = () => resolve();
    });
    this.tell("Camera on. Looking for your face…");
    this.timer = setInterval(() => { if (!this.paused) this.preview(); }, CAMERA.idlePreviewMs);
    return true;
  }

  // Done (the page moves on): no more previews, the picture stays still and unmarked. The
  // camera itself is released when the page goes.
  finish() {
    this.stopped = true;
    clearInterval(this.timer);
    this.video.pause();
    this.overlay.getContext("2d").clearRect(0, 0, this.overlay.width, this.overlay.height);
  }

  tell(text, kind) {
    this.status.textContent = text;
    this.status.className = "status " + (kind || "");
  }

  // One JPEG of the current picture, its longer side at most maxSide.
  frame(maxSide = CAMERA.maxSide, quality = 0.85) {
    const w = this.video.videoWidth;
    const h = this.video.videoHeight;
    const scale = Math.min(1, maxSide / Math.max(w, h));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(w * scale);
    canvas.height = Math.round(h * scale);
    canvas.getContext("2d").drawImage(this.video, 0, 0, canvas.width, canvas.height);
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
  }

  // Ask the server where the faces are in one frame (a new one unless given, with the time
  // it was taken); skip if a preview is on its way.
  async preview(blob, takenAt) {
    if (this.busy || !this.video.videoWidth) return;
    this.busy = true;
    try {
      const body = new FormData();
      const at = blob ? takenAt : performance.now();
      body.append("image", blob || (await this.frame()), "preview.jpg");
      const { status, data } = await api("POST", "/api/preview", { body });
      if (this.stopped) return;
      if (status === 200) {
        this.last = data;
        this.lastAt = at;
        this.draw(data);
        if (!this.paused) this.showGuidance();
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
    ctx.strokeStyle = this.guidance().ready ? "#2e9d5b" : "#d9822b";
    for (const face of data.faces) {
      const [x, y, w, h] = face.box;
      ctx.strokeRect(x, y, w, h);
    }
  }

  // What the last preview says: ready (one face, big enough, centred) or what to do.
  guidance() {
    const data = this.last;
    if (!data) return { ready: false, text: "Looking for your face…", kind: "" };
    const n = data.faces.length;
    if (n === 0) return { ready: false, text: "No face in view. Face the camera in good light.", kind: "warn" };
    if (n > 1) return { ready: false, text: n + " faces in view. Only one person, please.", kind: "warn" };
    const [x, y, w, h] = data.faces[0].box;
    if (w / data.width < CAMERA.minFace) {
      return { ready: false, text: "One face in view, too far away. Move closer.", kind: "warn" };
    }
    const cx = (x + w / 2) / data.width;
    const cy = (y + h / 2) / data.height;
    if (cx < 0.25 || cx > 0.75 || cy < 0.2 || cy > 0.8) {
      return { ready: false, text: "One face in view. Move to the centre of the picture.", kind: "warn" };
    }
    return { ready: true, text: "One face in view. Hold still.", kind: "ok" };
  }

  showGuidance() {
    const g = this.guidance();
    this.tell(g.text, g.kind);
  }

  // Resolves once the preview shows one centred face that is big enough. The status line
  // says what is wrong in the meantime, from the first preview on.
  whenReady() {
    return new Promise((resolve) => {
      const check = () => {
        if (this.guidance().ready) { this.onUpdate = () => {}; resolve(); }
      };
      this.onUpdate = check;
      check();
    });
  }

  showCue(step, index, count) {
    if (!step) { this.cue.hidden = true; return; }
    const cue = STEP_CUES[step];
    this.cue.hidden = false;
    this.cue.className = "cue cue-" + step;
    this.cue.querySelector(".arrow").textContent = cue.arrow;
    this.cue.querySelector(".words").textContent = cue.words;
    this.tell("Step " + (index + 1) + " of " + count + ": " + cue.words.toLowerCase() + ".", "ok");
  }

  // A cue without an arrow (before and after the steps).
  showPlainCue(words, status) {
    this.cue.hidden = false;
    this.cue.className = "cue";
    this.cue.querySelector(".arrow").textContent = "";
    this.cue.querySelector(".words").textContent = words;
    this.tell(status, "ok");
  }

  // Run the challenge's steps while capturing frames at a steady rate; returns the JPEGs in
  // capture order. A step moves on once a frame captured during it shows the turn (the
  // server decides for real), or when its time is up; everything fits in maxFrames.
  async runChallenge(steps) {
    this.paused = true;
    const frames = [];
    const budget = CAMERA.maxFrames * CAMERA.frameMs;
    const stepMs = Math.min(CAMERA.stepMs, (budget - CAMERA.leadMs - CAMERA.tailMs) / steps.length);
    const started = performance.now();
    const full = () => frames.length >= CAMERA.maxFrames;
    this.progress.hidden = false;
    this.progress.value = 0;
    let capturing = true;
    const capture = (async () => {
      for (let k = 0; capturing && k < CAMERA.maxFrames; k++) {
        const wait = started + k * CAMERA.frameMs - performance.now();
        if (wait > 0) await sleep(wait);
        if (!capturing) break;
        const takenAt = performance.now();
        const blob = await this.frame();
        frames.push(blob);
        this.progress.value = Math.min(1, (takenAt - started) / budget);
        if (k % 3 === 0) this.preview(blob, takenAt);
      }
    })();
    try {
      this.showPlainCue("Look at the camera", "Look straight at the camera…");
      await sleep(CAMERA.leadMs);
      for (let i = 0; i < steps.length && !full(); i++) {
        this.showCue(steps[i], i, steps.length);
        const stepStart = performance.now();
        const seen = STEP_CUES[steps[i]].seen;
        while (performance.now() - stepStart < stepMs && !full()) {
          const face = this.last && this.last.faces.length === 1 ? this.last.faces[0] : null;
          if (face && this.lastAt >= stepStart && typeof face.yaw === "number" && seen(face.yaw)) {
            this.cue.classList.add("seen");
            await sleep(CAMERA.holdMs);
            break;
          }
          await sleep(50);
        }
      }
      if (!full()) {
        this.showPlainCue("Look at the camera again", "Now look at the camera again…");
        await sleep(Math.max(CAMERA.tailMs, CAMERA.minMs - (performance.now() - started)));
      }
    } finally {
      capturing = false;
      await capture;
      this.progress.hidden = true;
      this.showCue(null);
      this.paused = false;
    }
    return frames;
  }

  // Without liveness: a few frames a little apart, as before.
  async frames(count, gapMs = 150) {
    this.tell("Hold still…", "ok");
    const shots = [];
    for (let i = 0; i < count; i++) {
      shots.push(await this.frame());
      if (i < count - 1) await sleep(gapMs);
    }
    return shots;
  }
}

// Capture with the challenge (when the flow asks for liveness) or a few plain frames, and send
// them to url with the extra form fields. Returns the api() answer.
async function captureAndSend(camera, url, fields, withLiveness, say) {
  const body = new FormData();
  for (const [key, value] of Object.entries(fields)) if (value) body.append(key, value);
  let images;
  say("");
  if (withLiveness) {
    const answer = await api("POST", "/api/challenge");
    if (answer.status !== 200) return answer;
    body.append("challenge", answer.data.challenge);
    images = await camera.runChallenge(answer.data.steps);
  } else {
    images = await camera.frames(3, 300);
  }
  images.forEach((blob, i) => body.append("image", blob, "frame" + String(i).padStart(2, "0") + ".jpg"));
  say("Checking…");
  camera.paused = true;
  camera.tell("Checking…");
  const answer = await api("POST", url, { body });
  camera.paused = false;
  answer.images = images;
  return answer;
}

// Enter in a page's form runs its main button instead of reloading the page.
function enterRuns(form, button) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!button.disabled && !button.hidden) button.click();
  });
}
