"""Tests for resolvers.email_rendering: validation, sandboxing, sanitising, rendering and system templates."""

from __future__ import annotations

import pytest

from resolvers.email_rendering import (
    EMAIL_TYPES,
    LANGUAGES,
    PLACEHOLDERS,
    SAMPLE_VALUES,
    SYSTEM_TEMPLATES,
    RenderedEmail,
    SystemTemplate,
    TemplateInvalid,
    html_to_text,
    normalise_subject,
    preview,
    render,
    sanitise_body,
    system_template,
    validate_template,
)

RESET = "RESET_PASSWORD"
RESET_VALUES = SAMPLE_VALUES[RESET]


def _template_id(template: SystemTemplate) -> str:
    return f"{template.type}-{template.language}"


# ---------------------------------------------------------------- system templates


def test_there_is_one_system_template_per_type_and_language() -> None:
    keys = [(t.type, t.language) for t in SYSTEM_TEMPLATES]
    assert sorted(keys) == sorted((t, lang) for t in EMAIL_TYPES for lang in LANGUAGES)
    assert len({t.name for t in SYSTEM_TEMPLATES}) == 20


@pytest.mark.parametrize("template", SYSTEM_TEMPLATES, ids=_template_id)
def test_system_template_validates_unchanged(template: SystemTemplate) -> None:
    # when
    cleaned = validate_template(template.type, template.subject, template.body)

    # then: the shipped body is already in sanitised form
    assert cleaned == template.body


@pytest.mark.parametrize("template", SYSTEM_TEMPLATES, ids=_template_id)
def test_system_template_renders_with_sample_values(template: SystemTemplate) -> None:
    # when
    email = preview(template.type, template.subject, template.body, language=template.language)

    # then
    for part in (email.subject, email.html, email.text):
        assert "{{" not in part and "{%" not in part and "}}" not in part
    assert "\n" not in email.subject
    assert email.html.startswith("<!DOCTYPE html>")
    assert f'<html lang="{template.language.lower()}">' in email.html
    assert "2026" in email.text and "Meter KMS" in email.text
    if "action_link" in PLACEHOLDERS[template.type]:
        assert SAMPLE_VALUES[template.type]["action_link"] in email.text
    if "support_email" in PLACEHOLDERS[template.type]:
        assert SAMPLE_VALUES[template.type]["support_email"] in email.text


@pytest.mark.parametrize("template", SYSTEM_TEMPLATES, ids=_template_id)
def test_system_template_uses_the_main_placeholders(template: SystemTemplate) -> None:
    source = template.subject + template.body
    assert "{{ user_name }}" in source
    assert "{{ data_year }}" in source
    for name in ("action_link", "expires_at", "organisation_name", "batch_reference", "changed_at"):
        if name in PLACEHOLDERS[template.type]:
            assert "{{ " + name + " }}" in source, name


def test_system_template_names_follow_the_manual() -> None:
    names = {(t.type, t.language): t.name for t in SYSTEM_TEMPLATES}
    assert names["INVITE_USER", "EN"] == "System Default Invite Email (en)"
    assert names["CONFIRM_EMAIL", "EN"] == "System Default Confirm Email (en)"
    assert names["NEW_BATCH", "EN"] == "System Default New Batch Email (en)"
    assert names["RESET_PASSWORD", "EN"] == "System Default Password Reset Email (en)"
    assert names["PASSWORD_CHANGED", "EN"] == "System Default Password Changed Email (en)"
    assert names["CONFIRM_EMAIL", "DE"] == "System Standard-E-Mail zur Bestätigung (de)"
    assert names["INVITE_USER", "DE"] == "System Standard-Einladungs-E-Mail (de)"
    assert names["RESET_PASSWORD", "DE"] == "System Standard-E-Mail zum Zurücksetzen des Passworts (de)"
    assert names["NEW_BATCH", "DE"] == "System Default New Batch Email (de)"
    assert names["INVITE_USER", "ES"] == "System Default Invite Email (es)"
    assert names["RESET_PASSWORD", "SV"] == "System Default Password Reset Email (sv)"


