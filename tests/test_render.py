"""Per-contact rendering: fields, escaping, utm tagging, the sandbox."""

import pytest
from jinja2.exceptions import SecurityError

from jobs.channels.email.render import CampaignTemplate, Rendered, contact_context

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent

UNSUBSCRIBE = "https://clarion.test/unsubscribe/"


def contact(**fields: str) -> dict[str, str]:
    """A contact's template fields, as db.usecases.ledger.recipients gives them."""
    return {
        "email": "ann@example.test",
        "first_name": "Ann",
        "last_name": "Lee",
        "phone": "",
        "whatsapp": "",
        "country": "GB",
        "source": "purchase",
        **fields,
    }


def render(
    html: str = "", subject: str = "s", text: str = "", utm: str = "spring", **who: str
) -> Rendered:
    template = CampaignTemplate(subject, html, text, utm, UNSUBSCRIBE)
    return template.render(contact_context(contact(**who), UNSUBSCRIBE + "7.mac"))


def test_contact_fields_flat_and_nested() -> None:
    out = render(
        "<p>{{ first_name }} {{ contact.last_name }} {{ country }} {{ source }}</p>",
        subject="Hi {{ first_name }}",
        text="{{ email }}",
    )
    assert (out.subject, out.html, out.text) == (
        "Hi Ann",
        "<p>Ann Lee GB purchase</p>",
        "ann@example.test",
    )


def test_html_is_escaped_subject_and_text_are_not() -> None:
    out = render(
        "<p>{{ first_name }}</p>",
        subject="{{ first_name }}",
        text="{{ first_name }}",
        first_name="<b>&",
    )
    assert out.html == "<p>&lt;b&gt;&amp;</p>"
    assert out.subject == out.text == "<b>&"


def test_subject_is_one_line() -> None:
    assert render(subject="Hello\n  {{ first_name }}\r\n!").subject == "Hello Ann !"


@pytest.mark.parametrize(
    ("link", "tagged"),
    [
        (
            "https://shop.test/sale",
            "https://shop.test/sale?utm_source=clarion&amp;utm_medium=email&amp;utm_campaign=spring",
        ),
        (
            "https://shop.test/p?id=1&amp;x=2#top",
            "https://shop.test/p?id=1&amp;x=2&amp;utm_source=clarion&amp;utm_medium=email"
            "&amp;utm_campaign=spring#top",
        ),
        (  # the link's own campaign wins
            "http://shop.test/?utm_campaign=own",
            "http://shop.test/?utm_campaign=own&amp;utm_source=clarion&amp;utm_medium=email",
        ),
        ("mailto:help@acme.test", "mailto:help@acme.test"),
        (UNSUBSCRIBE + "7.mac", UNSUBSCRIBE + "7.mac"),
    ],
)
def test_links_get_utm_parameters(link: str, tagged: str) -> None:
    assert render(f'<a href="{link}">x</a>').html == f'<a href="{tagged}">x</a>'


def test_no_utm_code_leaves_links_alone() -> None:
    html = '<a href="https://shop.test/sale">x</a>'
    assert render(html, utm="").html == html


def test_unsubscribe_link_renders() -> None:
    assert (
        render('<a href="{{ unsubscribe_link }}">u</a>').html
        == f'<a href="{UNSUBSCRIBE}7.mac">u</a>'
    )


def test_the_sandbox_refuses_unsafe_access() -> None:
    with pytest.raises(SecurityError):
        render("{{ first_name.__class__.__mro__[1].__subclasses__() }}")
