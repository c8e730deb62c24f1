//! Test rules (`/_taskgate/rules`): how the tasks that a matching action creates from now on
//! go — run for real, held for a while, held until finished by hand, or ended with a forced
//! success or failure in the product's real shapes. The gateway runs a matching action inside
//! the engine's directive scope; the engine stores each task's directive and obeys it.

use crate::action::Service;
use crate::products::Products;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, PoisonError};
use taskgate_engine::{Directive, DirectiveSource, Forced};

/// Rules kept at once.
pub const MAX_RULES: usize = 1_000;
/// Longest hold of a `delay` rule, in milliseconds (one hour).
pub const MAX_DELAY_MS: u64 = 3_600_000;

/// How a matching task runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// It runs (or ends as forced) at once.
    #[default]
    Real,
    /// It is held running for `delay_ms` first.
    Delay,
    /// It is held running until `POST /_taskgate/tasks/{service}/{task_id}/finish`.
    Manual,
}

/// How a matching task ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleOutcome {
    /// Its work runs and decides.
    #[default]
    AsRun,
    Success,
    Failure,
}

/// A rule as `POST /_taskgate/rules` takes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleRequest {
    pub service: Service,
    pub action: String,
    /// Only this account's calls (UIN); every account's when absent.
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    #[serde(default)]
    pub outcome: RuleOutcome,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    /// The rule expires after this many tasks.
    #[serde(default)]
    pub count: Option<u64>,
}

/// A rule as listed: its request, its id and how many tasks it gave a directive.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    pub id: String,
    pub service: Service,
    pub action: String,
    pub account: Option<String>,
    pub mode: Mode,
    pub delay_ms: Option<u64>,
    pub outcome: RuleOutcome,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub count: Option<u64>,
    pub hits: u64,
}

impl Rule {
    fn expired(&self) -> bool {
        self.count.is_some_and(|count| self.hits >= count)
    }

    fn matches(&self, service: Service, action: &str, uin: &str) -> bool {
        self.service == service
            && self.action == action
            && self.account.as_deref().is_none_or(|a| a == uin)
            && !self.expired()
    }

    fn directive(&self) -> Directive {
        let outcome = match self.outcome {
            RuleOutcome::AsRun => Forced::AsRun,
            RuleOutcome::Success => Forced::Success,
            RuleOutcome::Failure => Forced::Failure {
                error_code: self.error_code.clone().unwrap_or_default(),
                error_message: self.error_message.clone().unwrap_or_default(),
            },
        };
        Directive {
            rule: self.id.clone(),
            hold_ms: if self.mode == Mode::Delay { self.delay_ms.unwrap_or(0) } else { 0 },
            manual: self.mode == Mode::Manual,
            outcome,
        }
    }
}

/// Why a rule was refused; the text names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuleRefusal(String);

