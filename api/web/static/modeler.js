// The admin's BPMN modeler: bpmn-js Modeler plus our own side panel for what the engine reads.
//
// The panel writes exactly the XML the engine parses (engine/bpmn/parsing.py):
//   lane → role:        the lane's name "<中文名> <role>" (the engine finds the role token in the name)
//   user task:          <spiffworkflow:properties><spiffworkflow:property name="formKey|nameEn|deadline|
//                       reminder|escalate_to|send_back_to|outputs|assignee_field|role_field|roles|instance_label" value="…"/></spiffworkflow:properties> in extensionElements
//   other flow element: <spiffworkflow:property name="nameEn" value="…"/> (its name on English pages)
//   business-rule task: <spiffworkflow:calledDecisionId>decision id</spiffworkflow:calledDecisionId> in extensionElements
//   sequence flow:      <bpmn:conditionExpression>…</bpmn:conditionExpression> (flows out of gateways)
//   message elements:   messageRef → a bpmn:Message by name; <spiffworkflow:property name="correlation"/>
// Validate, diff and deploy post the whole XML (form field "xml") with the page's CSRF token.
(function () {
  "use strict";
  var dataNode = document.getElementById("modeler-data");
  var holder = document.getElementById("canvas");
  if (!dataNode || !holder || !window.BpmnJS) { return; }
  var info = JSON.parse(dataNode.textContent);
  var csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
  var SPIFF_URI = "http://spiffworkflow.org/bpmn/schema/1.0/core";
  var SPIFF = {
    name: "SpiffWorkflow",
    prefix: "spiffworkflow",
    uri: SPIFF_URI,
    xml: { tagAlias: "lowerCase" },
    associations: [],
    types: [
      {
        name: "Properties",
        superClass: ["Element"],
        properties: [{ name: "properties", type: "Property", isMany: true }]
      },
      {
        name: "Property",
        superClass: ["Element"],
        properties: [
          { name: "name", type: "String", isAttr: true },
          { name: "value", type: "String", isAttr: true }
        ]
      },
      {
        name: "CalledDecisionId",
        superClass: ["Element"],
        properties: [{ name: "value", type: "String", isBody: true }]
      }
    ]
  };
  var modeler = new window.BpmnJS({
    container: holder,
    moddleExtensions: { spiffworkflow: SPIFF },
    additionalModules: window.afTranslateModule ? [window.afTranslateModule] : [] // editor-zh.js
  });
  window.afModeler = modeler; // for the browser test and the console
  var modeling = modeler.get("modeling");
  var moddle = modeler.get("moddle");
  var registry = modeler.get("elementRegistry");
  var selection = modeler.get("selection");
  var canvas = modeler.get("canvas");
  var panel = document.getElementById("panel-body");
  var statusNode = document.getElementById("m-status");
  var results = document.getElementById("m-results");
  var roleNames = info.role_names;
  var current = null; // the element the panel shows
  var editing = false; // a change made by the panel itself: do not redraw the panel under the user

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }

  // The panel's words are written "中文 / English"; the page shows the half of its own language (as the
  // server's api/web/i18n.pick does), and so do the server's messages (lint problems).
  var EN = (document.documentElement.lang || "").slice(0, 2) === "en";
  function tr(zh, en) { return EN ? en : zh; }
  function pick(text) {
    if (!text) { return ""; }
    var at = text.indexOf(" / ");
    if (at < 0) {
      at = text.indexOf("）/ ");
      if (at < 0) { return text; }
      return EN ? text.slice(at + 3) : text.slice(0, at + 1);
    }
    return EN ? text.slice(at + 3) : text.slice(0, at);
  }

  function status(text, kind) {
    statusNode.textContent = pick(text);
    statusNode.className = "m-status " + (kind || "");
  }

  function is(element, type) {
    var bo = element && element.businessObject;
    return !!(bo && bo.$instanceOf && bo.$instanceOf(type));
  }

  // --- the engine's properties in extensionElements ----------------------------------------------
  function propertiesOf(bo) {
    var ext = bo.extensionElements;
    if (!ext) { return null; }
    return (ext.get("values") || []).filter(function (v) { return v.$type === "spiffworkflow:Properties"; })[0] || null;
  }

  function getProperty(element, name) {
    var props = propertiesOf(element.businessObject);
    if (!props) { return ""; }
    var found = (props.get("properties") || []).filter(function (p) { return p.name === name; })[0];
    return found ? (found.value || "") : "";
  }

  function setProperty(element, name, value) {
    var bo = element.businessObject;
    var ext = bo.extensionElements;
    if (!ext) {
      if (!value) { return; }
      ext = moddle.create("bpmn:ExtensionElements", { values: [] });
      modeling.updateProperties(element, { extensionElements: ext });
    }
    var props = propertiesOf(bo);
    if (!props) {
      if (!value) { return; }
      props = moddle.create("spiffworkflow:Properties", { properties: [] });
      props.$parent = ext;
      modeling.updateModdleProperties(element, ext, { values: (ext.get("values") || []).concat([props]) });
    }
    var list = (props.get("properties") || []).slice();
    var found = list.filter(function (p) { return p.name === name; })[0];
    if (!value) {
      list = list.filter(function (p) { return p !== found; });
    } else if (found) {
      modeling.updateModdleProperties(element, found, { value: value });
      return;
    } else {
      var prop = moddle.create("spiffworkflow:Property", { name: name, value: value });
      prop.$parent = props;
      list.push(prop);
    }
    modeling.updateModdleProperties(element, props, { properties: list });
  }

  // --- business-rule tasks: <spiffworkflow:calledDecisionId>decision id</spiffworkflow:calledDecisionId>
  function decisionOf(element) {
    var ext = element.businessObject.extensionElements;
    var found = ext ? (ext.get("values") || []).filter(function (v) {
      return v.$type === "spiffworkflow:CalledDecisionId";
    })[0] : null;
    return found ? (found.value || "").trim() : "";
  }

  function setDecision(element, value) {
    var bo = element.businessObject;
    var ext = bo.extensionElements;
    if (!ext) {
      if (!value) { return; }
      ext = moddle.create("bpmn:ExtensionElements", { values: [] });
      modeling.updateProperties(element, { extensionElements: ext });
    }
    var values = (ext.get("values") || []).filter(function (v) { return v.$type !== "spiffworkflow:CalledDecisionId"; });
    if (value) {
      var ref = moddle.create("spiffworkflow:CalledDecisionId", { value: value });
      ref.$parent = ext;
      values.push(ref);
    }
    modeling.updateModdleProperties(element, ext, { values: values });
  }

  // --- lanes: the role is the known role name found in the lane's name ---------------------------
  function roleOfName(name) {
    var tokens = (name || "").match(/[A-Za-z_][A-Za-z0-9_]*/g) || [];
    return tokens.filter(function (tok) { return Object.prototype.hasOwnProperty.call(roleNames, tok); })[0] || "";
  }

  // --- the panel -------------------------------------------------------------------------------------
  var fieldCount = 0;
  function field(label, control, help) {
    var id = "pf-" + (++fieldCount);
    control.id = id;
    return el("div", { "class": "field" }, [
      el("label", { "for": id, text: pick(label) }),
      control,
      help ? el("p", { "class": "help", text: pick(help) }) : null
    ]);
  }

  function input(value, onChange, placeholder) {
    var node = el("input", { type: "text", value: value || "" });
    if (placeholder) { node.setAttribute("placeholder", placeholder); }
    node.addEventListener("change", function () { apply(function () { onChange(node.value.trim()); }); });
    return node;
  }

  function select(options, value, onChange, emptyLabel) {
    var node = el("select");
    node.appendChild(el("option", { value: "", text: pick(emptyLabel) || "—" }));
    var known = false;
    options.forEach(function (o) {
      if (o.value === value) { known = true; }
      node.appendChild(el("option", { value: o.value, text: o.label }));
    });
    if (value && !known) { node.appendChild(el("option", { value: value, text: value + tr("（未知）", " (unknown)") })); }
    node.value = value || "";
    node.addEventListener("change", function () { apply(function () { onChange(node.value); }); });
    return node;
  }

  function apply(change) {
    editing = true;
    try { change(); } catch (err) { status(String(err), "error"); } finally { editing = false; }
  }

  function render(element) {
    panel.textContent = "";
    if (!element) { element = canvas.getRootElement(); }
    current = element && element.businessObject ? element : null;
    if (!current) {
      panel.appendChild(el("p", { "class": "muted", text: tr("请在图中选择一个元素", "Select an element in the diagram") }));
      return;
    }
    var bo = element.businessObject;
    var type = bo.$type.replace(/^bpmn:/, "");
    panel.appendChild(el("p", { "class": "el-id", "data-testid": "panel-element", text: type + " · " + bo.id }));
    if (is(element, "bpmn:Process") && !element.parent) {
      panel.appendChild(field("流程标识 / Process key", input(bo.id, function (v) {
        if (v) { modeling.updateProperties(element, { id: v }); }
      })));
    }
    // isExecutable of the process (or of a pool's process): a draft imported from another tool is
    // made executable here before it can be deployed
    var process = is(element, "bpmn:Process") && !element.parent ? bo
      : (is(element, "bpmn:Participant") ? bo.processRef : null);
    if (process) {
      var box = el("input", { type: "checkbox", "data-testid": "panel-executable" });
      box.checked = process.isExecutable === true;
      box.addEventListener("change", function () {
        apply(function () { modeling.updateModdleProperties(element, process, { isExecutable: box.checked }); });
      });
      panel.appendChild(field("可执行 / Executable", box,
        "只有可执行的流程可以部署 / only an executable process can be deployed"));
    }
    if (!is(element, "bpmn:Lane")) {
      panel.appendChild(field("名称 / Name", input(bo.name, function (v) {
        if (element.parent || is(element, "bpmn:Participant")) { modeling.updateLabel(element, v); }
        else { modeling.updateProperties(element, { name: v }); }
      })));
    }
    if (is(element, "bpmn:FlowElement") && !is(element, "bpmn:UserTask") && !is(element, "bpmn:ManualTask")) {
      // events, gateways, flows, automatic steps: user and manual tasks have theirs below
      panel.appendChild(field("英文名称 / English name", input(getProperty(element, "nameEn"), function (v) {
        setProperty(element, "nameEn", v.trim());
      }, "Approved?"), tr("英文页面上图中显示的名称", "the name shown in the diagram on English pages")));
    }
    if (is(element, "bpmn:Lane")) {
      panel.appendChild(field("名称 / Name", input(bo.name, function (v) { modeling.updateLabel(element, v); })));
      panel.appendChild(field("角色 / Role", select(info.roles, roleOfName(bo.name), function (role) {
        if (role) { modeling.updateLabel(element, roleNames[role] + " " + role); }
      }, tr("（无）", "(none)")), "泳道中的用户任务由此角色办理 / user tasks in this lane go to this role"));
    }
    if (is(element, "bpmn:UserTask")) {
      panel.appendChild(field("表单 / Form", select(info.forms, getProperty(element, "formKey"), function (v) {
        setProperty(element, "formKey", v);
      })));
      panel.appendChild(field("英文名称 / English name", input(getProperty(element, "nameEn"), function (v) {
        setProperty(element, "nameEn", v.trim());
      }, "Street approval"), tr("英文页面上的环节名称；不填则用表单的英文标题", "the step's name on English pages; empty: its form's English title")));
      panel.appendChild(field("办理期限 / Deadline", input(getProperty(element, "deadline"), function (v) {
        setProperty(element, "deadline", v);
      }, "10 working days"), tr("如 10 working days、10个工作日、30 days、PT48H，或表达式", "e.g. 10 working days, 30 days, PT48H, or an expression")));
      panel.appendChild(field("到期前提醒 / Reminder", input(getProperty(element, "reminder"), function (v) {
        setProperty(element, "reminder", v);
      }, "1 working day"), "到期前多久提醒 / how long before the deadline to remind"));
      panel.appendChild(field("逾期升级至 / Escalate to", select(info.roles, getProperty(element, "escalate_to"), function (v) {
        setProperty(element, "escalate_to", v);
      }, tr("（默认上级）", "(default: next level)"))));
      panel.appendChild(field("可退回补正至 / May send back to", input(getProperty(element, "send_back_to"), function (v) {
        setProperty(element, "send_back_to", v.split(",").map(function (s) { return s.trim(); }).filter(Boolean).join(","));
      }, "home_investigation,assessment"), "此前用户任务的标识，逗号分隔 / ids of earlier user tasks, comma-separated"));
      panel.appendChild(field("环节输出 / Declared outputs", input(getProperty(element, "outputs"), function (v) {
        setProperty(element, "outputs", v.split(",").map(function (s) { return s.trim(); }).filter(Boolean).join(","));
      }, "accepted"), "写入案件数据供后续网关使用的字段，逗号分隔；留空则全部写入 / fields the case data keeps for gateways; empty: all"));
      if (bo.loopCharacteristics && bo.loopCharacteristics.$instanceOf("bpmn:MultiInstanceLoopCharacteristics")) {
        // multi-instance: who each instance is for, read from the instance's element of the collection
        panel.appendChild(field("每个实例的办理人 / Assignee of each instance", input(getProperty(element, "assignee_field"), function (v) {
          setProperty(element, "assignee_field", v);
        }, "member"), "表达式，得到用户名 / an expression giving a user name"));
        panel.appendChild(field("每个实例的角色 / Role of each instance", input(getProperty(element, "role_field"), function (v) {
          setProperty(element, "role_field", v);
        }, "party['role']"), "表达式，得到下面列出的角色之一 / an expression giving one of the roles below"));
        panel.appendChild(field("可用角色 / Roles", input(getProperty(element, "roles"), function (v) {
          setProperty(element, "roles", v.split(",").map(function (s) { return s.trim(); }).filter(Boolean).join(","));
        }, "city_officer,gansu_officer"), "逗号分隔 / comma-separated"));
        panel.appendChild(field("实例标签 / Instance label", input(getProperty(element, "instance_label"), function (v) {
          setProperty(element, "instance_label", v);
        }, "party['label']"), "显示在任务名称后 / shown after the task's name"));
      }
    }
    if (is(element, "bpmn:CallActivity")) {
      panel.appendChild(field("调用的流程 / Called procedure", input(bo.calledElement, function (v) {
        modeling.updateProperties(element, { calledElement: v });
      }, "democratic_review"), "本文件中的流程或已部署流程的标识；数据映射由被调用流程的 ioSpecification 声明 / a process of this file or a deployed procedure's key; its ioSpecification declares the data mapping"));
    }
    if (is(element, "bpmn:BusinessRuleTask")) {
      panel.appendChild(field("决策表 / Decision table", select(info.decisions || [], decisionOf(element), function (v) {
        setDecision(element, v);
      }), "案件使用其发起时在用的版本 / a case uses the version in force when it started"));
    }
    // messages (issue 19): send / receive tasks and message events name their message (a bpmn:Message
    // of the file, made when new) and the correlation the engine matches cases by
    var messageOwner = is(element, "bpmn:SendTask") || is(element, "bpmn:ReceiveTask") ? bo
      : ((bo.eventDefinitions || []).filter(function (d) { return d.$type === "bpmn:MessageEventDefinition"; })[0] || null);
    if (messageOwner) {
      panel.appendChild(field("消息名称 / Message", input(messageOwner.messageRef ? messageOwner.messageRef.name : "", function (v) {
        if (!v) { return; }
        var definitions = modeler.getDefinitions();
        var roots = definitions.get("rootElements");
        var message = roots.filter(function (r) { return r.$type === "bpmn:Message" && r.name === v; })[0];
        if (!message) {
          message = moddle.create("bpmn:Message", { id: "Message_" + Math.random().toString(36).slice(2, 9), name: v });
          message.$parent = definitions;
          roots.push(message);
        }
        modeling.updateModdleProperties(element, messageOwner, { messageRef: message });
      }, "annual_list_confirmed"), "发送与接收双方使用同一名称 / the sender and the receiver use the same name"));
      if (!is(element, "bpmn:StartEvent")) {
        panel.appendChild(field("关联 / Correlation", input(getProperty(element, "correlation"), function (v) {
          setProperty(element, "correlation", v);
        }, "project_key"), tr("按案件数据中的此表达式匹配收发双方；留空则按业务编号",
          "an expression on the case data both sides must agree on; empty: the business key")));
      }
    }
    if (is(element, "bpmn:SequenceFlow")) {
      var source = bo.sourceRef;
      if (source && (source.$instanceOf("bpmn:ExclusiveGateway") || source.$instanceOf("bpmn:InclusiveGateway"))) {
        var area = el("textarea", { rows: "3" });
        area.value = bo.conditionExpression ? (bo.conditionExpression.body || "") : "";
        area.addEventListener("change", function () {
          apply(function () {
            var text = area.value.trim();
            modeling.updateProperties(element, {
              conditionExpression: text ? moddle.create("bpmn:FormalExpression", { body: text }) : undefined
            });
          });
        });
        panel.appendChild(field("条件表达式 / Condition", area, tr("例如 accepted == False", "e.g. accepted == False")));
      }
    }
  }

  modeler.on("selection.changed", function (e) { render(e.newSelection.length === 1 ? e.newSelection[0] : null); });
  modeler.on("elements.changed", function (e) {
    if (editing || !current) { return; }
    if (e.elements.some(function (x) { return x === current || x.id === current.id; })) {
      render(registry.get(current.id) || null);
    }
  });

  // --- talking to the server --------------------------------------------------------------------------
  function post(url, extra) {
    return modeler.saveXML({ format: true }).then(function (saved) {
      var body = new URLSearchParams();
      body.set("xml", saved.xml);
      Object.keys(extra || {}).forEach(function (k) { if (extra[k] != null) { body.set(k, String(extra[k])); } });
      return fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrf, "Content-Type": "application/x-www-form-urlencoded" },
        body: body
      });
    }).then(function (response) {
      return response.json().then(
        function (json) { return { status: response.status, body: json }; },
        function () { return { status: response.status, body: null }; }
      );
    });
  }

  function selectById(id) {
    var target = id && registry.get(id);
    if (target) {
      selection.select(target);
      canvas.scrollToElement(target);
    }
  }

  function showProblems(problems, keep) {
    results.hidden = false;
    if (!keep) { results.textContent = ""; }
    results.appendChild(el("h2", { text: tr("问题", "Problems") + " (" + problems.length + ")" }));
    var list = el("ul", { "data-testid": "problems", "class": "problems" });
    problems.forEach(function (p) {
      var label = p.severity === "warning" ? tr("警告：", "Warning: ") : tr("错误：", "Error: ");
      var where = p.line ? tr("（第 " + p.line + " 行）", " (line " + p.line + ")") : "";
      var text = label + (p.element ? "[" + p.element + "] " : "") + pick(p.message) + where;
      var item = p.element
        ? el("button", { type: "button", "class": "link", "data-element": p.element, text: text })
        : el("span", { text: text });
      if (p.element) { item.addEventListener("click", function () { selectById(p.element); }); }
      list.appendChild(el("li", { "class": p.severity === "warning" ? "warning" : "error", "data-severity": p.severity || "error" }, [item]));
    });
    results.appendChild(list);
  }

  function failed(reply) {
    if (reply.body && reply.body.problems) {
      status(tr("未通过校验：" + reply.body.problems.length + " 个问题", "Refused: " + reply.body.problems.length + " problem(s)"), "error");
      showProblems(reply.body.problems);
    } else {
      status(tr("请求失败：HTTP ", "Request failed: HTTP ") + reply.status, "error");
    }
  }

  function showDiff(diff) {
    results.hidden = false;
    results.textContent = "";
    var base = diff.from_version ? diff.key + " v" + diff.from_version : tr("（无已部署版本）", "(nothing deployed)");
    results.appendChild(el("h2", { text: tr("与 " + base + " 对比", "Compared with " + base) }));
    var sections = [["added", "新增 / Added"], ["removed", "删除 / Removed"], ["changed", "修改 / Changed"]];
    var total = 0;
    sections.forEach(function (s) {
      var items = diff[s[0]] || [];
      total += items.length;
      var list = el("ul", { "data-testid": "diff-" + s[0] });
      items.forEach(function (item) {
        var label = item.type + " " + item.id + (item.name ? "「" + item.name + "」" : "");
        var head = el("button", { type: "button", "class": "link", text: label });
        head.addEventListener("click", function () { selectById(item.id); });
        var li = el("li", { "data-element": item.id }, [head]);
        if (item.changes && item.changes.length) {
          var changes = el("ul");
          item.changes.forEach(function (c) {
            changes.appendChild(el("li", { "class": "change", text: c.attribute + ": " + (c.old == null ? "∅" : c.old) + " → " + (c.new == null ? "∅" : c.new) }));
          });
          li.appendChild(changes);
        }
        list.appendChild(li);
      });
      results.appendChild(el("h3", { text: pick(s[1]) + " (" + items.length + ")" }));
      results.appendChild(list);
    });
    if (!total) { results.appendChild(el("p", { "class": "muted", text: tr("没有变化", "No changes") })); }
  }

  function busy(on) {
    ["m-validate", "m-diff", "m-deploy", "m-download"].forEach(function (id) { document.getElementById(id).disabled = on; });
  }

  function run(work) {
    busy(true);
    status("处理中… / working…");
    work().catch(function (err) { status(String(err), "error"); }).then(function () { busy(false); });
  }

  document.getElementById("m-validate").addEventListener("click", function () {
    run(function () {
      return post(info.urls.validate).then(function (reply) {
        if (reply.body && reply.body.ok) {
          status(tr("校验通过：", "Valid: ") + reply.body.key, "ok");
          results.hidden = false;
          results.textContent = "";
          results.appendChild(el("p", { "data-testid": "valid", text: tr("校验通过，可以部署", "Valid, ready to deploy") }));
          if (reply.body.problems && reply.body.problems.length) { showProblems(reply.body.problems, true); }
        } else { failed(reply); }
      });
    });
  });

  document.getElementById("m-diff").addEventListener("click", function () {
    run(function () {
      return post(info.urls.diff, { key: info.key, version: info.version }).then(function (reply) {
        if (reply.body && reply.body.ok) { status("对比完成 / compared", "ok"); showDiff(reply.body); } else { failed(reply); }
      });
    });
  });

  document.getElementById("m-deploy").addEventListener("click", function () {
    run(function () {
      return post(info.urls.deploy).then(function (reply) {
        if (reply.body && reply.body.ok) {
          status((reply.body.created ? tr("已部署为版本 ", "Deployed as version ") : tr("内容未变，仍为版本 ", "Unchanged, version "))
            + reply.body.version, "ok");
          window.location.assign(reply.body.redirect);
        } else { failed(reply); }
      });
    });
  });

  document.getElementById("m-download").addEventListener("click", function () {
    run(function () {
      return modeler.saveXML({ format: true }).then(function (saved) {
        var blob = new Blob([saved.xml], { type: "application/xml" });
        var link = el("a", { href: URL.createObjectURL(blob), download: (info.key || "new_process") + ".bpmn" });
        document.body.appendChild(link);
        link.click();
        link.remove();
        status("已下载 / downloaded", "ok");
      });
    });
  });

  modeler.importXML(info.xml)
    .then(function (result) {
      canvas.zoom("fit-viewport");
      render(null);
      if (result.warnings && result.warnings.length) {
        status(tr("导入警告：", "Import warnings: ") + result.warnings.length, "error");
      }
      holder.setAttribute("data-modeler-ready", "1");
    })
    .catch(function (err) {
      holder.setAttribute("data-modeler-error", String(err));
      status(tr("无法打开：", "Cannot open: ") + String(err), "error");
    });
})();
