//! Shipments by public postal service (regulation art. 16.2): the carrier-neutral shapes the
//! gateway stores and shows.

use serde::{Deserialize, Serialize};

/// A shipment's normalised status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    /// The order exists; nothing has been collected yet.
    Created,
    /// The carrier has collected the parcel (or it was dropped at a post office).
    PickedUp,
    /// Between post offices.
    InTransit,
    /// Out with the postman for delivery.
    Delivering,
    /// Delivered to the receiver (final).
    Delivered,
    /// A delivery or collection attempt failed; the carrier may try again or return it.
    DeliveryFailed,
    /// Sent back to the sender (final).
    Returned,
    /// Cancelled before collection or delivery (final).
    Cancelled,
}

impl ShipmentStatus {
    /// Every status, in the order a shipment normally passes them.
    pub const ALL: [ShipmentStatus; 8] = [
        Self::Created,
        Self::PickedUp,
        Self::InTransit,
        Self::Delivering,
        Self::Delivered,
        Self::DeliveryFailed,
        Self::Returned,
        Self::Cancelled,
    ];

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::PickedUp => "picked_up",
            Self::InTransit => "in_transit",
            Self::Delivering => "delivering",
            Self::Delivered => "delivered",
            Self::DeliveryFailed => "delivery_failed",
            Self::Returned => "returned",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// One party of a shipment, as the carrier needs it (and as the gateway's clients send it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    /// Full name.
    pub name: String,
    /// Vietnamese phone number in national form (`0` and 9 digits).
    pub phone: String,
    /// Street part of the address.
    pub address: String,
    /// Province code (2 digits; 63-province or 34-province scheme).
    pub province_code: String,
    /// District code (63-province scheme only; `None` in the two-level scheme).
    pub district_code: Option<String>,
    /// Commune (ward) code.
    pub commune_code: String,
}

/// A shipment to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentOrder {
    /// Our reference, unique per carrier account (the carrier refuses a second order with it).
    pub order_code: String,
    /// Sender.
    pub sender: Party,
    /// Receiver.
    pub receiver: Party,
    /// The carrier's service code (`EMS`, `BK`, `TMDT_EMS`, …).
    pub service: String,
    /// What the parcel holds.
    pub content: String,
    /// Weight in grams.
    pub weight_g: u32,
    /// Cash to collect from the receiver (VND), 0 for none.
    pub cod_amount_vnd: u64,
    /// A note for the carrier.
    pub note: Option<String>,
}

/// What the carrier answered to a created shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedShipment {
    /// The carrier's order id.
    pub carrier_order_id: String,
    /// The tracking number (UPU S10 item code).
    pub tracking_code: String,
    /// The carrier's raw status code.
    pub carrier_status: u16,
    /// Total fee, VAT included (VND).
    pub fee_vnd: i64,
}

/// One step of a shipment's history at the carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackingEvent {
    /// The carrier's raw status code.
    pub carrier_status: u16,
    /// The carrier's name of that status.
    pub carrier_status_name: String,
    /// The normalised status.
    pub status: ShipmentStatus,
    /// When (RFC 3339, from the carrier's local time).
    pub at: Option<String>,
    /// The post office that reported it.
    pub post_office: Option<String>,
}

/// A shipment's tracking at the carrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracking {
    /// The carrier's order id.
    pub carrier_order_id: String,
    /// The tracking number.
    pub tracking_code: String,
    /// The current raw status code.
    pub carrier_status: u16,
    /// The carrier's name of it.
    pub carrier_status_name: String,
    /// History, oldest first.
    pub history: Vec<TrackingEvent>,
}

/// The current status of one shipment in a batched status read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSnapshot {
    /// The tracking number.
    pub tracking_code: String,
    /// The current raw status code.
    pub carrier_status: u16,
    /// The carrier's name of it.
    pub carrier_status_name: String,
}

/// A fee quote request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteRequest {
    /// Sender's province code.
    pub from_province_code: String,
    /// Sender's district code, when known.
    pub from_district_code: Option<String>,
    /// Receiver's province code.
    pub to_province_code: String,
    /// Receiver's district code, when known.
    pub to_district_code: Option<String>,
    /// Weight in grams.
    pub weight_g: u32,
    /// Cash to collect (VND).
    pub cod_amount_vnd: u64,
}

/// The fee of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceQuote {
    /// The carrier's service code.
    pub service: String,
    /// Its name.
    pub name: String,
    /// Total fee, VAT and extra services included (VND).
    pub fee_vnd: i64,
    /// Expected delivery time, as the carrier words it.
    pub estimated_delivery: Option<String>,
}
