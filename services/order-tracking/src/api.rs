//! The gRPC face of order-tracking: protos in, rules applied, one locked transaction per
//! change with its events, then the hot store.

use std::pin::Pin;
use std::sync::Arc;

use crate::settings::PricingSettings;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use futures::{Stream, StreamExt as _};
use kefu_platform::auth::Caller;
use kefu_platform::error::{FieldViolation, Violations};
use kefu_platform::events::{self, EventLog};
use kefu_platform::idempotency::{self, Begun, Claim};
use kefu_platform::paging;
use kefu_platform::pii::{PiiCipher, mask_all};
use kefu_platform::server::Lifecycle;
use kefu_proto::common as pc;
use kefu_proto::order as pb;
use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use crate::customers::{CustomerDirectory, LookupError};
use crate::domain::cycle_time::{self, Delivered, Period};
use crate::domain::lifecycle::check_move;
use crate::domain::{OrderState, pricing, verify};
use crate::error::{Error, Result};
use crate::hot::HotOrders;
use crate::store::{self, ListFilter, StoredOrder, state_from_proto, state_to_proto};

const MAX_NOTE: usize = 1000;

/// The rules' settings, read once at start.
#[derive(Debug)]
pub struct Rules {
    pub pricing: PricingSettings,
    /// Local time of reports (OT-10).
    pub report_offset: FixedOffset,
}

#[derive(Clone, Debug)]
pub struct OrderTrackingApi {
    pub(crate) db: DatabaseConnection,
    pub(crate) cipher: PiiCipher,
    pub(crate) log: EventLog,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) hot: HotOrders,
    pub(crate) customers: CustomerDirectory,
    pub(crate) rules: Arc<Rules>,
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// What a change emits, in order.
pub(crate) enum OrderEvent {
    Moved(pb::OrderMoved),
    Payment(pb::PaymentStatusChanged),
    Pick(pb::PickRecorded),
    Packing(pb::PackingRecorded),
    Handover(pb::HandoverSigned),
    Exception(pb::ExceptionRaised),
}

fn now_ts() -> prost_types::Timestamp {
    timestamp(Utc::now())
}

/// Microseconds, the finest time PostgreSQL keeps, so a time reads back as it was written.
pub(crate) fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: (t.timestamp_subsec_micros() * 1000) as i32,
    }
}

fn subject(order_id: &str) -> String {
    format!("orders/{order_id}")
}

/// The order as every caller sees it: street-level addresses masked.
pub fn masked(order: &pb::Order) -> pb::Order {
    let mut order = order.clone();
    for place in [order.origin.as_mut(), order.destination.as_mut()]
        .into_iter()
        .flatten()
    {
        place.street = mask_all(&place.street);
    }
    order
}

fn invalid(field: &str, description: impl Into<String>) -> Error {
    Error::Invalid(vec![FieldViolation {
        field: field.into(),
        description: description.into(),
    }])
}

fn scope(caller: &Caller, rpc: &str) -> String {
    format!("{rpc}:{}", caller.subject)
}

/// A change request taken apart: who asks, the body without its request_id, the request_id,
/// and the body's fingerprint for idempotency.
struct Mutating<T> {
    caller: Caller,
    body: T,
    request_id: String,
    fingerprint: String,
}

/// Requests that carry a request_id.
trait Idempotent: prost::Message {
    fn request_id_mut(&mut self) -> &mut String;
}

macro_rules! idempotent {
    ($($request:ty),+ $(,)?) => {
        $(impl Idempotent for $request {
            fn request_id_mut(&mut self) -> &mut String {
                &mut self.request_id
            }
        })+
    };
}

idempotent!(
    pb::UpdatePaymentStatusRequest,
    pb::MoveOrderRequest,
    pb::RecordPickRequest,
    pb::ResolveShortPickRequest,
    pb::RecordPackingRequest,
    pb::RecordHandoverRequest,
    pb::RaiseExceptionRequest,
);

fn mutating<T: Idempotent>(request: Request<T>) -> Result<Mutating<T>, Status> {
    let caller = Caller::from_request(&request)?.clone();
    let mut body = request.into_inner();
    let (request_id, fingerprint) =
        idempotency::retry_keys(&mut body, T::request_id_mut).map_err(Error::Invalid)?;
    Ok(Mutating {
        caller,
        body,
        request_id,
        fingerprint,
    })
}

