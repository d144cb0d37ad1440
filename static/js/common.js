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

function explain(data) {
  return MESSAGES[data.error] || data.detail || "Something went wrong.";
}

function say(element, text, kind) {
  element.textContent = text;
  element.className = "result " + (kind || "");
}

function when(seconds) {
  if (!seconds) return "never";
  return new Date(seconds * 1000).toLocaleString();
}
