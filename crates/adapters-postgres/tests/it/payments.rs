//! PaymentRepository on PostgreSQL and SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use test_db::on_both_backends;

use crate::booking_fixtures::*;
use adapters_postgres::{SeaTx, SeaUnitOfWork};
use domain::booking::Booking;
use domain::payment::{NewPayment, Payment, PaymentStatus, RefundStatus};
use domain::{BookingId, Money, PaymentId, RefundId};
use ports::{BookingRepository, NewRefund, PaymentRepository, RefundRecord};

async fn booking(tx: &SeaTx, event: domain::EventId, who: u128) -> Booking {
    let mut placed = tx
        .place(event, vec![new_booking(event, user(who), 2)])
        .await
        .unwrap();
    placed.pop().unwrap()
}

fn new_payment(booking: BookingId, minor: i64) -> NewPayment {
    NewPayment {
        booking_id: booking,
        amount: Money::from_minor_units(minor),
        payment_method: "CARD".to_owned(),
        gateway: "sandbox".to_owned(),
        gateway_key: None,
        created_at: at(0),
    }
}

on_both_backends!(insert_find_and_list_for_a_booking, |t| {
    let event = event(&t.db, 10).await;
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let b = booking(&tx, event, 1).await;
    let other = booking(&tx, event, 2).await;
    let first = tx.insert(new_payment(b.id, 1_500)).await.unwrap();
    assert_eq!(first, Payment::from_new(first.id, new_payment(b.id, 1_500)));
    assert_eq!(first.status, PaymentStatus::Initiated);
    assert_eq!(first.version, 0);
    let second = tx.insert(new_payment(b.id, 500)).await.unwrap();
    tx.insert(new_payment(other.id, 2_000)).await.unwrap();
    tx.commit_tx().await.unwrap();

    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(
        PaymentRepository::find(&tx, first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        PaymentRepository::find(&tx, PaymentId(9_999))
            .await
            .unwrap(),
        None
    );
    assert_eq!(tx.for_booking(b.id).await.unwrap(), [first, second]);
    assert_eq!(tx.for_booking(BookingId(9_999)).await.unwrap(), []);
    let err = tx
        .insert(new_payment(BookingId(9_999), 100))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
});

on_both_backends!(update_is_optimistic_and_reference_lookup_locks, |t| {
    let event = event(&t.db, 10).await;
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let b = booking(&tx, event, 1).await;
    let initiated = tx.insert(new_payment(b.id, 2_000)).await.unwrap();

    let mut referenced = initiated.clone();
    referenced.gateway_reference = Some("pi_123".to_owned());
    let referenced = PaymentRepository::update(&tx, &referenced).await.unwrap();
    assert_eq!(referenced.version, 1);

    let found = tx
        .find_by_reference_for_update("sandbox", "pi_123")
        .await
        .unwrap();
    assert_eq!(found, Some(referenced.clone()));
    assert_eq!(
        tx.find_by_reference_for_update("other-gateway", "pi_123")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        tx.find_by_reference_for_update("sandbox", "pi_999")
            .await
            .unwrap(),
        None
    );

    let mut paid = referenced.clone();
    let _ = paid.complete(at(1)).unwrap();
    let _ = paid.refund(Money::from_minor_units(500), at(2)).unwrap();
    let paid = PaymentRepository::update(&tx, &paid).await.unwrap();
    assert_eq!(paid.version, 2);
    let stored = PaymentRepository::find(&tx, paid.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, paid);
    assert_eq!(stored.status, PaymentStatus::PartialRefund);
    assert_eq!(stored.refund_amount, Money::from_minor_units(500));
    assert_eq!(stored.updated_at, at(2));

    // a copy read before the last update is stale
    let mut stale = referenced;
    let _ = stale.fail("declined", at(3)).unwrap();
    let err = PaymentRepository::update(&tx, &stale).await.unwrap_err();
    assert_eq!(err.code(), "VERSION_CONFLICT");
    assert_eq!(
        PaymentRepository::find(&tx, paid.id).await.unwrap(),
        Some(paid.clone())
    );

    let mut failed = tx.insert(new_payment(b.id, 100)).await.unwrap();
    let _ = failed.fail("card declined", at(4)).unwrap();
    let failed = PaymentRepository::update(&tx, &failed).await.unwrap();
    assert_eq!(
        PaymentRepository::find(&tx, failed.id)
            .await
            .unwrap()
            .unwrap()
            .failure_reason
            .as_deref(),
        Some("card declined")
    );

    let mut ghost = paid;
    ghost.id = PaymentId(9_999);
    let err = PaymentRepository::update(&tx, &ghost).await.unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
});

on_both_backends!(refunds_are_recorded_per_payment, |t| {
    let event = event(&t.db, 10).await;
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let b = booking(&tx, event, 1).await;
    let payment = tx.insert(new_payment(b.id, 2_000)).await.unwrap();
    let other = tx.insert(new_payment(b.id, 1_000)).await.unwrap();
    let refund = |payment_id, minor, hours| NewRefund {
        payment_id,
        amount: Money::from_minor_units(minor),
        reason: "event canceled".to_owned(),
        idempotency_key: format!("rfd_{minor}"),
        actor_id: Some(user(9)),
        created_at: at(hours),
    };
    let later = tx.record_refund(refund(payment.id, 700, 5)).await.unwrap();
    let earlier = tx.record_refund(refund(payment.id, 300, 2)).await.unwrap();
    tx.record_refund(refund(other.id, 1_000, 1)).await.unwrap();
    assert_eq!(
        later,
        RefundRecord {
            id: later.id,
            payment_id: payment.id,
            amount: Money::from_minor_units(700),
            reason: "event canceled".to_owned(),
            status: RefundStatus::Pending,
            gateway_reference: None,
            idempotency_key: Some("rfd_700".to_owned()),
            attempts: 0,
            next_attempt_at: Some(at(5)),
            last_error: None,
            actor_id: Some(user(9)),
            created_at: at(5),
            completed_at: None,
        }
    );
    assert_eq!(tx.refunds(payment.id).await.unwrap(), [earlier, later]);
    assert_eq!(tx.refunds(PaymentId(9_999)).await.unwrap(), []);
    let err = tx
        .record_refund(refund(PaymentId(9_999), 100, 1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND");
});

on_both_backends!(due_refunds_are_claimed_once_leased_and_updated, |t| {
    let event = event(&t.db, 10).await;
    let uow = SeaUnitOfWork::new(t.db.clone());
    let tx = uow.begin_tx().await.unwrap();
    let b = booking(&tx, event, 1).await;
    let payment = tx.insert(new_payment(b.id, 2_000)).await.unwrap();
    let refund = |minor: i64, hours| NewRefund {
        payment_id: payment.id,
        amount: Money::from_minor_units(minor),
        reason: "canceled".to_owned(),
        idempotency_key: format!("rfd_{minor}"),
        actor_id: None,
        created_at: at(hours),
    };
    let due = tx.record_refund(refund(300, 1)).await.unwrap();
    let later = tx.record_refund(refund(700, 5)).await.unwrap();
    tx.commit_tx().await.unwrap();
    let tx = uow.begin_tx().await.unwrap();
    let err = tx.record_refund(refund(300, 2)).await.unwrap_err();
    assert_eq!(err.code(), "INTERNAL_ERROR", "a refund key is unique");
    drop(tx);

    // Due at 1h, not yet the one due at 5h; the claim counts an attempt and leases the row.
    let tx = uow.begin_tx().await.unwrap();
    let claimed = tx.claim_due_refunds(at(2), at(3), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, due.id);
    assert_eq!(
        (claimed[0].attempts, claimed[0].next_attempt_at),
        (1, Some(at(3)))
    );
    tx.commit_tx().await.unwrap();
    let tx = uow.begin_tx().await.unwrap();
    assert_eq!(
        tx.claim_due_refunds(at(2), at(3), 10).await.unwrap(),
        [],
        "a leased refund is not claimed again before its lease ends"
    );
    let mut done = tx.find_refund_for_update(due.id).await.unwrap().unwrap();
    assert_eq!(done, claimed[0]);
    done.status = RefundStatus::Succeeded;
    done.gateway_reference = Some("re_300".to_owned());
    done.next_attempt_at = None;
    done.completed_at = Some(at(2));
    tx.update_refund(&done).await.unwrap();
    assert_eq!(tx.find_refund_for_update(due.id).await.unwrap(), Some(done));
    assert_eq!(
        tx.find_refund_for_update(RefundId(9_999)).await.unwrap(),
        None
    );
    let claimed = tx.claim_due_refunds(at(6), at(7), 10).await.unwrap();
    assert_eq!(
        claimed.iter().map(|r| r.id).collect::<Vec<_>>(),
        [later.id],
        "only PENDING refunds are claimed"
    );
});

on_both_backends!(
    a_gateway_key_names_one_payment_and_finds_unreferenced_intents,
    |t| {
        let event = event(&t.db, 10).await;
        let uow = SeaUnitOfWork::new(t.db.clone());
        let tx = uow.begin_tx().await.unwrap();
        let b = booking(&tx, event, 1).await;
        let keyed = |minor, key: &str| NewPayment {
            gateway_key: Some(key.to_owned()),
            ..new_payment(b.id, minor)
        };
        let intent = tx.insert(keyed(500, "pay_a")).await.unwrap();
        assert_eq!(intent.gateway_key.as_deref(), Some("pay_a"));
        let mut referenced = tx.insert(keyed(700, "pay_b")).await.unwrap();
        referenced.gateway_reference = Some("sbx_1".to_owned());
        let referenced = PaymentRepository::update(&tx, &referenced).await.unwrap();
        tx.commit_tx().await.unwrap();

        let tx = uow.begin_tx().await.unwrap();
        let err = tx.insert(keyed(100, "pay_a")).await.unwrap_err();
        assert_eq!(err.code(), "PAYMENT_KEY_REUSED");
        drop(tx);
        let tx = uow.begin_tx().await.unwrap();
        assert_eq!(
            tx.find_by_gateway_key("sandbox", "pay_a").await.unwrap(),
            Some(intent.clone())
        );
        assert_eq!(tx.find_by_gateway_key("http", "pay_a").await.unwrap(), None);
        assert_eq!(
            tx.find_by_reference("sandbox", "sbx_1").await.unwrap(),
            Some(referenced)
        );
        assert_eq!(tx.unreferenced_before(at(1), 10).await.unwrap(), [intent]);
        assert_eq!(tx.unreferenced_before(at(0), 10).await.unwrap(), []);
    }
);
