// Chinese labels for the admin's editors (the dmn-js decision table editor, the bpmn-js modeler): both look
// every visible label and tooltip up through their "translate" service, so this module replaces that
// service when the page is in Chinese (English pages keep the libraries' own words). Labels not listed
// stay as the library writes them.
(function () {
  "use strict";
  var ZH = {
    "When": "当", "And": "且", "Then": "则", "Annotations": "备注", "Annotation": "备注",
    "Hit policy:": "命中策略：", "Hit policy": "命中策略",
    "Unique": "唯一", "First": "首条命中", "Priority": "优先级", "Any": "任一", "Collect": "汇总",
    "Collect (Sum)": "汇总（求和）", "Collect (Min)": "汇总（最小值）", "Collect (Max)": "汇总（最大值）",
    "Collect (Count)": "汇总（计数）", "Rule order": "规则顺序", "Output order": "输出顺序",
    "No overlap is possible and all rules are disjoint. Only a single rule can be matched":
      "规则互不重叠，只能命中一条规则",
    "Rules may overlap. The first matching rule will be chosen": "规则可以重叠，取第一条命中的规则",
    "Rules may overlap. The one with the highest priority will be chosen": "规则可以重叠，取优先级最高的规则",
    "Rules may overlap. Their output have to match": "规则可以重叠，命中的输出必须一致",
    "Collects the values of all matching rules": "汇总所有命中规则的输出",
    "View DRD": "查看决策关系图", "string": "文本", "number": "数字", "boolean": "是/否",
    "date": "日期", "time": "时间", "dateTime": "日期时间", "integer": "整数", "long": "整数", "double": "数字",
    "Input": "输入", "Output": "输出", "Add input": "添加输入列", "Add output": "添加输出列",
    "Add rule": "添加规则", "Add rule above": "在上方添加规则", "Add rule below": "在下方添加规则",
    "Remove rule": "删除规则", "Copy rule": "复制规则", "Cut rule": "剪切规则", "Move rule": "移动规则",
    "Paste rule above": "粘贴到上方", "Paste rule below": "粘贴到下方",
    "Add input column left": "在左侧添加输入列", "Add input column right": "在右侧添加输入列",
    "Add output column left": "在左侧添加输出列", "Add output column right": "在右侧添加输出列",
    "Remove input column": "删除输入列", "Remove output column": "删除输出列",
    "Copy input column": "复制输入列", "Copy output column": "复制输出列",
    "Cut input column": "剪切输入列", "Cut output column": "剪切输出列",
    "Paste input column left": "粘贴到左侧", "Paste input column right": "粘贴到右侧",
    "Paste output column left": "粘贴到左侧", "Paste output column right": "粘贴到右侧",
    "Add cell description": "添加单元格说明", "Remove cell description": "删除单元格说明",
    "Edit": "编辑", "Delete": "删除", "Resize": "调整宽度", "Edit input": "编辑输入", "Edit output": "编辑输出",
    "Input label": "输入名称", "Input label: ": "输入名称：", "Input expression": "输入表达式",
    "Input expression: ": "输入表达式：", "Output label": "输出名称", "Output label: ": "输出名称：",
    "Output name": "输出变量", "Output name: ": "输出变量：", "Input type": "输入类型", "Output type": "输出类型",
    "Type": "类型", "Change type": "更改类型", "Expression": "表达式", "Expression language": "表达式语言",
    "Expression language:": "表达式语言：", "Enter expression": "输入表达式",
    "Input values": "输入取值", "Output values": "输出取值", "Predefined values": "预设取值",
    "Add predefined values": "添加预设取值", "Clear predefined values": "清除预设取值", "Add values": "添加取值",
    "No values": "无取值", "Values": "取值", "Value": "值", "Custom values": "自定义取值",
    "Set value": "设置值", "Match one": "匹配其一", "Match none": "都不匹配", "Include": "包含", "Exclude": "排除",
    "Yes": "是", "No": "否", "Boolean value": "是/否值", "Edit boolean": "编辑是/否",
    "Edit number": "编辑数字", "Edit string": "编辑文本", "String value": "文本值",
    "Strings must be in double quotes": "文本须加英文双引号",
    "Comparison": "比较", "Comparison operator": "比较运算符", "Range": "区间", "Equals": "等于",
    "Less": "小于", "Less or equals": "小于等于", "Greater": "大于", "Greater or equals": "大于等于",
    "Range start value": "区间起点", "Range end value": "区间终点", "Range start operator": "起点运算符",
    "Range end operator": "终点运算符", "Start value": "起始值", "End value": "结束值",
    "Exactly": "等于", "Before": "早于", "After": "晚于", "Between": "介于",
    "Date": "日期", "Date value": "日期值", "Edit date": "编辑日期", "Set date": "设置日期", "Use today": "今天",
    "Decision name": "决策名称", "Decision name: ": "决策名称：", "Search in diagram": "在图中查找",
    "Literal expression": "文字表达式", "Variable name:": "变量名：", "Variable type:": "变量类型：",
    // bpmn-js: palette, context pad and replace menu
    "Activate hand tool": "抓手工具（移动画布）", "Activate lasso tool": "套索工具（框选）",
    "Activate create/remove space tool": "增删空间工具", "Activate global connect tool": "连线工具",
    "Create start event": "新建开始事件", "Create end event": "新建结束事件",
    "Create intermediate/boundary event": "新建中间/边界事件", "Create gateway": "新建网关",
    "Create task": "新建任务", "Create expanded sub-process": "新建子流程", "Create group": "新建分组",
    "Create pool/participant": "新建泳池", "Create data object reference": "新建数据对象",
    "Create data store reference": "新建数据存储", "Append task": "追加任务", "Append gateway": "追加网关",
    "Append end event": "追加结束事件", "Append intermediate/boundary event": "追加中间事件",
    "Append receive task": "追加接收任务", "Append message intermediate catch event": "追加消息捕获事件",
    "Append timer intermediate catch event": "追加定时事件", "Append text annotation": "追加注释",
    "Add text annotation": "添加注释", "Add lane above": "在上方添加泳道", "Add lane below": "在下方添加泳道",
    "Divide into two lanes": "拆分为两条泳道", "Divide into three lanes": "拆分为三条泳道",
    "Change element": "更改元素类型", "Connect to other element": "连接到其他元素",
    "Connect using association": "用关联连接", "Align elements": "对齐", "Distribute elements horizontally":
      "水平均匀分布", "Distribute elements vertically": "垂直均匀分布", "Open {element}": "打开 {element}",
    "Toggle non-interrupting": "切换为不中断", "Loop": "循环", "Parallel multi-instance": "并行多实例",
    "Sequential multi-instance": "顺序多实例", "Task": "任务", "User task": "用户任务",
    "Service task": "服务任务", "Script task": "脚本任务", "Business rule task": "业务规则任务",
    "Send task": "发送任务", "Receive task": "接收任务", "Manual task": "人工任务", "Call activity": "调用活动",
    "Exclusive gateway": "排他网关", "Parallel gateway": "并行网关", "Inclusive gateway": "包容网关",
    "Event-based gateway": "事件网关", "Complex gateway": "复杂网关", "Start event": "开始事件",
    "End event": "结束事件", "Intermediate throw event": "中间抛出事件", "Message start event": "消息开始事件",
    "Timer start event": "定时开始事件", "Message end event": "消息结束事件", "Terminate end event": "终止结束事件",
    "Sub-process (collapsed)": "子流程（折叠）", "Sub-process (expanded)": "子流程（展开）",
    "Sequence flow": "顺序流", "Default flow": "默认流", "Conditional flow": "条件流"
  };
  function translate(template, replacements) {
    var text = ZH[template] || template;
    replacements = replacements || {};
    return text.replace(/{([^}]+)}/g, function (_, key) { return replacements[key] || "{" + key + "}"; });
  }
  var lang = (document.documentElement.getAttribute("lang") || "").toLowerCase();
  window.afTranslateModule = lang.indexOf("zh") === 0 ? { translate: ["value", translate] } : null;
})();
