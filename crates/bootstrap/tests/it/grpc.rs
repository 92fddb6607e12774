//! The gRPC `EventService` end to end: the binary's wiring on a random port, driven by the
//! generated tonic client with the trusted gateway metadata of the test profile, on SQLite and
//! PostgreSQL. Happy path, permission failures, invalid arguments, a concurrent sale,
//! favorites, reviews, crew assignment, health and reflection.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use adapters_grpc::pb;
use adapters_grpc::pb::event_service_client::EventServiceClient;
use futures_util::stream;
use tokio::sync::Barrier;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

use crate::support::{Backend, TestApp, Who, admin, organizer, spawn_app, user};

pub(crate) type Client = EventServiceClient<Channel>;

pub(crate) async fn channel(app: &TestApp) -> Channel {
    Channel::from_shared(format!("http://{}", app.grpc_addr))
        .unwrap()
        .connect()
        .await
        .expect("gRPC server reachable")
}

pub(crate) async fn client(app: &TestApp) -> Client {
    EventServiceClient::new(channel(app).await)
}

/// A request carrying the gateway metadata of `who` (none: anonymous).
pub(crate) fn call<T>(message: T, who: Option<Who>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(w) = who {
        let metadata = request.metadata_mut();
        metadata.insert("x-user-id", w.id.to_string().parse().unwrap());
        metadata.insert("x-user-role", w.role.parse().unwrap());
    }
    request
}

