"""Email templates: placeholders, validation, sandboxed rendering, the derived text part and system templates.

A template is a subject and an HTML body written in a deliberately small subset of Jinja: placeholders
(``{{ user_name }}``), ``{% if placeholder %}`` blocks and a few text filters. Anything else (attribute
access, function calls, imports, macros, assignments, loops) is refused by an allowlist walk over the parsed
template, so a template author cannot reach Python objects; the sandboxed environment and the empty globals
are a second line of defence. Bodies are sanitised with nh3 before they are stored, and the rendered fragment
is sanitised again before it is sent. Placeholder values are autoescaped into the HTML.

Pure code: no database, no GraphQL, no network.
"""

from __future__ import annotations

import functools
import html
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Final, Literal

import nh3
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.meta import find_undeclared_variables
from jinja2.sandbox import ImmutableSandboxedEnvironment

from resolvers.errors import KmsError

EMAIL_TYPES: Final = ("CONFIRM_EMAIL", "INVITE_USER", "NEW_BATCH", "RESET_PASSWORD", "PASSWORD_CHANGED")
LANGUAGES: Final = ("EN", "DE", "ES", "SV")
DEFAULT_LANGUAGE: Final = "EN"
MAX_SUBJECT_LENGTH: Final = 500
MAX_BODY_LENGTH: Final = 100_000

_USER_NAME = "Full name of the person receiving the email."
_ACTION_LINK = "Link the recipient opens to complete the action."
_DATA_YEAR = "The current year, e.g. for the copyright line."

PLACEHOLDERS: Final[dict[str, dict[str, str]]] = {
    "CONFIRM_EMAIL": {
        "user_name": _USER_NAME,
        "action_link": "Link that confirms the new email address.",
        "expires_at": "Date and time after which the confirmation link no longer works.",
        "data_year": _DATA_YEAR,
    },
    "INVITE_USER": {
        "user_name": _USER_NAME,
        "organisation_name": "Organisation the person is invited to.",
        "inviter_name": "Name of the person who sent the invitation.",
        "action_link": "Link that accepts the invitation and sets the password.",
        "expires_at": "Date and time after which the invitation link no longer works.",
        "data_year": _DATA_YEAR,
    },
    "NEW_BATCH": {
        "user_name": _USER_NAME,
        "organisation_name": "Organisation that receives the batch.",
        "batch_reference": "Reference of the batch, e.g. BR-2026-0042.",
        "device_count": "Number of devices in the batch.",
        "sender_organisation_name": "Organisation that sent the batch.",
        "action_link": _ACTION_LINK,
        "data_year": _DATA_YEAR,
    },
    "RESET_PASSWORD": {
        "user_name": _USER_NAME,
        "action_link": "Link that opens the page to choose a new password.",
        "expires_at": "Date and time after which the reset link no longer works.",
        "data_year": _DATA_YEAR,
    },
    "PASSWORD_CHANGED": {
        "user_name": _USER_NAME,
        "changed_at": "Date and time the password was changed.",
        "support_email": "Address to contact if the change was not made by the recipient.",
        "data_year": _DATA_YEAR,
    },
}

SAMPLE_VALUES: Final[dict[str, dict[str, str]]] = {
    "CONFIRM_EMAIL": {
        "user_name": "Demo Integra",
        "action_link": "https://kms.example.com/confirm-email?token=3f9c2a7e5b1d4c8a",
        "expires_at": "2026-03-14 17:00 UTC",
        "data_year": "2026",
    },
    "INVITE_USER": {
        "user_name": "Demo Integra",
        "organisation_name": "IntegraDemo",
        "inviter_name": "Anna Lindqvist",
        "action_link": "https://kms.example.com/signup?token=8d41e0b6c2f94a17",
        "expires_at": "2026-03-21 12:00 UTC",
        "data_year": "2026",
    },
    "NEW_BATCH": {
        "user_name": "Demo Integra",
        "organisation_name": "IntegraDemo",
        "batch_reference": "BR-2026-0042",
        "device_count": "250",
        "sender_organisation_name": "Integra Metering AG",
        "action_link": "https://kms.example.com/console/take-ownership",
        "data_year": "2026",
    },
    "RESET_PASSWORD": {
        "user_name": "Demo Integra",
        "action_link": "https://kms.example.com/reset-password?token=a27f6c0e93b54d18",
        "expires_at": "2026-03-14 15:30 UTC",
        "data_year": "2026",
    },
    "PASSWORD_CHANGED": {
        "user_name": "Demo Integra",
        "changed_at": "2026-03-14 14:52 UTC",
        "support_email": "support@kms.example.com",
        "data_year": "2026",
    },
}

