/* Live updates over /ws (no inline scripts: the CSP forbids them).
   - Topics come from [data-live-topics] (space-separated), e.g. the desk board's "board:<location id>",
     the doctor's day "doctor:<practitioner id>", and the page body's "user:<user id>".
   - On an event for a board or doctor topic, every [data-live-region] (each with an id) is re-fetched
     from the current URL and swapped in (debounced; held back while someone types or has a <details>
     open inside a region, then done when they leave it).
   - On a "notification.created" event: a toast, and [data-unread-count] shows the new count.
   - Reconnects with backoff (1 s doubling to 30 s, with jitter) and its last event id, so the server
     replays what was missed; a "reset" frame (too much missed) re-fetches the regions. A 4401 close
     (sign-in expired) renews the session cookie at /ws/session first. */
(function () {
  "use strict";
  var sources = document.querySelectorAll("[data-live-topics]");
  if (!sources.length || !window.WebSocket) { return; }
  var topics = [];
  sources.forEach(function (el) {
    el.getAttribute("data-live-topics").split(/\s+/).forEach(function (t) {
      if (t && topics.indexOf(t) < 0) { topics.push(t); }
    });
  });
  var lastEventId = null, socket = null, delay = 1000, pingTimer = null, stopped = false;
  var refreshTimer = null, refreshPending = false, refreshing = false;

  function busyInside(region) {
    var active = document.activeElement;
    if (active && region.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) { return true; }
    return !!region.querySelector("details[open]");
  }

  function refreshRegions() {
    var regions = Array.prototype.slice.call(document.querySelectorAll("[data-live-region][id]"));
    if (!regions.length) { return; }
    if (refreshing || regions.some(busyInside)) { refreshPending = true; return; }
    refreshPending = false;
    refreshing = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Live-Refresh": "1" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        regions.forEach(function (region) {
          var fresh = doc.getElementById(region.id);
          if (!fresh || busyInside(region)) { return; }
          var node = document.importNode(fresh, true);
          region.replaceWith(node);
          if (window.htmx) { window.htmx.process(node); }
        });
        document.dispatchEvent(new CustomEvent("live:refreshed"));
      })
      .catch(function () { /* the next event or reconnect tries again */ })
      .then(function () {
        refreshing = false;
        if (refreshPending) { scheduleRefresh(); }
      });
  }

  function scheduleRefresh() {
    window.clearTimeout(refreshTimer);
    refreshTimer = window.setTimeout(refreshRegions, 250);
  }
  /* A refresh held back while someone was busy runs when they leave the field or close the details. */
  document.addEventListener("focusout", function () { if (refreshPending) { window.setTimeout(scheduleRefresh, 300); } });
  document.addEventListener("toggle", function () { if (refreshPending) { scheduleRefresh(); } }, true);

  function toast(text) {
    var region = document.querySelector(".toast-region");
    if (!region || !text) { return; }
    var box = document.createElement("div");
    box.className = "alert alert--info toast";
    box.setAttribute("role", "status");
    var p = document.createElement("p");
    p.textContent = text;
    box.appendChild(p);
    region.appendChild(box);
    window.setTimeout(function () { box.remove(); }, 7000);
  }

  function onEvent(frame) {
    lastEventId = frame.id;
    var kind = frame.topic.split(":")[0];
    if (kind === "board" || kind === "doctor") { scheduleRefresh(); return; }
    if (kind === "user" && frame.event === "notification.created") {
      var data = frame.data || {};
      toast(data.title || "New notification");
      if (typeof data.unread_count === "number") {
        document.querySelectorAll("[data-unread-count]").forEach(function (el) {
          el.textContent = data.unread_count > 99 ? "99+" : String(data.unread_count);
          el.hidden = data.unread_count === 0;
        });
      }
      document.dispatchEvent(new CustomEvent("live:notification", { detail: data }));
    }
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(message)); }
  }

  function connect() {
    if (stopped) { return; }
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + "/ws", ["carebase.v1"]);
    socket.onmessage = function (message) {
      var frame;
      try { frame = JSON.parse(message.data); } catch (e) { return; }
      if (frame.type === "ready") {
        delay = 1000;
        var subscribe = { type: "subscribe", topics: topics };
        if (lastEventId) { subscribe.last_event_id = lastEventId; }
        send(subscribe);
        document.documentElement.setAttribute("data-live", "connected");
      } else if (frame.type === "event") {
        onEvent(frame);
      } else if (frame.type === "reset") {
        scheduleRefresh();
      } else if (frame.type === "error" && window.console) {
        window.console.warn("live updates:", frame.code, frame.detail);
      }
    };
    socket.onopen = function () {
      window.clearInterval(pingTimer);
      pingTimer = window.setInterval(function () { send({ type: "ping" }); }, 25000);
    };
    socket.onclose = function (event) {
      window.clearInterval(pingTimer);
      document.documentElement.setAttribute("data-live", "disconnected");
      if (event.code === 4403) { stopped = true; return; }
      var wait = delay * (0.5 + Math.random() / 2);
      delay = Math.min(delay * 2, 30000);
      if (event.code === 4401) {
        /* Renew the session cookie (or learn that we are signed out) before trying again. */
        fetch("/ws/session", { credentials: "same-origin", redirect: "manual" }).then(function (response) {
          if (response.status === 204) { window.setTimeout(connect, 200); } else { stopped = true; }
        }, function () { window.setTimeout(connect, wait); });
        return;
      }
      /* Anything we missed while away is replayed from lastEventId; refresh once as well if we had none. */
      if (!lastEventId) { scheduleRefresh(); }
      window.setTimeout(connect, wait);
    };
  }
  connect();
})();
