"""R5 default mapping and R6 custom mappings: a raw Graph user becomes a card."""

from __future__ import annotations

import pytest

from services.reconciler.fields import created, fingerprint
from services.reconciler.mapping import SkipUser, map_user
from services.reconciler.model import LinkValue, MappedCard
from shared.config import SyncConfig

CONFIG = SyncConfig()
JOHN = {
    "displayName": " John Smith ",
    "givenName": "John",
    "surname": "Smith",
    "mail": "john.smith@contoso.com",
    "userPrincipalName": "jsmith@contoso.com",
    "jobTitle": "VP of Sales",
    "companyName": "Contoso",
    "mobilePhone": "+1 425 555 0101",
    "businessPhones": ["+1 425 555 0100"],
    "streetAddress": "1 Main St",
    "city": "Redmond",
    "state": "WA",
    "postalCode": "98052",
    "country": "US",
}


def card(config: SyncConfig = CONFIG, **props):
    return map_user({k: v for k, v in {**JOHN, **props}.items() if v is not None}, config, "id-1")


def test_r5_default_fields():
    c = card()
    assert c.fields == {
        "name": "John Smith",
        "email": "john.smith@contoso.com",
        "job_title": "VP of Sales",
        "company": "Contoso",
        "phone": "+1 425 555 0101",
        "location": "1 Main St, Redmond, WA, 98052, US",
    }
    assert c.login_email == "jsmith@contoso.com" and c.directory_id == "id-1"


def test_r5_name_falls_back_to_given_and_surname_then_upn():
    assert card(displayName="  ").fields["name"] == "John Smith"
    assert card(displayName=None, givenName=None).fields["name"] == "Smith"
    assert card(displayName=None, givenName=None, surname=None).fields["name"] == "jsmith"


def test_r5_email_falls_back_to_upn():
    assert card(mail=None).fields["email"] == "jsmith@contoso.com"
    assert card(mail="").fields["email"] == "jsmith@contoso.com"


def test_r5_phone_falls_back_to_first_business_phone():
    assert card(mobilePhone=None).fields["phone"] == "+1 425 555 0100"
    assert card(mobilePhone=None, businessPhones=[]).fields["phone"] is None


def test_r5_location_skips_blanks():
    assert card(streetAddress=" ", state=None).fields["location"] == "Redmond, 98052, US"
    assert (
        card(**dict.fromkeys(("streetAddress", "city", "state", "postalCode", "country"))).fields["location"]
        is None
    )


def test_r5_values_trimmed_blank_is_none():
    assert card(jobTitle="   ").fields["job_title"] is None
    assert card(companyName=" Contoso ").fields["company"] == "Contoso"


def test_bad_record_without_id_or_email_is_skipped():
    with pytest.raises(SkipUser, match="object id"):
        map_user(JOHN, CONFIG, "")
    with pytest.raises(SkipUser, match="usable email"):
        card(mail=None, userPrincipalName=None)
    with pytest.raises(SkipUser, match="usable email"):
        card(mail="not an email")


def test_disabled_user_is_marked():
    assert card(accountEnabled=False).enabled is False
    assert card().enabled is True


def test_r6_custom_mappings_nested_extension_fallback_and_link():
    config = SyncConfig(
        custom_mappings=[
            {"source": "department", "target": {"kind": "field", "name": "Department"}},
            {
                "source": "onPremisesExtensionAttributes.extensionAttribute3",
                "fallbacks": ["officeLocation"],
                "target": {"kind": "field", "name": "Desk"},
            },
            {
                "source": "extension_0123456789abcdef0123456789abcdef_calendar",
                "target": {"kind": "link", "type": "url", "label": "Calendar"},
            },
            {"source": "employeeId", "target": {"kind": "field", "name": "Badge"}},
        ]
    )
    c = card(
        config,
        department=" Sales ",
        officeLocation="B12",
        onPremisesExtensionAttributes={"extensionAttribute3": None},
        extension_0123456789abcdef0123456789abcdef_calendar="https://cal/john",
        employeeId=42,
    )
    assert c.custom == {"Department": "Sales", "Desk": "B12", "Badge": "42"}
    assert c.links == {"mapping:Calendar": LinkValue("url", "Calendar", "https://cal/john")}
    nested = card(config, onPremisesExtensionAttributes={"extensionAttribute3": "A7"})
    assert nested.custom["Desk"] == "A7" and nested.custom["Department"] is None
    assert nested.links == {"mapping:Calendar": None}


def test_card_json_round_trip():
    c = card(
        SyncConfig(
            custom_mappings=[
                {"source": "department", "target": {"kind": "link", "type": "text", "label": "Dept"}}
            ]
        ),
        department="Sales",
    )
    assert MappedCard.from_json(c.to_json()) == c


def test_r6_a_link_value_with_another_scheme_is_refused_the_rest_of_the_card_maps():
    config = SyncConfig(
        custom_mappings=[
            {"source": "department", "target": {"kind": "link", "type": "url", "label": "Site"}},
            {
                "source": "officeLocation",
                "fallbacks": ["employeeId"],
                "target": {"kind": "link", "type": "linkedin", "label": "LinkedIn"},
            },
        ]
    )
    c = card(config, department="JavaScript:alert(1)", officeLocation="linkedin.com/in/jsmith")
    assert c.links == {
        "mapping:Site": None,
        "mapping:LinkedIn": LinkValue("linkedin", "LinkedIn", "linkedin.com/in/jsmith"),
    }
    assert list(c.refused) == ["mapping:Site"] and "javascript: link" in c.refused["mapping:Site"]
    assert c.fields["job_title"] == "VP of Sales"
    assert fingerprint(c, config) is None  # never counted unchanged unseen: the run reports it
    assert MappedCard.from_json(c.to_json()) == c
    fallback = card(config, officeLocation=None, employeeId="file:///c:/x")
    assert fallback.refused["mapping:LinkedIn"].endswith(
        "correct officeLocation or employeeId in the directory"
    )
    # The email and phone links are mailto: and tel: links whatever the directory holds.
    hostile = card(mail="javascript:alert(1)@contoso.com", mobilePhone="javascript:alert(1)")
    assert hostile.refused == {}
    assert {s: link.value for s, link in created(hostile, CONFIG)[2].items()} == {
        "email": "mailto:javascript:alert(1)@contoso.com",
        "phone": "tel:javascript:alert(1)",
    }
