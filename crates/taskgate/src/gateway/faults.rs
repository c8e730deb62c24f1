//! Faults a test harness sets through `/_taskgate/faults`: a request that authenticated and
//! passed the rate limit, and matches a fault's service, action and account, is delayed and/or
//! answered with an error code of the harness's choosing instead of running its action.
//!
//! Faults are kept in memory in creation order; the first one that matches and whose
//! probability draw hits is applied. Each fault draws from its own source: seeded, the same
//! sequence of requests sees the same hits on every run.

use crate::action::{Account, ApiError, Service};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::num::NonZeroU64;
use std::sync::Mutex;
use std::time::Duration;
use taskgate_engine::{Entropy, OsEntropy, SeededEntropy};
use tcapi::ErrorCode;
use tcapi::error_code::Language;

/// Longest `error_code`, in characters.
const MAX_CODE_CHARS: usize = 128;
/// Longest `account`: a UIN, digits only.
const MAX_UIN_DIGITS: usize = 20;

/// An `Error.Code` to answer: one taskgate knows, or any other of the same shape
/// (`Word(.Word)*`, letters then letters or digits, at most 128 characters), answered verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultCode {
    Known(ErrorCode),
    Other(Box<str>),
}

impl FaultCode {
    pub fn as_str(&self) -> &str {
        match self {
            FaultCode::Known(code) => code.as_str(),
            FaultCode::Other(code) => code,
        }
    }
}

impl fmt::Display for FaultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for FaultCode {
    type Error = String;

    fn try_from(code: String) -> Result<Self, String> {
        if let Some(known) = ErrorCode::from_wire(&code) {
            return Ok(FaultCode::Known(known));
        }
        let mut parts = code.split('.');
        let first = parts.next().unwrap_or_default();
        let well_formed = !first.is_empty()
            && first.bytes().all(|b| b.is_ascii_alphabetic())
            && parts.all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()));
        if !well_formed || code.len() > MAX_CODE_CHARS {
            return Err(format!(
                "`{code}` is not a Tencent error code (letters, then `.`-separated letters or digits, at most {MAX_CODE_CHARS} characters)"
            ));
        }
        Ok(FaultCode::Other(code.into_boxed_str()))
    }
}

impl Serialize for FaultCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A chance between 0 and 1 inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "f64")]
pub struct Probability(f64);

impl TryFrom<f64> for Probability {
    type Error = String;

    fn try_from(p: f64) -> Result<Self, String> {
        if (0.0..=1.0).contains(&p) { Ok(Self(p)) } else { Err(format!("{p} is not between 0 and 1")) }
    }
}

impl Default for Probability {
    fn default() -> Self {
        Self(1.0)
    }
}

/// An account's UIN: 1 to 20 digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String")]
pub struct Uin(Box<str>);

impl TryFrom<String> for Uin {
    type Error = String;

    fn try_from(uin: String) -> Result<Self, String> {
        if (1..=MAX_UIN_DIGITS).contains(&uin.len()) && uin.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(uin.into_boxed_str()))
        } else {
            Err(format!("`{uin}` is not a UIN (1 to {MAX_UIN_DIGITS} digits)"))
        }
    }
}

/// The body of `POST /_taskgate/faults`, as sent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    service: Option<Service>,
    action: Option<String>,
    account: Option<Uin>,
    #[serde(default)]
    probability: Probability,
    error_code: Option<FaultCode>,
    error_message: Option<String>,
    latency_ms: Option<u64>,
    count: Option<NonZeroU64>,
    seed: Option<u64>,
}

impl<'de> Deserialize<'de> for FaultCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        FaultCode::try_from(String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// Why a fault was refused; the text names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultRefusal {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} faults are set, the most there may be; remove some first")]
    Full(usize),
}

/// A fault as set: which requests it takes and what it does to them.
#[derive(Debug, Clone, Serialize)]
pub struct FaultSpec {
    pub service: Option<Service>,
    pub action: Option<&'static str>,
    pub account: Option<Uin>,
    pub probability: Probability,
    pub error_code: Option<FaultCode>,
    pub error_message: Option<Box<str>>,
    pub latency_ms: Option<u64>,
    /// Applied hits after which the fault stops matching.
    pub count: Option<NonZeroU64>,
    pub seed: Option<u64>,
}

