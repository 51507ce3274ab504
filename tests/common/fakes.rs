//! In-memory publisher and state store, for handler tests that need failures on cue.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use ddb_stream_audit::Finding;
use ddb_stream_audit::audit::state::{AuditState, ItemState, SharedState};
use ddb_stream_audit::change::ItemId;
use ddb_stream_audit::lambda::{
    FindingPublisher, LambdaError, Retry, Saved, SharedSaved, StateStore, StoredShared,
};

/// Keeps what it publishes; fails the findings of one rule, or sleeps, when told to.
#[derive(Default)]
pub struct MemoryPublisher {
    pub published: Mutex<Vec<Finding>>,
    pub fail_rule: Option<(String, Retry)>,
    pub delay: Option<Duration>,
}

impl FindingPublisher for MemoryPublisher {
    async fn publish(&self, findings: &[&Finding]) -> Vec<Result<(), LambdaError>> {
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
        findings
            .iter()
            .map(|f| match &self.fail_rule {
                Some((rule, retry)) if *rule == f.rule => Err(LambdaError::Aws {
                    operation: "sns:PublishBatch",
                    message: "InternalError: injected".to_owned(),
                    retry: *retry,
                }),
                _ => {
                    self.published.lock().expect("lock").push((*f).clone());
                    Ok(())
                }
            })
            .collect()
    }
}

#[derive(Default)]
pub struct MemoryStore {
    pub checkpoints: Mutex<HashMap<ItemId, ItemState>>,
    pub dedup: Mutex<HashSet<String>>,
    pub shared: Mutex<StoredShared>,
}

impl StateStore for MemoryStore {
    async fn load_checkpoints(&self, items: &[&ItemId]) -> Result<AuditState, LambdaError> {
        let stored = self.checkpoints.lock().expect("lock");
        Ok(items
            .iter()
            .filter_map(|i| stored.get(*i).map(|s| ((*i).clone(), s.clone())))
            .collect())
    }

    async fn published(&self, ids: &[&str]) -> Result<HashSet<String>, LambdaError> {
        let dedup = self.dedup.lock().expect("lock");
        Ok(ids
            .iter()
            .filter(|i| dedup.contains(**i))
            .map(|i| i.to_string())
            .collect())
    }

    async fn mark_published(&self, ids: &[&str]) -> Vec<Result<(), LambdaError>> {
        let mut dedup = self.dedup.lock().expect("lock");
        ids.iter()
            .map(|i| {
                dedup.insert(i.to_string());
                Ok(())
            })
            .collect()
    }

    async fn save_checkpoints(
        &self,
        checkpoints: &[(&ItemId, &ItemState)],
    ) -> Vec<Result<Saved, LambdaError>> {
        let mut stored = self.checkpoints.lock().expect("lock");
        checkpoints
            .iter()
            .map(|(item, state)| {
                match stored.get(*item) {
                    Some(old) if old.sequence_number >= state.sequence_number => {
                        return Ok(Saved::Superseded);
                    }
                    _ => {}
                }
                stored.insert((*item).clone(), (*state).clone());
                Ok(Saved::Written)
            })
            .collect()
    }

    async fn load_shared(&self) -> Result<StoredShared, LambdaError> {
        Ok(self.shared.lock().expect("lock").clone())
    }

    async fn save_shared(
        &self,
        state: &SharedState,
        expected_rev: u64,
    ) -> Result<SharedSaved, LambdaError> {
        let mut stored = self.shared.lock().expect("lock");
        if stored.rev != expected_rev {
            return Ok(SharedSaved::Conflict);
        }
        *stored = StoredShared {
            state: state.clone(),
            rev: expected_rev + 1,
        };
        Ok(SharedSaved::Written)
    }
}