fn error_code(status: &Status) -> &str {
    status
        .metadata()
        .get("x-error-code")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn violations(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

fn days_ahead(app: &TestApp, days: i64) -> prost_types::Timestamp {
    let at = app.clock_now() + chrono::Duration::days(days);
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

fn new_event(app: &TestApp, seats: i32, price: f64) -> pb::CreateEventRequest {
    pb::CreateEventRequest {
        name: "gRPC event".to_owned(),
        description: "Rafting on the river".to_owned(),
        start_date: Some(days_ahead(app, 30)),
        location: "Karelia".to_owned(),
        max_participants: seats,
        price,
        ..pb::CreateEventRequest::default()
    }
}

/// A published event of `organizer(1)`: its id.
async fn published_event(app: &TestApp, grpc: &mut Client, seats: i32) -> i64 {
    let request = pb::CreateEventRequest {
        auto_publish: true,
        ..new_event(app, seats, 1500.0)
    };
    let event = grpc
        .create_event(call(request, Some(organizer(1))))
        .await
        .expect("event created")
        .into_inner();
    assert_eq!(event.status, "PUBLISHED");
    event.id
}

on_both!(booking_happy_path, |app| {
    let mut grpc = client(&app).await;
    let organizer = organizer(1);
    let buyer = user(1);

    let draft = grpc
        .create_event(call(new_event(&app, 10, 1500.5), Some(organizer)))
        .await
        .expect("event created")
        .into_inner();
    assert_eq!(draft.status, "DRAFT");
    assert_eq!(draft.price, 1500.5);
    assert_eq!(draft.creator_id, organizer.id.to_string());

    let published = grpc
        .publish_event(call(
            pb::PublishEventRequest {
                id: draft.id,
                publish_at: None,
            },
            Some(organizer),
        ))
        .await
        .expect("published")
        .into_inner();
    assert_eq!(published.status, "PUBLISHED");

    let booking = grpc
        .create_booking(call(
            pb::CreateBookingRequest {
                event_id: draft.id,
                quantity: 2,
                ..pb::CreateBookingRequest::default()
            },
            Some(buyer),
        ))
        .await
        .expect("booked")
        .into_inner();
    assert_eq!(booking.status, "PENDING_PAYMENT");
    assert_eq!(booking.quantity, 2);
    assert_eq!(booking.total_price, 3001.0);
    assert_eq!(booking.user_id, buyer.id.to_string());

    let payment = grpc
        .initiate_payment(call(
            pb::InitiatePaymentRequest {
                booking_id: booking.id,
                payment_method: "CARD".to_owned(),
                return_url: String::new(),
            },
            Some(buyer),
        ))
        .await
        .expect("payment initiated")
        .into_inner();
    assert_eq!(payment.status, "INITIATED");
    assert_eq!(payment.amount, 3001.0);
    assert!(!payment.payment_url.is_empty());
    assert!(!payment.gateway_reference.is_empty());

    // The customer pays on the sandbox page.
    let (status, paid) = app
        .post(
            &format!("/sandbox/payments/{}", payment.gateway_reference),
            None,
            serde_json::json!({"outcome": "success"}),
        )
        .await;
    assert_eq!(status, 200, "{paid}");

    let confirmed = grpc
        .confirm_payment(call(
            pb::ConfirmPaymentRequest {
                gateway_reference: payment.gateway_reference.clone(),
            },
            Some(buyer),
        ))
        .await
        .expect("payment confirmed")
        .into_inner();
    assert_eq!(confirmed.status, "COMPLETED");
    assert_eq!(confirmed.id, payment.id);

    let booking = grpc
        .get_booking(call(pb::GetBookingRequest { id: booking.id }, Some(buyer)))
        .await
        .expect("booking read")
        .into_inner();
    assert_eq!(booking.status, "CONFIRMED");
    assert!(!booking.ticket_code.is_empty());

    let event = grpc
        .get_event(call(pb::GetEventRequest { id: draft.id }, None))
        .await
        .expect("event read by a guest")
        .into_inner();
    assert_eq!(event.available_seats, 8);

    let mine = grpc
        .list_bookings(call(pb::ListBookingsRequest::default(), Some(buyer)))
        .await
        .expect("bookings listed")
        .into_inner();
    assert_eq!(mine.total_elements, 1);
    assert_eq!(mine.bookings[0].id, booking.id);

    let stats = grpc
        .get_event_stats(call(
            pb::GetEventStatsRequest {
                event_id: draft.id,
                ..pb::GetEventStatsRequest::default()
            },
            Some(organizer),
        ))
        .await
        .expect("stats read")
        .into_inner();
    assert_eq!(stats.confirmed_bookings, 1);
    assert_eq!(stats.total_revenue, 3001.0);
    assert_eq!(stats.bookings_by_day.values().sum::<i32>(), 1);

    let catalog = grpc
        .list_events(call(pb::ListEventsRequest::default(), None))
        .await
        .expect("catalog listed")
        .into_inner();
    assert_eq!(catalog.total_elements, 1);
    assert_eq!(catalog.events[0].id, draft.id);
});

on_both!(update_changes_only_the_given_fields, |app| {
    let mut grpc = client(&app).await;
    let id = published_event(&app, &mut grpc, 10).await;
    let updated = grpc
        .update_event(call(
            pb::UpdateEventRequest {
                id,
                name: Some("Renamed".to_owned()),
                price: Some(1750.25),
                short_description: Some(String::new()),
                ..pb::UpdateEventRequest::default()
            },
            Some(organizer(1)),
        ))
        .await
        .expect("updated")
        .into_inner();
    assert_eq!(updated.name, "Renamed");
    assert_eq!(updated.price, 1750.25);
    assert_eq!(
        updated.description, "Rafting on the river",
        "not given: kept"
    );
    assert_eq!(updated.location, "Karelia");
    assert_eq!(updated.max_participants, 10);

    let nothing = grpc
        .update_event(call(
            pb::UpdateEventRequest {
                id,
                ..Default::default()
            },
            Some(organizer(1)),
        ))
        .await
        .unwrap_err();
    assert_eq!(nothing.code(), Code::InvalidArgument);

    let canceled = grpc
        .cancel_event(call(
            pb::CancelEventRequest {
                id,
                reason: "river too high".to_owned(),
                notify_participants: true,
            },
            Some(organizer(1)),
        ))
        .await
        .expect("canceled")
        .into_inner();
    assert_eq!(canceled.status, "CANCELED");
});

on_both!(permission_failures, |app| {
    let mut grpc = client(&app).await;

    let denied = grpc
        .create_event(call(new_event(&app, 10, 100.0), Some(user(1))))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert_eq!(error_code(&denied), "FORBIDDEN");

    let anonymous = grpc
        .create_event(call(new_event(&app, 10, 100.0), None))
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);

    let id = published_event(&app, &mut grpc, 10).await;
    let booking = grpc
        .create_booking(call(
            pb::CreateBookingRequest {
                event_id: id,
                quantity: 1,
                ..Default::default()
            },
            Some(user(1)),
        ))
        .await
        .expect("booked")
        .into_inner();

    let other = grpc
        .get_booking(call(
            pb::GetBookingRequest { id: booking.id },
            Some(user(2)),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        other.code(),
        Code::NotFound,
        "someone else's booking does not exist"
    );
    let cancel_other = grpc
        .cancel_booking(call(
            pb::CancelBookingRequest {
                id: booking.id,
                reason: String::new(),
            },
            Some(user(2)),
        ))
        .await
        .unwrap_err();
    assert_eq!(cancel_other.code(), Code::NotFound);

    let no_auth = grpc
        .create_booking(call(
            pb::CreateBookingRequest {
                event_id: id,
                quantity: 1,
                ..Default::default()
            },
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(no_auth.code(), Code::Unauthenticated);
    assert_eq!(error_code(&no_auth), "UNAUTHENTICATED");

    // A bearer token while JWT is not configured is refused, not ignored.
    let mut forged = call(pb::GetBookingRequest { id: booking.id }, None);
    forged
        .metadata_mut()
        .insert("authorization", "Bearer a.b.c".parse().unwrap());
    let forged = grpc.get_booking(forged).await.unwrap_err();
    assert_eq!(forged.code(), Code::Unauthenticated);

    let someone_elses_event = grpc
        .update_event(call(
            pb::UpdateEventRequest {
                id,
                name: Some("Mine now".to_owned()),
                ..Default::default()
            },
            Some(organizer(2)),
        ))
        .await
        .unwrap_err();
    assert_eq!(someone_elses_event.code(), Code::NotFound);

    let crew_of_other = grpc
        .assign_crew(call(
            pb::AssignCrewRequest {
                event_id: id,
                crew_id: 1,
            },
            Some(organizer(2)),
        ))
        .await
        .unwrap_err();
    assert_eq!(crew_of_other.code(), Code::NotFound, "{crew_of_other:?}");
});

on_both!(invalid_arguments_write_nothing, |app| {
    let mut grpc = client(&app).await;
    let organizer = Some(organizer(1));

    for (price, why) in [
        (1.005, "three decimals"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "inf"),
        (-5.0, "negative"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e20, "too large"),
    ] {
        let refused = grpc
            .create_event(call(new_event(&app, 10, price), organizer))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{why}: {refused:?}");
        assert_eq!(error_code(&refused), "VALIDATION_FAILED", "{why}");
        assert_eq!(violations(&refused), ["price"], "{why}");
    }

    let bad_nanos = pb::CreateEventRequest {
        start_date: Some(prost_types::Timestamp {
            seconds: days_ahead(&app, 30).seconds,
            nanos: -1,
        }),
        ..new_event(&app, 10, 100.0)
    };
    let refused = grpc
        .create_event(call(bad_nanos, organizer))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(violations(&refused), ["start_date"]);

    let year_10000 = pb::CreateEventRequest {
        end_date: Some(prost_types::Timestamp {
            seconds: 253_402_300_800,
            nanos: 0,
        }),
        ..new_event(&app, 10, 100.0)
    };
    let refused = grpc
        .create_event(call(year_10000, organizer))
        .await
        .unwrap_err();
    assert_eq!(violations(&refused), ["end_date"]);

    let no_start = pb::CreateEventRequest {
        start_date: None,
        ..new_event(&app, 10, 100.0)
    };
    let refused = grpc
        .create_event(call(no_start, organizer))
        .await
        .unwrap_err();
    assert_eq!(violations(&refused), ["start_date"]);

    let bad_option = pb::CreateEventRequest {
        price_options: vec![pb::PriceOption {
            name: "Student".to_owned(),
            price: 99.999,
            is_active: true,
            ..Default::default()
        }],
        ..new_event(&app, 10, 100.0)
    };
    let refused = grpc
        .create_event(call(bad_option, organizer))
        .await
        .unwrap_err();
    assert_eq!(violations(&refused), ["price_options[0].price"]);

    // Nothing above was stored.
    let all = grpc
        .list_events(call(pb::ListEventsRequest::default(), Some(admin())))
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(all.total_elements, 0, "{all:?}");

    let id = published_event(&app, &mut grpc, 10).await;
    let zero = grpc
        .create_booking(call(
            pb::CreateBookingRequest {
                event_id: id,
                quantity: 0,
                ..Default::default()
            },
            Some(user(1)),
        ))
        .await
        .unwrap_err();
    assert_eq!(zero.code(), Code::InvalidArgument, "{zero:?}");
    assert_eq!(violations(&zero), ["quantity"]);

    let bad_filter = grpc
        .list_bookings(call(
            pb::ListBookingsRequest {
                user_id: "not-a-uuid".to_owned(),
                ..Default::default()
            },
            Some(admin()),
        ))
        .await
        .unwrap_err();
    assert_eq!(violations(&bad_filter), ["user_id"]);

    let event = grpc
        .get_event(call(pb::GetEventRequest { id }, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        event.available_seats, 10,
        "no seat taken by a refused booking"
    );
});

/// `users` distinct users book one seat each at the same moment, each over its own
/// connection: exactly `seats` succeed, every other one is FAILED_PRECONDITION / SOLD_OUT.
async fn concurrent_sale(app: TestApp, users: u32, seats: i32) {
    let mut grpc = client(&app).await;
    let id = published_event(&app, &mut grpc, seats).await;
    let barrier = Arc::new(Barrier::new(users as usize + 1));
    let mut tasks = Vec::new();
    for n in 1..=users {
        let mut client = client(&app).await;
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            client
                .create_booking(call(
                    pb::CreateBookingRequest {
                        event_id: id,
                        quantity: 1,
                        ..Default::default()
                    },
                    Some(user(u128::from(n))),
                ))
                .await
                .map(|r| r.into_inner().status)
                .map_err(|s| (s.code(), error_code(&s).to_owned()))
        }));
    }
    barrier.wait().await;
    let mut outcomes: BTreeMap<String, u32> = BTreeMap::new();
    for task in tasks {
        let outcome = match task.await.unwrap() {
            Ok(status) => status,
            Err((code, error)) => format!("{code:?}/{error}"),
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    let sold = u32::try_from(seats).unwrap();
    let expected = BTreeMap::from([
        ("FailedPrecondition/SOLD_OUT".to_owned(), users - sold),
        ("PENDING_PAYMENT".to_owned(), sold),
    ]);
    assert_eq!(outcomes, expected, "on {:?}", app.backend);

    let event = grpc
        .get_event(call(pb::GetEventRequest { id }, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(event.available_seats, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_booking_postgres_200_clients_50_seats() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    concurrent_sale(app, 200, 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_booking_sqlite_40_clients_10_seats() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    concurrent_sale(app, 40, 10).await;
}

on_both!(health_and_reflection, |app| {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let channel = channel(&app).await;
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "org.aquastream.event.EventService"] {
        let answer = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .expect("health answered")
            .into_inner();
        assert_eq!(answer.status(), ServingStatus::Serving, "{service:?}");
    }

    let mut reflection = ServerReflectionClient::new(channel.clone());
    let ask = |request: MessageRequest| {
        stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        }])
    };
    let mut answers = reflection
        .server_reflection_info(ask(MessageRequest::ListServices(String::new())))
        .await
        .expect("reflection answered")
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("not a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "org.aquastream.event.EventService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }

    // `grpcurl describe` needs the file that declares the service.
    let mut answers = reflection
        .server_reflection_info(ask(MessageRequest::FileContainingSymbol(
            "org.aquastream.event.EventService".to_owned(),
        )))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::FileDescriptorResponse(files)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("not a file descriptor answer");
    };
    assert!(!files.file_descriptor_proto.is_empty());

    // Older tools speak v1alpha.
    use tonic_reflection::pb::v1alpha;
    let mut alpha = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let mut answers = alpha
        .server_reflection_info(stream::iter([v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
            ),
        }]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    assert!(
        format!("{answer:?}").contains("org.aquastream.event.EventService"),
        "{answer:?}"
    );
});

on_both!(favorites_are_kept_once_and_removed, |app| {
    let mut grpc = client(&app).await;
    let event_id = published_event(&app, &mut grpc, 10).await;
    let fan = Some(user(1));

    let first = grpc
        .add_favorite(call(pb::AddFavoriteRequest { event_id }, fan))
        .await
        .expect("added")
        .into_inner();
    assert_eq!(first.event_id, event_id);
    assert_eq!(first.user_id, user(1).id.to_string());
    assert_eq!(first.event.as_ref().map(|e| e.id), Some(event_id));
    let again = grpc
        .add_favorite(call(pb::AddFavoriteRequest { event_id }, fan))
        .await
        .expect("added again: a success")
        .into_inner();
    assert_eq!(again.id, first.id, "the same favorite");

    let list = grpc
        .list_favorites(call(pb::ListFavoritesRequest::default(), fan))
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(list.total_elements, 1, "{list:?}");
    assert_eq!(list.favorites[0].id, first.id);
    assert_eq!(
        list.favorites[0].event.as_ref().map(|e| e.name.as_str()),
        Some("gRPC event")
    );
    let others = grpc
        .list_favorites(call(pb::ListFavoritesRequest::default(), Some(user(2))))
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(others.total_elements, 0, "favorites are private");

    let anonymous = grpc
        .add_favorite(call(pb::AddFavoriteRequest { event_id }, None))
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    let no_event = grpc
        .add_favorite(call(pb::AddFavoriteRequest { event_id: 0 }, fan))
        .await
        .unwrap_err();
    assert_eq!(no_event.code(), Code::InvalidArgument);
    assert_eq!(violations(&no_event), ["event_id"]);
    let too_big = grpc
        .list_favorites(call(pb::ListFavoritesRequest { page: 0, size: 101 }, fan))
        .await
        .unwrap_err();
    assert_eq!(violations(&too_big), ["size"]);

    for _ in 0..2 {
        grpc.remove_favorite(call(pb::RemoveFavoriteRequest { event_id }, fan))
            .await
            .expect("removed, and removing again is a success");
    }
    let list = grpc
        .list_favorites(call(pb::ListFavoritesRequest::default(), fan))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.total_elements, 0);
    assert!(list.favorites.is_empty());
});

fn new_review(event_id: i64, rating: i32) -> pb::CreateReviewRequest {
    pb::CreateReviewRequest {
        event_id,
        rating,
        content: "Great <b>river</b>".to_owned(),
    }
}

async fn event_reviews(grpc: &mut Client, event_id: i64) -> pb::ListReviewsResponse {
    grpc.list_reviews(call(
        pb::ListReviewsRequest {
            event_id,
            ..Default::default()
        },
        None,
    ))
    .await
    .expect("reviews listed")
    .into_inner()
}

on_both!(reviews_need_attendance_and_moderation, |app| {
    let mut grpc = client(&app).await;
    let org = organizer(1);
    let event_id = app.published_event(org, 10, "1000.00", 1).await;
    let (guest, stranger) = (user(1), user(2));
    let _ = app.confirmed_booking(guest, event_id, 1).await;

    let early = grpc
        .create_review(call(new_review(event_id, 4), Some(guest)))
        .await
        .unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition, "{early:?}");
    assert_eq!(error_code(&early), "REVIEW_NOT_ALLOWED");

    app.clock.advance(chrono::Duration::days(2));
    let absent = grpc
        .create_review(call(new_review(event_id, 4), Some(stranger)))
        .await
        .unwrap_err();
    assert_eq!(absent.code(), Code::FailedPrecondition);
    assert_eq!(error_code(&absent), "REVIEW_NOT_ALLOWED");
    let zero = grpc
        .create_review(call(new_review(event_id, 0), Some(guest)))
        .await
        .unwrap_err();
    assert_eq!(zero.code(), Code::InvalidArgument, "{zero:?}");
    assert_eq!(violations(&zero), ["rating"]);

    let review = grpc
        .create_review(call(new_review(event_id, 4), Some(guest)))
        .await
        .expect("an attendee reviews")
        .into_inner();
    assert_eq!(review.status, "PENDING");
    assert_eq!(review.rating, 4);
    assert_eq!(review.content, "Great river", "markup removed");
    assert_eq!(review.user_id, guest.id.to_string());
    let twice = grpc
        .create_review(call(new_review(event_id, 5), Some(guest)))
        .await
        .unwrap_err();
    assert_eq!(error_code(&twice), "ALREADY_REVIEWED");

    let before = event_reviews(&mut grpc, event_id).await;
    assert_eq!(before.total_elements, 0, "not public before moderation");
    assert_eq!(before.avg_rating, 0.0);

    let (status, approved) = app
        .post(
            &format!("/api/v1/reviews/{}/moderate", review.id),
            Some(admin()),
            serde_json::json!({"status": "ACTIVE"}),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    let listed = event_reviews(&mut grpc, event_id).await;
    assert_eq!(listed.total_elements, 1, "{listed:?}");
    assert_eq!(listed.reviews[0].id, review.id);
    assert_eq!(listed.reviews[0].status, "ACTIVE");
    assert_eq!(listed.avg_rating, 4.0);

    let not_theirs = grpc
        .update_review(call(
            pb::UpdateReviewRequest {
                id: review.id,
                rating: 1,
                content: String::new(),
            },
            Some(stranger),
        ))
        .await
        .unwrap_err();
    assert_eq!(not_theirs.code(), Code::NotFound, "{not_theirs:?}");

    let reply = |who| {
        call(
            pb::ReplyToReviewRequest {
                review_id: review.id,
                content: "Thank you, see you next summer".to_owned(),
            },
            Some(who),
        )
    };
    let by_user = grpc.reply_to_review(reply(guest)).await.unwrap_err();
    assert_eq!(by_user.code(), Code::PermissionDenied);
    let by_other_org = grpc.reply_to_review(reply(organizer(2))).await.unwrap_err();
    assert_eq!(by_other_org.code(), Code::NotFound);
    let answered = grpc
        .reply_to_review(reply(org))
        .await
        .expect("the organizer replies")
        .into_inner();
    assert_eq!(answered.review_id, review.id);
    assert_eq!(answered.author_id, org.id.to_string());
    let listed = event_reviews(&mut grpc, event_id).await;
    assert_eq!(
        listed.reviews[0]
            .replies
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        [answered.id]
    );

    // The author's edit keeps the content and goes back to moderation.
    let edited = grpc
        .update_review(call(
            pb::UpdateReviewRequest {
                id: review.id,
                rating: 5,
                content: String::new(),
            },
            Some(guest),
        ))
        .await
        .expect("the author edits")
        .into_inner();
    assert_eq!((edited.rating, edited.status.as_str()), (5, "PENDING"));
    assert_eq!(edited.content, "Great river");
    let own = grpc
        .list_reviews(call(
            pb::ListReviewsRequest {
                user_id: guest.id.to_string(),
                status: "PENDING".to_owned(),
                ..Default::default()
            },
            Some(guest),
        ))
        .await
        .expect("authors list their own pending reviews")
        .into_inner();
    assert_eq!(own.total_elements, 1);
    let hidden = grpc
        .list_reviews(call(
            pb::ListReviewsRequest {
                status: "PENDING".to_owned(),
                ..Default::default()
            },
            Some(stranger),
        ))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::PermissionDenied);
    assert_eq!(event_reviews(&mut grpc, event_id).await.total_elements, 0);
});

on_both!(assign_crew_without_a_crew_service_waits, |app| {
    let mut grpc = client(&app).await;
    let event_id = published_event(&app, &mut grpc, 10).await;
    let assign = |crew_id, who| call(pb::AssignCrewRequest { event_id, crew_id }, Some(who));

    let by_user = grpc.assign_crew(assign(3, user(1))).await.unwrap_err();
    assert_eq!(by_user.code(), Code::PermissionDenied, "{by_user:?}");
    let no_crew = grpc.assign_crew(assign(0, organizer(1))).await.unwrap_err();
    assert_eq!(no_crew.code(), Code::InvalidArgument);
    assert_eq!(violations(&no_crew), ["crew_id"]);

    // The test profile has no crew service URL: the request waits for a retry.
    let answer = grpc
        .assign_crew(assign(3, organizer(1)))
        .await
        .expect("a pending assignment is a success");
    let header = |key| {
        answer
            .metadata()
            .get(key)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header(adapters_grpc::CREW_STATUS_METADATA), "PENDING_RETRY");
    assert!(
        header(adapters_grpc::CREW_MESSAGE_METADATA).starts_with("crew will be assigned later"),
        "{:?}",
        answer.metadata()
    );
    assert_eq!(answer.into_inner().id, event_id);
    let (status, details) = app
        .get(&format!("/api/v1/events/{event_id}"), Some(organizer(1)))
        .await;
    assert_eq!(status, 200);
    assert_eq!(details["crew_status"], "PENDING_RETRY", "{details}");
});
