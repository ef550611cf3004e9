/* Emo7ion charts and report tables, with the locally served plotly.min.js (no CDN, works offline).
 *
 * Charts: every <script type="application/json" class="js-figure" data-target="ID"> holds a plotly
 * figure ({data, layout}); it is drawn into the element with that id (or, without data-target, the
 * .js-plotly-plot element just before it).
 *
 * Live progress is not here: analysis/static/analysis/progress.js is the one poller.
 *
 * Tables: inside an element with data-partial-url, links with data-query fetch that partial with the
 * query and swap the element for it (sorting and paging without redrawing the charts); without
 * JavaScript the same links reload the whole page.
 */
(function () {
  "use strict";

  var Emo7ion = window.Emo7ion = window.Emo7ion || {};
  var PLOT_CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

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
    Emo7ion.bindPartials(document);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