/// Appends one event to the outbox in `txn`.
async fn append(
    txn: &sea_orm::DatabaseTransaction,
    order_id: &str,
    event: &OrderEvent,
) -> Result<()> {
    let subject = subject(order_id);
    match event {
        OrderEvent::Moved(e) => events::append(txn, &subject, e).await?,
        OrderEvent::Payment(e) => events::append(txn, &subject, e).await?,
        OrderEvent::Pick(e) => events::append(txn, &subject, e).await?,
        OrderEvent::Packing(e) => events::append(txn, &subject, e).await?,
        OrderEvent::Handover(e) => events::append(txn, &subject, e).await?,
        OrderEvent::Exception(e) => events::append(txn, &subject, e).await?,
    };
    Ok(())
}

/// Records a lifecycle move on the order and returns its event.
pub(crate) fn apply_move(
    stored: &mut StoredOrder,
    to: OrderState,
    actor: &str,
    location: &str,
    note: &str,
) -> Result<OrderEvent> {
    let from = stored.state()?;
    check_move(from, to)?;
    let change = pb::StateChange {
        from_state: state_to_proto(from) as i32,
        to_state: state_to_proto(to) as i32,
        actor_id: actor.to_owned(),
        location: location.to_owned(),
        note: note.to_owned(),
        change_time: Some(now_ts()),
    };
    let order = &mut stored.order;
    order.state = state_to_proto(to) as i32;
    order.history.push(change.clone());
    if to == OrderState::Picking && order.pick_lines.is_empty() {
        // OT-5: the pick list is the order's lines, one entry each.
        order.pick_lines = order
            .lines
            .iter()
            .enumerate()
            .map(|(i, line)| pb::PickLine {
                line_number: i as i32,
                pieces_ordered: line.pieces,
                ..Default::default()
            })
            .collect();
    }
    Ok(OrderEvent::Moved(pb::OrderMoved {
        order_id: order.id.clone(),
        customer_id: order.customer_id.clone(),
        change: Some(change),
        version: order.version + 1,
    }))
}

/// Records an exception on the order and returns its event (OT-7).
pub(crate) fn apply_exception(
    stored: &mut StoredOrder,
    kind: pb::ExceptionKind,
    description: &str,
    reporter: &str,
) -> OrderEvent {
    let exception = pb::OrderException {
        id: uuid::Uuid::now_v7().to_string(),
        order_id: stored.order.id.clone(),
        kind: kind as i32,
        description: description.to_owned(),
        reporter_id: reporter.to_owned(),
        raise_time: Some(now_ts()),
    };
    stored.order.exceptions.push(exception.clone());
    OrderEvent::Exception(pb::ExceptionRaised {
        exception: Some(exception),
        customer_id: stored.order.customer_id.clone(),
    })
}

impl OrderTrackingApi {
    /// One change to one order: claims the request_id, locks the row, lets `change` apply
    /// the rules, bumps the version, writes row and events in one transaction, then offers
    /// the new state to the hot store.
    pub(crate) async fn change<F>(
        &self,
        caller: &Caller,
        rpc: &str,
        order_id: &str,
        request_id: &str,
        fingerprint: &str,
        change: F,
    ) -> Result<pb::Order>
    where
        F: FnOnce(&mut StoredOrder) -> Result<Vec<OrderEvent>>,
    {
        if order_id.is_empty() {
            return Err(invalid("order_id", "required"));
        }
        let mutation =
            match idempotency::begin(&self.db, &scope(caller, rpc), request_id, fingerprint).await?
            {
                Begun::Fresh(mutation) => mutation,
                Begun::Replay(_) => return self.read(order_id).await,
            };
        let mut stored = store::lock(&mutation.txn, &self.cipher, order_id)
            .await?
            .ok_or_else(|| Error::NotFound(order_id.to_owned()))?;
        let events = change(&mut stored)?;
        stored.order.version += 1;
        stored.order.update_time = Some(now_ts());
        store::update(&mutation.txn, &self.cipher, &stored).await?;
        for event in &events {
            if let OrderEvent::Exception(raised) = event
                && let Some(exception) = &raised.exception
            {
                store::insert_exception(&mutation.txn, exception).await?;
            }
            append(&mutation.txn, order_id, event).await?;
        }
        mutation.commit(order_id.as_bytes()).await?;
        self.log.committed();
        let answer = masked(&stored.order);
        self.hot.put(&answer).await;
        Ok(answer)
    }

    /// The order as callers see it: hot store first, then the database, refilling.
    pub(crate) async fn read(&self, order_id: &str) -> Result<pb::Order> {
        if order_id.is_empty() {
            return Err(invalid("order_id", "required"));
        }
        if let Some(order) = self.hot.get(order_id).await {
            return Ok(order);
        }
        let stored = store::get(&self.db, &self.cipher, order_id)
            .await?
            .ok_or_else(|| Error::NotFound(order_id.to_owned()))?;
        let answer = masked(&stored.order);
        self.hot.put(&answer).await;
        Ok(answer)
    }