ALLOWED_FILTERS: Final = frozenset({"upper", "lower", "title", "capitalize", "trim", "e", "escape", "default", "d"})

_ALLOWED_NODES: Final = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.If,
    nodes.Const,
    nodes.Not,
    nodes.And,
    nodes.Or,
)
_NODE_LABELS: Final[dict[type[nodes.Node], str]] = {
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}",
    nodes.Include: "{% include %}",
    nodes.Extends: "{% extends %}",
    nodes.Block: "{% block %}",
    nodes.Macro: "{% macro %}",
    nodes.CallBlock: "{% call %}",
    nodes.Assign: "{% set %}",
    nodes.AssignBlock: "{% set %}",
    nodes.For: "{% for %}",
    nodes.With: "{% with %}",
    nodes.FilterBlock: "{% filter %}",
    nodes.Getattr: "attribute access (a.b)",
    nodes.Getitem: "item access (a[b])",
    nodes.Call: "function calls",
    nodes.Test: "tests (is ...)",
    nodes.Compare: "comparisons",
}

_HTML_TAGS: Final = frozenset(
    "p br hr div span strong em b i u s small sub sup a ul ol li h1 h2 h3 blockquote code pre "
    "table thead tbody tfoot tr td th caption".split()
)
_CELL_ATTRIBUTES: Final = {"colspan", "rowspan", "align", "valign", "width"}
_HTML_ATTRIBUTES: Final[dict[str, set[str]]] = {
    "*": {"style"},
    "a": {"href", "title"},
    "td": _CELL_ATTRIBUTES,
    "th": _CELL_ATTRIBUTES,
    "table": {"width", "align", "cellpadding", "cellspacing", "border", "role"},
}
_STYLE_PROPERTIES: Final = frozenset(
    "color background-color font-family font-size font-weight font-style line-height text-align "
    "text-decoration vertical-align display width max-width margin margin-top margin-bottom padding "
    "padding-top padding-bottom padding-left padding-right border border-top border-bottom "
    "border-radius".split()
)
_URL_SCHEMES: Final = {"http", "https", "mailto"}


def _cleaner(*, url_relative: Literal["pass_through", "deny"]) -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(_HTML_TAGS),
        clean_content_tags={"script", "style"},
        attributes=_HTML_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        filter_style_properties=set(_STYLE_PROPERTIES),
        url_relative=url_relative,
    )


# Stored bodies carry placeholders as relative-looking hrefs; rendered fragments may only have absolute links.
_STORE_CLEANER: Final = _cleaner(url_relative="pass_through")
_SEND_CLEANER: Final = _cleaner(url_relative="deny")


class TemplateInvalid(KmsError):
    """A template cannot be stored or rendered; the message says why in words an administrator understands."""

    code = "TEMPLATE_INVALID"


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """An email ready to send: a one-line subject, a complete HTML document and its plain-text alternative."""

    subject: str
    html: str
    text: str


@dataclass(frozen=True, slots=True)
class SystemTemplate:
    """A template shipped with the platform for one (type, language)."""

    type: str
    language: str
    name: str
    subject: str
    body: str


def _environment(*, autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=autoescape, undefined=StrictUndefined, loader=None)
    env.globals.clear()
    env.filters = {name: env.filters[name] for name in ALLOWED_FILTERS}
    env.tests = {}
    return env


