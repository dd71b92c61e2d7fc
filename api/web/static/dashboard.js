// Dashboard charts (Chart.js) from the tables the server rendered.
(function () {
  "use strict";
  var node = document.getElementById("chart-data");
  if (!node || !window.Chart) { return; }
  var charts = JSON.parse(node.textContent);
  var colours = ["#2f6fb0", "#d9822b", "#3c9d5d"];
  Object.keys(charts).forEach(function (name) {
    var canvas = document.getElementById("chart-" + name);
    if (!canvas) { return; }
    var spec = charts[name];
    new window.Chart(canvas, {
      type: name === "ca_disbursements" ? "line" : "bar",
      data: {
        labels: spec.labels,
        datasets: spec.series.map(function (s, i) {
          return { label: s.label, data: s.data, backgroundColor: colours[i % 3], borderColor: colours[i % 3] };
        })
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { y: { beginAtZero: true, ticks: { precision: name === "ca_disbursements" ? undefined : 0 } } }
      }
    });
  });
})();
