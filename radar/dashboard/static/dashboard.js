/* complaint-radar dashboard: draw the brand page's charts, reload on a theme choice. */
(function () {
  "use strict";

  function draw(id) {
    var holder = document.getElementById(id);
    var source = document.getElementById(id + "-data");
    if (!holder || !source || !window.Plotly) {
      return;
    }
    var figure = JSON.parse(source.textContent);
    window.Plotly.newPlot(holder, figure.data, figure.layout,
                          {responsive: true, displaylogo: false});
  }

  function start() {
    draw("risk-chart");
    draw("driver-chart");
    var select = document.getElementById("theme-select");
    if (select && select.form) {
      select.addEventListener("change", function () { select.form.submit(); });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
