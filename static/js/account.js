// Account: who you are, log out, delete.
"use strict";

(async function () {
  const result = document.getElementById("result");
  const { status, data } = await api("GET", "/api/me");
  if (status !== 200) { window.location.href = "/login"; return; }
  document.getElementById("who").textContent = data.username;
  document.getElementById("created").textContent = when(data.created);
  document.getElementById("last-login").textContent = when(data.last_login);

  document.getElementById("logout").addEventListener("click", async () => {
    await api("POST", "/api/logout");
    window.location.href = "/login";
  });
  document.getElementById("delete").addEventListener("click", async () => {
    if (!window.confirm("Delete your account and your face data? This cannot be undone.")) return;
    const res = await api("DELETE", "/api/me");
    if (res.status === 200) { window.location.href = "/register"; return; }
    say(result, explain(res.data), "error");
  });
})();
