/* posdiag fleet pages: draws each chart of the page from its JSON data
   block (<script type="application/json" id="data">) with uPlot. No inline
   script, no eval: the pages' CSP allows only this file and uPlot's.
   Series are told apart without colour: each has its own dash pattern,
   shown in a legend drawn with the same pattern; the numbers are in a
   table under each chart. */
(function () {
  "use strict";

  // Okabe-Ito colours (safe for colour-blind readers), and dash patterns.
  var COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#000000", "#E69F00", "#56B4E9"];
  var DASHES = [[], [10, 5], [2, 4], [14, 4, 2, 4], [6, 3, 6, 3, 1, 3], [20, 6], [1, 8]];
  var HEIGHT = 220;

  // Series i: its own dash pattern; past the seventh the patterns come
  // again in thin lines and other colours (the table has every number).
  function styleOf(i) {
    var round = Math.floor(i / DASHES.length);
    return {
      stroke: COLOURS[(i + 3 * round) % COLOURS.length],
      dash: DASHES[i % DASHES.length],
      width: round % 2 ? 1.25 : 2.5
    };
  }

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  // Times as numbers (UTC), the same in every language.
  function tick(seconds, withTime) {
    var d = new Date(seconds * 1000);
    var text = pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate());
    if (withTime) {
      text += " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes());
    }
    return text;
  }

  function legendSample(style) {
    var canvas = document.createElement("canvas");
    canvas.width = 40;
    canvas.height = 12;
    canvas.className = "sample";
    var ctx = canvas.getContext("2d");
    ctx.strokeStyle = style.stroke;
    ctx.lineWidth = style.width;
    ctx.setLineDash(style.dash);
    ctx.beginPath();
    ctx.moveTo(0, 6);
    ctx.lineTo(40, 6);
    ctx.stroke();
    return canvas;
  }

  function draw(figure, spec) {
    var plot = figure.querySelector(".plot");
    var legend = figure.querySelector(".legend");
    var x = spec.x;
    var span = x.length > 1 ? x[x.length - 1] - x[0] : 0;
    var withTime = span < 4 * 86400 && x.some(function (v) { return v % 86400 !== 0; });
    var series = [{}];
    var data = [x];
    legend.textContent = "";
    spec.series.forEach(function (s, i) {
      var st = styleOf(i);
      series.push({
        label: s.label,
        stroke: st.stroke,
        dash: st.dash,
        width: st.width,
        spanGaps: false,
        points: { show: x.length <= 60, size: 5, stroke: st.stroke, fill: "#fff" }
      });
      data.push(s.values);
      var item = document.createElement("li");
      item.appendChild(legendSample(st));
      var label = document.createElement("span");
      label.textContent = s.label;
      item.appendChild(label);
      legend.appendChild(item);
    });
    var width = Math.max(200, Math.floor(plot.clientWidth || figure.clientWidth || 320));
    var opts = {
      width: width,
      height: HEIGHT,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      series: series,
      axes: [
        {
          values: function (u, splits) {
            return splits.map(function (v) { return tick(v, withTime); });
          },
          space: withTime ? 90 : 50,
          stroke: "#333",
          grid: { stroke: "#e5e5e5" }
        },
        { stroke: "#333", grid: { stroke: "#e5e5e5" }, size: 44 }
      ]
    };
    plot.textContent = "";
    return new uPlot(opts, data, plot);
  }

  function start() {
    var block = document.getElementById("data");
    if (!block || typeof uPlot === "undefined") {
      return;
    }
    var page = JSON.parse(block.textContent || "{}");
    var charts = page.charts || {};
    var drawn = [];
    Array.prototype.forEach.call(document.querySelectorAll("figure.chart"), function (figure) {
      var spec = charts[figure.getAttribute("data-chart")];
      if (spec) {
        drawn.push({ figure: figure, plot: draw(figure, spec) });
      }
    });
    var timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        drawn.forEach(function (d) {
          var plotBox = d.figure.querySelector(".plot");
          var w = Math.max(200, Math.floor(plotBox.clientWidth || d.figure.clientWidth));
          d.plot.setSize({ width: w, height: HEIGHT });
        });
      }, 150);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
