"""What each service needs from its settings before it starts, the run timeout, and what the demo decides."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from services.demo import DEMO_AMQP_PREFIX, demo_overrides
from shared.settings import Settings

KEY = "k" * 32
TOKEN = "t" * 32


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


@pytest.fixture(autouse=True)
def no_cardsync_environment(monkeypatch):
    for name in [n for n in os.environ if n.startswith("CARDSYNC_")]:
        monkeypatch.delenv(name)


def test_the_scheduler_needs_the_token_and_the_key():
    problems = settings().startup_problems(["scheduler"])
    assert [p.split(" ", 1)[0] for p in problems] == ["CARDSYNC_OPERATOR_TOKEN", "CARDSYNC_SECRET_KEYS"]
    assert settings(operator_token=TOKEN, secret_key=KEY).startup_problems(["scheduler"]) == []


def test_blank_values_count_as_unset_and_a_short_key_is_refused():
    blank = settings(operator_token="  ", secret_key="\t").startup_problems(["scheduler"])
    assert len(blank) == 2 and all("is not set" in p for p in blank)
    (short,) = settings(secret_key="x" * 15).startup_problems(["fetcher"])
    assert "15 characters" in short and "at least 16" in short
    assert settings(secret_key="x" * 16).startup_problems(["fetcher"]) == []


def test_the_key_list_is_read_newest_first_and_the_single_key_is_a_list_of_one(monkeypatch):
    assert settings().secret_keys() == []
    assert settings(secret_key=f" {KEY} ").secret_keys() == [KEY]
    monkeypatch.setenv("CARDSYNC_SECRET_KEYS", f" {KEY}-new , ,{KEY}-old,")
    assert settings().secret_keys() == [f"{KEY}-new", f"{KEY}-old"]
    assert settings().startup_problems(["fetcher"]) == []


def test_both_key_settings_at_once_are_refused(monkeypatch):
    monkeypatch.setenv("CARDSYNC_SECRET_KEYS", f"{KEY}-new,{KEY}")
    monkeypatch.setenv("CARDSYNC_SECRET_KEY", KEY)
    (both,) = settings().startup_problems(["scheduler", "fetcher"])[1:]
    assert "both set" in both and "keep only CARDSYNC_SECRET_KEYS" in both and KEY not in both


def test_a_short_key_in_the_list_is_named_by_its_place_not_its_value():
    (short,) = settings(secret_key_ring=f"{KEY},hunter2,{KEY}").startup_problems(["fetcher"])
    assert short.startswith("key 2 of 3 in CARDSYNC_SECRET_KEYS has 7 characters") and "hunter2" not in short


def test_a_short_operator_token_is_refused_without_being_shown():
    (short,) = settings(operator_token=" hunter2 ", secret_key=KEY).startup_problems(["scheduler"])
    assert short.startswith("CARDSYNC_OPERATOR_TOKEN has 7 characters") and "at least 32" in short
    assert "hunter2" not in short
    assert settings(operator_token="t" * 31, secret_key=KEY).startup_problems(["scheduler"]) != []
    (workers,) = settings(operator_token="t" * 31).startup_problems(["fetcher", "reconciler"])
    assert "OPERATOR_TOKEN" not in workers


def test_smtp_tls_is_chosen_explicitly_by_the_old_flag_or_by_a_username(monkeypatch):
    assert settings().smtp_security() == "none"
    assert settings(smtp_username="cards").smtp_security() == "starttls"
    assert settings(smtp_starttls=True).smtp_security() == "starttls"
    monkeypatch.setenv("CARDSYNC_SMTP_TLS", " TLS ")
    assert settings(smtp_starttls=True).smtp_security() == "tls"  # CARDSYNC_SMTP_TLS wins over the old flag
    monkeypatch.setenv("CARDSYNC_SMTP_TLS", "")
    assert settings(smtp_username="cards").smtp_security() == "starttls"
    monkeypatch.setenv("CARDSYNC_SMTP_TLS", "ssl")
    with pytest.raises(ValidationError):
        settings()


def test_the_notifier_refuses_to_log_in_over_a_plain_connection():
    (plain,) = settings(smtp_username="cards", smtp_tls="none").startup_problems(["notifier"])
    assert "CARDSYNC_SMTP_TLS is none" in plain and "CARDSYNC_SMTP_TLS=starttls" in plain
    assert settings(smtp_username="cards", smtp_tls="none").startup_problems(["reconciler"]) == []
    assert settings(smtp_username="cards").startup_problems(["notifier"]) == []
    assert settings(smtp_tls="none").startup_problems(["notifier"]) == []


def test_each_service_is_held_to_its_own_needs():
    bare = settings()
    assert len(bare.startup_problems(["fetcher"])) == 1
    assert bare.startup_problems(["reconciler", "notifier"]) == []
    assert len(bare.startup_problems(["scheduler", "fetcher", "reconciler", "notifier"])) == 2


def test_run_timeout_defaults_to_two_hours_and_must_be_positive(monkeypatch):
    assert settings().run_timeout == 7200
    monkeypatch.setenv("CARDSYNC_RUN_TIMEOUT", "900")
    assert settings().run_timeout == 900
    monkeypatch.setenv("CARDSYNC_RUN_TIMEOUT", "0")
    with pytest.raises(ValidationError):
        settings()


def test_the_demo_keeps_its_own_prefix_unless_one_is_set(monkeypatch):
    assert demo_overrides(settings())["amqp_prefix"] == DEMO_AMQP_PREFIX
    monkeypatch.setenv("CARDSYNC_AMQP_PREFIX", "cardsync")
    assert demo_overrides(settings())["amqp_prefix"] == "cardsync"
    monkeypatch.setenv("CARDSYNC_AMQP_PREFIX", "shop-demo")
    assert demo_overrides(settings())["amqp_prefix"] == "shop-demo"


def test_the_demo_makes_the_secrets_it_is_not_given_and_they_pass_the_checks():
    made = settings().model_copy(update=demo_overrides(settings()))
    assert made.startup_problems(["scheduler", "fetcher"]) == []
    assert len(made.operator_token.get_secret_value()) >= 32
    given = demo_overrides(settings(operator_token=TOKEN, secret_key=KEY))
    assert given["operator_token"].get_secret_value() == TOKEN
    assert "secret_key" not in given
    listed = settings(secret_key_ring=f"{KEY},{KEY}")
    assert listed.model_copy(update=demo_overrides(listed)).startup_problems(["fetcher"]) == []
