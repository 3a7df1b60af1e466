// AIFlow dashboard: the theme toggle, live regions refreshed by short
// polling, and a task log followed from the offset already shown. Loaded in
// <head> so that the chosen theme applies before the first paint.
(function () {
  "use strict";
  var root = document.documentElement;
  var saved = null;
  try { saved = localStorage.getItem("aiflow-theme"); } catch (e) { /* private mode */ }
  if (saved === "dark" || saved === "light") root.setAttribute("data-theme", saved);

  function currentTheme() {
    var t = root.getAttribute("data-theme");
    if (t) return t;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function toggleTheme() {
    var next = currentTheme() === "dark" ? "light" : "dark";
    root.setAttribute("data-theme", next);
    try { localStorage.setItem("aiflow-theme", next); } catch (e) { /* ignore */ }
  }

  // Times: <time data-ago> says how long ago, <time data-since> how long
  // since; both are kept current here between refreshes.
  function span(ms) {
    var s = Math.max(0, ms) / 1000;
    if (s < 1) return Math.round(s * 1000) + "ms";
    if (s < 10) return s.toFixed(1) + "s";
    if (s < 60) return Math.floor(s) + "s";
    if (s < 3600) return Math.floor(s / 60) + "m" + Math.floor(s % 60) + "s";
    if (s < 172800) return Math.floor(s / 3600) + "h" + Math.floor((s % 3600) / 60) + "m";
    return Math.floor(s / 86400) + "d" + Math.floor((s % 86400) / 3600) + "h";
  }
  function refreshTimes(scope) {
    var now = Date.now();
    (scope || document).querySelectorAll("time[data-ago], time[data-since]").forEach(function (el) {
      var t = Date.parse(el.getAttribute("datetime"));
      if (isNaN(t)) return;
      var d = now - t;
      if (el.hasAttribute("data-since")) el.textContent = span(d);
      else el.textContent = d < 0 ? "in " + span(-d) : span(d) + " ago";
    });
  }
  // The rendering of a region, leaving out the texts of times, which change
  // every second without anything else changing.
  function stable(html) {
    return html.replace(/(<time[^>]*>)[^<]*(<\/time>)/g, "$1$2");
  }

  // Live regions: every element with data-live is replaced by its new
  // rendering, fetched from the same URL, when that has changed (and unless
  // the user is typing in it).
  function startLive(interval) {
    document.querySelectorAll("[data-live]").forEach(function (el) { el.__last = stable(el.innerHTML); });
    var dot = document.querySelector(".live-dot");
    var busy = false;
    function tick() {
      if (busy || document.hidden) return;
      busy = true;
      fetch(location.href, { headers: { "X-AIFlow-Live": "1" }, credentials: "same-origin", cache: "no-store" })
        .then(function (resp) {
          if (!resp.ok || resp.redirected) throw new Error("status " + resp.status);
          return resp.text();
        })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          document.querySelectorAll("[data-live]").forEach(function (el) {
            var fresh = doc.querySelector('[data-live="' + el.getAttribute("data-live") + '"]');
            if (!fresh) return;
            if (el.contains(document.activeElement) && document.activeElement.matches("input,textarea,select")) return;
            var html = stable(fresh.innerHTML);
            if (html === el.__last) return;
            el.__last = html;
            el.innerHTML = fresh.innerHTML;
            refreshTimes(el);
          });
          if (dot) dot.classList.remove("off");
        })
        .catch(function () { if (dot) dot.classList.add("off"); })
        .then(function () { busy = false; });
    }
    setInterval(tick, interval);
  }

  // A task's log: ask for what follows the offset shown until the task has
  // finished and nothing more comes.
  function followLog(pre, interval) {
    var offset = parseInt(pre.getAttribute("data-offset"), 10) || 0;
    var src = pre.getAttribute("data-src");
    var follow = document.getElementById("follow");
    var state = document.getElementById("logstate");
    var done = false;
    function poll() {
      if (done) return;
      fetch(src + "?offset=" + offset, { credentials: "same-origin", cache: "no-store" })
        .then(function (resp) { if (!resp.ok) throw new Error("status " + resp.status); return resp.json(); })
        .then(function (chunk) {
          if (chunk.data) {
            var atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 30;
            pre.appendChild(document.createTextNode(chunk.data));
            if (follow && follow.checked && atBottom) pre.scrollTop = pre.scrollHeight;
          }
          offset = chunk.next_offset;
          pre.setAttribute("data-offset", String(offset));
          if (chunk.finished && !chunk.data) {
            done = true;
            if (state) state.textContent = "finished: " + chunk.status;
          } else if (state) {
            state.textContent = "following…";
          }
        })
        .catch(function () { if (state) state.textContent = "reconnecting…"; })
        .then(function () { if (!done) setTimeout(poll, interval); });
    }
    pre.scrollTop = pre.scrollHeight;
    poll();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var btn = document.getElementById("theme");
    if (btn) btn.addEventListener("click", toggleTheme);
    var interval = parseInt(document.body.getAttribute("data-refresh"), 10);
    if (interval > 0) startLive(interval);
    refreshTimes();
    setInterval(refreshTimes, 1000);
    var pre = document.getElementById("log");
    if (pre) followLog(pre, Math.max(interval || 1000, 500));
    // Forms that ask before they act.
    document.addEventListener("submit", function (ev) {
      var msg = ev.target.getAttribute("data-confirm");
      if (msg && !window.confirm(msg)) ev.preventDefault();
    });
    // Selects that apply on change (filters).
    document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
      s.addEventListener("change", function () { s.form.submit(); });
    });
  });
})();