@pytest.mark.parametrize("email_type", EMAIL_TYPES)
@pytest.mark.parametrize("language", ["DE", "ES", "SV"])
def test_translations_differ_from_english(email_type: str, language: str) -> None:
    english = system_template(email_type, "EN")
    translated = system_template(email_type, language)
    assert translated.subject != english.subject
    assert translated.body != english.body
    assert translated.name.endswith(f"({language.lower()})")


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("EN", ["password", "Reset password"]),
        ("DE", ["Passwort", "zurücksetzen", "Sie"]),
        ("ES", ["contraseña", "Restablecer", "enlace"]),
        ("SV", ["lösenord", "Återställ", "länken"]),
    ],
)
def test_reset_templates_use_language_typical_words(language: str, words: list[str]) -> None:
    template = system_template(RESET, language)
    text = preview(template.type, template.subject, template.body).text
    for word in words:
        assert word.lower() in text.lower(), word


def test_invites_mention_that_the_link_is_time_limited() -> None:
    for language, word in [
        ("EN", "limited time"),
        ("DE", "begrenzt"),
        ("ES", "caduca"),
        ("SV", "tidsbegränsad"),
    ]:
        template = system_template("INVITE_USER", language)
        assert "{{ expires_at }}" in template.body
        assert word in template.body, language


def test_system_template_falls_back_to_english() -> None:
    assert system_template("INVITE_USER", "fr").language == "EN"
    assert system_template("INVITE_USER", "de").language == "DE"
    with pytest.raises(TemplateInvalid):
        system_template("NOPE", "EN")


# ---------------------------------------------------------------- validation


def test_placeholders_and_sample_values_cover_each_type() -> None:
    assert set(PLACEHOLDERS) == set(EMAIL_TYPES) == set(SAMPLE_VALUES)
    for email_type in EMAIL_TYPES:
        assert set(SAMPLE_VALUES[email_type]) == set(PLACEHOLDERS[email_type])
        assert all(description.strip() for description in PLACEHOLDERS[email_type].values())
    assert SAMPLE_VALUES["NEW_BATCH"]["batch_reference"] == "BR-2026-0042"


def test_unknown_placeholder_is_refused_with_its_name() -> None:
    with pytest.raises(TemplateInvalid, match="batch_reference") as caught:
        validate_template(RESET, "Reset", "<p>{{ batch_reference }}</p>")
    assert caught.value.code == "TEMPLATE_INVALID"
    assert "user_name" in caught.value.message  # lists what is available


def test_unknown_placeholder_in_subject_is_refused() -> None:
    with pytest.raises(TemplateInvalid, match=r"Subject.*inviter_name"):
        validate_template(RESET, "Hello {{ inviter_name }}", "<p>Hi</p>")


def test_unknown_email_type_is_refused() -> None:
    with pytest.raises(TemplateInvalid, match="Unknown email type"):
        validate_template("NEWSLETTER", "Hi", "<p>Hi</p>")


@pytest.mark.parametrize("body", ["<p>{{ user_name </p>", "{% if user_name %}x", "{{ }}", "{% endif %}"])
def test_syntax_error_is_refused(body: str) -> None:
    with pytest.raises(TemplateInvalid, match="syntax error"):
        validate_template(RESET, "Reset", body)


def test_empty_subject_is_refused() -> None:
    with pytest.raises(TemplateInvalid, match="Subject"):
        validate_template(RESET, " \n ", "<p>Hi</p>")


# All of these are refused outright (not merely rendered harmlessly): the allowlist walk rejects attribute and
# item access, calls, imports and the other statements before anything is compiled.
@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ user_name.__class__ }}",
        "{% import os %}",
        "{% import 'x' as x %}",
        "{% from 'x' import y %}",
        "{% include 'x' %}",
        "{% extends 'x' %}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ range(10) }}",
        "{{ user_name[0] }}",
        "{{ user_name|attr('__class__') }}",
        "{{ user_name|safe }}",
        "{{ user_name|format('%s') }}",
        "{% set x = user_name %}",
        "{% macro m() %}x{% endmacro %}",
        "{% call user_name() %}x{% endcall %}",
        "{% for c in user_name %}{{ c }}{% endfor %}",
        "{% filter upper %}x{% endfilter %}",
        "{% with a = user_name %}{{ a }}{% endwith %}",
        "{% if user_name is defined %}x{% endif %}",
        "{{ user_name|default(action_link) }}",
    ],
)
def test_unsafe_constructs_are_refused(source: str) -> None:
    with pytest.raises(TemplateInvalid):
        validate_template(RESET, "Reset", f"<p>{source}</p>")
    with pytest.raises(TemplateInvalid):
        validate_template(RESET, source, "<p>Hi</p>")


