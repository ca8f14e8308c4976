//! CronJobs: their next run gets the new sidecar; never restarted by this tool.

use super::{OwnerKind, Restart, owner};
use crate::live::{Kind, Owner, OwnerSpec};
use k8s_openapi::api::batch::v1::CronJob;

impl OwnerKind for CronJob {
    const KIND: Kind = Kind::CronJob;
    const RESTART: Restart = Restart::Manual;

    fn owner(&self) -> Owner {
        owner(self, None, OwnerSpec::CronJob)
    }
}
