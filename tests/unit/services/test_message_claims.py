"""The checks a claim applies to each message of its batch, from what it read at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialer.domain.channels import Channel
from dialer.domain.messages import Message
from dialer.domain.safety import NumberPolicy
from dialer.domain.statuses import MessageStatus
from dialer.services.message_claims import FREQUENCY_RECHECK, ClaimReads

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
TENANT = 1
ADDRESS = "+12125550100"


def sms(message_id: int, to: str = ADDRESS) -> Message:
    return Message(
        id=message_id,
        tenant_id=TENANT,
        campaign_id=message_id,
        lead_id=message_id,
        step=1,
        channel=Channel.SMS,
        to=to,
        sender="12345",
        status=MessageStatus.PENDING,
        due_at=NOW,
        created_at=NOW,
        zone_key="America/New_York",
    )


def reads(max_attempts: int, already_sent: int) -> ClaimReads:
    return ClaimReads(
        campaigns={},
        leads={},
        contacts={},
        tenants={TENANT: {}},
        policies={TENANT: NumberPolicy(max_attempts=max_attempts, window=86400)},
        listed={TENANT: set()},
        opted_out={(TENANT, Channel.SMS): set()},
        sent={(TENANT, Channel.SMS): {ADDRESS: already_sent} if already_sent else {}},
    )


def test_two_messages_of_one_batch_to_one_address_count_as_two() -> None:
    """One a day: of two campaigns' messages to one number claimed together, one goes."""
    batch = reads(max_attempts=1, already_sent=0)
    assert batch.over_frequency_cap(sms(1), NOW) is None
    assert batch.over_frequency_cap(sms(2), NOW) == NOW + timedelta(seconds=FREQUENCY_RECHECK)
    assert batch.over_frequency_cap(sms(3, to="+12125550101"), NOW) is None


def test_messages_sent_before_the_claim_count_too() -> None:
    batch = reads(max_attempts=2, already_sent=1)
    assert batch.over_frequency_cap(sms(1), NOW) is None
    assert batch.over_frequency_cap(sms(2), NOW) is not None