impl FaultSpec {
    /// Reads a `POST /_taskgate/faults` body. `action_of(service, name)` is the action table's
    /// own name for an action of `service` (of any service when `None`), `None` when there is
    /// no such action.
    pub fn parse(
        body: &[u8],
        max_message_bytes: usize,
        action_of: impl Fn(Option<Service>, &str) -> Option<&'static str>,
    ) -> Result<Self, FaultRefusal> {
        let mut json = serde_json::Deserializer::from_slice(body);
        let request: FaultRequest = serde_path_to_error::deserialize(&mut json).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            FaultRefusal::Invalid(if path == "." {
                format!("the body is not a fault: {inner}")
            } else {
                format!("{path}: {inner}")
            })
        })?;
        let invalid = |message: String| Err(FaultRefusal::Invalid(message));
        let action = match request.action {
            None => None,
            Some(name) => match action_of(request.service, &name) {
                Some(action) => Some(action),
                None => {
                    let of = request.service.map(|s| format!(" of {}", s.label())).unwrap_or_default();
                    return invalid(format!("action: `{name}` is not an action{of}"));
                }
            },
        };
        if request.error_message.as_ref().is_some_and(|m| m.len() > max_message_bytes) {
            return invalid(format!("error_message: longer than {max_message_bytes} bytes"));
        }
        if request.error_message.is_some() && request.error_code.is_none() {
            return invalid("error_message: needs an error_code".to_owned());
        }
        if request.error_code.is_none() && request.latency_ms.is_none() {
            return invalid("error_code or latency_ms: a fault needs at least one".to_owned());
        }
        Ok(Self {
            service: request.service,
            action,
            account: request.account,
            probability: request.probability,
            error_code: request.error_code,
            error_message: request.error_message.map(String::into_boxed_str),
            latency_ms: request.latency_ms,
            count: request.count,
            seed: request.seed,
        })
    }

    fn takes(&self, call: &Target<'_>) -> bool {
        self.service.is_none_or(|s| s == call.service)
            && self.action.is_none_or(|a| a == call.action)
            && self.account.as_ref().is_none_or(|uin| &*uin.0 == call.account)
    }
}

/// The request a fault may take: its routed service and action and its account.
pub struct Target<'a> {
    pub service: Service,
    pub action: &'static str,
    pub account: &'a str,
}

/// A fault with its draws and hits, as `GET /_taskgate/faults` lists it.
#[derive(Debug, Serialize)]
pub struct FaultView {
    pub id: String,
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Requests the fault was applied to.
    pub hits: u64,
    /// Whether `count` hits were reached: the fault no longer matches.
    pub expired: bool,
}

struct Fault {
    id: u64,
    spec: FaultSpec,
    draws: Box<dyn Entropy>,
    hits: u64,
}

impl Fault {
    fn expired(&self) -> bool {
        self.spec.count.is_some_and(|count| self.hits >= count.get())
    }

    /// A uniform draw in [0, 1) from the top 53 bits, below the probability: always for 1,
    /// never for 0.
    fn draw_hits(&self) -> bool {
        // 53 bits are exact in an f64.
        let draw = (self.draws.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        draw < self.spec.probability.0
    }

    fn view(&self) -> FaultView {
        FaultView {
            id: format!("fault-{}", self.id),
            spec: self.spec.clone(),
            hits: self.hits,
            expired: self.expired(),
        }
    }
}

/// What an applied fault does to the request: wait, then answer an error or run the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub latency: Option<Duration>,
    pub error: Option<InjectedError>,
}

/// The error an applied fault answers, before its message is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InjectedError {
    code: FaultCode,
    message: Option<Box<str>>,
}

impl InjectedError {
    /// The given message, else the text taskgate answers for a code it knows (the real
    /// service's fixed text in `language` where the code has one), else a neutral one.
    pub fn into_failure(self, service: Service, account: &Account, language: Language) -> Failure {
        let message = match (&self.code, self.message) {
            (_, Some(message)) => message.into_string(),
            (FaultCode::Known(code), None) => {
                known_error(*code, service, account).localized_message(language).to_owned()
            }
            (FaultCode::Other(code), None) => format!("Injected fault: {code}."),
        };
        Failure::Injected { code: self.code, message }
    }
}