    async fn create(&self, caller: &Caller, mut body: pb::CreateOrderRequest) -> Result<pb::Order> {
        let (request_id, fingerprint) =
            idempotency::retry_keys(&mut body, |b| &mut b.request_id).map_err(Error::Invalid)?;
        let scope = scope(caller, "CreateOrder");
        // A retry answers before customer-registry is asked again.
        if !request_id.is_empty()
            && let Some(Claim::Replay(id)) =
                idempotency::find(&self.db, &scope, &request_id, &fingerprint).await?
        {
            return self.read(&String::from_utf8_lossy(&id)).await;
        }
        let mut order = body.order.unwrap_or_default();
        verify::check_new_order(&order, &self.rules.pricing.currency).map_err(Error::Invalid)?;
        let price = pricing::quote(
            &order.lines,
            order.distance_km,
            order.service_level(),
            &self.rules.pricing,
        )
        .map_err(|v| {
            Error::Invalid(
                v.into_iter()
                    .map(|f| FieldViolation {
                        field: format!("order.{}", f.field),
                        ..f
                    })
                    .collect(),
            )
        })?;
        let facts = match self.customers.lookup(order.customer_id.trim()).await {
            Ok(facts) => facts,
            Err(LookupError::NotFound) => {
                return Err(invalid("order.customer_id", "no such customer"));
            }
            Err(LookupError::Unavailable(why)) => return Err(Error::CustomersUnavailable(why)),
        };
        if !facts.active {
            return Err(Error::FailedPrecondition(format!(
                "customer {} is not active",
                order.customer_id
            )));
        }
        // OT-8 from CR-12: the tier's service plan says what is promised.
        let hours = facts.promised_delivery_hours;
        let now = Utc::now();
        order.id = uuid::Uuid::now_v7().to_string();
        order.customer_id = order.customer_id.trim().to_owned();
        order.state = pb::OrderState::Received as i32;
        order.price = Some(price);
        order.payment_status = pb::PaymentStatus::Unpaid as i32;
        order.promised_delivery_time = Some(timestamp(now + Duration::hours(i64::from(hours))));
        order.pick_lines.clear();
        order.packages.clear();
        order.handover = None;
        order.exceptions.clear();
        order.original_order_id.clear();
        order.return_reason = 0;
        order.history = vec![pb::StateChange {
            from_state: 0,
            to_state: pb::OrderState::Received as i32,
            actor_id: caller.subject.clone(),
            location: String::new(),
            note: format!("received by {}", order.channel().as_str_name()),
            change_time: Some(timestamp(now)),
        }];
        order.create_time = Some(timestamp(now));
        order.update_time = Some(timestamp(now));
        order.version = 1;
        let stored = StoredOrder {
            order,
            tier: facts.tier,
            delay_raised: false,
        };
        self.insert_new(&scope, &request_id, &fingerprint, stored, None)
            .await
    }

    /// Writes a new order (and, for a return, its ReturnCreated) with its events.
    async fn insert_new(
        &self,
        scope: &str,
        request_id: &str,
        fingerprint: &str,
        stored: StoredOrder,
        return_of: Option<pb::ReturnCreated>,
    ) -> Result<pb::Order> {
        let mutation = match idempotency::begin(&self.db, scope, request_id, fingerprint).await? {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => return self.read(&String::from_utf8_lossy(&id)).await,
        };
        let order = &stored.order;
        store::insert(&mutation.txn, &self.cipher, &stored).await?;
        events::append(
            &mutation.txn,
            &subject(&order.id),
            &pb::OrderCreated {
                order_id: order.id.clone(),
                customer_id: order.customer_id.clone(),
                channel: order.channel,
                total: order.price.as_ref().and_then(|p| p.total.clone()),
                promised_delivery_time: order.promised_delivery_time,
                original_order_id: order.original_order_id.clone(),
            },
        )
        .await?;
        if let Some(created) = &return_of {
            events::append(&mutation.txn, &subject(&order.id), created).await?;
        }
        mutation.commit(order.id.as_bytes()).await?;
        self.log.committed();
        tracing::info!(order_id = %order.id, channel = order.channel().as_str_name(), "order created");
        let answer = masked(order);
        self.hot.put(&answer).await;
        Ok(answer)
    }

