// Account: who you are, when you last logged in before now, delete (log out: common.js).
"use strict";

(async function () {
  const result = document.getElementById("result");
  const { status, data } = await api("GET", "/api/me");
  if (status !== 200) { window.location.href = "/login"; return; }
  document.getElementById("who").textContent = data.username;
  document.getElementById("created").textContent = when(data.created);
  // The login before this one (this one is now): "never" would say nothing useful.
  document.getElementById("last-login").textContent =
    data.previous_login ? when(data.previous_login) : "none before this one";

  document.getElementById("delete").addEventListener("click", async () => {
    if (!window.confirm("Delete your account and your face data? This cannot be undone.")) return;
    const res = await api("DELETE", "/api/me");
    if (res.status === 200) { window.location.href = "/register"; return; }
    say(result, explain(res.data), "error");
  });
})();
