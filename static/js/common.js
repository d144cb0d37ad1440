// Shared helpers: API calls with the CSRF header, friendly messages, dates.
"use strict";

const CSRF = document.querySelector('meta[name="csrf-token"]').content;

const MESSAGES = {
  no_face: "No face found. Face the camera in good light.",
  multiple_faces: "More than one face is in view. Only one person, please.",
  faces_differ: "The pictures don't all show the same person. Try again alone in view.",
  bad_image: "That file isn't a photo we can read (JPEG, PNG or WebP).",
  username_taken: "That username is taken. Choose another.",
  invalid_username: "Usernames are 1 to 64 letters a-z, digits, '.', '_' or '-'.",
  face_already_registered: "This face already has an account. Log in instead.",
  not_recognized: "Not recognised. Try again, or register first.",
  rate_limited: "Too many attempts. Wait a minute and try again.",
  too_large: "The upload is too large.",
  no_image: "Add at least one photo.",
  too_many_images: "Too many photos: at most 5.",
  csrf_failed: "Your session expired. Reload the page.",
  not_logged_in: "You are not logged in.",
  admin_token_required: "Enter the admin token.",
  admin_token_invalid: "That admin token is wrong.",
  admin_disabled: "Admin is disabled: no admin token is configured on the server.",
  challenge_invalid: "That head-turn check expired or was already used. Try again.",
  challenge_required: "This page is out of date. Reload it and try again.",
  username_required: "Almost there: type your username to finish.",
  pending_login_invalid: "That login expired or was already finished. Start again.",
};

async function api(method, url, { body, token } = {}) {
  const headers = { "X-CSRF-Token": CSRF, Accept: "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  let response;
  try {
    response = await fetch(url, { method, body, headers, credentials: "same-origin" });
  } catch (err) {
    return { status: 0, data: { error: "network", detail: "The server can't be reached." } };
  }
  let data = {};
  try {
    data = await response.json();
  } catch (err) {
    data = { error: "http_" + response.status, detail: response.statusText };
  }
  return { status: response.status, data };
}

// A sentence for an error answer: ours for known codes, else the server's detail (liveness_failed
// details say what to do, e.g. "turn your head further to your right").
function explain(data) {
  if (MESSAGES[data.error]) return MESSAGES[data.error];
  const detail = (data.detail || "Something went wrong").trim();
  const sentence = detail.charAt(0).toUpperCase() + detail.slice(1);
  return /[.!?]$/.test(sentence) ? sentence : sentence + ".";
}

// Show text in a result line; an error's code goes in data-error (for tests and styling).
function say(element, text, kind, code) {
  element.textContent = text;
  element.className = "result " + (kind || "");
  element.dataset.error = code || "";
}

// Any element with data-logout logs out and goes to the login page.
document.addEventListener("click", async (event) => {
  if (!event.target.closest("[data-logout]")) return;
  await api("POST", "/api/logout");
  window.location.href = "/login";
});

function when(seconds) {
  if (!seconds) return "never";
  return new Date(seconds * 1000).toLocaleString();
}
