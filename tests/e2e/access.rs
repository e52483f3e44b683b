//! X-4 across the suite: one matrix over every RPC of every service whose request names a
//! resource, found in the descriptors so that an RPC without a rule fails. Another team's
//! people call each one about team A's resources: refused with PERMISSION_DENIED, nothing
//! in any database changed, and a list narrowed by an id shows nothing of team A's. Team A's
//! own people make the same calls and are not refused, so every refusal is about whose the
//! resource is. Each service's own tests check its rules one by one; this one checks that
//! none was forgotten.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kefu_platform::auth::{Grant, Role, SCOPE_PII_READ};
use kefu_proto::complaint as dpb;
use kefu_proto::complaint::complaint_desk_service_client::ComplaintDeskServiceClient;
use kefu_proto::customer as cpb;
use kefu_proto::customer::customer_registry_service_client::CustomerRegistryServiceClient;
use kefu_proto::order as opb;
use kefu_proto::order::order_tracking_service_client::OrderTrackingServiceClient;
use kefu_proto::staff as kpb;
use kefu_proto::staff::staff_kpi_service_client::StaffKpiServiceClient;
use kefu_proto::survey as spb;
use kefu_proto::survey::survey_service_client::SurveyServiceClient;
use kefu_testkit::{App, Backend, Spawn};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor, MethodDescriptor};
use tonic::Code;

use crate::fuzz::RawCodec;

