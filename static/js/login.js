// Log in: as soon as one face is centred (and close enough), run the head-turn challenge (or,
// with liveness off, take 3 frames) and send it; show who was recognised, or what to do.
// A 401 username_required (a face close to one account, in a gallery too large to know it
// from the face alone) shows the username step: the same frames are checked 1:1 as the
// username typed (the server keeps them briefly under "pending"), without turning again.
"use strict";

(function () {
  const page = document.getElementById("login-page");
  if (!page) return; // already signed in: the page shows links instead of the camera
  const withLiveness = page.dataset.liveness === "true";
  // Where to go after the login: checked by the server (allowed hosts only), else /account.
  const returnTo = page.dataset.return || "/account";
  const camera = new FaceCamera();
  const result = document.getElementById("result");
  const start = document.getElementById("start");
  const username = document.getElementById("username");
  const tell = (text, kind, code) => say(result, text, kind, code);
  const step = document.getElementById("username-step");
  const stepName = document.getElementById("step-username");
  const finish = document.getElementById("finish");
  let running = false;
  let pending = "";

  function welcome(name) {
    tell("Welcome, " + name + "!", "ok");
    setTimeout(() => { window.location.href = returnTo; }, 800);
  }

  function askUsername(data) {
    pending = data.pending;
    camera.finish();
    camera.tell("Almost there.", "ok");
    document.getElementById("login-form").hidden = true;
    step.hidden = false;
    tell(explain(data), "ok", data.error);
    stepName.focus();
  }

  async function finishWithUsername() {
    const name = stepName.value.trim();
    if (!name) { tell(MESSAGES.invalid_username, "error", "invalid_username"); return; }
    finish.disabled = true;
    const body = new FormData();
    body.append("pending", pending);
    body.append("username", name);
    tell("Checking…");
    const { status, data } = await api("POST", "/api/login", { body });
    if (status === 200 && data.ok) {
      step.hidden = true;
      welcome(data.username);
      return;
    }
    // A pending login is single-use: whatever the answer, another try starts over.
    tell(explain(data), "error", data.error);
    finish.hidden = true;
  }

  async function logIn() {
    if (running) return;
    running = true;
    start.disabled = true;
    start.textContent = "Logging in…";
    tell("");
    await camera.whenReady();
    const { status, data } = await captureAndSend(
      camera, "/api/login", { username: username.value.trim() }, withLiveness, tell);
    if (status === 200 && data.ok) {
      camera.finish();
      camera.tell("Recognised.", "ok");
      start.textContent = "Signed in";
      welcome(data.username);
      return;
    }
    if (status === 401 && data.error === "username_required") {
      askUsername(data);
      return;
    }
    camera.showGuidance();
    tell(explain(data), "error", data.error);
    start.textContent = "Try again";
    start.disabled = false;
    running = false;
  }

  // Auto-start once, unless the person is typing a username (Enter or the button starts then).
  async function autoStart() {
    await camera.whenReady();
    if (document.activeElement === username && username.value.trim()) {
      camera.onUpdate = () => {};
      return;
    }
    logIn();
  }

  start.addEventListener("click", logIn);
  finish.addEventListener("click", finishWithUsername);
  enterRuns(step, finish);
  document.getElementById("restart").addEventListener("click", () => window.location.reload());
  enterRuns(document.getElementById("login-form"), start);
  const upload = document.getElementById("upload");
  if (upload) {
    upload.addEventListener("click", async () => {
      const files = Array.from(document.getElementById("files").files);
      if (!files.length) { tell(MESSAGES.no_image, "error"); return; }
      const body = new FormData();
      files.slice(0, 5).forEach((f) => body.append("image", f));
      if (username.value.trim()) body.append("username", username.value.trim());
      tell("Checking…");
      const { status, data } = await api("POST", "/api/login", { body });
      if (status === 200 && data.ok) {
        welcome(data.username);
      } else if (status === 401 && data.error === "username_required") {
        askUsername(data);
      } else {
        tell(explain(data), "error", data.error);
      }
    });
  }
  camera.start().then((ok) => { if (ok) autoStart(); });
})();
