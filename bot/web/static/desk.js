// The desk's own script: keys, decisions without reloading, and live counts. The page
// works without it (every action is a form); nothing here reorders the list.
"use strict";
(function () {
  const queue = document.getElementById("queue");
  if (!queue || !queue.dataset.live) return; // the queue's page only (a reply's own page is forms)
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const words = JSON.parse(queue.dataset.words || "{}");
  const status = document.getElementById("status");
  const numbers = new Intl.NumberFormat(document.documentElement.lang);
  const replies = () => Array.from(document.querySelectorAll("article.reply"));
  let current = null;
  let lastDecision = null;

  function say(text, undoable) {
    status.textContent = text;
    if (undoable) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = words.undo;
      button.addEventListener("click", () => undo(undoable));
      status.append(" ", button);
    }
  }

  function focusReply(reply) {
    if (!reply) return;
    if (current) current.classList.remove("current");
    current = reply;
    reply.classList.add("current");
    reply.focus({ preventScroll: false });
    reply.scrollIntoView({ block: "nearest" });
  }

  function step(by) {
    const all = replies();
    const at = all.indexOf(current);
    const next = document.querySelector('a[rel="next"]');
    if (by > 0 && at === all.length - 1 && next) {
      window.location.assign(next.href); // past the last reply: the next page
      return;
    }
    focusReply(all[Math.min(all.length - 1, Math.max(0, at + by))] || all[0]);
  }

  async function send(url, fields) {
    const body = new FormData();
    for (const [k, v] of fields) body.append(k, v);
    const response = await fetch(url, {
      method: "POST",
      body,
      headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
      credentials: "same-origin",
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      const who = (answer.comments || [])
        .map((r) => `${words.reply.replace("%s", r.id)}${words.colon}${words[r.state] || r.state}${r.decided_by ? " " + words.by + " " + r.decided_by : ""}`)
        .join("; ");
      say(`${words.failed} ${answer.error || response.status}${who ? " — " + who : ""}`);
      return null;
    }
    return answer;
  }

  // A reply decided out of this tab (or back into it) moves the next page's first
  // position: "51–100" becomes "50–99" once one reply of this page has left the tab.
  const tab = (queue.querySelector('input[name="tab"]') || {}).value || "all";
  function moved(delta) {
    const next = document.querySelector('a[rel="next"]');
    if (!next || !delta || tab === "all") return;
    const url = new URL(next.href);
    url.searchParams.set("start", String(Math.max(1, Number(url.searchParams.get("start") || 1) + delta)));
    next.href = url.pathname + url.search;
  }

  function shown(answer) {
    let delta = 0;
    for (const r of answer.comments) {
      const article = document.getElementById("r" + r.id);
      if (!article) continue;
      const was = article.classList.contains(tab);
      delta += (r.state === tab ? 1 : 0) - (was ? 1 : 0);
      article.className = "reply " + r.state + (article === current ? " current" : "");
      const seen = article.querySelector('input[name="v"]');
      if (seen) seen.value = `${r.id}:${r.version}`;
      const state = article.querySelector(".state");
      if (state) state.textContent = words[r.state] || r.state;
      const pick = article.querySelector("input.pick");
      if (pick) pick.checked = false;
    }
    moved(delta);
  }

  async function decide(reply, action, reason) {
    const id = reply.dataset.id;
    const seen = reply.querySelector('input[name="v"]').value;
    const fields = [["one", `${id}:${action}`], ["v", seen]];
    if (reason) fields.push(["code", reason]);
    try {
      const answer = await send("/decide", fields);
      if (!answer) return;
      shown(answer);
      lastDecision = answer.decision;
      say(`${words.reply.replace("%s", id)}${words.colon}${words[answer.state] || answer.state}.`, answer.decision);
      const all = replies();
      focusReply(all[all.indexOf(reply) + 1] || reply);
    } catch (e) {
      say(words.offline);
    }
  }

  async function undo(decision) {
    const fields = decision ? [["decision", String(decision)]] : [];
    try {
      const answer = await send("/undo", fields);
      if (!answer) return;
      shown(answer);
      lastDecision = null;
      say(words.undone);
      const first = document.getElementById("r" + (answer.comments[0] || {}).id);
      if (first) focusReply(first);
    } catch (e) {
      say(words.offline);
    }
  }

  function reject(reply) {
    const dialog = document.getElementById("reasons");
    dialog.returnValue = "";
    dialog.onclose = () => {
      if (dialog.returnValue) decide(reply, "reject", dialog.returnValue);
      else focusReply(reply);
    };
    dialog.showModal();
  }

  queue.addEventListener("click", (event) => {
    const target = event.target.closest("button[name=one], a[data-key=r]");
    if (!target) return;
    const reply = target.closest("article.reply");
    event.preventDefault();
    focusReply(reply);
    if (target.dataset.key === "r") reject(reply);
    else decide(reply, target.value.split(":")[1]);
  });

  document.getElementById("reasons").addEventListener("keydown", (event) => {
    const n = Number(event.key);
    const buttons = event.currentTarget.querySelectorAll("button[value]:not([value=''])");
    if (n >= 1 && n <= buttons.length) {
      event.preventDefault();
      buttons[n - 1].click();
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, select, textarea, dialog")) return;
    const reply = current;
    const keys = {
      j: () => step(1),
      k: () => step(-1),
      a: () => reply && decide(reply, "approve"),
      f: () => reply && decide(reply, "flag"),
      r: () => reply && reject(reply),
      x: () => {
        const pick = reply && reply.querySelector("input.pick");
        if (pick) pick.checked = !pick.checked;
      },
      u: () => undo(lastDecision),
      "/": () => document.getElementById("q").focus(),
      "?": () => document.getElementById("keys").showModal(),
    };
    const action = keys[event.key];
    if (!action) return;
    event.preventDefault();
    if (!reply && ["a", "f", "r", "x"].includes(event.key)) step(0);
    else action();
  });

  // Live: the counts of the tabs and a banner for new replies, every few seconds; the
  // list stays as it is until the moderator asks for the new ones.
  const banner = document.getElementById("banner");
  async function poll() {
    try {
      const url = `${queue.dataset.live}${queue.dataset.live.includes("?") ? "&" : "?"}seen=${queue.dataset.newest}`;
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) return;
      const live = await response.json();
      for (const [tab, n] of Object.entries(live.counts)) {
        const count = document.querySelector(`.tabs a[data-tab="${tab}"] .count`);
        if (count) count.textContent = numbers.format(n);
      }
      if (live.new > 0) {
        banner.querySelector("a").textContent = words.new.replace("{n}", numbers.format(live.new) + (live.more ? "+" : ""));
        banner.hidden = false;
      }
    } catch (e) {
      // the next poll tries again
    }
  }
  const every = Number(document.body.dataset.poll || 5000);
  setInterval(poll, every);
})();