/// How a call about team A's resource is judged. The text is the request, as protobuf
/// JSON, with `%name%` for the fixture's ids and versions.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// Agents work it: another team's agent (and, where supervisors are limited to their
    /// teams, another team's supervisor) is refused; team A's agent is not.
    Agents(&'static str),
    /// Supervisors and managers work it: every agent is refused, team A's included; another
    /// team's supervisor too where supervisors are limited; team A's supervisor is not.
    Supervisors(&'static str),
    /// Only managers (and other systems): every agent and supervisor is refused.
    Managers(&'static str),
    /// A list the id narrows: whatever another team's people get names nothing of team A's;
    /// team A's agent gets an answer.
    Narrowed(&'static str),
    /// Not one team's resource; the text says why.
    Exempt(&'static str),
}

use Rule::{Agents, Exempt, Managers, Narrowed, Supervisors};

/// Where supervisors reach only their own teams' resources; elsewhere they reach every
/// team's by design (customer-registry, order-tracking, survey: "supervisors, managers and
/// other systems reach every customer").
const SUPERVISORS_BY_TEAM: [&str; 2] = ["complaint-desk", "staff-kpi"];

const RULES: &[(&str, &str, Rule)] = &[
    // customer-registry
    (
        "customer-registry",
        "CreateCustomer",
        Agents(
            r#"{"customer":{"kind":"CUSTOMER_KIND_ENTERPRISE","displayName":"Another","registrationNumber":"91350100M000100Y43","contacts":[{"displayName":"Li","phone":"0591-87654321"}],"teamId":"%team%"}}"#,
        ),
    ),
    (
        "customer-registry",
        "GetCustomer",
        Agents(r#"{"customerId":"%customer%"}"#),
    ),
    (
        "customer-registry",
        "UpdateCustomer",
        Agents(
            r#"{"customer":{"id":"%customer%","industry":"freight"},"updateMask":"industry","expectedVersion":%customer_version%}"#,
        ),
    ),
    (
        "customer-registry",
        "ArchiveCustomer",
        Supervisors(r#"{"customerId":"%customer%","reason":"moved away"}"#),
    ),
    (
        "customer-registry",
        "EraseCustomer",
        Managers(r#"{"customerId":"%customer%","legalReference":"PIPL-47"}"#),
    ),
    (
        "customer-registry",
        "ConfirmCustomer",
        Agents(r#"{"customerId":"%customer%"}"#),
    ),
    (
        "customer-registry",
        "ListStaleCustomers",
        Narrowed(r#"{"ownerId":"agent-a"}"#),
    ),
    (
        "customer-registry",
        "ListTierChanges",
        Agents(r#"{"customerId":"%customer%"}"#),
    ),
    (
        "customer-registry",
        "OverrideTier",
        Managers(r#"{"customerId":"%customer%","tier":"TIER_LARGE","reason":"contract"}"#),
    ),
    (
        "customer-registry",
        "ClearTierOverride",
        Managers(r#"{"customerId":"%customer%","reason":"contract ended"}"#),
    ),
    (
        "customer-registry",
        "ExplainGrade",
        Agents(r#"{"customerId":"%customer%"}"#),
    ),
    (
        "customer-registry",
        "RecomputeGrades",
        Supervisors(r#"{"customerId":"%customer%"}"#),
    ),
    (
        "customer-registry",
        "AssignOwner",
        Supervisors(
            r#"{"customerId":"%customer%","ownerId":"agent-a","visitorId":"agent-a","visitorIsNotSalesperson":true}"#,
        ),
    ),
    (
        "customer-registry",
        "ListOverdueVisits",
        Narrowed(r#"{"teamId":"%team%"}"#),
    ),
    (
        "customer-registry",
        "CreateVisitReport",
        Agents(
            r#"{"visitReport":{"customerId":"%customer%","visitTime":"%earlier%","customerFeedback":"wants Saturdays","marketIntelligence":"none","visitEffect":"renewal","mattersHandled":"billing"}}"#,
        ),
    ),
    (
        "customer-registry",
        "GetVisitReport",
        Agents(r#"{"visitReportId":"%visit%"}"#),
    ),
    (
        "customer-registry",
        "ListVisitReports",
        Narrowed(r#"{"customerId":"%customer%"}"#),
    ),
    (
        "customer-registry",
        "GenerateMonthlyReport",
        Supervisors(r#"{"teamId":"%team%","month":"%month%"}"#),
    ),
    (
        "customer-registry",
        "GetMonthlyReport",
        Supervisors(r#"{"monthlyReportId":"%monthly%"}"#),
    ),
    (
        "customer-registry",
        "SubmitMonthlyReport",
        Supervisors(r#"{"monthlyReportId":"%monthly%","supervisorSummary":"a calm month"}"#),
    ),
    (
        "customer-registry",
        "CreateUrgentReport",
        Agents(
            r#"{"urgentReport":{"customerId":"%customer%","trigger":"URGENT_TRIGGER_OWN_SERVICE_PROBLEM","description":"three late deliveries"}}"#,
        ),
    ),
    (
        "customer-registry",
        "ListAuditRecords",
        Supervisors(r#"{"customerId":"%customer%"}"#),
    ),
    (
        "customer-registry",
        "GetKeyRotation",
        Exempt("a key rotation is an operator's act on the whole archive, not a team's"),
    ),
    (
        "customer-registry",
        "ListServiceRecord",
        Agents(r#"{"customerId":"%customer%"}"#),
    ),
    // order-tracking
    (
        "order-tracking",
        "CreateOrder",
        Agents(
            r#"{"order":{"customerId":"%customer%","channel":"CHANNEL_API","serviceLevel":"SERVICE_LEVEL_STANDARD","distanceKm":120,"origin":{"province":"Fujian","city":"Fuzhou"},"destination":{"province":"Fujian","city":"Quanzhou"},"lines":[{"description":"parts","pieces":2,"weightGrams":4000,"volumeCm3":8000}]}}"#,
        ),
    ),
    (
        "order-tracking",
        "GetOrder",
        Agents(r#"{"orderId":"%order%"}"#),
    ),
    (
        "order-tracking",
        "ListOrders",
        Narrowed(r#"{"customerId":"%customer%"}"#),
    ),
    (
        "order-tracking",
        "UpdatePaymentStatus",
        Agents(r#"{"orderId":"%order%","paymentStatus":"PAYMENT_STATUS_PAID"}"#),
    ),
    (
        "order-tracking",
        "MoveOrder",
        Agents(
            r#"{"orderId":"%order%","toState":"ORDER_STATE_COMPLETED","expectedVersion":%order_version%}"#,
        ),
    ),
    (
        "order-tracking",
        "RecordPick",
        Agents(r#"{"orderId":"%order%","pickLines":[{"lineNumber":0,"piecesPicked":1}]}"#),
    ),
    (
        "order-tracking",
        "ResolveShortPick",
        Agents(r#"{"orderId":"%order%","lineNumber":0,"resolution":"found"}"#),
    ),
    (
        "order-tracking",
        "RecordPacking",
        Agents(
            r#"{"orderId":"%order%","packages":[{"packageId":"P9","lineNumbers":[0],"weightGrams":1}]}"#,
        ),
    ),
    (
        "order-tracking",
        "RecordHandover",
        Agents(
            r#"{"orderId":"%order%","handover":{"documentNumbers":["D-1"],"handedBy":"driver-1","signerName":"Wang","signTime":"%now%","proofUri":"docs://proof/1"}}"#,
        ),
    ),
    (
        "order-tracking",
        "RaiseException",
        Agents(
            r#"{"orderId":"%order%","kind":"EXCEPTION_KIND_DAMAGE","description":"box dented"}"#,
        ),
    ),
    (
        "order-tracking",
        "ListExceptions",
        Agents(r#"{"orderId":"%order%"}"#),
    ),
    (
        "order-tracking",
        "CreateReturn",
        Agents(
            r#"{"originalOrderId":"%order%","reason":"RETURN_REASON_DAMAGE","lines":[{"description":"parts","pieces":2,"weightGrams":4000,"volumeCm3":8000}]}"#,
        ),
    ),
    (
        "order-tracking",
        "WatchOrder",
        Agents(r#"{"orderId":"%order%"}"#),
    ),
    // complaint-desk
    (
        "complaint-desk",
        "CreateComplaint",
        Exempt(
            "the hotline is shared: whoever takes the call registers the case, which goes to \
             the customer's team with the taker as the one person responsible (CD-1, CD-2)",
        ),
    ),
    (
        "complaint-desk",
        "GetComplaint",
        Agents(r#"{"complaintId":"%complaint%"}"#),
    ),
    (
        "complaint-desk",
        "ListComplaints",
        Narrowed(r#"{"customerId":"%customer%","teamId":"%team%"}"#),
    ),
    (
        "complaint-desk",
        "UpdateComplaint",
        Agents(
            r#"{"complaint":{"id":"%complaint%","severity":"SEVERITY_HIGH"},"updateMask":"severity","expectedVersion":%complaint_version%}"#,
        ),
    ),
    (
        "complaint-desk",
        "AssignComplaint",
        Agents(
            r#"{"complaintId":"%complaint%","assigneeId":"agent-a","expectedVersion":%complaint_version%}"#,
        ),
    ),
    (
        "complaint-desk",
        "RecordFirstResponse",
        Agents(
            r#"{"complaintId":"%complaint%","message":"we are on it","expectedVersion":%complaint_version%}"#,
        ),
    ),
    (
        "complaint-desk",
        "RecordCustomerContact",
        Agents(
            r#"{"complaintId":"%complaint%","channel":"CONTACT_CHANNEL_PHONE","expectedVersion":%complaint_version%}"#,
        ),
    ),
    (
        "complaint-desk",
        "PauseClock",
        Agents(
            r#"{"complaintId":"%complaint%","reason":"PAUSE_REASON_OTHER","note":"waiting","expectedVersion":%complaint_version%}"#,
        ),
    ),
    (
        "complaint-desk",
        "ResumeClock",
        Agents(r#"{"complaintId":"%complaint%","expectedVersion":%complaint_version%}"#),
    ),
    (
        "complaint-desk",
        "RecordInvestigation",
        Agents(
            r#"{"complaintId":"%complaint%","investigation":{"rootCause":"ROOT_CAUSE_OTHER","correctiveAction":"none"},"expectedVersion":%complaint_version%}"#,
        ),
    ),
    (
        "complaint-desk",
        "ResolveComplaint",
        Agents(
            r#"{"complaintId":"%complaint%","resolution":{"answer":"replaced"},"expectedVersion":%complaint_version%}"#,
        ),
    ),
    (
        "complaint-desk",
        "RecordFollowUp",
        Agents(
            r#"{"complaintId":"%complaint%","followUp":{"outcome":"FOLLOW_UP_OUTCOME_SATISFIED"},"expectedVersion":%complaint_version%}"#,
        ),
    ),
    (
        "complaint-desk",
        "EscalateComplaint",
        Agents(
            r#"{"complaintId":"%complaint%","reason":"no answer","expectedVersion":%complaint_version%}"#,
        ),
    ),
    (
        "complaint-desk",
        "CreateKnowledgeEntry",
        Agents(
            r#"{"knowledgeEntry":{"category":"CATEGORY_DAMAGE","problem":"crushed cartons","solution":"double-wall cartons","complaintIds":["%complaint%"]}}"#,
        ),
    ),
    (
        "complaint-desk",
        "GetKnowledgeEntry",
        Exempt("the knowledge base is the whole department's (CD-9), not a team's"),
    ),
    (
        "complaint-desk",
        "UpdateKnowledgeEntry",
        Exempt(
            "the knowledge base is the whole department's (CD-9); an edit cannot change which cases an entry cites",
        ),
    ),
    (
        "complaint-desk",
        "PublishKnowledgeEntry",
        Exempt("the knowledge base is the whole department's (CD-9), not a team's"),
    ),
    (
        "complaint-desk",
        "RetireKnowledgeEntry",
        Exempt("the knowledge base is the whole department's (CD-9), not a team's"),
    ),
    // survey
    (
        "survey",
        "CreateQuestionnaire",
        Exempt("questionnaires are the department's, not a team's"),
    ),
    (
        "survey",
        "GetQuestionnaire",
        Exempt("questionnaires are the department's, not a team's"),
    ),
    (
        "survey",
        "UpdateQuestionnaire",
        Exempt("questionnaires are the department's, not a team's"),
    ),
    (
        "survey",
        "PublishQuestionnaire",
        Exempt("questionnaires are the department's, not a team's"),
    ),
    (
        "survey",
        "CreateCampaign",
        Exempt("campaigns are the department's, not a team's"),
    ),
    (
        "survey",
        "GetCampaign",
        Exempt("campaigns are the department's, not a team's"),
    ),
    (
        "survey",
        "CancelCampaign",
        Exempt("campaigns are the department's, not a team's"),
    ),
    (
        "survey",
        "CreateTrigger",
        Exempt("triggers are the department's, not a team's"),
    ),
    (
        "survey",
        "GetTrigger",
        Exempt("triggers are the department's, not a team's"),
    ),
    (
        "survey",
        "SetTriggerEnabled",
        Exempt("triggers are the department's, not a team's"),
    ),
    (
        "survey",
        "CreateInvitation",
        Agents(
            r#"{"invitation":{"customerId":"%customer%","questionnaireId":"%questionnaire%","method":"METHOD_PHONE"}}"#,
        ),
    ),
    (
        "survey",
        "GetInvitation",
        Agents(r#"{"invitationId":"%invitation%"}"#),
    ),
    (
        "survey",
        "ListInvitations",
        Narrowed(r#"{"customerId":"%customer%","teamId":"%team%"}"#),
    ),
    (
        "survey",
        "SubmitResponse",
        Agents(r#"{"invitationId":"%invitation%","answers":[{"questionId":"csat","score":5}]}"#),
    ),
    (
        "survey",
        "GetResponse",
        Agents(r#"{"responseId":"%response%"}"#),
    ),
    (
        "survey",
        "SetOptOut",
        Agents(r#"{"customerId":"%customer%","optedOut":true,"reason":"asked"}"#),
    ),
    (
        "survey",
        "GetOptOut",
        Agents(r#"{"customerId":"%customer%"}"#),
    ),
    (
        "survey",
        "ListSkippedSurveys",
        Supervisors(r#"{"customerId":"%customer%"}"#),
    ),
    (
        "survey",
        "SubmitOnlineResponse",
        Exempt(
            "the customer answers with the one-time token the invitation carried; no staff team is asked",
        ),
    ),
    (
        "survey",
        "GetScoreReport",
        Exempt("figures over a campaign or questionnaire, counted over every team"),
    ),
    (
        "survey",
        "GetFollowUpTask",
        Agents(r#"{"followUpTaskId":"%task%"}"#),
    ),
    (
        "survey",
        "ListFollowUpTasks",
        Narrowed(r#"{"teamId":"%team%"}"#),
    ),
    (
        "survey",
        "CompleteFollowUpTask",
        Agents(
            r#"{"followUpTaskId":"%task%","outcome":"FOLLOW_UP_TASK_OUTCOME_SETTLED","expectedVersion":%task_version%}"#,
        ),
    ),
    // staff-kpi
    (
        "staff-kpi",
        "CreateStaff",
        Managers(
            r#"{"staff":{"id":"agent-c","displayName":"C","role":"STAFF_ROLE_AGENT","teamId":"%team%","managerId":"sup-a"}}"#,
        ),
    ),
    (
        "staff-kpi",
        "GetStaff",
        Exempt("the staff directory (names, roles, teams) is open to everyone in the department"),
    ),
    (
        "staff-kpi",
        "ListStaff",
        Exempt("the staff directory (names, roles, teams) is open to everyone in the department"),
    ),
    (
        "staff-kpi",
        "UpdateStaff",
        Managers(
            r#"{"staff":{"id":"agent-a","displayName":"A"},"updateMask":"displayName","expectedVersion":1}"#,
        ),
    ),
    (
        "staff-kpi",
        "RecordStaffDeparture",
        Managers(r#"{"staffId":"agent-a","expectedVersion":1,"leaveTime":"%earlier%"}"#),
    ),
    (
        "staff-kpi",
        "CreateTeam",
        Managers(r#"{"team":{"id":"tc","displayName":"C desk","supervisorId":"sup-a"}}"#),
    ),
    (
        "staff-kpi",
        "GetTeam",
        Exempt("the staff directory (names, roles, teams) is open to everyone in the department"),
    ),
    (
        "staff-kpi",
        "UpdateTeam",
        Managers(
            r#"{"team":{"id":"%team%","displayName":"A desk"},"updateMask":"displayName","expectedVersion":1}"#,
        ),
    ),
    (
        "staff-kpi",
        "CreatePeriod",
        Exempt("an assessment period is the whole department's (opening one is a manager's act)"),
    ),
    (
        "staff-kpi",
        "GetPeriod",
        Exempt("an assessment period is the whole department's"),
    ),
    (
        "staff-kpi",
        "ClosePeriod",
        Exempt("an assessment period is the whole department's (closing it is a manager's act)"),
    ),
    (
        "staff-kpi",
        "GetAssessment",
        Agents(r#"{"staffId":"agent-a","periodId":"%period%"}"#),
    ),
    (
        "staff-kpi",
        "ListAssessments",
        Narrowed(r#"{"periodId":"%period%","teamId":"%team%"}"#),
    ),
    (
        "staff-kpi",
        "RecomputeAssessment",
        Supervisors(r#"{"staffId":"agent-a","periodId":"%period%"}"#),
    ),
    (
        "staff-kpi",
        "ListFigureSources",
        Agents(r#"{"staffId":"agent-a","periodId":"%period%"}"#),
    ),
    (
        "staff-kpi",
        "CreateDispute",
        Agents(
            r#"{"dispute":{"staffId":"agent-a","periodId":"%period%","kpi":"KPI_CONDUCT","eventId":"%breach_event%","reason":"not me"}}"#,
        ),
    ),
    (
        "staff-kpi",
        "GetDispute",
        Agents(r#"{"disputeId":"%dispute%"}"#),
    ),
    (
        "staff-kpi",
        "ListDisputes",
        Narrowed(r#"{"staffId":"agent-a","periodId":"%period%"}"#),
    ),
    (
        "staff-kpi",
        "DecideDispute",
        Supervisors(
            r#"{"disputeId":"%dispute%","expectedVersion":%dispute_version%,"decision":"DISPUTE_STATE_UPHELD","decisionNote":"fine"}"#,
        ),
    ),
    (
        "staff-kpi",
        "GetRewardRule",
        Exempt("reward rules are the department's, the same for every team"),
    ),
    (
        "staff-kpi",
        "UpdateRewardRule",
        Exempt("reward rules are the department's, the same for every team"),
    ),
    (
        "staff-kpi",
        "CreateRewardRule",
        Exempt("reward rules are the department's, the same for every team"),
    ),
    (
        "staff-kpi",
        "ListRewardPenalties",
        Narrowed(r#"{"periodId":"%period%","staffId":"agent-a"}"#),
    ),
    (
        "staff-kpi",
        "RecordConductBreach",
        Supervisors(
            r#"{"breach":{"staffId":"agent-a","kind":"BREACH_KIND_PRIVACY","description":"read a file aloud","evidenceReference":"HR-9","occurTime":"%earlier%"}}"#,
        ),
    ),
    (
        "staff-kpi",
        "GetConductBreach",
        Agents(r#"{"breachId":"%breach%"}"#),
    ),
    (
        "staff-kpi",
        "ListConductBreaches",
        Narrowed(r#"{"staffId":"agent-a"}"#),
    ),
    (
        "staff-kpi",
        "CreateTrainingPlan",
        Supervisors(
            r#"{"plan":{"title":"Angry callers","sessionTime":"%earlier%","teamId":"%team%"}}"#,
        ),
    ),
    (
        "staff-kpi",
        "GetTrainingPlan",
        Exempt("a training plan's title and time are announced to the whole department"),
    ),
    (
        "staff-kpi",
        "RecordTrainingAttendance",
        Supervisors(
            r#"{"record":{"planId":"%plan%","staffId":"agent-a","attendance":"ATTENDANCE_ATTENDED","evaluationScore":90}}"#,
        ),
    ),
    (
        "staff-kpi",
        "ListTrainingRecords",
        Narrowed(r#"{"staffId":"agent-a","planId":"%plan%"}"#),
    ),
];

/// Whether a request names a resource: a field called `id`, `…_id` or `…_ids` (other than
/// the idempotency key) in the request or a message it holds.
fn names_a_resource(message: &MessageDescriptor, depth: usize) -> bool {
    message.fields().any(|f| {
        let name = f.name();
        let id = name != "request_id"
            && ((depth > 0 && name == "id") || name.ends_with("_id") || name.ends_with("_ids"));
        id || match f.kind() {
            Kind::Message(inner) if depth < 2 && inner.package_name().starts_with("kefu.") => {
                names_a_resource(&inner, depth + 1)
            }
            _ => false,
        }
    })
}

/// Who calls: team A's and team B's agents and supervisors.
struct People {
    agent_a: String,
    agent_b: String,
    supervisor_a: String,
    supervisor_b: String,
}

impl People {
    fn new(app: &App) -> Self {
        let grant = |subject: &str, role: Role, team: &str, department: &str| {
            app.token_for(&Grant {
                subject,
                role,
                scopes: &[SCOPE_PII_READ],
                team,
                department,
            })
        };
        Self {
            agent_a: grant("agent-a", Role::Agent, "ta", ""),
            agent_b: grant("agent-b", Role::Agent, "tb", ""),
            supervisor_a: grant("sup-a", Role::Supervisor, "ta", "north"),
            supervisor_b: grant("sup-b", Role::Supervisor, "tb", "south"),
        }
    }
}

/// Team A's resources, one of each kind, and the values the requests name.
struct Fixture {
    values: BTreeMap<&'static str, String>,
}

impl Fixture {
    fn get(&self, key: &str) -> &str {
        self.values
            .get(key)
            .map_or_else(|| panic!("no fixture value {key}"), String::as_str)
    }

    /// The request for `method` from `template`, encoded.
    fn request(&self, method: &MethodDescriptor, template: &str) -> Bytes {
        let mut json = template.to_owned();
        for (key, value) in &self.values {
            json = json.replace(&format!("%{key}%"), value);
        }
        assert!(!json.contains('%'), "{}: unfilled {json}", method.name());
        let mut de = serde_json::Deserializer::from_str(&json);
        let message = DynamicMessage::deserialize(method.input(), &mut de)
            .unwrap_or_else(|e| panic!("{}: {e} in {json}", method.name()));
        Bytes::from(message.encode_to_vec())
    }

    /// Ids an outsider's answer must not hold.
    fn secrets(&self) -> Vec<&str> {
        [
            "customer",
            "order",
            "complaint",
            "visit",
            "monthly",
            "invitation",
            "response",
            "task",
            "dispute",
            "breach",
        ]
        .into_iter()
        .map(|key| self.get(key))
        .collect()
    }

    /// Reads the versions again, so that team A's own calls name the current one.
    async fn refresh(&mut self, app: &App, manager: &str) {
        let channel = app.authed(Some(manager.to_owned()), Some("audit")).await;
        let customer = CustomerRegistryServiceClient::new(channel.clone())
            .get_customer(cpb::GetCustomerRequest {
                customer_id: self.get("customer").to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        let order = OrderTrackingServiceClient::new(channel.clone())
            .get_order(opb::GetOrderRequest {
                order_id: self.get("order").to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        let complaint = ComplaintDeskServiceClient::new(channel.clone())
            .get_complaint(dpb::GetComplaintRequest {
                complaint_id: self.get("complaint").to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        let task = SurveyServiceClient::new(channel.clone())
            .get_follow_up_task(spb::GetFollowUpTaskRequest {
                follow_up_task_id: self.get("task").to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        let dispute = StaffKpiServiceClient::new(channel)
            .get_dispute(kpb::GetDisputeRequest {
                dispute_id: self.get("dispute").to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        for (key, version) in [
            ("customer_version", customer.version),
            ("order_version", order.version),
            ("complaint_version", complaint.version),
            ("task_version", task.version),
            ("dispute_version", dispute.version),
        ] {
            self.values.insert(key, version.to_string());
        }
    }
}

/// Builds team A's world: its people and team in staff-kpi, a customer with an order, a
/// complaint, a visit report, a month's report, a survey answered badly (so a follow-up
/// task), a breach of conduct, a dispute about it, an assessment and a training plan.
async fn team_a(app: &App, people: &People, manager: &str) -> Fixture {
    let (_, month) = kefu_testkit::local_today().await;
    let earlier = kefu_testkit::earlier_today();
    let stamp = kefu_platform::time::to_timestamp(earlier);
    let as_manager = app.authed(Some(manager.to_owned()), Some("audit")).await;
    let as_agent = app.authed(Some(people.agent_a.clone()), None).await;
    let as_supervisor = app.authed(Some(people.supervisor_a.clone()), None).await;

    let mut staff = StaffKpiServiceClient::new(as_manager.clone());
    staff
        .create_staff(kpb::CreateStaffRequest {
            staff: Some(kefu::samples::manager("boss")),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let person =
        |id: &str, role: kpb::StaffRole, team: &str, manager: &str| kpb::CreateStaffRequest {
            staff: Some(kpb::Staff {
                id: id.into(),
                display_name: format!("{id} of the desk"),
                role: role as i32,
                team_id: team.into(),
                manager_id: manager.into(),
                ..kefu::samples::manager(id)
            }),
            request_id: String::new(),
        };
    for supervisor in ["sup-a", "sup-b"] {
        staff
            .create_staff(person(supervisor, kpb::StaffRole::Supervisor, "", "boss"))
            .await
            .unwrap();
    }
    for (team, supervisor) in [("ta", "sup-a"), ("tb", "sup-b")] {
        staff
            .create_team(kpb::CreateTeamRequest {
                team: Some(kpb::Team {
                    id: team.into(),
                    display_name: format!("{team} desk"),
                    supervisor_id: supervisor.into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap();
    }
    for (agent, team, supervisor) in [("agent-a", "ta", "sup-a"), ("agent-b", "tb", "sup-b")] {
        staff
            .create_staff(person(agent, kpb::StaffRole::Agent, team, supervisor))
            .await
            .unwrap();
    }
    let period = staff
        .create_period(kpb::CreatePeriodRequest {
            period: Some(kpb::Period {
                kind: kpb::PeriodKind::Monthly as i32,
                label: month.clone(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    let breach = StaffKpiServiceClient::new(as_supervisor.clone())
        .record_conduct_breach(kpb::RecordConductBreachRequest {
            breach: Some(kpb::ConductBreach {
                staff_id: "agent-a".into(),
                kind: kpb::BreachKind::GiftAccepted as i32,
                description: "accepted a hamper".into(),
                evidence_reference: "HR-1".into(),
                occur_time: Some(stamp),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let dispute = StaffKpiServiceClient::new(as_agent.clone())
        .create_dispute(kpb::CreateDisputeRequest {
            dispute: Some(kpb::Dispute {
                staff_id: "agent-a".into(),
                period_id: period.clone(),
                kpi: kpb::Kpi::Conduct as i32,
                event_id: breach.event_id.clone(),
                reason: "it was a calendar".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    staff
        .recompute_assessment(kpb::RecomputeAssessmentRequest {
            staff_id: "agent-a".into(),
            period_id: period.clone(),
            request_id: String::new(),
        })
        .await
        .unwrap();
    let plan = StaffKpiServiceClient::new(as_supervisor.clone())
        .create_training_plan(kpb::CreateTrainingPlanRequest {
            plan: Some(kpb::TrainingPlan {
                title: "Handling an angry caller".into(),
                session_time: Some(stamp),
                team_id: "ta".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .id;

    let customer = CustomerRegistryServiceClient::new(as_manager.clone())
        .create_customer(cpb::CreateCustomerRequest {
            customer: Some(cpb::Customer {
                team_id: "ta".into(),
                ..kefu::samples::customer()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    let visit = CustomerRegistryServiceClient::new(as_agent.clone())
        .create_visit_report(cpb::CreateVisitReportRequest {
            visit_report: Some(cpb::VisitReport {
                customer_id: customer.clone(),
                visit_time: Some(stamp),
                customer_feedback: "wants Saturday deliveries".into(),
                market_intelligence: "a rival cut prices".into(),
                visit_effect: "renewal agreed".into(),
                matters_handled: "billing settled".into(),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    let monthly = CustomerRegistryServiceClient::new(as_supervisor.clone())
        .generate_monthly_report(cpb::GenerateMonthlyReportRequest {
            team_id: "ta".into(),
            month: month.clone(),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .id;

    let order = OrderTrackingServiceClient::new(as_manager.clone())
        .create_order(opb::CreateOrderRequest {
            order: Some(kefu::samples::order(&customer)),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .id;

    let mut desk = ComplaintDeskServiceClient::new(as_manager.clone());
    let complaint = desk
        .create_complaint(dpb::CreateComplaintRequest {
            complaint: Some(kefu::samples::complaint(&customer, &order)),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    desk.assign_complaint(dpb::AssignComplaintRequest {
        complaint_id: complaint.id.clone(),
        assignee_id: "agent-a".into(),
        team_id: "ta".into(),
        expected_version: complaint.version,
        request_id: String::new(),
    })
    .await
    .unwrap();

    let mut surveys = SurveyServiceClient::new(as_manager.clone());
    let questionnaire = surveys
        .create_questionnaire(spb::CreateQuestionnaireRequest {
            questionnaire: Some(kefu::samples::questionnaire()),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    surveys
        .publish_questionnaire(spb::PublishQuestionnaireRequest {
            questionnaire_id: questionnaire.id.clone(),
            expected_version: questionnaire.draft_version,
            request_id: String::new(),
        })
        .await
        .unwrap();
    let invitation = surveys
        .create_invitation(spb::CreateInvitationRequest {
            invitation: Some(spb::Invitation {
                customer_id: customer.clone(),
                questionnaire_id: questionnaire.id.clone(),
                method: spb::Method::Phone as i32,
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    let response = surveys
        .submit_response(spb::SubmitResponseRequest {
            invitation_id: invitation.clone(),
            answers: vec![spb::Answer {
                question_id: "csat".into(),
                value: Some(spb::answer::Value::Score(1)),
            }],
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    let task = surveys
        .list_follow_up_tasks(spb::ListFollowUpTasksRequest::default())
        .await
        .unwrap()
        .into_inner()
        .follow_up_tasks
        .into_iter()
        .next()
        .expect("a score of 1 opens a follow-up task")
        .id;

    let mut fixture = Fixture {
        values: BTreeMap::from([
            ("team", "ta".to_owned()),
            ("month", month),
            (
                "earlier",
                chrono::DateTime::<chrono::Utc>::to_rfc3339(&earlier),
            ),
            ("period", period),
            ("breach", breach.id),
            ("breach_event", breach.event_id),
            ("dispute", dispute.id),
            ("plan", plan),
            ("customer", customer),
            ("visit", visit),
            ("monthly", monthly),
            ("order", order),
            ("complaint", complaint.id),
            ("questionnaire", questionnaire.id),
            ("invitation", invitation),
            ("response", response),
            ("task", task),
        ]),
    };
    // After every fixture was made: a handover cannot be signed before its order existed.
    fixture
        .values
        .insert("now", chrono::Utc::now().to_rfc3339());
    fixture.refresh(app, manager).await;
    fixture
}

/// Calls `method` with `body` as `token`: the answer's code and bytes (a stream's first
/// message, when one comes soon).
async fn call(app: &App, token: &str, method: &MethodDescriptor, body: Bytes) -> (Code, Bytes) {
    let path: http::uri::PathAndQuery =
        format!("/{}/{}", method.parent_service().full_name(), method.name())
            .parse()
            .unwrap();
    let mut request = tonic::Request::new(body);
    request.set_timeout(Duration::from_secs(10));
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
        .metadata_mut()
        .insert("x-kefu-purpose", "audit".parse().unwrap());
    let mut grpc = tonic::client::Grpc::new(app.channel().await);
    grpc.ready().await.unwrap();
    if method.is_server_streaming() {
        match grpc.server_streaming(request, path, RawCodec).await {
            Ok(mut stream) => {
                match tokio::time::timeout(Duration::from_millis(300), stream.get_mut().message())
                    .await
                {
                    Ok(Ok(Some(message))) => (Code::Ok, message),
                    Ok(Err(status)) => (status.code(), Bytes::new()),
                    Ok(Ok(None)) | Err(_) => (Code::Ok, Bytes::new()),
                }
            }
            Err(status) => (status.code(), Bytes::new()),
        }
    } else {
        match grpc.unary(request, path, RawCodec).await {
            Ok(answer) => (Code::Ok, answer.into_inner()),
            Err(status) => (status.code(), Bytes::new()),
        }
    }
}

/// Every row of every table of every service's database, as text.
async fn everything(app: &App) -> BTreeMap<String, String> {
    let mut dumps = BTreeMap::new();
    for service in kefu::SERVICES {
        for table in app.tables(service.name()).await {
            let mut rows: Vec<String> = app
                .dump(service.name(), &format!("\"{table}\""))
                .await
                .lines()
                .map(str::to_owned)
                .collect();
            rows.sort();
            dumps.insert(format!("{}.{table}", service.name()), rows.join("\n"));
        }
    }
    dumps
}

/// The databases once the events of the fixture have been carried everywhere they go.
async fn settled(app: &App) -> BTreeMap<String, String> {
    let mut last = everything(app).await;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = everything(app).await;
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the suite never settled after the fixture was made");
}

fn changed(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    after
        .iter()
        .filter(|(table, rows)| before.get(*table) != Some(*rows))
        .map(|(table, _)| table.clone())
        .collect()
}

// X-4: every RPC of every service that names a resource has a rule; another team's people
// are refused on team A's resources and change nothing; team A's own are let through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn x4_every_rpc_naming_a_resource_keeps_other_teams_out() {
    let app = Spawn::new(kefu::SERVICES, Backend::Postgres)
        .change(|settings| {
            let desk = settings
                .section_mut::<kefu_complaint_desk::settings::ComplaintDeskSettings>(
                    kefu_complaint_desk::SERVICE,
                )
                .unwrap();
            desk.departments.insert("north".into(), vec!["ta".into()]);
            desk.departments.insert("south".into(), vec!["tb".into()]);
        })
        .start()
        .await;
    let pool = DescriptorPool::decode(kefu_proto::FILE_DESCRIPTOR_SET).unwrap();
    let mut matrix: Vec<(&str, MethodDescriptor, Rule)> = Vec::new();
    let mut missing = Vec::new();
    for service in kefu::SERVICES {
        let descriptor = pool.get_service_by_name(service.grpc_service()).unwrap();
        for method in descriptor.methods() {
            let rule = RULES
                .iter()
                .find(|(s, m, _)| *s == service.name() && *m == method.name())
                .map(|(_, _, rule)| *rule);
            match (names_a_resource(&method.input(), 0), rule) {
                (true, Some(rule)) => matrix.push((service.name(), method, rule)),
                (true, None) => missing.push(format!("{}/{}", service.name(), method.name())),
                (false, Some(_)) => panic!(
                    "{}/{} names no resource: its rule is stale",
                    service.name(),
                    method.name()
                ),
                (false, None) => {}
            }
        }
    }
    assert!(
        missing.is_empty(),
        "these RPCs name a resource and have no rule in the matrix: {missing:?}"
    );
    assert_eq!(matrix.len(), RULES.len(), "a rule names no RPC");

    let people = People::new(&app);
    let manager = app.token("boss", Role::Manager, &[SCOPE_PII_READ], "");
    let mut fixture = team_a(&app, &people, &manager).await;
    let before = settled(&app).await;
    assert!(
        before["order-tracking.orders"].contains(fixture.get("order")),
        "the snapshot holds the rows it guards"
    );

    let mut wrong = Vec::new();
    for (service, method, rule) in &matrix {
        let supervisors_by_team = SUPERVISORS_BY_TEAM.contains(service);
        let (template, refused): (&str, Vec<(&str, &str)>) = match rule {
            Agents(template) => {
                let mut refused = vec![("team B's agent", people.agent_b.as_str())];
                if supervisors_by_team {
                    refused.push(("team B's supervisor", &people.supervisor_b));
                }
                (template, refused)
            }
            Supervisors(template) => {
                let mut refused = vec![
                    ("team B's agent", people.agent_b.as_str()),
                    ("team A's agent", &people.agent_a),
                ];
                if supervisors_by_team {
                    refused.push(("team B's supervisor", &people.supervisor_b));
                }
                (template, refused)
            }
            Managers(template) => (
                template,
                vec![
                    ("team A's agent", people.agent_a.as_str()),
                    ("team A's supervisor", &people.supervisor_a),
                    ("team B's supervisor", &people.supervisor_b),
                ],
            ),
            Narrowed(template) => {
                let mut outsiders = vec![("team B's agent", people.agent_b.as_str())];
                if supervisors_by_team {
                    outsiders.push(("team B's supervisor", &people.supervisor_b));
                }
                for (who, token) in outsiders {
                    let body = fixture.request(method, template);
                    let (code, answer) = call(&app, token, method, body).await;
                    let leaked: Vec<&str> = fixture
                        .secrets()
                        .into_iter()
                        .filter(|id| holds_any(&answer, &[id]))
                        .collect();
                    if !matches!(code, Code::Ok | Code::PermissionDenied) || !leaked.is_empty() {
                        wrong.push(format!(
                            "{service}/{} as {who}: {code:?}, shows team A's {leaked:?}",
                            method.name()
                        ));
                    }
                }
                continue;
            }
            Exempt(why) => {
                assert!(!why.is_empty(), "{service}/{}: say why", method.name());
                continue;
            }
        };
        for (who, token) in refused {
            let body = fixture.request(method, template);
            let (code, _) = call(&app, token, method, body).await;
            if code != Code::PermissionDenied {
                wrong.push(format!(
                    "{service}/{} as {who}: {code:?}, not PermissionDenied",
                    method.name()
                ));
            }
        }
    }
    let after = everything(&app).await;
    let touched = changed(&before, &after);

    // Team A's own people are not refused, so each refusal above was about whose it is.
    let mut own = BTreeMap::<&str, u32>::new();
    let mut lists_showing_own = Vec::new();
    for (service, method, rule) in &matrix {
        let (template, who, token) = match rule {
            Agents(t) | Narrowed(t) => (t, "team A's agent", &people.agent_a),
            Supervisors(t) => (t, "team A's supervisor", &people.supervisor_a),
            Managers(_) | Exempt(_) => continue,
        };
        fixture.refresh(&app, &manager).await;
        let body = fixture.request(method, template);
        let (code, answer) = call(&app, token, method, body).await;
        *own.entry(code_name(code)).or_default() += 1;
        if matches!(rule, Narrowed(_)) && holds_any(&answer, &fixture.secrets()) {
            lists_showing_own.push(method.name());
        }
        if !matches!(
            code,
            Code::Ok | Code::FailedPrecondition | Code::Aborted | Code::AlreadyExists
        ) {
            wrong.push(format!("{service}/{} as {who}: {code:?}", method.name()));
        }
    }

    let mut kinds = BTreeMap::<&str, usize>::new();
    for (_, _, rule) in &matrix {
        *kinds
            .entry(match rule {
                Agents(_) => "agents by team",
                Supervisors(_) => "supervisors by team, agents by role",
                Managers(_) => "managers only",
                Narrowed(_) => "lists narrowed by team",
                Exempt(_) => "exempt",
            })
            .or_default() += 1;
    }
    println!(
        "access matrix: {} RPCs name a resource: {kinds:?}; team A's own calls answered \
         {own:?}; its lists that show its own: {lists_showing_own:?}",
        matrix.len()
    );
    // The search for leaked ids finds them where they belong.
    assert!(
        lists_showing_own.contains(&"ListOrders"),
        "{lists_showing_own:?}"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(
        touched.is_empty(),
        "refused calls changed these tables: {touched:?}"
    );
}

/// Whether `answer` holds any of `ids`, wherever in the message.
fn holds_any(answer: &[u8], ids: &[&str]) -> bool {
    ids.iter()
        .any(|id| answer.windows(id.len()).any(|w| w == id.as_bytes()))
}

fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::AlreadyExists => "ALREADY_EXISTS",
        _ => "other",
    }
}
