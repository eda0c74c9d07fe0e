//! [`ClientStates`](crate::store::ClientStates): suspensions outlive the store instance, and every
//! admin action is in the admin audit table.

use super::{Backend, action};

conformance!(suspension_persists_across_reopen_and_is_audited,);

async fn suspension_persists_across_reopen_and_is_audited(backend: &Backend) {
    let store = backend.open().await;
    assert!(
        store
            .set_suspended("portal", true, &action("suspend"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_suspended("portal", true, &action("suspend"))
            .await
            .unwrap(),
        "second suspend changes nothing"
    );
    drop(store);
    let store = backend.open().await;
    assert_eq!(
        store.suspended_clients().await.unwrap(),
        vec!["portal".to_owned()]
    );
    assert!(
        store
            .set_suspended("portal", false, &action("resume"))
            .await
            .unwrap()
    );
    assert!(store.suspended_clients().await.unwrap().is_empty());
    store.record_admin_action(&action("reload")).await.unwrap();
    let audit = store.admin_audit(10).await.unwrap();
    assert_eq!(audit.len(), 4);
    assert_eq!(audit[0].action, "reload");
    assert_eq!(audit[1].action, "resume");
    assert_eq!(audit[1].target.as_deref(), Some("portal"));
    assert!(audit[0].id > audit[1].id, "newest first");
}
