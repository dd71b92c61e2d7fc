// The case page's diagram: bpmn-js NavigatedViewer draws the instance's own BPMN version and marks
// completed steps and current tasks from the server's lists.
(function () {
  "use strict";
  var holder = document.getElementById("diagram");
  var dataNode = document.getElementById("diagram-data");
  if (!holder || !dataNode || !window.BpmnJS) { return; }
  var info = JSON.parse(dataNode.textContent);
  var viewer = new window.BpmnJS({ container: holder });
  fetch(info.xml_url, { credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      canvas.zoom("fit-viewport");
      info.completed.forEach(function (id) {
        if (registry.get(id)) { canvas.addMarker(id, "af-completed"); }
      });
      info.current.forEach(function (id) {
        if (registry.get(id)) { canvas.addMarker(id, "af-current"); }
      });
      // printing: the container takes the page's width, so the drawing is fitted again (and back after)
      var refit = function () {
        canvas.resized();
        canvas.zoom("fit-viewport");
        holder.setAttribute("data-diagram-fit", holder.clientWidth + "x" + holder.clientHeight);
      };
      var printing = window.matchMedia ? window.matchMedia("print") : null;
      if (printing && printing.addEventListener) { printing.addEventListener("change", refit); }
      window.addEventListener("beforeprint", refit);
      window.addEventListener("afterprint", refit);
      holder.setAttribute("data-diagram-ready", "1");
    })
    .catch(function (err) {
      holder.setAttribute("data-diagram-error", String(err));
      holder.textContent = String(err);
    });
})();
