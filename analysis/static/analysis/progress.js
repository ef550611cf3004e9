/* Emo7ion live progress: the one poller for analyses (the analysis page, the report page of a running
 * analysis, the project page's list and the project report's pending list).
 *
 * Every element with data-progress-url is polled. The URL answers the one progress state
 * (analysis.selectors.analysis_status: id, status, status_label, progress 0-1, segments_done,
 * segment_count, error, finished) or, for a list, {"analyses": [state, ...]}: then each state goes to
 * the child with data-progress-id="<id>". An element's [data-progress-bar], [data-progress-percent],
 * [data-progress-status], [data-progress-detail] and [data-progress-error] children are updated in
 * place. With data-reload-when-finished the page reloads once the analysis has ended, so the server
 * renders its outcome (the report, or why there is none).
 */
(function () {
  "use strict";

  var Emo7ion = window.Emo7ion = window.Emo7ion || {};
  var STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"];
  var FINISHED = { succeeded: true, failed: true, cancelled: true };

  function isFinished(state) { return Boolean(state.finished || FINISHED[state.status]); }

  function setText(root, selector, text) {
    var el = root.querySelector(selector);
    if (el) { el.textContent = text; }
    return el;
  }

  Emo7ion.updateProgress = function (el, state) {
    var pct = Math.max(0, Math.min(100, Math.round((state.progress || 0) * 100)));
    if (state.status === "succeeded") { pct = 100; }
    var bar = el.querySelector("[data-progress-bar]");
    if (bar) {
      bar.style.width = pct + "%";
      var meter = bar.parentElement;
      if (meter && meter.getAttribute("role") === "progressbar") { meter.setAttribute("aria-valuenow", String(pct)); }
    }
    setText(el, "[data-progress-percent]", pct + "%");
    var badge = setText(el, "[data-progress-status]", state.status_label || state.status);
    if (badge) {
      STATUSES.forEach(function (s) { badge.classList.remove(s); });
      badge.classList.add("badge", state.status);
    }
    if (state.segment_count) {
      setText(el, "[data-progress-detail]", state.segments_done + " of " + state.segment_count + " segments done");
    }
    var error = el.querySelector("[data-progress-error]");
    if (error) {
      var why = (state.status === "failed" || state.status === "cancelled") ? (state.error || "") : "";
      error.textContent = why;
      error.hidden = !why;
    }
    el.setAttribute("data-progress-state", state.status);
    el.setAttribute("data-progress-value", String(pct));
  };

  // One state, or a list of them: apply each, and say whether everything has finished.
  function apply(el, answer) {
    if (!answer.analyses) {
      Emo7ion.updateProgress(el, answer);
      return isFinished(answer);
    }
    var done = true;
    answer.analyses.forEach(function (state) {
      var row = el.querySelector('[data-progress-id="' + state.id + '"]');
      if (row) { Emo7ion.updateProgress(row, state); }
      if (!isFinished(state)) { done = false; }
    });
    return done;
  }

  Emo7ion.pollProgress = function (el, options) {
    options = options || {};
    var url = el.getAttribute("data-progress-url");
    var interval = options.interval || Number(el.getAttribute("data-progress-interval")) || 1500;
    var failures = 0;
    var stopped = false;

    function tick() {
      if (stopped) { return; }
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (r) {
          if (!r.ok) { throw new Error("HTTP " + r.status); }
          return r.json();
        })
        .then(function (answer) {
          failures = 0;
          var done = apply(el, answer);
          if (options.onUpdate) { options.onUpdate(answer); }
          if (done) {
            stopped = true;
            if (options.onFinished) { options.onFinished(answer); }
            if (el.hasAttribute("data-reload-when-finished")) {
              window.setTimeout(function () { window.location.reload(); }, 400);
            }
            return;
          }
          window.setTimeout(tick, interval);
        })
        .catch(function () {
          // A restarting server or a dropped connection should not end the watch: back off and retry.
          failures += 1;
          window.setTimeout(tick, Math.min(30000, interval * Math.pow(2, failures)));
        });
    }
    tick();
    return { stop: function () { stopped = true; } };
  };

  function waiting(el) {
    var states = el.hasAttribute("data-progress-state") ? [el] : el.querySelectorAll("[data-progress-id]");
    return Array.prototype.some.call(states, function (s) { return !FINISHED[s.getAttribute("data-progress-state")]; });
  }

  Emo7ion.bindProgress = function (root) {
    var els = (root || document).querySelectorAll("[data-progress-url]");
    Array.prototype.forEach.call(els, function (el) {
      if (el.getAttribute("data-progress-bound") || !waiting(el)) { return; }
      el.setAttribute("data-progress-bound", "1");
      Emo7ion.pollProgress(el);
    });
  };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { Emo7ion.bindProgress(document); });
  } else {
    Emo7ion.bindProgress(document);
  }
})();