fn known_error(code: ErrorCode, service: Service, account: &Account) -> ApiError {
    match code {
        ErrorCode::ResourceUnavailableNotRegistered => account.not_registered(service),
        ErrorCode::ResourceUnavailableServiceExpired => account.service_expired(service),
        // The localized message is the code's fixed text where it has one
        // (`RequestLimitExceeded`, `InternalError`, the `AuthFailure` codes).
        code => ApiError::new(code, format!("Injected fault: {code}.")),
    }
}

/// Why a request was answered with an error: by taskgate, or by a fault.
#[derive(Debug)]
pub enum Failure {
    Api(ApiError),
    Injected { code: FaultCode, message: String },
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Failure::Api(error)
    }
}

impl Failure {
    pub fn code(&self) -> &str {
        match self {
            Failure::Api(error) => error.code.as_str(),
            Failure::Injected { code, .. } => code.as_str(),
        }
    }

    pub fn message(&self, language: Language) -> &str {
        match self {
            Failure::Api(error) => error.localized_message(language),
            Failure::Injected { message, .. } => message,
        }
    }

    /// The metrics label: the code when taskgate knows it, `InjectedFault` for any other, so
    /// that faults cannot mint label values.
    pub fn metric_code(&self) -> &'static str {
        match self {
            Failure::Api(error) => error.code.as_str(),
            Failure::Injected { code: FaultCode::Known(code), .. } => code.as_str(),
            Failure::Injected { code: FaultCode::Other(_), .. } => "InjectedFault",
        }
    }
}

/// The faults set, in creation order, at most `max` of them.
pub struct Faults {
    state: Mutex<State>,
    max: usize,
    max_message_bytes: usize,
}

#[derive(Default)]
struct State {
    last_id: u64,
    faults: Vec<Fault>,
}

impl Faults {
    pub fn new(max: usize, max_message_bytes: usize) -> Self {
        Self { state: Mutex::default(), max, max_message_bytes }
    }

    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    /// Sets a fault after the others. Errors: `Full` when `max` are set.
    pub fn add(&self, spec: FaultSpec) -> Result<FaultView, FaultRefusal> {
        let mut state = self.lock();
        if state.faults.len() >= self.max {
            return Err(FaultRefusal::Full(self.max));
        }
        state.last_id += 1;
        let draws: Box<dyn Entropy> = match spec.seed {
            Some(seed) => Box::new(SeededEntropy::new(seed)),
            None => Box::new(OsEntropy),
        };
        let fault = Fault { id: state.last_id, spec, draws, hits: 0 };
        let view = fault.view();
        state.faults.push(fault);
        Ok(view)
    }

    pub fn list(&self) -> Vec<FaultView> {
        self.lock().faults.iter().map(Fault::view).collect()
    }

    /// Removes the fault `id` (`fault-<n>`, as listed); the number removed, 0 or 1.
    pub fn remove(&self, id: &str) -> usize {
        let Some(id) = id.strip_prefix("fault-").and_then(|n| n.parse::<u64>().ok()) else { return 0 };
        let mut state = self.lock();
        let before = state.faults.len();
        state.faults.retain(|fault| fault.id != id);
        before - state.faults.len()
    }

    /// Removes every fault; how many there were.
    pub fn clear(&self) -> usize {
        std::mem::take(&mut self.lock().faults).len()
    }