def test_refusal_messages_are_readable() -> None:
    with pytest.raises(TemplateInvalid, match=r"line 2: attribute access"):
        validate_template(RESET, "Reset", "<p>Hi</p>\n<p>{{ user_name.__class__ }}</p>")
    with pytest.raises(TemplateInvalid, match=r"\{% include %\} cannot be used"):
        validate_template(RESET, "Reset", "{% include 'x' %}")
    with pytest.raises(TemplateInvalid, match="filter 'safe' is not allowed"):
        validate_template(RESET, "Reset", "{{ user_name|safe }}")


def test_allowed_subset_validates() -> None:
    body = (
        "<p>{% if user_name %}Hello {{ user_name|title }}{% else %}Hello{% endif %},</p>"
        "<p>{{ expires_at|default('soon') }} {{ user_name|upper }} {{ user_name|e }}</p>"
        "{% if not user_name and data_year or expires_at %}<p>x</p>{% endif %}"
    )
    assert validate_template(RESET, "Hi {{ user_name|lower }}", body) == body


# ---------------------------------------------------------------- sanitising


def test_script_in_body_is_stripped() -> None:
    body = '<p>Hi</p><script>alert(1)</script><img src=x onerror="alert(2)"><p onclick="alert(3)">x</p>'
    cleaned = validate_template(RESET, "Reset", body)
    assert "script" not in cleaned and "alert" not in cleaned and "onerror" not in cleaned
    assert cleaned == "<p>Hi</p><p>x</p>"


def test_dangerous_links_are_stripped_and_safe_ones_kept() -> None:
    body = (
        '<a href="javascript:alert(1)">a</a><a href="https://kms.example.com/x">b</a>'
        '<a href="mailto:help@kms.example.com">c</a><a href="data:text/html,x">d</a>'
    )
    cleaned = validate_template(RESET, "Reset", body)
    assert "javascript" not in cleaned and "data:" not in cleaned
    assert 'href="https://kms.example.com/x"' in cleaned
    assert 'href="mailto:help@kms.example.com"' in cleaned


@pytest.mark.parametrize(
    "link",
    [
        '<a href="{{ action_link }}">Reset</a>',
        '<a href="{{action_link}}">Reset</a>',
        '<a href="{{ action_link }}&amp;lang=de">Reset</a>',
    ],
)
def test_placeholder_in_href_survives_sanitising(link: str) -> None:
    # when
    cleaned = sanitise_body(link)
    email = render(RESET, "Reset", link, RESET_VALUES)

    # then: braces were neither URL-encoded nor dropped, and the real link is in both parts
    assert "{{" in cleaned and "%7B" not in cleaned
    assert f'href="{RESET_VALUES["action_link"]}' in email.html
    assert RESET_VALUES["action_link"] in email.text


def test_template_tags_with_html_characters_survive_sanitising() -> None:
    body = "<p>{{ user_name|default('<b>x</b>') }} a &lt; b</p>{# note: <b> #}"
    assert sanitise_body(body) == body


def test_placeholder_where_the_sanitiser_drops_it_is_refused() -> None:
    with pytest.raises(TemplateInvalid, match="sanitiser removes"):
        validate_template(RESET, "Reset", "<script>{{ user_name }}</script>")
    with pytest.raises(TemplateInvalid, match="sanitiser removes"):
        validate_template(RESET, "Reset", "<a {{ action_link }}>x</a>")
    with pytest.raises(TemplateInvalid, match="style"):
        validate_template(RESET, "Reset", '<p style="color:{{ user_name }}">x</p>')


def test_template_tags_between_table_rows_are_refused() -> None:
    body = "<table>{% if user_name %}<tr><td>{{ user_name }}</td></tr>{% endif %}</table>"
    with pytest.raises(TemplateInvalid, match="within a cell"):
        validate_template(RESET, "Reset", body)
    inside = "<table><tr><td>{% if user_name %}{{ user_name }}{% endif %}</td></tr></table>"
    assert "{% if user_name %}" in validate_template(RESET, "Reset", inside)


def test_sanitising_is_idempotent() -> None:
    template = system_template("INVITE_USER", "EN")
    once = sanitise_body(template.body + "<script>x</script><a href='{{ action_link }}'>y</a>")
    assert sanitise_body(once) == once


# ---------------------------------------------------------------- rendering


def test_script_in_a_value_is_escaped() -> None:
    values = {**RESET_VALUES, "user_name": "<script>alert(1)</script>"}
    email = render(RESET, "Hello {{ user_name }}", "<p>Hello {{ user_name }}</p>", values)
    assert "<script>" not in email.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "<script>alert(1)</script>" in email.text  # plain text: shown literally, not executed
    assert email.subject == "Hello <script>alert(1)</script>"  # subject is plain text


