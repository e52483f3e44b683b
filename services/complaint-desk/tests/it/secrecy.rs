//! a case's texts (summary, description, notes: the customer's words and the staff's)
//! are sealed at rest under the active key and read back in clear only through the API; a
//! case written before documents were sealed is still read, and the re-seal sweep seals it.

use kefu_complaint_desk::store::SEALED_DOCUMENTS;
use kefu_platform::pii::PiiCipher;
use kefu_proto::complaint as pb;
use kefu_testkit::{holds, on_both};
use sea_orm::{ConnectionTrait as _, Statement};

use crate::support::{Backend, opened_document, registered, spawn};

const CANARY: &str = "Canary Zhou at 139 1234 5678";

async fn x4_case_texts_are_sealed_at_rest_and_read_in_clear_through_the_api(backend: Backend) {
    let app = spawn(backend).await;
    let case = registered(&app, "t1").await;
    let mut desk = app.desk().await;
    desk.record_customer_contact(pb::RecordCustomerContactRequest {
        complaint_id: case.id.clone(),
        channel: pb::ContactChannel::Phone as i32,
        note: CANARY.into(),
        expected_version: case.version,
        request_id: String::new(),
    })
    .await
    .unwrap();
    let read = |mut desk: crate::support::Desk, id: String| async move {
        desk.get_complaint(pb::GetComplaintRequest { complaint_id: id })
            .await
            .unwrap()
            .into_inner()
    };
    let seen = read(desk.clone(), case.id.clone()).await;
    assert_eq!(seen.contacts.last().unwrap().note, CANARY);
    assert_eq!(seen.summary, "carton crushed on arrival");
    let dump = app.dump(kefu_complaint_desk::SERVICE, "complaints").await;
    for text in [CANARY, "carton crushed"] {
        assert!(!holds(&dump, text), "{text} in clear at rest");
    }

    // A document from before documents were sealed: read as it is, then sealed by the sweep.
    let cipher = PiiCipher::from_settings(&app.settings.security).unwrap();
    let db = app.db(kefu_complaint_desk::SERVICE);
    let clear = opened_document(&app, &case.id).await;
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "UPDATE complaints SET document = $1 WHERE id = $2",
        [clear.as_str().into(), case.id.as_str().into()],
    ))
    .await
    .unwrap();
    assert!(holds(
        &app.dump(kefu_complaint_desk::SERVICE, "complaints").await,
        CANARY
    ));
    assert_eq!(
        read(desk.clone(), case.id.clone())
            .await
            .contacts
            .last()
            .unwrap()
            .note,
        CANARY
    );
    let swept = kefu_platform::reseal::sweep(db, &cipher, SEALED_DOCUMENTS)
        .await
        .unwrap();
    // The service's own sweep or a write of the case may seal it first: either way it ends
    // sealed, and nothing is left that no key opens.
    assert_eq!(swept.unreadable, 0, "{swept:?}");
    assert!(!holds(
        &app.dump(kefu_complaint_desk::SERVICE, "complaints").await,
        CANARY
    ));
    assert_eq!(
        read(desk, case.id.clone())
            .await
            .contacts
            .last()
            .unwrap()
            .note,
        CANARY
    );
}
on_both!(x4_case_texts_are_sealed_at_rest_and_read_in_clear_through_the_api);