    async fn create_return(
        &self,
        caller: &Caller,
        mut body: pb::CreateReturnRequest,
    ) -> Result<pb::Order> {
        let (request_id, fingerprint) =
            idempotency::retry_keys(&mut body, |b| &mut b.request_id).map_err(Error::Invalid)?;
        let scope = scope(caller, "CreateReturn");
        let mut v = Violations::new();
        v.check(
            !body.original_order_id.is_empty(),
            "original_order_id",
            "required",
        );
        let reason = pb::ReturnReason::try_from(body.reason).unwrap_or_default();
        v.check(
            reason != pb::ReturnReason::Unspecified,
            "reason",
            "required: discrepancy, damage or shortage",
        );
        v.check(body.note.chars().count() <= MAX_NOTE, "note", "too long");
        v.finish().map_err(Error::Invalid)?;
        let original = store::get(&self.db, &self.cipher, &body.original_order_id)
            .await?
            .ok_or_else(|| Error::NotFound(body.original_order_id.clone()))?;
        let state = original.state()?;
        if !matches!(state, OrderState::Delivered | OrderState::Completed) {
            return Err(Error::FailedPrecondition(format!(
                "only delivered orders can be returned; this one is {state}"
            )));
        }
        verify::check_return(
            &original.order.lines,
            &body.lines,
            &self.rules.pricing.currency,
        )
        .map_err(Error::Invalid)?;
        let first = &original.order;
        let price = pricing::quote(
            &body.lines,
            first.distance_km,
            pb::ServiceLevel::Standard,
            &self.rules.pricing,
        )
        .map_err(Error::Invalid)?;
        let now = Utc::now();
        let hours = match self.customers.promised_hours(&original.tier).await {
            Ok(hours) => hours,
            Err(LookupError::NotFound) => {
                return Err(Error::NotFound(original.order.customer_id.clone()));
            }
            Err(LookupError::Unavailable(why)) => return Err(Error::CustomersUnavailable(why)),
        };
        let order = pb::Order {
            id: uuid::Uuid::now_v7().to_string(),
            customer_id: first.customer_id.clone(),
            channel: first.channel,
            state: pb::OrderState::Received as i32,
            lines: body.lines.clone(),
            // The goods go back where they came from.
            origin: first.destination.clone(),
            destination: first.origin.clone(),
            distance_km: first.distance_km,
            service_level: pb::ServiceLevel::Standard as i32,
            price: Some(price),
            payment_status: pb::PaymentStatus::Unpaid as i32,
            promised_delivery_time: Some(timestamp(now + Duration::hours(i64::from(hours)))),
            history: vec![pb::StateChange {
                from_state: 0,
                to_state: pb::OrderState::Received as i32,
                actor_id: caller.subject.clone(),
                location: String::new(),
                note: format!("return of {}: {}", first.id, body.note.trim()),
                change_time: Some(timestamp(now)),
            }],
            original_order_id: first.id.clone(),
            return_reason: reason as i32,
            create_time: Some(timestamp(now)),
            update_time: Some(timestamp(now)),
            version: 1,
            ..Default::default()
        };
        let created = pb::ReturnCreated {
            return_order_id: order.id.clone(),
            original_order_id: first.id.clone(),
            reason: reason as i32,
        };
        let stored = StoredOrder {
            order,
            tier: original.tier.clone(),
            delay_raised: false,
        };
        self.insert_new(&scope, &request_id, &fingerprint, stored, Some(created))
            .await
    }

    async fn list(&self, request: pb::ListOrdersRequest) -> Result<pb::ListOrdersResponse> {
        let mut v = Violations::new();
        let paged = v.absorb(paging::parse(request.page_size, &request.page_token));
        let state = match pb::OrderState::try_from(request.state) {
            Ok(pb::OrderState::Unspecified) => None,
            Ok(s) => state_from_proto(s),
            Err(_) => {
                v.add("state", "unknown value");
                None
            }
        };
        let channel = match pb::Channel::try_from(request.channel) {
            Ok(pb::Channel::Unspecified) => None,
            Ok(c) => Some(c.as_str_name().to_owned()),
            Err(_) => {
                v.add("channel", "unknown value");
                None
            }
        };
        v.finish().map_err(Error::Invalid)?;
        let (page_size, after_id) = paged.unwrap_or((paging::DEFAULT_PAGE_SIZE, None));
        let filter = ListFilter {
            customer_id: (!request.customer_id.is_empty()).then_some(request.customer_id),
            state,
            channel,
            after_id,
        };
        let page = store::list(&self.db, &self.cipher, &filter, page_size + 1).await?;
        let (page, next_page_token) = paging::finish_page(page, page_size, |o| &o.order.id);
        Ok(pb::ListOrdersResponse {
            orders: page.iter().map(|s| masked(&s.order)).collect(),
            next_page_token,
        })
    }

