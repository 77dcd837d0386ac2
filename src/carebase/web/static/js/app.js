/* Carebase page behaviours (no inline scripts: the CSP forbids them).
   - htmx requests carry the CSRF token from <meta name="csrf-token">.
   - [data-confirm] forms and buttons ask before they act.
   - [data-autosubmit] selects submit their form on change (tenant switcher, filters). */
(function () {
  "use strict";
  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRF-Token"] = csrf();
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  }, true);
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches && el.matches("[data-autosubmit]") && el.form) { el.form.requestSubmit(); }
  });
  /* Flash messages that are toasts fade after a while; errors stay. */
  document.querySelectorAll("[data-dismiss-after]").forEach(function (el) {
    var ms = parseInt(el.getAttribute("data-dismiss-after"), 10) || 6000;
    window.setTimeout(function () { el.hidden = true; }, ms);
  });
  /* The bell's accessible name follows the unread count that live.js shows. */
  document.addEventListener("live:notification", function (event) {
    var n = event.detail && event.detail.unread_count;
    var bell = document.getElementById("notification-bell");
    if (bell && typeof n === "number") {
      bell.setAttribute("aria-label", "Notifications, " + (n === 0 ? "none" : n) + " unread");
    }
  });
  /* Copy buttons (recovery codes). */
  document.addEventListener("click", function (event) {
    var btn = event.target.closest && event.target.closest("[data-copy]");
    if (!btn) { return; }
    var source = document.querySelector(btn.getAttribute("data-copy"));
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.innerText).then(function () { btn.textContent = "Copied"; });
    }
  });
})();
/* Hold countdowns: [data-countdown] holds an ISO instant; shows m:ss left, then the expired text. */
(function () {
  "use strict";
  document.querySelectorAll("[data-countdown]").forEach(function (el) {
    var end = Date.parse(el.getAttribute("data-countdown"));
    if (isNaN(end)) { return; }
    function tick() {
      var left = Math.max(0, Math.round((end - Date.now()) / 1000));
      if (left === 0) {
        el.textContent = el.getAttribute("data-expired-text") || "Expired";
        var form = el.closest("main") && el.closest("main").querySelector("form[action$='/confirm'] button");
        if (form) { form.disabled = true; }
        return;
      }
      el.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
      window.setTimeout(tick, 1000);
    }
    tick();
  });
  /* "Use my location" on the search page: fills lat/lon and searches. */
  document.addEventListener("click", function (event) {
    var btn = event.target.closest && event.target.closest("[data-near-me]");
    if (!btn || !navigator.geolocation) { return; }
    var form = btn.form;
    btn.textContent = "Locating…";
    navigator.geolocation.getCurrentPosition(function (pos) {
      form.querySelector("[data-near=lat]").value = pos.coords.latitude.toFixed(4);
      form.querySelector("[data-near=lon]").value = pos.coords.longitude.toFixed(4);
      var city = form.querySelector("[name=city]");
      if (city) { city.value = ""; }
      form.requestSubmit();
    }, function () { btn.textContent = "Location not available"; });
  });
})();
/* Slot picker on a phone: one day open at a time (the first with free times); all open on a desk. */
(function () {
  "use strict";
  if (!window.matchMedia || !window.matchMedia("(max-width: 899px)").matches) { return; }
  document.querySelectorAll("details[data-close-on-phone]").forEach(function (el) { el.open = false; });
  document.querySelectorAll("[data-slot-picker]").forEach(function (picker) {
    var opened = false;
    picker.querySelectorAll("details.slot-day").forEach(function (day) {
      var keep = !opened && !day.classList.contains("slot-day--empty");
      day.open = keep;
      opened = opened || keep;
    });
  });
})();
