// The admin's decision table editor: dmn-js Modeler opened on the decision table, deploy as the next
// version, and a "try it" panel evaluating the table as edited on entered inputs (nothing stored).
// Deploy and try post the whole XML (form field "xml") with the page's CSRF token.
(function () {
  "use strict";
  var dataNode = document.getElementById("decision-data");
  var holder = document.getElementById("d-canvas");
  if (!dataNode || !holder || !window.DmnJS) { return; }
  var info = JSON.parse(dataNode.textContent);
  var csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
  var statusNode = document.getElementById("d-status");
  var problemsNode = document.getElementById("d-problems");
  var inputsNode = document.getElementById("d-inputs");
  var resultNode = document.getElementById("d-try-result");
  var columns = info.columns || [];
  var options = { container: holder, common: { keyboard: { bindTo: window } } };
  if (window.afTranslateModule) { // editor-zh.js: each view takes its own modules (common ones are replaced)
    ["drd", "decisionTable", "literalExpression", "boxedExpression"].forEach(function (view) {
      options[view] = { additionalModules: [window.afTranslateModule] };
    });
  }
  var modeler = new window.DmnJS(options);
  window.afDecisionModeler = modeler; // for the browser test and the console

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }

  function say(text, kind) {
    statusNode.textContent = text;
    statusNode.className = "m-status" + (kind ? " " + kind : "");
  }

  function showProblems(problems) {
    problemsNode.innerHTML = "";
    if (!problems || !problems.length) { problemsNode.hidden = true; return; }
    var list = el("ul", { "class": "problems" });
    problems.forEach(function (p) {
      var where = [p.element, p.name, p.line ? "L" + p.line : null].filter(Boolean).join(" · ");
      list.appendChild(el("li", { text: (where ? where + "：" : "") + p.message }));
    });
    problemsNode.appendChild(list);
    problemsNode.hidden = false;
  }

  function openTable() {
    var views = modeler.getViews();
    var table = views.filter(function (v) { return v.type === "decisionTable"; })[0];
    if (table) { return modeler.open(table); }
    return Promise.resolve();
  }

  function renderInputs() {
    var kept = {};
    Array.prototype.forEach.call(inputsNode.querySelectorAll("[data-input]"), function (node) {
      kept[node.getAttribute("data-input")] = node.value;
    });
    inputsNode.innerHTML = "";
    columns.forEach(function (c) {
      var field;
      if (c.type === "boolean") {
        field = el("select", { "data-input": c.name, name: c.name }, [
          el("option", { value: "", text: "—" }),
          el("option", { value: "true", text: info.texts.yes }),
          el("option", { value: "false", text: info.texts.no })
        ]);
      } else {
        field = el("input", { "data-input": c.name, name: c.name, type: "text",
          inputmode: c.type === "number" ? "decimal" : "text" });
      }
      if (kept[c.name] !== undefined) { field.value = kept[c.name]; }
      inputsNode.appendChild(el("label", {}, [document.createTextNode(c.label + " "), field]));
    });
  }

  function post(url, fields) {
    var body = new URLSearchParams();
    Object.keys(fields).forEach(function (k) { body.append(k, fields[k]); });
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString()
    }).then(function (r) { return r.json(); });
  }

  function xml() {
    return modeler.saveXML({ format: true }).then(function (r) { return r.xml; });
  }

  document.getElementById("d-deploy").addEventListener("click", function () {
    say("…");
    xml().then(function (text) { return post(info.urls.deploy, { xml: text }); }).then(function (body) {
      showProblems(body.problems);
      if (!body.ok) { say("✗", "error"); return; }
      var template = body.created ? info.texts.deployed : info.texts.unchanged;
      say(template.replace("{key}", body.key).replace("{version}", body.version), "ok");
    });
  });

  document.getElementById("d-download").addEventListener("click", function () {
    xml().then(function (text) {
      var link = el("a", { href: URL.createObjectURL(new Blob([text], { type: "application/xml" })),
        download: (info.key || "decision") + ".dmn" });
      document.body.appendChild(link);
      link.click();
      link.remove();
    });
  });

  document.getElementById("d-try-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var inputs = {};
    Array.prototype.forEach.call(inputsNode.querySelectorAll("[data-input]"), function (node) {
      inputs[node.getAttribute("data-input")] = node.value;
    });
    xml().then(function (text) {
      return post(info.urls["try"], {
        xml: text, inputs: JSON.stringify(inputs), process_key: document.getElementById("d-process").value
      });
    }).then(function (body) {
      resultNode.innerHTML = "";
      showProblems(body.ok ? [] : body.problems);
      if (!body.ok) { return; }
      if (JSON.stringify(body.columns) !== JSON.stringify(columns)) { columns = body.columns; renderInputs(); }
      var outputs = el("dl", { "class": "decision-result", "data-testid": "try-result" });
      body.result.forEach(function (r) {
        outputs.appendChild(el("dt", { text: r.label }));
        outputs.appendChild(el("dd", { "data-output": r.name, text: r.value }));
      });
      var rows = el("ul", { "data-testid": "try-matched" });
      body.matched.forEach(function (m) {
        rows.appendChild(el("li", { "data-row": String(m.row),
          text: info.texts.row.replace("{row}", m.row) + (m.description ? "：" + m.description : "") }));
      });
      if (!body.matched.length) { rows.appendChild(el("li", { text: info.texts.no_match })); }
      resultNode.appendChild(el("h3", { text: info.texts.result }));
      resultNode.appendChild(outputs);
      resultNode.appendChild(el("h3", { text: info.texts.matched }));
      resultNode.appendChild(rows);
    });
  });

  renderInputs();
  modeler.importXML(info.xml).then(openTable).then(function () {
    holder.setAttribute("data-ready", "true");
  }).catch(function (err) { say(String(err && err.message || err), "error"); });
})();