def test_quote_in_a_value_cannot_break_out_of_href() -> None:
    values = {**RESET_VALUES, "action_link": 'https://kms.example.com/x" onclick="alert(1)'}
    email = render(RESET, "Reset", '<a href="{{ action_link }}">Reset</a>', values)
    assert 'onclick="' not in email.html
    assert "&quot; onclick=&quot;" in email.html


def test_javascript_link_value_is_removed_when_sending() -> None:
    values = {**RESET_VALUES, "action_link": "javascript:alert(1)"}
    email = render(RESET, "Reset", '<a href="{{ action_link }}">Reset</a>', values)
    assert "javascript:" not in email.html


def test_subject_is_a_single_line() -> None:
    values = {**RESET_VALUES, "user_name": "Demo\r\nBcc: victim@example.com"}
    email = render(RESET, "Hello\n{{ user_name }}\r\n!", "<p>x</p>", values)
    assert email.subject == "Hello Demo Bcc: victim@example.com !"
    assert normalise_subject(" a\nb\r\nc\t") == "a b c"


def test_missing_value_is_reported() -> None:
    with pytest.raises(TemplateInvalid, match="user_name"):
        render(RESET, "Reset", "<p>{{ user_name }}</p>", {"action_link": "https://kms.example.com/r"})


def test_extra_values_are_ignored() -> None:
    email = render(RESET, "Reset", "<p>{{ user_name }}</p>", {**RESET_VALUES, "secret": "x"})
    assert email.text == "Demo Integra"


def test_text_part_is_derived_from_html() -> None:
    body = (
        "<h1>Title</h1><p>Hello&nbsp;{{ user_name }}, a &amp; b</p>"
        '<p><a href="{{ action_link }}">Reset password</a></p>'
        "<ul><li>one</li><li>two</li></ul><p>line<br>break   and\n   spaces</p>"
        '<p><a href="mailto:help@kms.example.com">help@kms.example.com</a></p>'
    )
    email = render(RESET, "Reset", body, RESET_VALUES)
    assert email.text == (
        "Title\n\nHello Demo Integra, a & b\n\n"
        f"Reset password ({RESET_VALUES['action_link']})\n\n"
        "- one\n- two\n\nline\nbreak and spaces\n\nhelp@kms.example.com"
    )


def test_html_to_text_skips_invisible_content() -> None:
    assert html_to_text("<head><title>t</title></head><p>a</p><style>p{}</style>") == "a"


def test_rendered_document_uses_inline_styles_only() -> None:
    email = render(RESET, "Reset", "<p>x</p>", RESET_VALUES)
    assert isinstance(email, RenderedEmail)
    assert "<style" not in email.html and "<link" not in email.html
    assert "<title>Reset</title>" in email.html
    assert 'style="' in email.html


def test_preview_uses_sample_values() -> None:
    email = preview("NEW_BATCH", "Batch {{ batch_reference }}", "<p>{{ organisation_name }}</p>")
    assert email.subject == "Batch BR-2026-0042"
    assert email.text == "IntegraDemo"


def test_render_refuses_invalid_templates() -> None:
    with pytest.raises(TemplateInvalid):
        render(RESET, "Reset", "{{ user_name.__class__ }}", RESET_VALUES)
    with pytest.raises(TemplateInvalid):
        preview(RESET, "Reset", "{% include 'x' %}")


@pytest.mark.parametrize(
    "body",
    [
        "<p>" + "{% if user_name %}" * 120 + "x" + "{% endif %}" * 120 + "</p>",
        "<p>{% if " + "not " * 250 + "user_name %}x{% endif %}</p>",
        "<p>{% if " + " and ".join(["user_name"] * 1000) + " %}x{% endif %}</p>",
    ],
    ids=["nested ifs", "a chain of nots", "a long and"],
)
def test_a_template_nested_too_deeply_is_refused_not_crashed(body: str) -> None:
    with pytest.raises(TemplateInvalid, match="nested too deeply"):
        validate_template(RESET, "Reset", body)


def test_the_link_cannot_be_in_the_subject() -> None:
    # (a subject is kept in the outbox after sending; a reset or invite link is single-use and secret)
    with pytest.raises(TemplateInvalid, match="unknown placeholder action_link"):
        validate_template(RESET, "Reset: {{ action_link }}", "<p>{{ action_link }}</p>")
