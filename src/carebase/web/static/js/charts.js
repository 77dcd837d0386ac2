/* Chart cards: <canvas data-chart='{"type":"bar","labels":[...],"values":[...],"label":"..."}'>.
   Data comes from a data attribute (escaped JSON), never from an inline script. */
(function () {
  "use strict";
  if (!window.Chart) { return; }
  var palette = ["#0b5cad", "#3b82c4", "#6aa3d8", "#146c43", "#8a5300", "#6b4fa0", "#b42318", "#4c5d73"];
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var spec;
    try { spec = JSON.parse(canvas.getAttribute("data-chart")); } catch (e) { return; }
    var bar = spec.type === "bar";
    new window.Chart(canvas, {
      type: spec.type || "bar",
      data: {
        labels: spec.labels,
        datasets: [{
          label: spec.label || "",
          data: spec.values,
          backgroundColor: bar ? palette : "rgba(11, 92, 173, 0.12)",
          borderColor: "#0b5cad",
          borderWidth: bar ? 0 : 2,
          borderRadius: bar ? 4 : 0,
          fill: !bar,
          tension: 0.3,
          pointRadius: 3
        }]
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: window.matchMedia("(prefers-reduced-motion: reduce)").matches ? false : { duration: 300 },
        plugins: { legend: { display: false } },
        scales: {
          y: { beginAtZero: true, ticks: { precision: 0, color: "#4c5d73" }, grid: { color: "#e6ebf1" } },
          x: { ticks: { color: "#4c5d73" }, grid: { display: false } }
        }
      }
    });
  });
})();
