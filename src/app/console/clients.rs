//! The clients: each configured client with its role and whether it is suspended, and for a
//! suspended one why, since when and by whom (from the admin audit); suspend (with a reason)
//! and resume, through the same code as `/v1/admin/clients/{id}/suspend|resume`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use maud::html;

use super::{Action, Operator, back_to, heading, layout, name_of, when};
use crate::app::Gateway;
use crate::app::admin::set_client_suspension;
use crate::error::ApiError;

/// How many admin audit records are read to find each suspension's reason, time and author.
const AUDIT_DEPTH: u32 = 1000;

/// `GET /console/clients`.
pub(super) async fn page(
    State(gw): State<Arc<Gateway>>,
    operator: Operator,
) -> Result<Response, ApiError> {
    let runtime = gw.runtime();
    let mut clients: Vec<_> = runtime.callers.clients.values().collect();
    clients.sort_by(|a, b| a.id.cmp(&b.id));
    let audit = gw
        .store
        .admin_audit(AUDIT_DEPTH)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let content = html! {
        section {
            (heading("Tài khoản kết nối", "Clients: suspend (regulation art. 23.3) and resume"))
            table id="clients" {
                thead { tr {
                    th class="t" { "Mã / Id" } th class="t" { "Tên / Name" } th class="t" { "Vai trò / Role" }
                    th class="t" { "Tạm dừng / Suspended" } th class="t" { "Lý do / Reason" }
                    th class="t" { "Lúc / At" } th class="t" { "Bởi / By" } th class="t" { "" }
                } }
                tbody {
                    @for client in &clients {
                        @let suspended = gw.is_suspended(&client.id);
                        // Newest first: the first suspension of this client is the one in force.
                        @let record = suspended.then(|| audit.iter().find(|r| r.action == "suspend" && r.target.as_deref() == Some(&*client.id))).flatten();
                        tr data-client=(client.id) data-suspended=(suspended) {
                            td class="t" { b { (client.id) } }
                            td class="t" { (client.name) }
                            td class="t" { (name_of(client.role)) }
                            td class="t" { @if suspended { span class="yes" { "yes" } } @else { "no" } }
                            td class="t" { (record.and_then(|r| r.detail.as_deref()).unwrap_or("")) }
                            td class="t" { @if let Some(r) = record { (when(Some(r.at_ms))) } }
                            td class="t" { @if let Some(r) = record { (r.actor) } }
                            td class="t" {
                                @if suspended {
                                    form method="post" action=(format!("/console/clients/{}/resume", client.id)) {
                                        (operator.csrf_field())
                                        button type="submit" class="light" id=(format!("resume-{}", client.id)) { "Mở lại / Resume" }
                                    }
                                } @else if client.id != operator.session.client_id {
                                    form method="post" action=(format!("/console/clients/{}/suspend", client.id)) {
                                        (operator.csrf_field())
                                        input type="text" name="reason" maxlength="500" placeholder="Lý do / Reason" id=(format!("reason-{}", client.id));
                                        button type="submit" id=(format!("suspend-{}", client.id)) { "Tạm dừng / Suspend" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout(
        "Tài khoản / Clients",
        Some(&operator),
        false,
        content,
    ))
}

/// `POST /console/clients/{id}/suspend` (`reason`).
pub(super) async fn suspend(
    State(gw): State<Arc<Gateway>>,
    Path(client_id): Path<String>,
    action: Action,
) -> Result<Response, ApiError> {
    let reason = action.field("reason");
    set_client_suspension(&gw, action.operator.actor(), &client_id, true, reason).await?;
    Ok(back_to("/console/clients", &action.operator))
}

/// `POST /console/clients/{id}/resume`.
pub(super) async fn resume(
    State(gw): State<Arc<Gateway>>,
    Path(client_id): Path<String>,
    action: Action,
) -> Result<Response, ApiError> {
    set_client_suspension(&gw, action.operator.actor(), &client_id, false, None).await?;
    Ok(back_to("/console/clients", &action.operator))
}
