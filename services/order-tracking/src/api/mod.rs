//! order-tracking's gRPC face. Each RPC learns who asks (the platform's auth layer has
//! already checked the role), decodes its request into the domain's terms, calls one use
//! case, and maps the answer back; every error goes through error.rs.

pub mod convert;

use futures::StreamExt as _;
use kefu_platform::access::Viewer;
use kefu_platform::auth::{Caller, Role};
use kefu_platform::error::Violations;
use kefu_platform::events::EventResponses;
use kefu_platform::idempotency;
use kefu_platform::paging;
use kefu_platform::report::requested_period;
use kefu_platform::server::Lifecycle;
use kefu_platform::time::from_timestamp;
use kefu_proto::order as pb;
use tonic::{Request, Response, Status};

use crate::domain::cycle_time::Period;
use crate::domain::exceptions::Report;
use crate::domain::returns::ReturnRequest;
use crate::domain::{ExceptionKind, Order, OrderState, PaymentStatus, ReturnReason, ServiceLevel};
use crate::error::Result;
use crate::lifecycle::Move;
use crate::orders::{OrderQuery, Orders, Requester, Retry};
use convert::FromWire as _;

/// The gRPC service over the use cases.
#[derive(Clone, Debug)]
pub struct OrderTrackingApi {
    pub(crate) orders: Orders,
    pub(crate) lifecycle: Lifecycle,
}

/// Who asks, from the verified caller.
fn requester<T>(request: &Request<T>, rpc: &'static str) -> Result<Requester, Status> {
    let caller: &Caller = Caller::from_request(request)?;
    Ok(Requester {
        subject: caller.subject.clone(),
        viewer: Viewer {
            subject: caller.subject.clone(),
            restricted_to_own: caller.role == Role::Agent,
            team: caller.team.clone(),
        },
        rpc,
    })
}

/// The request_id taken out of `body`, and the fingerprint of the rest.
fn retry<M: prost::Message>(
    body: &mut M,
    field: impl FnOnce(&mut M) -> &mut String,
) -> Result<Retry> {
    let (request_id, fingerprint) = idempotency::retry_keys(body, field)?;
    Ok(Retry {
        request_id,
        fingerprint,
    })
}

fn nonempty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// An order as answers show it.
fn order(o: Order) -> pb::Order {
    pb::Order::from(&o)
}

