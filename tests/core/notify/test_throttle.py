"""Per-contact throttles under a controlled clock, through `send` to a local Twilio-compatible
server, and racing threads that share the count through the database."""

import threading

import pytest
from django.db import connection

from alertum.core.models import ContactThrottle
from alertum.core.notify import KINDS, Message, send
from alertum.core.notify.throttle import acquire

pytestmark = pytest.mark.django_db

PHONE = "+31612345678"


@pytest.fixture
def sms_limit(settings):
    settings.NOTIFY_THROTTLES = {"sms": (3, 600), "voice": (1, 600)}


def test_the_fourth_sms_in_ten_minutes_is_throttled_and_passes_after_the_window(clock, twilio, sms_limit):
    message = Message(title="Checkout errors", reference="INC-1")
    for _ in range(3):
        assert send("sms", PHONE, message).delivered
        clock.shift(60)

    throttled = send("sms", PHONE, message)
    assert not throttled.delivered and not throttled.permanent and throttled.throttled
    assert throttled.status == "throttled"
    assert throttled.retry_after == 420  # the first send leaves the window 10 minutes after it went
    assert "too many sms notifications" in throttled.error
    assert len(twilio.requests) == 3  # the throttled one never reached the provider

    clock.shift(420)
    assert send("sms", PHONE, message).delivered
    assert len(twilio.requests) == 4


def test_the_window_slides_instead_of_resetting(clock, sms_limit):
    assert acquire("sms", PHONE) is None  # 09:00
    clock.shift(300)
    assert acquire("sms", PHONE) is None  # 09:05
    clock.shift(100)
    assert acquire("sms", PHONE) is None  # 09:06:40
    clock.shift(100)
    assert acquire("sms", PHONE) == 100  # 09:08:20, waits for 09:10
    clock.shift(101)
    assert acquire("sms", PHONE) is None  # 09:10:01, the 09:00 send has left the window
    clock.shift(1)
    assert acquire("sms", PHONE) == 298  # 09:10:02, full again until the 09:05 send leaves at 09:15


def test_throttles_are_per_contact_and_per_kind(clock, sms_limit):
    for _ in range(3):
        assert acquire("sms", PHONE) is None
    assert acquire("sms", PHONE) is not None
    assert acquire("sms", "+31 6 1234 5678") is not None  # the same phone, written with spaces
    assert acquire("sms", "+31687654321") is None
    assert acquire("voice", PHONE) is None
    assert acquire("voice", PHONE) == 600


def test_kinds_without_a_throttle_are_never_counted(clock, sms_limit):
    for _ in range(10):
        assert acquire("slack", "https://hooks.slack.com/services/T/B/X") is None
    assert not ContactThrottle.objects.filter(kind="slack").exists()


def test_send_without_throttle_does_not_count(clock, twilio, sms_limit):
    for _ in range(5):
        assert send("sms", PHONE, Message(title="test notification"), throttle=False).delivered
    assert acquire("sms", PHONE) is None


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown notification kind 'pager'"):
        send("pager", "x", Message(title="t"))
    assert KINDS == ("email", "slack", "teams", "webhook", "sms", "voice")


@pytest.mark.django_db(transaction=True)
def test_racing_workers_share_one_count(settings):
    settings.NOTIFY_THROTTLES = {"sms": (3, 600)}
    outcomes, errors = [], []
    start = threading.Barrier(8)

    def worker():
        try:
            start.wait()
            outcomes.append(acquire("sms", PHONE))
        except Exception as exc:  # collected and asserted below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(1 for wait in outcomes if wait is None) == 3
    assert len(ContactThrottle.objects.get(kind="sms").sent_at) == 3