    /// The first unexpired fault, in creation order, that takes `call` and whose draw hits,
    /// counted as a hit. Every fault that takes the call before it draws once.
    pub fn apply(&self, call: &Target<'_>) -> Option<Applied> {
        let mut state = self.lock();
        let fault = state.faults.iter_mut().find(|f| !f.expired() && f.spec.takes(call) && f.draw_hits())?;
        fault.hits += 1;
        Some(Applied {
            latency: fault.spec.latency_ms.map(Duration::from_millis),
            error: fault
                .spec
                .error_code
                .clone()
                .map(|code| InjectedError { code, message: fault.spec.error_message.clone() }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves whole faults behind: the list stays usable.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACTIONS: [(Service, &str); 3] =
        [(Service::Tiw, "DescribeSnapshotTask"), (Service::Tcss, "CreateRefreshTask"), (Service::Ecm, "DescribeImage")];

    fn action_of(service: Option<Service>, name: &str) -> Option<&'static str> {
        ACTIONS.iter().find(|(s, a)| *a == name && service.is_none_or(|want| want == *s)).map(|(_, a)| *a)
    }

    fn spec(body: serde_json::Value) -> Result<FaultSpec, FaultRefusal> {
        FaultSpec::parse(body.to_string().as_bytes(), 64, action_of)
    }

    fn faults_of(bodies: &[serde_json::Value]) -> Faults {
        let faults = Faults::new(10, 64);
        for body in bodies {
            faults.add(spec(body.clone()).unwrap()).unwrap();
        }
        faults
    }

    fn call<'a>(service: Service, action: &'static str, account: &'a str) -> Target<'a> {
        Target { service, action, account }
    }

    fn code_of(applied: Option<Applied>) -> Option<String> {
        applied.and_then(|a| a.error).map(|e| e.code.as_str().to_owned())
    }

    fn refusal(body: serde_json::Value) -> String {
        spec(body).unwrap_err().to_string()
    }

    #[test]
    fn a_known_code_is_typed_and_another_of_the_code_shape_kept_verbatim() {
        assert_eq!(FaultCode::try_from("InternalError".to_owned()), Ok(FaultCode::Known(ErrorCode::InternalError)));
        for other in ["ResourceUnavailable.Whatever", "FailedOperation.Cos2Error", "Zz"] {
            assert_eq!(FaultCode::try_from(other.to_owned()), Ok(FaultCode::Other(other.into())));
        }
    }

    #[test]
    fn codes_not_of_the_code_shape_are_refused() {
        let long = format!("A.{}", "b".repeat(127));
        for bad in ["", "1Abc", "Abc.", ".Abc", "Abc..D", "Abc.d-e", "Abc D", "Ab_c", long.as_str()] {
            assert!(FaultCode::try_from(bad.to_owned()).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn refusals_name_the_offending_field() {
        use serde_json::json;
        for (body, field) in [
            (json!({"error_code": "InternalError", "probability": 1.5}), "probability"),
            (json!({"error_code": "InternalError", "probability": "half"}), "probability"),
            (json!({"error_code": "no such code"}), "error_code"),
            (json!({"error_code": "InternalError", "service": "cvm"}), "service"),
            (json!({"error_code": "InternalError", "action": "RunInstances"}), "action"),
            (json!({"error_code": "InternalError", "service": "ecm", "action": "CreateRefreshTask"}), "action"),
            (json!({"error_code": "InternalError", "account": "alice"}), "account"),
            (json!({"error_code": "InternalError", "count": 0}), "count"),
            (json!({"error_code": "InternalError", "latency_ms": -1}), "latency_ms"),
            (json!({"error_code": "InternalError", "error_message": "x".repeat(65)}), "error_message"),
            (json!({"error_message": "no code"}), "error_message"),
            (json!({"error_code": "InternalError", "colour": "red"}), "colour"),
            (json!({"probability": 1}), "error_code or latency_ms"),
        ] {
            let refusal = refusal(body.clone());
            assert!(refusal.contains(field), "{body}: {refusal}");
        }
    }

    #[test]
    fn the_first_fault_that_takes_the_call_is_applied() {
        use serde_json::json;
        let faults = faults_of(&[
            json!({"service": "ecm", "error_code": "InternalError"}),
            json!({"error_code": "LimitExceeded"}),
        ]);
        assert_eq!(code_of(faults.apply(&call(Service::Ecm, "DescribeImage", "1"))).as_deref(), Some("InternalError"));
        assert_eq!(
            code_of(faults.apply(&call(Service::Tiw, "DescribeSnapshotTask", "1"))).as_deref(),
            Some("LimitExceeded")
        );
    }

    #[test]
    fn service_action_and_account_filters_each_leave_other_calls_alone() {
        use serde_json::json;
        let faults = faults_of(&[
            json!({"service": "tcss", "action": "CreateRefreshTask", "account": "7", "error_code": "InternalError"}),
        ]);
        assert!(faults.apply(&call(Service::Tcss, "CreateRefreshTask", "7")).is_some());
        assert!(faults.apply(&call(Service::Tcss, "CreateRefreshTask", "8")).is_none());
        assert!(faults.apply(&call(Service::Tcss, "DescribeAssetHostList", "7")).is_none());
        assert!(faults.apply(&call(Service::Ecm, "CreateRefreshTask", "7")).is_none());
    }

    #[test]
    fn a_counted_fault_expires_after_its_hits_and_stays_listed() {
        use serde_json::json;
        let faults = faults_of(&[json!({"error_code": "InternalError", "count": 2})]);
        let target = call(Service::Ecm, "DescribeImage", "1");
        assert!(faults.apply(&target).is_some() && faults.apply(&target).is_some());
        assert!(faults.apply(&target).is_none());
        let listed = faults.list();
        assert_eq!((listed[0].hits, listed[0].expired), (2, true));
    }

    #[test]
    fn a_seeded_draw_repeats_its_hits_and_hits_about_as_often_as_its_probability() {
        use serde_json::json;
        let pattern = || {
            let faults = faults_of(&[json!({"error_code": "InternalError", "probability": 0.3, "seed": 42})]);
            (0..1000).map(|_| faults.apply(&call(Service::Ecm, "DescribeImage", "1")).is_some()).collect::<Vec<_>>()
        };
        let first = pattern();
        assert_eq!(first, pattern());
        let hits = first.iter().filter(|hit| **hit).count();
        assert!((250..350).contains(&hits), "{hits} hits of 1000 at 0.3");
    }

    #[test]
    fn a_missed_draw_lets_a_later_fault_take_the_call() {
        use serde_json::json;
        let faults = faults_of(&[json!({"error_code": "InternalError", "probability": 0}), json!({"latency_ms": 5})]);
        let applied = faults.apply(&call(Service::Ecm, "DescribeImage", "1")).unwrap();
        assert_eq!(applied, Applied { latency: Some(Duration::from_millis(5)), error: None });
        assert_eq!(faults.list().iter().map(|f| f.hits).collect::<Vec<_>>(), [0, 1]);
    }

    #[test]
    fn no_more_than_the_maximum_are_set_and_removal_frees_room() {
        let faults = Faults::new(1, 64);
        let one = || spec(serde_json::json!({"latency_ms": 1})).unwrap();
        let id = faults.add(one()).unwrap().id;
        assert_eq!(faults.add(one()).unwrap_err(), FaultRefusal::Full(1));
        assert_eq!((faults.remove("fault-99"), faults.remove(&id)), (0, 1));
        faults.add(one()).unwrap();
        assert_eq!(faults.clear(), 1);
    }

    #[test]
    fn a_known_code_without_a_message_answers_taskgates_text_for_it() {
        let account = Account {
            uin: "7".into(),
            services: Vec::new(),
            service_expires_at: None,
            sdk_apps: Default::default(),
            app_id: None,
            buckets: Default::default(),
        };
        let message = |code: &str, message: Option<&str>| {
            let error =
                InjectedError { code: FaultCode::try_from(code.to_owned()).unwrap(), message: message.map(Into::into) };
            let failure = error.into_failure(Service::Ecm, &account, Language::EnUs);
            failure.message(Language::EnUs).to_owned()
        };
        assert_eq!(
            Some(message("RequestLimitExceeded", None).as_str()),
            tcapi::error_code::fixed_message(ErrorCode::RequestLimitExceeded, Language::EnUs),
            "the text taskgate answers when it limits a caller itself"
        );
        assert_eq!(message("ResourceUnavailable.NotRegistered", None), account.not_registered(Service::Ecm).message);
        assert_eq!(message("RequestLimitExceeded", Some("slow down")), "slow down");
        assert_eq!(message("FailedOperation.Cos2Error", None), "Injected fault: FailedOperation.Cos2Error.");
    }
}
