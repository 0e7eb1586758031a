"""A lead's status: its ledger row's status carried forward by what came back after sending.

The ledger row says whether the message went (sent, failed, opted out, ...); the provider's
callbacks and the recipient add when it was delivered, read and replied to. Each of those
times is set once and never cleared, so the status derived here only moves forward:
sent → delivered → read → replied, and a reply outranks everything else.
"""

from sqlalchemy import ColumnElement, and_, or_

from db.enums import DeliveryStatus, LeadStatus
from db.models import Delivery

_UNSENT = {
    DeliveryStatus.PENDING: LeadStatus.PENDING,
    DeliveryStatus.SENDING: LeadStatus.PENDING,
    DeliveryStatus.CANCELLED: LeadStatus.CANCELLED,
    DeliveryStatus.OPTED_OUT: LeadStatus.OPTED_OUT,
}


def lead_status(row: Delivery) -> LeadStatus:
    """The status of the lead that `row` is."""
    if row.status in _UNSENT:
        return _UNSENT[row.status]
    if row.replied_at is not None:
        return LeadStatus.REPLIED
    if row.status is DeliveryStatus.FAILED:
        return LeadStatus.NOT_RECEIVED
    if row.read_at is not None:
        return LeadStatus.READ
    if row.delivered_at is not None:
        return LeadStatus.DELIVERED
    return LeadStatus.SENT


def _sent_and(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    return and_(Delivery.status == DeliveryStatus.SENT, Delivery.replied_at.is_(None), *conditions)


def lead_status_is(status: LeadStatus) -> ColumnElement[bool]:
    """The condition on `deliveries` that `lead_status` gives `status` for (a filter)."""
    match status:
        case LeadStatus.PENDING:
            return Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING])
        case LeadStatus.CANCELLED:
            return Delivery.status == DeliveryStatus.CANCELLED
        case LeadStatus.OPTED_OUT:
            return Delivery.status == DeliveryStatus.OPTED_OUT
        case LeadStatus.REPLIED:
            return and_(
                Delivery.status.in_([DeliveryStatus.SENT, DeliveryStatus.FAILED]),
                Delivery.replied_at.is_not(None),
            )
        case LeadStatus.NOT_RECEIVED:
            return and_(Delivery.status == DeliveryStatus.FAILED, Delivery.replied_at.is_(None))
        case LeadStatus.READ:
            return _sent_and(Delivery.read_at.is_not(None))
        case LeadStatus.DELIVERED:
            return _sent_and(Delivery.read_at.is_(None), Delivery.delivered_at.is_not(None))
        case LeadStatus.SENT:
            return _sent_and(Delivery.read_at.is_(None), Delivery.delivered_at.is_(None))


def lead_status_in(statuses: set[LeadStatus]) -> ColumnElement[bool]:
    return or_(*(lead_status_is(s) for s in sorted(statuses)))
