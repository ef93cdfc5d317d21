//! A synchronous face of the token vault, for code that cannot `.await` (the masking
//! engine's `TokenVault` trait is synchronous).
//!
//! Calls block the calling thread until the store answers (bounded by the operation
//! timeout). Inside a multi-threaded tokio runtime they use `block_in_place`, which moves
//! the worker's other tasks away first, so the runtime keeps serving; on a
//! current-thread runtime blocking would deadlock, so calls return an error instead.
//! Outside any runtime they run on the runtime the adapter was created in.

use std::time::Duration;

use tokio::runtime::{Handle, RuntimeFlavor};

use crate::error::{Result, StoreError};
use crate::store::{Store, Tokenized, VaultScope};

/// Blocking access to the vault of a [`Store`].
#[derive(Debug, Clone)]
pub struct BlockingVault {
    store: Store,
    handle: Handle,
}

impl BlockingVault {
    /// Wraps a store; must be called inside a tokio runtime (its handle is kept for calls
    /// made later from threads outside any runtime).
    pub fn new(store: Store) -> Result<Self> {
        let handle = Handle::try_current().map_err(|_| {
            StoreError::Config("BlockingVault::new must be called inside a tokio runtime".into())
        })?;
        Ok(BlockingVault { store, handle })
    }

    /// The wrapped store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn run<T>(&self, fut: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        match Handle::try_current() {
            Ok(h) => match h.runtime_flavor() {
                RuntimeFlavor::MultiThread => tokio::task::block_in_place(|| h.block_on(fut)),
                _ => Err(StoreError::Config(
                    "blocking vault call on a current-thread tokio runtime would deadlock; \
                     use the async Store API or a multi-threaded runtime"
                        .into(),
                )),
            },
            Err(_) => self.handle.block_on(fut),
        }
    }

    /// Blocking [`Store::vault_tokenize`].
    pub fn tokenize(
        &self,
        scope: &VaultScope,
        value: &[u8],
        candidate: &str,
        ttl: Option<Duration>,
    ) -> Result<Tokenized> {
        self.run(self.store.vault_tokenize(scope, value, candidate, ttl))
    }

    /// Blocking [`Store::vault_lookup`].
    pub fn lookup(&self, scope: &VaultScope, value: &[u8]) -> Result<Option<String>> {
        self.run(self.store.vault_lookup(scope, value))
    }

    /// Blocking [`Store::vault_detokenize`].
    pub fn detokenize(&self, scope: &VaultScope, token: &str) -> Result<Option<Vec<u8>>> {
        self.run(self.store.vault_detokenize(scope, token))
    }
}
