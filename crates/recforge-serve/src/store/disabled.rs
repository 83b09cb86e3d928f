//! The store of a server that serves no bandit (retrieval only): it answers health checks and
//! refuses bandit state, which the bandit routes never ask for once they see no bandit.

use recforge_bandit::EdgeMap;

use super::{BanditStore, Delta, IssuedRequest, StoreError};

#[derive(Debug, Default)]
pub struct DisabledStore;

impl DisabledStore {
    fn refuse<T>(&self) -> Result<T, StoreError> {
        Err(StoreError::Io { url: self.url().into(), message: "this server serves no bandit; start it with --bandit CONFIG".into() })
    }
}

impl BanditStore for DisabledStore {
    fn url(&self) -> &str {
        "none"
    }

    fn edges(&self, _clusters: &[u32]) -> Result<EdgeMap, StoreError> {
        self.refuse()
    }

    fn put_request(&self, _id: &str, _request: &IssuedRequest) -> Result<(), StoreError> {
        self.refuse()
    }

    fn get_request(&self, _id: &str) -> Result<Option<IssuedRequest>, StoreError> {
        self.refuse()
    }

    fn apply_feedback(&self, _key: &str, _deltas: &[Delta], _expires_ms: u64) -> Result<bool, StoreError> {
        self.refuse()
    }
}
