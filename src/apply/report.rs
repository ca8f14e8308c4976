//! What `apply` did, per workload: data only; [`render::report`](crate::render::report) shows it.

use crate::desired::Source;
use crate::live::{Kind, ObjectKey};
use crate::plan::{Action, Entry, Plan, Summary};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Result {
    Restarted,
    Evicted,
    /// A rollout under way was waited for.
    Waited,
    Failed,
    TimedOut,
    Manual,
    Blocked,
    Skipped,
}

impl Result {
    pub const ALL: [Result; 8] = [
        Result::Restarted,
        Result::Evicted,
        Result::Waited,
        Result::Failed,
        Result::TimedOut,
        Result::Manual,
        Result::Blocked,
        Result::Skipped,
    ];

    /// The name in the JSON report (`timed-out`).
    pub fn as_str(self) -> &'static str {
        match self {
            Result::Restarted => "restarted",
            Result::Evicted => "evicted",
            Result::Waited => "waited",
            Result::Failed => "failed",
            Result::TimedOut => "timed-out",
            Result::Manual => "manual",
            Result::Blocked => "blocked",
            Result::Skipped => "skipped",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub action: Action,
    pub result: Result,
    pub message: String,
    pub seconds: f64,
}

impl Outcome {
    pub fn key(&self) -> ObjectKey {
        ObjectKey::new(self.kind.clone(), &self.namespace, &self.name)
    }

    pub fn new(e: &Entry, result: Result, message: String, seconds: f64) -> Self {
        Outcome {
            kind: e.kind.clone(),
            namespace: e.namespace.clone(),
            name: e.name.clone(),
            action: e.action,
            result,
            message,
            seconds,
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self.result, Result::Failed | Result::TimedOut)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub format_version: u32,
    pub source: Source,
    pub cr: String,
    /// What waiting for the operator gave, when it was needed.
    pub operator: Option<String>,
    pub workloads: Vec<Outcome>,
    /// Run-wide failures (the overall timeout).
    pub failures: Vec<String>,
    /// The plan's summary after the run: what is still pending.
    pub remaining: Option<Summary>,
    pub seconds: f64,
}

impl Report {
    pub fn new(plan: &Plan) -> Self {
        Report {
            format_version: crate::plan::FORMAT_VERSION,
            source: plan.source.clone(),
            cr: String::new(),
            operator: None,
            workloads: Vec::new(),
            failures: Vec::new(),
            remaining: None,
            seconds: 0.0,
        }
    }

    pub fn record(&mut self, o: Outcome) {
        match self.outcome_mut(&o.key()) {
            Some(existing) => *existing = o,
            None => self.workloads.push(o),
        }
    }

    pub fn outcome_mut(&mut self, key: &ObjectKey) -> Option<&mut Outcome> {
        self.workloads
            .iter_mut()
            .find(|o| (&o.kind, &o.namespace, &o.name) == (&key.kind, &key.namespace, &key.name))
    }

    pub fn failed(&self) -> bool {
        !self.failures.is_empty() || self.workloads.iter().any(Outcome::failed)
    }

    pub fn manual_remaining(&self) -> bool {
        self.remaining
            .as_ref()
            .is_some_and(|s| s.manual + s.blocked > 0)
    }

    pub fn count(&self, r: Result) -> usize {
        self.workloads.iter().filter(|o| o.result == r).count()
    }
}

#[cfg(test)]
mod tests {
    use super::Result;

    #[test]
    fn names_are_the_json_names() {
        for r in Result::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }
}