    async fn cycle_time_report(
        &self,
        request: pb::GetCycleTimeReportRequest,
    ) -> Result<pb::CycleTimeReport> {
        let mut v = Violations::new();
        let interval = request.interval.unwrap_or_default();
        let start = interval.start_time.as_ref().and_then(verify::to_time);
        let end = interval.end_time.as_ref().and_then(verify::to_time);
        v.check(start.is_some(), "interval.start_time", "required");
        v.check(end.is_some(), "interval.end_time", "required");
        if let (Some(s), Some(e)) = (start, end) {
            v.check(e > s, "interval.end_time", "must be after start_time");
            v.check(e - s <= Duration::days(400), "interval", "at most 400 days");
        }
        let period = match pb::CycleTimePeriod::try_from(request.period) {
            Ok(pb::CycleTimePeriod::Day) => Some(Period::Day),
            Ok(pb::CycleTimePeriod::Week) => Some(Period::Week),
            Ok(pb::CycleTimePeriod::Month) => Some(Period::Month),
            _ => None,
        };
        v.check(period.is_some(), "period", "required: day, week or month");
        v.finish().map_err(Error::Invalid)?;
        let (Some(start), Some(end), Some(period)) = (start, end, period) else {
            return Err(invalid("interval", "required"));
        };
        let delivered: Vec<Delivered> = store::delivered(&self.db, start, end)
            .await?
            .into_iter()
            .map(|(channel, tier, received_at, delivered_at)| Delivered {
                channel: pb::Channel::from_str_name(&channel).unwrap_or_default() as i32,
                tier,
                received_at,
                delivered_at,
            })
            .collect();
        let rows = cycle_time::summarize(&delivered, period, self.rules.report_offset)
            .into_iter()
            .map(|r| pb::CycleTimeRow {
                channel: r.channel,
                tier: format!("TIER_{}", r.tier.to_ascii_uppercase()),
                period_start_time: Some(timestamp(r.period_start)),
                order_count: r.count,
                median_seconds: r.median_seconds,
                p90_seconds: r.p90_seconds,
            })
            .collect();
        Ok(pb::CycleTimeReport { rows })
    }
}

#[tonic::async_trait]
impl pb::order_tracking_service_server::OrderTrackingService for OrderTrackingApi {
    async fn create_order(
        &self,
        request: Request<pb::CreateOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let caller = Caller::from_request(&request)?.clone();
        Ok(Response::new(
            self.create(&caller, request.into_inner()).await?,
        ))
    }

