"""Texts of the step-record, send-back and finished-task pages (merged into ``i18n.MESSAGES``)."""

from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "step_records": ("办理记录", "Step records"),
    "no_step_records": ("尚无办理记录", "No step records yet"),
    "record_by": ("办理人", "Done by"),
    "record_at": ("办结时间", "Completed"),
    "record_form": ("表单版本", "Form version"),
    "record_form_file": ("{title}（初始版本）", "{title} (original)"),
    "record_form_version": ("{title}（第 {version} 版）", "{title} (version {version})"),
    "record_iteration": ("第 {n} 次", "Run {n}"),
    "record_runs": ("共 {n} 次", "{n} runs"),
    "summary_latest_of": ("最近一次，共 {n} 次", "latest of {n} runs"),
    "record_missing": ("该环节没有留存的办理记录", "No record was kept of this step"),
    "record_readonly": (
        "本环节已办结，以下为提交的内容（只读）",
        "This step is done; what was submitted (read-only)",
    ),
    "record_empty": ("本环节无需填写表单", "This step had no form"),
    "back_to_case": ("返回案件", "Back to the case"),
    "records_page": (
        "办理记录第 {page} / {pages} 页，共 {total} 条",
        "Records page {page} of {pages}, {total} in all",
    ),
    "send_back": ("退回补正", "Send back for correction"),
    "send_back_to": ("退回至环节", "Send back to"),
    "send_back_reason": ("退回原因", "Reason"),
    "send_back_help": (
        "案件将退回所选环节，由原办理人补正后继续办理",
        "The case returns to the chosen step; whoever did it corrects it and the case continues",
    ),
    "sent_back": ("已退回补正至「{name}」", "Sent back to “{name}” for correction"),
    "decision_prefilled": (
        "「{fields}」已按决策表的建议预填，请确认或改定",
        "“{fields}” filled in as the decision table suggests: confirm or change",
    ),
    "sent_back_prefilled": (
        "本环节被退回补正，表单已填入上次提交的内容",
        "This step was sent back for correction; the form holds what was submitted last time",
    ),
}