_HTML_ENV: Final = _environment(autoescape=True)
_TEXT_ENV: Final = _environment(autoescape=False)


def normalise_subject(subject: str) -> str:
    """Make a subject template a single line of plain text.

    Args:
        subject: The subject as entered.

    Returns:
        The subject with line breaks replaced by spaces and surrounding whitespace removed.
    """
    return re.sub(r"[\r\n\t\v\f\x85\u2028\u2029]+", " ", subject).strip()


def _placeholders_of(email_type: str) -> dict[str, str]:
    try:
        return PLACEHOLDERS[email_type]
    except KeyError:
        raise TemplateInvalid(f"Unknown email type '{email_type}'. Known types: {', '.join(EMAIL_TYPES)}.") from None


# What a deeply nested template raises while Jinja parses it or Python compiles it: recursion, "too many
# levels of indentation" (IndentationError, a SyntaxError), "too many nested parentheses" (SyntaxError).
_TOO_DEEP = (RecursionError, SyntaxError, MemoryError)
# Levels of the parsed template (tags, expressions, operands); the system templates need 2.
_MAX_NESTING: Final = 40


def _check_source(part: str, source: str, allowed: Mapping[str, str]) -> None:
    """Parse one template source and refuse syntax errors, unknown placeholders and unsafe constructs."""
    try:
        tree = _HTML_ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateInvalid(f"{part}, line {exc.lineno}: syntax error: {_sentence(exc)}") from None
    except _TOO_DEEP:
        raise TemplateInvalid(f"{part}: the template is nested too deeply.") from None
    # The allowlist walk comes first: find_undeclared_variables compiles the tree and would trip over an
    # unknown filter with a less helpful message.
    stack: list[tuple[nodes.Node, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_NESTING:  # compiling deep trees costs time growing far faster than their size
            raise TemplateInvalid(f"{part}: the template is nested too deeply.")
        _check_node(part, node)
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    try:
        unknown = sorted(find_undeclared_variables(tree) - allowed.keys())
    except _TOO_DEEP:  # Jinja compiles to Python, whose parser has its own depth limits
        raise TemplateInvalid(f"{part}: the template is nested too deeply.") from None
    if unknown:
        raise TemplateInvalid(
            f"{part}: unknown placeholder{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}. "
            f"Available placeholders: {', '.join(allowed)}."
        )


def _sentence(exc: TemplateSyntaxError) -> str:
    return (exc.message or "invalid template").rstrip(".") + "."


def _check_node(part: str, node: nodes.Node) -> None:
    where = f"{part}, line {node.lineno}" if node.lineno else part
    if isinstance(node, nodes.Name):
        if node.ctx != "load":
            raise TemplateInvalid(f"{where}: assigning to '{node.name}' is not allowed in email templates.")
        return
    if isinstance(node, nodes.Filter):
        if node.name not in ALLOWED_FILTERS:
            raise TemplateInvalid(
                f"{where}: the filter '{node.name}' is not allowed. "
                f"Allowed filters: {', '.join(sorted(ALLOWED_FILTERS))}."
            )
        if (
            node.kwargs
            or node.dyn_args
            or node.dyn_kwargs
            or not all(isinstance(arg, nodes.Const) for arg in node.args)
        ):
            raise TemplateInvalid(f"{where}: filter arguments must be plain text or numbers.")
        return
    if isinstance(node, _ALLOWED_NODES):
        return
    label = _NODE_LABELS.get(type(node), f"'{type(node).__name__}' expressions")
    raise TemplateInvalid(
        f"{where}: {label} cannot be used in email templates. "
        "Use placeholders such as {{ user_name }}, {% if ... %} blocks and simple text filters."
    )


class _PlacementScanner(HTMLParser):
    """Finds protected template tags in places the sanitiser would keep but should not, or would move.

    HTML parsing moves text that sits between table rows out of the table ("foster parenting"), which would
    tear ``{% if %}`` blocks apart; and a placeholder in a ``style`` attribute would let a value inject CSS.
    """

    def __init__(self, token: re.Pattern[str]) -> None:
        super().__init__(convert_charrefs=True)
        self._token = token
        self._tables: list[str] = []
        self.problem: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if any(name == "style" and value and self._token.search(value) for name, value in attrs):
            self.problem = "Body: placeholders cannot be used inside a style attribute."
        if tag in _TABLE_TAGS:
            self._tables.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._tables:
            while self._tables and self._tables.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._tables and self._tables[-1] not in {"td", "th", "caption"} and self._token.search(data):
            self.problem = "Body: template tags inside a table must be placed within a cell (<td>)."


_TABLE_TAGS: Final = frozenset({"table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption"})
_JINJA_CHUNK: Final = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def sanitise_body(body: str) -> str:
    """Sanitise a body's HTML while keeping its template tags exactly as written.

    Template tags are swapped for inert tokens before nh3 sees the HTML (so braces in ``href`` are neither
    URL-encoded nor dropped) and put back afterwards. A tag the sanitiser would drop or move is refused.

    Args:
        body: The body template as entered.

    Returns:
        The sanitised body template.

    Raises:
        TemplateInvalid: A template tag sits where HTML cannot keep it (inside ``<script>``, a style or tag
            name, or between table rows).
    """
    marker = "kmstpl" + secrets.token_hex(6)
    chunks: list[str] = []

    def protect(match: re.Match[str]) -> str:
        chunks.append(match.group(0))
        return f"{marker}x{len(chunks) - 1}x"

    protected = _JINJA_CHUNK.sub(protect, body)
    token = re.compile(rf"{marker}x(\d+)x")
    scanner = _PlacementScanner(token)
    scanner.feed(protected)
    scanner.close()
    if scanner.problem:
        raise TemplateInvalid(scanner.problem)
    cleaned = _STORE_CLEANER.clean(protected)
    seen: list[int] = []

    def restore(match: re.Match[str]) -> str:
        index = int(match.group(1))
        seen.append(index)
        return chunks[index] if index < len(chunks) else ""

    restored = token.sub(restore, cleaned)
    if seen != list(range(len(chunks))):
        missing = [chunks[i] for i in range(len(chunks)) if i not in seen] or chunks
        raise TemplateInvalid(
            f"Body: '{missing[0]}' is in a place the HTML sanitiser removes, such as a <script> block or an "
            "attribute other than a link. Put placeholders in text or in a link's href."
        )
    return restored


def validate_template(email_type: str, subject: str, body: str) -> str:
    """Check a template and return its sanitised body, ready to store.

    Args:
        email_type: One of ``EMAIL_TYPES``; decides which placeholders are available.
        subject: The subject template; line breaks are not kept (see ``normalise_subject``).
        body: The HTML body template.

    Returns:
        The body after HTML sanitising, with its template tags unchanged.

    Raises:
        TemplateInvalid: The type is unknown, a part is too long, has a syntax error, uses an unknown
            placeholder or a construct outside the allowed subset.
    """
    return _compile(email_type, subject, body).body_source


@dataclass(frozen=True, slots=True)
class _Compiled:
    body_source: str
    subject: Template
    body: Template


@functools.lru_cache(maxsize=128)
def _compile(email_type: str, subject: str, body: str) -> _Compiled:
    """Validate, sanitise and compile a template; cached because the outbox renders the same ones often."""
    allowed = _placeholders_of(email_type)
    subject = normalise_subject(subject)
    if not subject:
        raise TemplateInvalid("Subject: please enter a subject.")
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise TemplateInvalid(f"Subject: at most {MAX_SUBJECT_LENGTH} characters are allowed.")
    if len(body) > MAX_BODY_LENGTH:
        raise TemplateInvalid(f"Body: at most {MAX_BODY_LENGTH} characters are allowed.")
    # A subject stays in the outbox after the mail is sent; the single-use link goes in the body only.
    _check_source("Subject", subject, {k: v for k, v in allowed.items() if k != "action_link"})
    _check_source("Body", body, allowed)
    cleaned = sanitise_body(body)
    _check_source("Body", cleaned, allowed)
    try:
        return _Compiled(cleaned, _TEXT_ENV.from_string(subject), _HTML_ENV.from_string(cleaned))
    except TemplateSyntaxError as exc:
        raise TemplateInvalid(f"Line {exc.lineno}: {_sentence(exc)}") from None
    except _TOO_DEEP:
        raise TemplateInvalid("The template is nested too deeply.") from None


def render(
    email_type: str,
    subject: str,
    body: str,
    values: Mapping[str, str],
    *,
    language: str = DEFAULT_LANGUAGE,
) -> RenderedEmail:
    """Render a template with placeholder values into a complete email.

    Args:
        email_type: One of ``EMAIL_TYPES``.
        subject: The subject template.
        body: The HTML body template; it is validated and sanitised again here.
        values: Placeholder values; they are autoescaped in the HTML. Keys that are not placeholders of the
            type are ignored.
        language: Language code for the document's ``lang`` attribute.

    Returns:
        The one-line subject, the full HTML document and the plain-text part.

    Raises:
        TemplateInvalid: The template is invalid or uses a placeholder that has no value.
    """
    compiled = _compile(email_type, subject, body)
    context = {name: str(values[name]) for name in PLACEHOLDERS[email_type] if name in values}
    try:
        subject_text = compiled.subject.render(context)
        fragment = compiled.body.render(context)
    except UndefinedError as exc:
        raise TemplateInvalid(f"A placeholder has no value: {exc.message}.") from None
    except SecurityError as exc:  # unreachable after validation; kept as a second line of defence
        raise TemplateInvalid(f"Unsafe template: {exc}.") from None
    fragment = _SEND_CLEANER.clean(fragment)
    subject_text = _fitted(" ".join(subject_text.split()))
    return RenderedEmail(
        subject=subject_text,
        html=wrap_document(fragment, title=subject_text, language=language),
        text=html_to_text(fragment),
    )


def _fitted(subject: str) -> str:
    """A rendered subject cut to MAX_SUBJECT_LENGTH: the template has that limit, but its values (a name of
    200 characters, a link) can make the subject longer, and the mail must still go out."""
    if len(subject) <= MAX_SUBJECT_LENGTH:
        return subject
    cut = subject[: MAX_SUBJECT_LENGTH - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > MAX_SUBJECT_LENGTH // 2 else cut).rstrip() + "…"


def preview(email_type: str, subject: str, body: str, *, language: str = DEFAULT_LANGUAGE) -> RenderedEmail:
    """Render a template with ``SAMPLE_VALUES`` for the type.

    Args:
        email_type: One of ``EMAIL_TYPES``.
        subject: The subject template.
        body: The HTML body template.
        language: Language code for the document's ``lang`` attribute.

    Returns:
        The rendered email.

    Raises:
        TemplateInvalid: The template is invalid.
    """
    _placeholders_of(email_type)
    return render(email_type, subject, body, SAMPLE_VALUES[email_type], language=language)


_DOCUMENT: Final = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
</head>
<body style="margin:0;padding:0;background-color:#f4f5f7;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" \
style="background-color:#f4f5f7;">
<tr><td align="center" style="padding:24px 12px;">
<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" \
style="width:100%;max-width:600px;background-color:#ffffff;border:1px solid #e3e6ea;border-radius:6px;">
<tr><td style="padding:32px;font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;\
color:#1f2933;text-align:left;">
{body}
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
"""


def wrap_document(fragment: str, *, title: str, language: str = DEFAULT_LANGUAGE) -> str:
    """Wrap a sanitised body fragment in a minimal HTML document that email clients display well.

    Args:
        fragment: Sanitised HTML body.
        title: Document title, normally the subject; it is escaped.
        language: Language code; unknown codes fall back to English.

    Returns:
        The complete HTML document, styled with inline styles only.
    """
    lang = language.upper() if language.upper() in LANGUAGES else DEFAULT_LANGUAGE
    return _DOCUMENT.format(lang=lang.lower(), title=html.escape(title), body=fragment)


_BLOCK_TAGS: Final = frozenset(
    {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "table", "pre", "hr"}
)
_SKIPPED_TAGS: Final = frozenset({"script", "style", "head", "title"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._links: list[tuple[str | None, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")
        elif tag in {"br", "tr"}:
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in {"td", "th"}:
            self.parts.append(" ")
        elif tag == "a":
            self._links.append((dict(attrs).get("href"), len(self.parts)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in _SKIPPED_TAGS:
            self._skip -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            self._append_link(href, "".join(self.parts[start:]).strip())

    def _append_link(self, href: str | None, label: str) -> None:
        if not href:
            return
        shown = href.removeprefix("mailto:")
        if not label:
            self.parts.append(shown)
        elif label != shown:
            self.parts.append(f" ({href if href.startswith('http') else shown})")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(fragment: str) -> str:
    """Derive the plain-text part of an email from its HTML.

    Block elements become line breaks, list items get a dash, links are written as "text (url)", entities
    are unescaped and whitespace is collapsed.

    Args:
        fragment: HTML, normally the rendered and sanitised body.

    Returns:
        Plain text with at most one blank line between paragraphs.
    """
    extractor = _TextExtractor()
    extractor.feed(fragment)
    extractor.close()
    lines = [" ".join(line.split()) for line in "".join(extractor.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


_SYSTEM_TEMPLATES_FILE: Final = Path(__file__).with_name("system_templates.json")


def _load_system_templates(path: Path = _SYSTEM_TEMPLATES_FILE) -> list[SystemTemplate]:
    """Read the shipped templates; a body may be stored as a list of lines for readability."""
    raw: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["templates"]
    templates: list[SystemTemplate] = []
    for item in raw:
        body = item["body"]
        templates.append(
            SystemTemplate(
                type=item["type"],
                language=item["language"],
                name=item["name"],
                subject=item["subject"],
                body="\n".join(body) if isinstance(body, list) else body,
            )
        )
    keys = {(t.type, t.language) for t in templates}
    expected = {(t, lang) for t in EMAIL_TYPES for lang in LANGUAGES}
    if keys != expected or len(templates) != len(expected):
        raise RuntimeError(f"{path.name} must hold exactly one template per email type and language")
    return templates


SYSTEM_TEMPLATES: Final[list[SystemTemplate]] = _load_system_templates()
_SYSTEM_BY_KEY: Final[dict[tuple[str, str], SystemTemplate]] = {(t.type, t.language): t for t in SYSTEM_TEMPLATES}


def system_template(email_type: str, language: str) -> SystemTemplate:
    """Return the system template for a type and language, falling back to English.

    Args:
        email_type: One of ``EMAIL_TYPES``.
        language: A language code such as ``"DE"`` (case-insensitive).

    Returns:
        The matching system template, or the English one for an unsupported language.

    Raises:
        TemplateInvalid: The email type is unknown.
    """
    _placeholders_of(email_type)
    key = (email_type, language.upper())
    return _SYSTEM_BY_KEY.get(key) or _SYSTEM_BY_KEY[(email_type, DEFAULT_LANGUAGE)]


__all__ = [
    "ALLOWED_FILTERS",
    "EMAIL_TYPES",
    "LANGUAGES",
    "PLACEHOLDERS",
    "SAMPLE_VALUES",
    "SYSTEM_TEMPLATES",
    "RenderedEmail",
    "SystemTemplate",
    "TemplateInvalid",
    "html_to_text",
    "normalise_subject",
    "preview",
    "render",
    "sanitise_body",
    "system_template",
    "validate_template",
    "wrap_document",
]
