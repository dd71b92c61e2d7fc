// The materials drop zone: each chosen or dropped file is uploaded at once (multipart, with a progress
// bar and its own status); the server answers the refreshed checklist, which replaces the old one.
(function () {
  "use strict";

  function upload(zone, file) {
    var list = zone.querySelector(".progress-list");
    var item = document.createElement("li");
    var bar = document.createElement("progress");
    bar.max = 100; bar.value = 0;
    item.textContent = file.name + " ";
    item.appendChild(bar);
    list.appendChild(item);
    var body = new FormData();
    body.append("file", file, file.name);
    var request = new XMLHttpRequest();
    request.open("POST", zone.dataset.uploadUrl);
    var holder = document.getElementById("materials");
    request.setRequestHeader("X-CSRFToken", holder ? holder.dataset.csrf : "");
    request.upload.onprogress = function (e) { if (e.lengthComputable) { bar.value = Math.round(e.loaded * 100 / e.total); } };
    return new Promise(function (resolve) {
      request.onload = function () {
        var holder = document.getElementById("materials");
        if (holder && request.responseText && request.getResponseHeader("Content-Type").indexOf("text/html") === 0) {
          holder.outerHTML = request.responseText;
          bind();
        }
        resolve();
      };
      request.onerror = function () { item.classList.add("failed"); item.append(" ✗"); resolve(); };
      request.send(body);
    });
  }

  function uploadAll(zone, files) {
    var chain = Promise.resolve();
    Array.prototype.forEach.call(files, function (file) { chain = chain.then(function () { return upload(zone, file); }); });
  }

  function bind() {
    document.querySelectorAll(".dropzone").forEach(function (zone) {
      zone.querySelectorAll('input[type="file"]').forEach(function (input) {
        input.addEventListener("change", function () { uploadAll(zone, input.files); });
      });
      zone.addEventListener("dragover", function (e) { e.preventDefault(); zone.classList.add("over"); });
      zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
      zone.addEventListener("drop", function (e) { e.preventDefault(); zone.classList.remove("over"); uploadAll(zone, e.dataTransfer.files); });
    });
  }

  bind();
})();
