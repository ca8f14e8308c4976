//! Jobs: run to completion, never restarted by this tool; a CronJob's Jobs are acted on
//! through the CronJob.

use super::{OwnerKind, Restart, owner};
use crate::live::{Kind, Owner, OwnerSpec};
use k8s_openapi::api::batch::v1::Job;

impl OwnerKind for Job {
    const KIND: Kind = Kind::Job;
    const PARENT: Option<Kind> = Some(Kind::CronJob);
    const RESTART: Restart = Restart::Manual;

    fn owner(&self) -> Owner {
        owner(self, None, OwnerSpec::Job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cron_jobs_job_names_it() {
        let j: Job = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "nightly-1", "namespace": "ops",
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": "nightly", "uid": "u", "controller": true}]}
        }))
        .expect("a Job");
        let o = j.owner();
        assert!(matches!(o.spec, OwnerSpec::Job));
        assert_eq!(o.owner.map(|p| p.kind), Some(Kind::CronJob));
    }
}
