"""Steps named in the reader's language (engine.tasks.names), without a database."""

from __future__ import annotations

from engine.tasks.names import StepNames, bilingual


def test_bilingual_names_split_into_their_halves():
    assert bilingual("市民综合帮扶 Citizen comprehensive assistance") == (
        "市民综合帮扶",
        "Citizen comprehensive assistance",
    )
    assert bilingual("项目帮扶（基金会） Project assistance (foundation)") == (
        "项目帮扶（基金会）",
        "Project assistance (foundation)",
    )
    assert bilingual("受理") is None and bilingual("Acceptance") is None and bilingual("") is None


def test_a_step_named_in_both_languages_shows_the_half_for_the_page():
    titles = {"ca_acceptance": {"zh": "受理", "en": "Acceptance"}, "no_english": {"zh": "只有中文"}}
    asked: list[str] = []

    def title(key):
        asked.append(key)
        return titles.get(key)

    def english_of(process_key, bpmn_id):
        asked.append(f"{process_key}.{bpmn_id}")
        return {
            ("ca", "street_approval"): ("街镇审批", "Street approval", "ca_approval"),
            ("ca", "acceptance"): ("受理", None, "ca_acceptance"),
            ("ca", "vote"): ("成员表决", None, "ca_acceptance"),
        }.get((process_key, bpmn_id))

    assert StepNames(title, "en", english_of)("街镇审批", "ca_acceptance", "ca", "street_approval") == (
        "Street approval"
    )
    assert (
        StepNames(title, "zh", english_of)("街镇审批", "ca_acceptance", "ca", "street_approval") == "街镇审批"
    )
    assert StepNames(title, "en", english_of)("受理", "ca_acceptance", "ca", "acceptance") == "Acceptance"

    assert asked == ["ca.street_approval", "ca.acceptance", "ca_acceptance"]
    # a caller that knows no form (a send-back target, say): the step's form in the procedure
    assert StepNames(title, "en", english_of)("受理", None, "ca", "acceptance") == "Acceptance"
    # one instance of a multi-instance step keeps its member; a name merely ending in brackets does not
    vote = StepNames(title, "en", english_of)
    assert vote("成员表决（评议员甲）", "ca_acceptance", "ca", "vote") == "Acceptance (评议员甲)"
    assert vote("街镇审批（复核）", "ca_acceptance", "ca", "street_approval") == "Street approval (复核)"
    assert vote("受理（新版）", "ca_acceptance", "ca", "elsewhere") == "Acceptance"
    # a party named by its role reads as the role's English name
    assert vote("成员表决（受援机构）", "ca_acceptance", "ca", "vote") == "Acceptance (Aided agency)"
    asked.clear()
    en, zh = StepNames(title, "en"), StepNames(title, "zh")
    assert en("入户调查 Home visit", "ca_acceptance") == "Home visit"
    assert zh("入户调查 Home visit", "ca_acceptance") == "入户调查"
    assert en("受理", "ca_acceptance") == "Acceptance" and zh("受理", "ca_acceptance") == "受理"
    assert en("核查", "no_english") == "核查" and en("核查", None) == "核查" and en("核查", "gone") == "核查"
    assert en("再次受理", "ca_acceptance") == "Acceptance"
    assert asked == ["ca_acceptance", "no_english", "gone"]  # each form's title read once per page