/// The `code` a forced failure answers with: Tencent's shape, `Word` or `Word.Word…`.
pub fn valid_error_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 128
        && code.split('.').all(|part| {
            part.starts_with(|c: char| c.is_ascii_alphabetic()) && part.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

impl RuleRequest {
    fn check(&self) -> Result<(), RuleRefusal> {
        let refuse = |text: String| Err(RuleRefusal(text));
        let Some(action) = Products::task_actions(self.service).iter().find(|a| a.name == self.action) else {
            let creating: Vec<_> = Products::task_actions(self.service).iter().map(|a| a.name).collect();
            return refuse(format!(
                "action: `{}` creates no {} task; rules apply to {}",
                self.action,
                self.service.label(),
                creating.join(", ")
            ));
        };
        match (self.mode, self.delay_ms) {
            (Mode::Delay, Some(ms)) if (1..=MAX_DELAY_MS).contains(&ms) => {}
            (Mode::Delay, _) => return refuse(format!("delay_ms: a delay rule holds 1 to {MAX_DELAY_MS} ms")),
            (_, Some(_)) => return refuse("delay_ms: only a delay rule has one".into()),
            _ => {}
        }
        if self.mode == Mode::Manual && self.outcome != RuleOutcome::AsRun {
            return refuse("outcome: a manual task's outcome is given when it is finished".into());
        }
        match self.outcome {
            RuleOutcome::Failure => match self.error_code.as_deref() {
                Some(code) if valid_error_code(code) => {}
                _ => return refuse("error_code: a failure needs a code such as `FailedOperation.Example`".into()),
            },
            _ if self.error_code.is_some() || self.error_message.is_some() => {
                return refuse("error_code: only a failure has a code and a message".into());
            }
            RuleOutcome::Success => {
                if let Err(why) = action.forced_success {
                    return refuse(format!("outcome: {} cannot succeed without its work: {why}", self.action));
                }
            }
            RuleOutcome::AsRun => {}
        }
        if self.count == Some(0) {
            return refuse("count: a rule applies to 1 task or more".into());
        }
        Ok(())
    }
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    next_id: u64,
}

/// The rules of this node, oldest first; the first match wins.
#[derive(Default, Clone)]
pub struct Rules {
    state: Arc<Mutex<State>>,
}

impl Rules {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a rule; refuses one that could not be obeyed honestly, or the 1,001st.
    pub fn add(&self, request: RuleRequest) -> Result<Rule, RuleRefusal> {
        request.check()?;
        let mut state = self.lock();
        if state.rules.len() >= MAX_RULES {
            return Err(RuleRefusal(format!("{MAX_RULES} rules exist already; delete some")));
        }
        state.next_id += 1;
        let rule = Rule {
            id: format!("rule-{}", state.next_id),
            service: request.service,
            action: request.action,
            account: request.account,
            mode: request.mode,
            delay_ms: request.delay_ms,
            outcome: request.outcome,
            error_code: request.error_code,
            error_message: request.error_message,
            count: request.count,
            hits: 0,
        };
        state.rules.push(rule.clone());
        Ok(rule)
    }

    pub fn list(&self) -> Vec<Rule> {
        self.lock().rules.clone()
    }

    /// Removes one rule, or all; returns how many went.
    pub fn remove(&self, id: Option<&str>) -> usize {
        let mut state = self.lock();
        let before = state.rules.len();
        state.rules.retain(|rule| id.is_some_and(|id| rule.id != id));
        before - state.rules.len()
    }

    /// The directives of the tasks a call of `action` by `uin` creates, if a rule matches.
    pub fn source_for(&self, service: Service, action: &str, uin: &str) -> Option<Arc<dyn DirectiveSource>> {
        let state = self.lock();
        state.rules.iter().any(|rule| rule.matches(service, action, uin)).then(|| {
            Arc::new(Matching { rules: self.clone(), service, action: action.to_owned(), uin: uin.to_owned() })
                as Arc<dyn DirectiveSource>
        })
    }
}

/// Gives each task of one call the directive of the first rule still matching, counting it.
struct Matching {
    rules: Rules,
    service: Service,
    action: String,
    uin: String,
}

impl DirectiveSource for Matching {
    fn next(&self) -> Option<Directive> {
        let mut state = self.rules.lock();
        let rule = state.rules.iter_mut().find(|rule| rule.matches(self.service, &self.action, &self.uin))?;
        rule.hits += 1;
        Some(rule.directive())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> RuleRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_rule_gives_its_directive_to_count_tasks_then_expires() {
        let rules = Rules::default();
        let rule = rules
            .add(request(serde_json::json!({"service": "ecm", "action": "ImportCustomImage", "outcome": "failure",
                "error_code": "FailedOperation.Disk", "error_message": "corrupt", "count": 2})))
            .unwrap();
        let source = rules.source_for(Service::Ecm, "ImportCustomImage", "1").unwrap();
        let expected = Forced::Failure { error_code: "FailedOperation.Disk".into(), error_message: "corrupt".into() };
        assert_eq!(source.next().map(|d| (d.rule, d.outcome)), Some((rule.id.clone(), expected)));
        assert!(source.next().is_some());
        assert!(source.next().is_none(), "expired after 2 tasks");
        assert!(rules.source_for(Service::Ecm, "ImportCustomImage", "1").is_none());
        assert_eq!(rules.list()[0].hits, 2);
    }

    #[test]
    fn a_rule_matches_its_service_action_and_account_only() {
        let rules = Rules::default();
        rules
            .add(request(serde_json::json!({"service": "tcss", "action": "CreateRefreshTask", "account": "7",
                "mode": "delay", "delay_ms": 500})))
            .unwrap();
        assert!(rules.source_for(Service::Tcss, "CreateRefreshTask", "8").is_none());
        assert!(rules.source_for(Service::Ecm, "CreateRefreshTask", "7").is_none());
        let held = rules.source_for(Service::Tcss, "CreateRefreshTask", "7").unwrap().next().unwrap();
        assert_eq!((held.hold_ms, held.manual, held.outcome), (500, false, Forced::AsRun));
    }

    #[test]
    fn rules_that_cannot_be_obeyed_honestly_are_refused_naming_the_field() {
        let rules = Rules::default();
        let refused = |json| rules.add(request(json)).unwrap_err().to_string();
        let cases = [
            (serde_json::json!({"service": "ecm", "action": "DescribeImage"}), "action:"),
            (serde_json::json!({"service": "ecm", "action": "ImportCustomImage", "outcome": "success"}), "outcome:"),
            (serde_json::json!({"service": "tiw", "action": "CreateSnapshotTask", "mode": "delay"}), "delay_ms:"),
            (
                serde_json::json!({"service": "tiw", "action": "CreateSnapshotTask", "outcome": "failure"}),
                "error_code:",
            ),
            (
                serde_json::json!({"service": "tiw", "action": "CreateSnapshotTask", "outcome": "failure",
                    "error_code": "bad code"}),
                "error_code:",
            ),
            (
                serde_json::json!({"service": "tcss", "action": "CreateRefreshTask", "mode": "manual",
                "outcome": "failure", "error_code": "X"}),
                "outcome:",
            ),
            (serde_json::json!({"service": "tcss", "action": "CreateRefreshTask", "count": 0}), "count:"),
        ];
        for (json, field) in cases {
            let text = refused(json.clone());
            assert!(text.starts_with(field), "{json}: {text}");
        }
        assert!(
            rules
                .add(request(serde_json::json!({"service": "tcss", "action": "CreateRefreshTask",
            "outcome": "success"})))
                .is_ok()
        );
    }
}
