// Admin: counts, index and its rebuild, recent attempts, users with delete. Token in sessionStorage.
"use strict";

(function () {
  const result = document.getElementById("result");
  const panel = document.getElementById("panel");
  const tokenInput = document.getElementById("token");
  let token = sessionStorage.getItem("adminToken") || "";

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "never built";
    if (seconds < 90) return Math.round(seconds) + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    return Math.round(seconds / 3600) + " h";
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const text of cells) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    return tr;
  }

  // Login and registration attempts, newest first, and failed ones by address.
  async function loadAudit() {
    const res = await api("GET", "/api/admin/audit?limit=25", { token });
    if (res.status !== 200) return;
    const tbody = document.getElementById("audit");
    tbody.replaceChildren(...res.data.entries.map((e) => row([
      when(e.time), e.client, e.action, e.outcome === "ok" ? "ok" : e.outcome.replaceAll("_", " "),
      e.user || "", e.distance === null ? "" : e.distance.toFixed(3),
    ])));
    const failures = Object.entries(res.data.failures_by_address)
      .sort((a, b) => b[1] - a[1])
      .map(([address, count]) => address + ": " + count);
    document.getElementById("failures").textContent = failures.length
      ? "Failed attempts by address (of these): " + failures.join(", ")
      : "No failed attempts among these.";
  }

  async function load() {
    const stats = await api("GET", "/api/admin/stats", { token });
    if (stats.status !== 200) {
      panel.hidden = true;
      say(result, explain(stats.data), "error");
      if (stats.status === 401 || stats.status === 403) sessionStorage.removeItem("adminToken");
      return;
    }
    panel.hidden = false;
    const s = stats.data;
    document.getElementById("users-count").textContent = s.users;
    document.getElementById("faces-count").textContent = s.faces;
    document.getElementById("index-version").textContent = s.index_version;
    document.getElementById("index-age").textContent = age(s.index_age_seconds);
    document.getElementById("fresh-count").textContent = s.fresh_faces;
    const percent = (v, digits) => (v === null || v === undefined ? "–" : (100 * v).toFixed(digits) + "%");
    const chance = (v) => (v > 0 ? (100 * v).toPrecision(2) + "% (1 in " + Math.round(1 / v).toLocaleString("en") + ")" : "0%");
    document.getElementById("enrolled-faces").textContent = s.enrolled_faces;
    document.getElementById("one-to-n").textContent =
      s.one_to_n_threshold.toFixed(3) + (s.threshold_extrapolated ? " (from the tail model)" : "");
    document.getElementById("one-to-one").textContent = s.one_to_one_threshold.toFixed(3);
    document.getElementById("false-identification").textContent = s.calibrated
      ? chance(s.false_identification) + " per attempt; target " + chance(s.max_false_identification)
      : "not calibrated for this model";
    document.getElementById("tar-1n").textContent = percent(s.tar_at_threshold, 1);
    if (s.migration) {
      const m = s.migration;
      document.getElementById("migrated").textContent =
        m.migrated_users + " of " + s.users + " (" + m.to + ", from " + m.from + ")";
      document.getElementById("migrated").hidden = false;
      document.getElementById("migrated-label").hidden = false;
    }
    loadAudit();
    const users = await api("GET", "/api/admin/users", { token });
    const tbody = document.getElementById("users");
    tbody.replaceChildren();
    for (const u of users.data.users || []) {
      const tr = document.createElement("tr");
      for (const text of [u.username, u.faces, when(u.created), when(u.last_login)]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.appendChild(td);
      }
      const td = document.createElement("td");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "danger compact";
      button.textContent = "Delete";
      button.addEventListener("click", async () => {
        if (!window.confirm("Delete " + u.username + "?")) return;
        const res = await api("DELETE", "/api/admin/users/" + encodeURIComponent(u.username), { token });
        say(result, res.status === 200 ? "Deleted " + u.username + "." : explain(res.data), res.status === 200 ? "ok" : "error");
        load();
      });
      td.appendChild(button);
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
  }

  document.getElementById("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    token = tokenInput.value.trim();
    sessionStorage.setItem("adminToken", token);
    say(result, "");
    load();
  });
  // The rebuild runs in the background (202); its status is asked for until it ends.
  const rebuild = document.getElementById("rebuild");
  rebuild.addEventListener("click", async () => {
    rebuild.disabled = true;
    say(result, "Rebuilding the index…");
    let res = await api("POST", "/api/admin/rebuild-index", { token });
    while (res.status < 300 && res.data.state === "running") {
      await new Promise((r) => setTimeout(r, 500));
      res = await api("GET", "/api/admin/rebuild-index", { token });
    }
    rebuild.disabled = false;
    if (res.status < 300 && res.data.state === "done") {
      say(result, "Index version " + res.data.version + " built: " + res.data.faces + " faces in " + res.data.seconds + " s.", "ok");
      load();
    } else if (res.status < 300) {
      say(result, "The rebuild failed: " + (res.data.error || res.data.state) + ".", "error");
    } else {
      say(result, explain(res.data), "error");
    }
  });
  if (token) { tokenInput.value = token; load(); }
})();
