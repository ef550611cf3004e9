/* Emo7ion charts and live progress, with the locally served plotly.min.js (no CDN, works offline).
 *
 * Charts: every <script type="application/json" class="js-figure" data-target="ID"> holds a plotly
 * figure ({data, layout}); it is drawn into the element with that id (or, without data-target, the
 * .js-plotly-plot element just before it).
 *
 * Progress: every element with data-progress-url is polled (JSON: status, status_label, progress 0-1,
 * segments_done, segment_count, error, finished) and its [data-progress-bar], [data-progress-percent],
 * [data-progress-status], [data-progress-detail] and [data-progress-error] children are updated in
 * place. With data-reload-when-finished the page reloads once the analysis has ended, to show its outcome.
 *
 * Tables: inside an element with data-partial-url, links with data-query fetch that partial with the
 * query and swap the element for it (sorting and paging without redrawing the charts); without
 * JavaScript the same links reload the whole page.
 */
(function () {
  "use strict";

  var Emo7ion = window.Emo7ion = window.Emo7ion || {};
  var PLOT_CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  var FINISHED = { succeeded: true, failed: true, cancelled: true };

  function showProblem(el, text) {
    var p = document.createElement("p");
    p.className = "empty";
    p.textContent = text;
    el.appendChild(p);
  }

  Emo7ion.drawFigure = function (script) {
    if (script.getAttribute("data-drawn")) { return null; }
    var target = script.getAttribute("data-target");
    var el = target ? document.getElementById(target) : script.previousElementSibling;
    if (!el) { return null; }
    var figure;
    try {
      figure = JSON.parse(script.textContent);
    } catch (err) {
      showProblem(el, "This chart's data could not be read.");
      return null;
    }
    if (!window.Plotly) {
      showProblem(el, "Charts need plotly.min.js, which did not load.");
      return null;
    }
    el.classList.add("js-plotly-plot");
    script.setAttribute("data-drawn", "1");
    var layout = figure.layout || {};
    if (el.clientWidth && el.clientWidth < 520) {
      // Phones: the legend wraps onto several lines, so give the plot itself more room.
      layout.height = Math.max(layout.height || 380, 440);
      layout.legend = Object.assign({}, layout.legend || {}, { font: { size: 11 } });
      layout.margin = Object.assign({}, layout.margin || {}, { l: 48, r: 48 });
    }
    var config = Object.assign({}, PLOT_CONFIG, figure.config || {});
    return window.Plotly.newPlot(el, figure.data || [], layout, config);
  };

  Emo7ion.drawFigures = function (root) {
    var scripts = (root || document).querySelectorAll('script[type="application/json"].js-figure');
    var drawn = [];
    Array.prototype.forEach.call(scripts, function (s) {
      var p = Emo7ion.drawFigure(s);
      if (p) { drawn.push(p); }
    });
    return Promise.all(drawn);
  };

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
    if (badge) { badge.className = "badge " + state.status; }
    if (state.segment_count) {
      setText(el, "[data-progress-detail]", state.segments_done + " of " + state.segment_count + " segments done");
    }
    var error = el.querySelector("[data-progress-error]");
    if (error && state.error) { error.textContent = state.error; error.hidden = false; }
    el.setAttribute("data-progress-state", state.status);
    el.setAttribute("data-progress-value", String(pct));
  };

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
        .then(function (state) {
          failures = 0;
          Emo7ion.updateProgress(el, state);
          if (options.onUpdate) { options.onUpdate(state); }
          if (state.finished || FINISHED[state.status]) {
            stopped = true;
            if (options.onFinished) { options.onFinished(state); }
            if (el.hasAttribute("data-reload-when-finished")) {
              // The server renders the outcome (the report, or why there is none).
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

  Emo7ion.bindProgress = function (root) {
    var els = (root || document).querySelectorAll("[data-progress-url]");
    Array.prototype.forEach.call(els, function (el) {
      if (el.getAttribute("data-progress-bound")) { return; }
      el.setAttribute("data-progress-bound", "1");
      var status = el.getAttribute("data-progress-state");
      if (status && FINISHED[status]) { return; }
      Emo7ion.pollProgress(el);
    });
  };

  Emo7ion.bindPartials = function (root) {
    (root || document).addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a[data-query]") : null;
      if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) {
        return;
      }
      var container = link.closest("[data-partial-url]");
      if (!container) { return; }
      event.preventDefault();
      var query = link.getAttribute("data-query");
      container.classList.add("is-loading");
      fetch(container.getAttribute("data-partial-url") + "?" + query, { credentials: "same-origin" })
        .then(function (r) {
          if (!r.ok) { throw new Error("HTTP " + r.status); }
          return r.text();
        })
        .then(function (html) {
          var holder = document.createElement("div");
          holder.innerHTML = html;
          var fresh = holder.querySelector("[data-partial-url]") || holder.firstElementChild;
          container.replaceWith(fresh);
          if (window.history && window.history.replaceState) {
            window.history.replaceState(null, "", "?" + query + "#" + (fresh.id || ""));
          }
        })
        .catch(function () {
          // Fall back to the plain link: the whole page renders the same table server-side.
          window.location.href = link.getAttribute("href");
        });
    });
  };

  function start() {
    Emo7ion.drawFigures(document);
    Emo7ion.bindProgress(document);
    Emo7ion.bindPartials(document);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
