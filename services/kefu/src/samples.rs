//! One plausible request body for each service's main write: what the bench and the fault
//! tests load the suite with, written once.

use kefu_proto::common::Address;
use kefu_proto::complaint as dpb;
use kefu_proto::customer as cpb;
use kefu_proto::order as opb;
use kefu_proto::staff as kpb;
use kefu_proto::survey as spb;

/// An enterprise customer with one contact.
pub fn customer() -> cpb::Customer {
    cpb::Customer {
        kind: cpb::CustomerKind::Enterprise as i32,
        display_name: "Bench Logistics".into(),
        registration_number: "91350100M000100Y43".into(),
        contacts: vec![cpb::Contact {
            display_name: "Li".into(),
            phone: "0591-87654321".into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A standard order of `customer` from Fuzhou to Quanzhou.
pub fn order(customer: &str) -> opb::Order {
    let city = |city: &str| Address {
        province: "Fujian".into(),
        city: city.into(),
        ..Default::default()
    };
    opb::Order {
        customer_id: customer.into(),
        channel: opb::Channel::Api as i32,
        service_level: opb::ServiceLevel::Standard as i32,
        distance_km: 120,
        origin: Some(city("Fuzhou")),
        destination: Some(city("Quanzhou")),
        lines: vec![opb::CargoLine {
            description: "parts".into(),
            pieces: 2,
            weight_grams: 4_000,
            volume_cm3: 8_000,
            declared_value: None,
            special: None,
        }],
        ..Default::default()
    }
}

/// A damage complaint about `order_id` of `customer`, by phone.
pub fn complaint(customer: &str, order_id: &str) -> dpb::Complaint {
    dpb::Complaint {
        r#type: dpb::CaseType::Complaint as i32,
        origin: dpb::Origin::Hotline as i32,
        contact_channel: dpb::ContactChannel::Phone as i32,
        category: dpb::Category::Damage as i32,
        severity: dpb::Severity::Medium as i32,
        customer_id: customer.into(),
        order_id: order_id.into(),
        summary: "carton crushed on arrival".into(),
        description: "Two cartons arrived crushed.".into(),
        ..Default::default()
    }
}

/// A one-question CSAT questionnaire.
pub fn questionnaire() -> spb::Questionnaire {
    spb::Questionnaire {
        title: "After delivery".into(),
        questions: vec![spb::Question {
            question_id: "csat".into(),
            kind: spb::QuestionKind::Csat as i32,
            text: "How satisfied are you with the delivery?".into(),
            options: vec![],
            required: true,
        }],
        ..Default::default()
    }
}

/// A manager who joined 400 days ago: a manager needs no team, so every such row stands
/// alone.
pub fn manager(id: &str) -> kpb::Staff {
    kpb::Staff {
        id: id.into(),
        display_name: format!("manager {id}"),
        role: kpb::StaffRole::Manager as i32,
        join_time: Some(kefu_platform::time::to_timestamp(
            chrono::Utc::now() - chrono::Duration::days(400),
        )),
        ..Default::default()
    }
}
