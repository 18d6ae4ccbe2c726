// Draws every <canvas data-chart="ID"> from the JSON spec in <script id="ID">, with Chart.js.
// The spec comes from ping_server/dashboards.py; exact figures are in the table under each chart.
(function () {
  "use strict";
  if (typeof Chart === "undefined") return;

  var PALETTE = ["#6b4fbb", "#1f75cb", "#108548", "#c17d10", "#dd2b0e", "#0f7f8c",
                 "#9e3c8a", "#5c6370", "#a0522d", "#2e7d32"];
  var compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
  var exact = new Intl.NumberFormat("en");
  var percent = new Intl.NumberFormat("en", { style: "percent", maximumFractionDigits: 1 });

  function colour(index, alpha) {
    var hex = PALETTE[index % PALETTE.length];
    if (alpha === undefined) return hex;
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function dataset(spec, d) {
    var line = spec.type === "line";
    return {
      label: d.label,
      data: d.data,
      stack: d.stack,
      borderColor: colour(d.colour),
      backgroundColor: d.faded ? colour(d.colour, 0.25) : colour(d.colour, line ? 0.15 : 0.8),
      borderDash: d.dashed ? [6, 4] : [],
      borderWidth: spec.sparkline ? 1.5 : 2,
      pointRadius: spec.sparkline ? 0 : 2,
      spanGaps: false
    };
  }

  function config(spec) {
    var valueFormat = spec.percent ? percent : compact;
    var valueAxis = {
      beginAtZero: true,
      stacked: !!spec.stacked,
      ticks: {
        precision: spec.integer ? 0 : undefined,
        callback: function (value) { return valueFormat.format(value); }
      }
    };
    if (spec.percent) valueAxis.max = 1;
    var labelAxis = { stacked: !!spec.stacked, ticks: { autoSkip: true } };
    var scales = spec.horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis };
    if (spec.sparkline) {
      scales.x.display = false;
      scales.y.display = false;
    }
    return {
      type: spec.type,
      data: { labels: spec.labels, datasets: spec.datasets.map(function (d) { return dataset(spec, d); }) },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: spec.horizontal ? "y" : "x",
        interaction: { mode: "index", intersect: false },
        scales: scales,
        plugins: {
          legend: { display: !spec.sparkline && spec.datasets.length > 1, position: "bottom" },
          tooltip: {
            enabled: true,
            callbacks: {
              label: function (item) {
                var v = item.raw;
                var text = v === null || v === undefined ? "–" : (spec.percent ? percent : exact).format(v);
                return item.dataset.label + ": " + text;
              }
            }
          }
        }
      }
    };
  }

  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    if (!source) return;
    new Chart(canvas, config(JSON.parse(source.textContent)));
  });
})();
