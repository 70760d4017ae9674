// The page's own behaviour, kept out of the HTML so the Content-Security-Policy can refuse
// every inline script and never allow eval.
(function () {
  "use strict";

  // A product image that cannot load (offline, or gone from Amazon's CDN) is hidden instead
  // of showing a broken-image icon. `error` does not bubble, so listen in the capture phase;
  // images that failed before this script ran are caught by the sweep below.
  function hideBroken(img) {
    if (img.closest("td.img")) img.hidden = true;
  }
  document.addEventListener("error", function (event) {
    if (event.target instanceof HTMLImageElement) hideBroken(event.target);
  }, true);
  document.querySelectorAll("td.img img").forEach(function (img) {
    if (img.complete && img.naturalWidth === 0) hideBroken(img);
  });

  // The live poll (#live-poller, hx-trigger="deals:poll from:document"): every 5 s while the
  // tab is visible, every 30 s while it is hidden, and at once when the reader comes back.
  var POLL_S = 5, HIDDEN_POLL_S = 30, elapsed = 0, lastPoll = 0;
  function poll() {
    elapsed = 0;
    // A browser that throttles timers may run several late ticks at once: one poll for all.
    var now = Date.now();
    if (now - lastPoll < 1000) return;
    lastPoll = now;
    document.dispatchEvent(new CustomEvent("deals:poll"));
  }
  setInterval(function () {
    elapsed += POLL_S;
    if (document.visibilityState === "visible" || elapsed >= HIDDEN_POLL_S) poll();
  }, POLL_S * 1000);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") poll();
  });

  // Keep "12 min ago" texts current between server renders (rows that did not change are
  // not sent again). Same wording as deals.formatting.relative().
  function relative(iso) {
    var s = (Date.now() - Date.parse(iso)) / 1000;
    if (s < 60) return "just now";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 48 * 3600) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }
  setInterval(function () {
    document.querySelectorAll("time.rel[datetime]").forEach(function (t) {
      t.textContent = relative(t.getAttribute("datetime"));
    });
  }, 30000);

  // The Columns menu: ticking a column shows or hides it at once and remembers the choice in
  // a cookie, which the server reads to draw the page and every live update the same way.
  var COOKIE = "deal_columns", YEAR_S = 365 * 24 * 3600;
  var choice = document.getElementById("column-choice");
  function chosen() {
    var names = [];
    choice.querySelectorAll("input[name=col]").forEach(function (box) {
      if (box.checked) names.push(box.value);
    });
    return names;
  }
  // The server draws only the cells of the chosen columns (the others are empty and
  // marked data-unfilled): a column switched on shows at once and its cells are filled by
  // drawing the table again, heading and rows together.
  function apply(names) {
    var unfilled = false;
    choice.querySelectorAll("input[name=col]").forEach(function (box) {
      var show = names.indexOf(box.value) !== -1;
      box.checked = show;
      document.querySelectorAll('[data-col="' + box.value + '"]').forEach(function (cell) {
        cell.hidden = !show;
        if (show && cell.hasAttribute("data-unfilled")) unfilled = true;
      });
    });
    document.cookie = COOKIE + "=" + encodeURIComponent(names.join(",")) +
      "; Max-Age=" + YEAR_S + "; Path=/; SameSite=Lax";
    if (unfilled && window.htmx && document.getElementById("deals")) {
      htmx.ajax("GET", window.location.href, {target: "#deals", select: "#deals", swap: "outerHTML"});
    }
  }
  if (choice) {
    choice.addEventListener("change", function () { apply(chosen()); });
    var defaults = document.getElementById("column-defaults");
    defaults.addEventListener("click", function () {
      apply(defaults.getAttribute("data-defaults").split(","));
    });
  }

  // On a phone the filters and the legend start folded, so the first deal is on the first
  // screen; the reader opens them with one tap. Filters in use stay open.
  if (window.matchMedia("(max-width: 720px)").matches) {
    document.querySelectorAll("details[data-fold-narrow]").forEach(function (box) {
      box.open = false;
    });
  }
})();