    async fn get_order(
        &self,
        request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        Ok(Response::new(
            self.read(&request.into_inner().order_id).await?,
        ))
    }

    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        Ok(Response::new(self.list(request.into_inner()).await?))
    }

    async fn quote_price(
        &self,
        request: Request<pb::QuotePriceRequest>,
    ) -> Result<Response<pb::PriceBreakdown>, Status> {
        let request = request.into_inner();
        let mut v = Violations::new();
        verify::check_lines(
            &mut v,
            "lines",
            &request.lines,
            &self.rules.pricing.currency,
        );
        v.check(request.distance_km > 0, "distance_km", "more than 0");
        v.finish().map_err(Error::Invalid)?;
        let price = pricing::quote(
            &request.lines,
            request.distance_km,
            request.service_level(),
            &self.rules.pricing,
        )
        .map_err(Error::Invalid)?;
        Ok(Response::new(price))
    }

    async fn update_payment_status(
        &self,
        request: Request<pb::UpdatePaymentStatusRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let Mutating {
            caller,
            body,
            request_id,
            fingerprint,
        } = mutating(request)?;
        let status = pb::PaymentStatus::try_from(body.payment_status).unwrap_or_default();
        if status == pb::PaymentStatus::Unspecified {
            return Err(invalid(
                "payment_status",
                "required: unpaid, paid, on_account or refunded",
            )
            .into());
        }
        if let Some(amount) = &body.amount
            && (amount.minor_units < 0 || amount.currency_code != self.rules.pricing.currency)
        {
            return Err(invalid(
                "amount",
                format!("a non-negative amount in {}", self.rules.pricing.currency),
            )
            .into());
        }
        let order = self
            .change(
                &caller,
                "UpdatePaymentStatus",
                &body.order_id,
                &request_id,
                &fingerprint,
                |stored| {
                    if stored.state()? == OrderState::Cancelled && status == pb::PaymentStatus::Paid
                    {
                        return Err(Error::FailedPrecondition(
                            "a cancelled order cannot be paid".into(),
                        ));
                    }
                    stored.order.payment_status = status as i32;
                    Ok(vec![OrderEvent::Payment(pb::PaymentStatusChanged {
                        order_id: stored.order.id.clone(),
                        payment_status: status as i32,
                        amount: body.amount.clone(),
                    })])
                },
            )
            .await?;
        Ok(Response::new(order))
    }

    async fn move_order(
        &self,
        request: Request<pb::MoveOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let Mutating {
            caller,
            body,
            request_id,
            fingerprint,
        } = mutating(request)?;
        let to = pb::OrderState::try_from(body.to_state)
            .ok()
            .and_then(state_from_proto);
        let mut v = Violations::new();
        v.check(to.is_some(), "to_state", "required: the state to move to");
        v.check(
            body.location.chars().count() <= MAX_NOTE,
            "location",
            "too long",
        );
        v.check(body.note.chars().count() <= MAX_NOTE, "note", "too long");
        v.finish().map_err(Error::Invalid)?;
        let Some(to) = to else {
            return Err(invalid("to_state", "required").into());
        };
        let order = self
            .change(&caller, "MoveOrder", &body.order_id, &request_id, &fingerprint, |stored| {
                if body.expected_version != 0 && body.expected_version != stored.order.version {
                    return Err(Error::Aborted(format!(
                        "order is at version {}, not {}; read it again",
                        stored.order.version, body.expected_version
                    )));
                }
                match to {
                    OrderState::Packed => {
                        let open = verify::open_short_picks(&stored.order.pick_lines);
                        if !open.is_empty() {
                            return Err(Error::FailedPrecondition(format!("short picks on lines {open:?} are not resolved (OT-5)")));
                        }
                        if stored.order.packages.is_empty() {
                            return Err(Error::FailedPrecondition("record the packing list first (OT-5)".into()));
                        }
                    }
                    OrderState::Delivered => {
                        return Err(Error::FailedPrecondition("an order is delivered by RecordHandover, with signer and proof (OT-6)".into()));
                    }
                    _ => {}
                }
                let moved = apply_move(stored, to, &caller.subject, body.location.trim(), body.note.trim())?;
                Ok(vec![moved])
            })
            .await?;
        Ok(Response::new(order))
    }

    async fn record_pick(
        &self,
        request: Request<pb::RecordPickRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let Mutating {
            caller,
            body,
            request_id,
            fingerprint,
        } = mutating(request)?;
        let order = self
            .change(
                &caller,
                "RecordPick",
                &body.order_id,
                &request_id,
                &fingerprint,
                |stored| {
                    if stored.state()? != OrderState::Picking {
                        return Err(Error::FailedPrecondition(format!(
                            "picks are recorded while PICKING; the order is {}",
                            stored.state()?
                        )));
                    }
                    stored.order.pick_lines =
                        verify::check_pick(&stored.order.pick_lines, &body.pick_lines)
                            .map_err(Error::Invalid)?;
                    let short_lines =
                        verify::open_short_picks(&stored.order.pick_lines).len() as i32;
                    Ok(vec![OrderEvent::Pick(pb::PickRecorded {
                        order_id: stored.order.id.clone(),
                        short_lines,
                    })])
                },
            )
            .await?;
        Ok(Response::new(order))
    }

    async fn resolve_short_pick(
        &self,
        request: Request<pb::ResolveShortPickRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let Mutating {
            caller,
            body,
            request_id,
            fingerprint,
        } = mutating(request)?;
        if body.resolution.trim().is_empty() || body.resolution.chars().count() > MAX_NOTE {
            return Err(invalid("resolution", "required: how the short pick was settled").into());
        }
        let order = self
            .change(
                &caller,
                "ResolveShortPick",
                &body.order_id,
                &request_id,
                &fingerprint,
                |stored| {
                    if stored.state()? != OrderState::Picking {
                        return Err(Error::FailedPrecondition(
                            "short picks are resolved while PICKING".into(),
                        ));
                    }
                    let line = stored
                        .order
                        .pick_lines
                        .iter_mut()
                        .find(|p| p.line_number == body.line_number && p.short)
                        .ok_or_else(|| invalid("line_number", "no short pick on this line"))?;
                    line.resolution = body.resolution.trim().to_owned();
                    let short_lines =
                        verify::open_short_picks(&stored.order.pick_lines).len() as i32;
                    Ok(vec![OrderEvent::Pick(pb::PickRecorded {
                        order_id: stored.order.id.clone(),
                        short_lines,
                    })])
                },
            )
            .await?;
        Ok(Response::new(order))
    }

    async fn record_packing(
        &self,
        request: Request<pb::RecordPackingRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let Mutating {
            caller,
            body,
            request_id,
            fingerprint,
        } = mutating(request)?;
        let order = self
            .change(
                &caller,
                "RecordPacking",
                &body.order_id,
                &request_id,
                &fingerprint,
                |stored| {
                    if stored.state()? != OrderState::Picking {
                        return Err(Error::FailedPrecondition(
                            "the packing list is recorded while PICKING".into(),
                        ));
                    }
                    let open = verify::open_short_picks(&stored.order.pick_lines);
                    if !open.is_empty() {
                        return Err(Error::FailedPrecondition(format!(
                            "short picks on lines {open:?} are not resolved (OT-5)"
                        )));
                    }
                    if stored.order.pick_lines.iter().all(|p| p.pieces_picked == 0) {
                        return Err(Error::FailedPrecondition(
                            "record the pick first (OT-5)".into(),
                        ));
                    }
                    verify::check_packing(&stored.order.pick_lines, &body.packages)
                        .map_err(Error::Invalid)?;
                    stored.order.packages = body.packages.clone();
                    Ok(vec![OrderEvent::Packing(pb::PackingRecorded {
                        order_id: stored.order.id.clone(),
                        package_count: body.packages.len() as i32,
                    })])
                },
            )
            .await?;
        Ok(Response::new(order))
    }

    async fn record_handover(
        &self,
        request: Request<pb::RecordHandoverRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let Mutating {
            caller,
            body,
            request_id,
            fingerprint,
        } = mutating(request)?;
        verify::check_handover(body.handover.as_ref()).map_err(Error::Invalid)?;
        let order = self
            .change(
                &caller,
                "RecordHandover",
                &body.order_id,
                &request_id,
                &fingerprint,
                |stored| {
                    if stored.state()? != OrderState::OutForDelivery {
                        return Err(Error::FailedPrecondition(format!(
                            "handover happens OUT_FOR_DELIVERY; the order is {}",
                            stored.state()?
                        )));
                    }
                    let handover = body.handover.clone().unwrap_or_default();
                    let note = format!("signed by {}", handover.signer_name.trim());
                    stored.order.handover = Some(handover.clone());
                    let moved =
                        apply_move(stored, OrderState::Delivered, &caller.subject, "", &note)?;
                    // OT-6: the notification systems tell the customer from this event.
                    let signed = OrderEvent::Handover(pb::HandoverSigned {
                        order_id: stored.order.id.clone(),
                        customer_id: stored.order.customer_id.clone(),
                        sign_time: handover.sign_time,
                    });
                    Ok(vec![moved, signed])
                },
            )
            .await?;
        Ok(Response::new(order))
    }

    async fn raise_exception(
        &self,
        request: Request<pb::RaiseExceptionRequest>,
    ) -> Result<Response<pb::OrderException>, Status> {
        let Mutating {
            caller,
            body,
            request_id,
            fingerprint,
        } = mutating(request)?;
        let kind = pb::ExceptionKind::try_from(body.kind).unwrap_or_default();
        let mut v = Violations::new();
        v.check(
            kind != pb::ExceptionKind::Unspecified,
            "kind",
            "required: damage, loss, delay or handover_dispute",
        );
        v.check(
            !body.description.trim().is_empty(),
            "description",
            "required",
        );
        v.check(
            body.description.chars().count() <= MAX_NOTE,
            "description",
            "too long",
        );
        v.finish().map_err(Error::Invalid)?;
        let order = self
            .change(
                &caller,
                "RaiseException",
                &body.order_id,
                &request_id,
                &fingerprint,
                |stored| {
                    if stored.state()? == OrderState::Cancelled {
                        return Err(Error::FailedPrecondition(
                            "a cancelled order has no exceptions".into(),
                        ));
                    }
                    if kind == pb::ExceptionKind::Delay {
                        stored.delay_raised = true;
                    }
                    Ok(vec![apply_exception(
                        stored,
                        kind,
                        body.description.trim(),
                        &caller.subject,
                    )])
                },
            )
            .await?;
        // The newest exception of that kind is this call's (or, on a replay, the first call's).
        let exception = order
            .exceptions
            .iter()
            .rev()
            .find(|e| e.kind == kind as i32)
            .cloned()
            .ok_or_else(|| Status::internal("exception missing after commit"))?;
        Ok(Response::new(exception))
    }

    async fn list_exceptions(
        &self,
        request: Request<pb::ListExceptionsRequest>,
    ) -> Result<Response<pb::ListExceptionsResponse>, Status> {
        let request = request.into_inner();
        let mut v = Violations::new();
        let paged = v.absorb(paging::parse(request.page_size, &request.page_token));
        let kind = match pb::ExceptionKind::try_from(request.kind) {
            Ok(pb::ExceptionKind::Unspecified) => None,
            Ok(kind) => Some(kind),
            Err(_) => {
                v.add("kind", "unknown value");
                None
            }
        };
        v.finish().map_err(Error::Invalid)?;
        let (page_size, after) = paged.unwrap_or((paging::DEFAULT_PAGE_SIZE, None));
        let order_id = (!request.order_id.is_empty()).then_some(request.order_id.as_str());
        let page =
            store::list_exceptions(&self.db, order_id, kind, after.as_deref(), page_size + 1)
                .await
                .map_err(Error::from)?;
        let (page, next_page_token) = paging::finish_page(page, page_size, |e| &e.id);
        Ok(Response::new(pb::ListExceptionsResponse {
            exceptions: page,
            next_page_token,
        }))
    }

    async fn create_return(
        &self,
        request: Request<pb::CreateReturnRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let caller = Caller::from_request(&request)?.clone();
        Ok(Response::new(
            self.create_return(&caller, request.into_inner()).await?,
        ))
    }

    async fn get_cycle_time_report(
        &self,
        request: Request<pb::GetCycleTimeReportRequest>,
    ) -> Result<Response<pb::CycleTimeReport>, Status> {
        Ok(Response::new(
            self.cycle_time_report(request.into_inner()).await?,
        ))
    }

    async fn watch_order(
        &self,
        request: Request<pb::WatchOrderRequest>,
    ) -> Result<Response<BoxStream<pb::Order>>, Status> {
        let order_id = request.into_inner().order_id;
        // The head first, then the state: a change after the read is positioned above it.
        let head = self.log.head().await.map_err(Error::from)?;
        let first = self.read(&order_id).await?;
        let filter = pc::EventFilter {
            types: vec![],
            subjects: vec![subject(&order_id)],
        };
        let changes = self
            .log
            .stream(head, filter, self.lifecycle.stopping().clone());
        let api = self.clone();
        let terminal =
            |o: &pb::Order| state_from_proto(o.state()).is_some_and(OrderState::is_terminal);
        let first_is_terminal = terminal(&first);
        let initial = futures::stream::once(futures::future::ready(Ok(first.clone())));
        let updates = futures::stream::unfold(
            (Box::pin(changes), first.version, first_is_terminal),
            move |(mut changes, mut last_version, done)| {
                let api = api.clone();
                let order_id = order_id.clone();
                async move {
                    if done {
                        return None;
                    }
                    loop {
                        match changes.next().await? {
                            Err(e) => {
                                return Some((Err(Status::from(e)), (changes, last_version, true)));
                            }
                            Ok(_) => {
                                let stored = match store::get(&api.db, &api.cipher, &order_id).await
                                {
                                    Ok(Some(stored)) => stored,
                                    Ok(None) => continue,
                                    Err(e) => {
                                        return Some((
                                            Err(Status::from(Error::from(e))),
                                            (changes, last_version, true),
                                        ));
                                    }
                                };
                                if stored.order.version <= last_version {
                                    continue;
                                }
                                last_version = stored.order.version;
                                let order = masked(&stored.order);
                                let finished = terminal(&order);
                                return Some((Ok(order), (changes, last_version, finished)));
                            }
                        }
                    }
                }
            },
        );
        Ok(Response::new(Box::pin(initial.chain(updates))))
    }

    async fn stream_events(
        &self,
        request: Request<pb::StreamEventsRequest>,
    ) -> Result<Response<BoxStream<pb::StreamEventsResponse>>, Status> {
        let request = request.into_inner();
        let stream = self
            .log
            .stream(
                request.after_position,
                request.filter.unwrap_or_default(),
                self.lifecycle.stopping().clone(),
            )
            .map(|item| {
                item.map(|event| pb::StreamEventsResponse { event: Some(event) })
                    .map_err(Status::from)
            });
        Ok(Response::new(Box::pin(stream)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_mask_streets_but_keep_cities() {
        let order = pb::Order {
            origin: Some(pc::Address {
                city: "Fuzhou".into(),
                street: "1 Wusi Rd".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let shown = masked(&order);
        assert_eq!(shown.origin.as_ref().unwrap().street, "***");
        assert_eq!(shown.origin.as_ref().unwrap().city, "Fuzhou");
    }
}