/// The gRPC answer of a use case's result.
fn answer<T>(result: Result<T>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl pb::order_tracking_service_server::OrderTrackingService for OrderTrackingApi {
    async fn create_order(
        &self,
        request: Request<pb::CreateOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let who = requester(&request, "CreateOrder")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let mut unreadable = Violations::new();
                let draft = convert::new_order(body.order.unwrap_or_default(), &mut unreadable);
                let created = self
                    .orders
                    .create_order(&who, draft, unreadable, &retry)
                    .await?;
                Ok(order(created))
            }
            .await,
        )
    }

    async fn get_order(
        &self,
        request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let who = requester(&request, "GetOrder")?;
        let id = request.into_inner().order_id;
        answer(self.orders.read(&who, &id).await.map(order))
    }

    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        let who = requester(&request, "ListOrders")?;
        let request = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let paged = v.absorb(paging::parse(request.page_size, &request.page_token));
                let state = v.absorb(
                    convert::filter::<OrderState>(request.state, "state").map_err(|e| vec![e]),
                );
                let channel = v.absorb(
                    convert::filter::<crate::domain::Channel>(request.channel, "channel")
                        .map_err(|e| vec![e]),
                );
                v.finish()?;
                let (page_size, after_id) = paged.unwrap_or((paging::DEFAULT_PAGE_SIZE, None));
                let page = self
                    .orders
                    .list(
                        &who,
                        OrderQuery {
                            customer_id: nonempty(request.customer_id),
                            state: state.flatten(),
                            channel: channel.flatten(),
                            page_size,
                            after_id,
                        },
                    )
                    .await?;
                Ok(pb::ListOrdersResponse {
                    orders: page.items.into_iter().map(order).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn quote_price(
        &self,
        request: Request<pb::QuotePriceRequest>,
    ) -> Result<Response<pb::PriceBreakdown>, Status> {
        let request = request.into_inner();
        let mut unreadable = Violations::new();
        let lines = convert::lines(request.lines, "lines", &mut unreadable);
        answer(
            self.orders
                .quote(
                    &lines,
                    request.distance_km,
                    ServiceLevel::from_wire(request.service_level),
                    unreadable,
                )
                .map(|price| convert::price_to(&price)),
        )
    }

    async fn update_payment_status(
        &self,
        request: Request<pb::UpdatePaymentStatusRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let who = requester(&request, "UpdatePaymentStatus")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let changed = self
                    .orders
                    .update_payment(
                        &who,
                        &body.order_id,
                        PaymentStatus::from_wire(body.payment_status),
                        body.amount.map(convert::money),
                        &retry,
                    )
                    .await?;
                Ok(order(changed))
            }
            .await,
        )
    }

    async fn move_order(
        &self,
        request: Request<pb::MoveOrderRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let who = requester(&request, "MoveOrder")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let request = Move {
                    to: OrderState::from_wire(body.to_state),
                    expected_version: body.expected_version,
                    location: body.location,
                    note: body.note,
                };
                let moved = self
                    .orders
                    .move_order(&who, &body.order_id, request, &retry)
                    .await?;
                Ok(order(moved))
            }
            .await,
        )
    }

    async fn record_pick(
        &self,
        request: Request<pb::RecordPickRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let who = requester(&request, "RecordPick")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let reported = convert::pick_lines(body.pick_lines);
                let changed = self
                    .orders
                    .record_pick(&who, &body.order_id, reported, &retry)
                    .await?;
                Ok(order(changed))
            }
            .await,
        )
    }

    async fn resolve_short_pick(
        &self,
        request: Request<pb::ResolveShortPickRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let who = requester(&request, "ResolveShortPick")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let changed = self
                    .orders
                    .resolve_short_pick(
                        &who,
                        &body.order_id,
                        body.line_number,
                        &body.resolution,
                        &retry,
                    )
                    .await?;
                Ok(order(changed))
            }
            .await,
        )
    }

    async fn record_packing(
        &self,
        request: Request<pb::RecordPackingRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let who = requester(&request, "RecordPacking")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let packages = convert::packages(body.packages);
                let changed = self
                    .orders
                    .record_packing(&who, &body.order_id, packages, &retry)
                    .await?;
                Ok(order(changed))
            }
            .await,
        )
    }

    async fn record_handover(
        &self,
        request: Request<pb::RecordHandoverRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let who = requester(&request, "RecordHandover")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let handover = body.handover.map(convert::handover);
                let changed = self
                    .orders
                    .record_handover(&who, &body.order_id, handover, &retry)
                    .await?;
                Ok(order(changed))
            }
            .await,
        )
    }

    async fn raise_exception(
        &self,
        request: Request<pb::RaiseExceptionRequest>,
    ) -> Result<Response<pb::OrderException>, Status> {
        let who = requester(&request, "RaiseException")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let report = Report {
                    kind: ExceptionKind::from_wire(body.kind),
                    description: body.description,
                    reporter_id: who.subject.clone(),
                };
                let raised = self
                    .orders
                    .raise_exception(&who, &body.order_id, report, &retry)
                    .await?;
                Ok(convert::exception_to(&raised))
            }
            .await,
        )
    }

    async fn list_exceptions(
        &self,
        request: Request<pb::ListExceptionsRequest>,
    ) -> Result<Response<pb::ListExceptionsResponse>, Status> {
        let who = requester(&request, "ListExceptions")?;
        let request = request.into_inner();
        answer(
            async {
                let mut v = Violations::new();
                let paged = v.absorb(paging::parse(request.page_size, &request.page_token));
                let kind = v.absorb(
                    convert::filter::<ExceptionKind>(request.kind, "kind").map_err(|e| vec![e]),
                );
                v.finish()?;
                let (page_size, after) = paged.unwrap_or((paging::DEFAULT_PAGE_SIZE, None));
                let page = self
                    .orders
                    .list_exceptions(
                        &who,
                        nonempty(request.order_id),
                        kind.flatten(),
                        page_size,
                        after,
                    )
                    .await?;
                Ok(pb::ListExceptionsResponse {
                    exceptions: page.items.iter().map(convert::exception_to).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await,
        )
    }

    async fn create_return(
        &self,
        request: Request<pb::CreateReturnRequest>,
    ) -> Result<Response<pb::Order>, Status> {
        let who = requester(&request, "CreateReturn")?;
        let mut body = request.into_inner();
        answer(
            async {
                let retry = retry(&mut body, |b| &mut b.request_id)?;
                let mut unreadable = Violations::new();
                let request = ReturnRequest {
                    original_order_id: body.original_order_id,
                    reason: ReturnReason::from_wire(body.reason),
                    lines: convert::lines(body.lines, "lines", &mut unreadable),
                    note: body.note,
                };
                let created = self
                    .orders
                    .create_return(&who, request, unreadable, &retry)
                    .await?;
                Ok(order(created))
            }
            .await,
        )
    }

    async fn get_cycle_time_report(
        &self,
        request: Request<pb::GetCycleTimeReportRequest>,
    ) -> Result<Response<pb::CycleTimeReport>, Status> {
        let request = request.into_inner();
        let interval = request.interval.unwrap_or_default();
        let period = match pb::CycleTimePeriod::try_from(request.period) {
            Ok(pb::CycleTimePeriod::Day) => Some(Period::Day),
            Ok(pb::CycleTimePeriod::Week) => Some(Period::Week),
            Ok(pb::CycleTimePeriod::Month) => Some(Period::Month),
            _ => None,
        };
        answer(
            self.orders
                .cycle_time_report(
                    interval.start_time.as_ref().and_then(from_timestamp),
                    interval.end_time.as_ref().and_then(from_timestamp),
                    period,
                )
                .await
                .map(|rows| pb::CycleTimeReport {
                    rows: rows.into_iter().map(convert::cycle_row).collect(),
                }),
        )
    }

    async fn get_business_report(
        &self,
        request: Request<pb::GetBusinessReportRequest>,
    ) -> Result<Response<kefu_proto::common::BusinessReport>, Status> {
        let r = request.into_inner();
        answer(
            self.orders
                .business_report(requested_period(r.period), &r.period_label)
                .await
                .map(|report| report.to_proto()),
        )
    }

    async fn watch_order(
        &self,
        request: Request<pb::WatchOrderRequest>,
    ) -> Result<Response<EventResponses<pb::Order>>, Status> {
        let who = requester(&request, "WatchOrder")?;
        let id = request.into_inner().order_id;
        let watched = self
            .orders
            .watch(&who, &id, self.lifecycle.stopping().clone())
            .await
            .map_err(Status::from)?;
        Ok(Response::new(Box::pin(
            watched.map(|item| item.map(order).map_err(Status::from)),
        )))
    }

    async fn stream_events(
        &self,
        request: Request<pb::StreamEventsRequest>,
    ) -> Result<Response<EventResponses<pb::StreamEventsResponse>>, Status> {
        let request = request.into_inner();
        Ok(Response::new(self.orders.log.serve(
            request.after_position,
            request.filter,
            self.lifecycle.stopping().clone(),
            |event| pb::StreamEventsResponse { event: Some(event) },
        )))
    }
}
