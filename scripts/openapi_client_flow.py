"""One flow through a client generated from the served OpenAPI document.

Usage: openapi_client_flow.py <generated package dir> <base url>

An organizer creates and publishes an event, a user books a seat, and the same user's second
booking is refused with a typed 409 Problem. Every answer must parse into the model the document
names for its status; anything else fails the check.
"""

import datetime
import sys
import uuid


def main() -> int:
    package_dir, base_url = sys.argv[1], sys.argv[2]
    sys.path.insert(0, package_dir)
    from event_client import Client
    from event_client.api.bookings import create_booking
    from event_client.api.events import create_event, publish_event
    from event_client.models import (
        BookingResponse,
        CreateBookingRequest,
        CreateEventRequest,
        EventResponse,
        Problem,
    )

    def client(role: str) -> Client:
        headers = {"X-User-Id": str(uuid.uuid4()), "X-User-Role": role}
        return Client(base_url=base_url, headers=headers, raise_on_unexpected_status=True)

    organizer, user = client("ORGANIZER"), client("USER")
    start = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)

    created = create_event.sync_detailed(
        client=organizer,
        body=CreateEventRequest(
            name="Generated-client check",
            start_date=start,
            max_participants=10,
            price="1500.00",
        ),
    )
    check(created.status_code == 201, f"create event: {created.status_code} {created.content!r}")
    check(isinstance(created.parsed, EventResponse), f"create event: {created.parsed!r}")
    event_id = created.parsed.id

    # No body: the optional body is `required: false`, so the client sends none.
    published = publish_event.sync_detailed(client=organizer, id=event_id)
    check(published.status_code == 200, f"publish: {published.status_code} {published.content!r}")
    check(isinstance(published.parsed, EventResponse), f"publish: {published.parsed!r}")
    check(published.parsed.status == "PUBLISHED", f"publish: status {published.parsed.status}")

    booking = CreateBookingRequest(event_id=event_id, quantity=1)
    first = create_booking.sync_detailed(client=user, body=booking)
    check(first.status_code == 201, f"book: {first.status_code} {first.content!r}")
    check(isinstance(first.parsed, BookingResponse), f"book: {first.parsed!r}")

    second = create_booking.sync_detailed(client=user, body=booking)
    check(second.status_code == 409, f"second booking: {second.status_code} {second.content!r}")
    check(isinstance(second.parsed, Problem), f"second booking: {second.parsed!r}")
    check(second.parsed.status == 409, f"second booking: problem {second.parsed!r}")
    check(second.parsed.code == "ALREADY_BOOKED", f"second booking: code {second.parsed.code}")

    print(
        f"generated client: event {event_id} created and published, booking "
        f"{first.parsed.id} placed, second booking refused with 409 {second.parsed.code}"
    )
    return 0


def check(ok: bool, what: str) -> None:
    if not ok:
        raise SystemExit(f"openapi client check failed: {what}")


if __name__ == "__main__":
    sys.exit(main())
