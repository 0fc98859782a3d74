//! The drift sweep's report and its lease (issue 13 point 3).

use super::{Store, StoreError};
use crate::drift::DriftReport;
use redis::AsyncCommands;
use std::time::Duration;

impl Store {
    /// Takes the sweep's lease for `every` if nobody holds it: of all workers, one
    /// sweeps per interval. The lease is not released; it runs out.
    pub async fn take_drift_lease(
        &self,
        holder: &str,
        every: Duration,
    ) -> Result<bool, StoreError> {
        let mut c = self.connection();
        let ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: Option<String> = redis::cmd("SET")
            .arg(self.keys().drift_lease())
            .arg(holder)
            .arg("NX")
            .arg("PX")
            .arg(ms)
            .query_async(&mut c)
            .await?;
        Ok(set.is_some())
    }

    /// Replaces the report with this sweep's.
    pub async fn save_drift(&self, report: &DriftReport) -> Result<(), StoreError> {
        let json = serde_json::to_string(report).expect("drift report serialises");
        let mut c = self.connection();
        let _: () = c.set(self.keys().drift(), json).await?;
        Ok(())
    }

    /// The last sweep's report; `None` before the first sweep.
    pub async fn drift(&self) -> Result<Option<DriftReport>, StoreError> {
        let mut c = self.connection();
        let json: Option<String> = c.get(self.keys().drift()).await?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }
}
