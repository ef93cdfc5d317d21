//! Storage for everything the Shroud gateway persists: behavioral profiles, the token
//! vault, the decision cache, rate-limit / escalation counters and the list of known
//! users, behind one async handle, [`Store`], over three backends:
//!
//! - **redb** (default): one embedded file, for a single gateway instance;
//! - **Redis**: one server shared by several gateway instances;
//! - **Redis Cluster**: the same, sharded.
//!
//! Security is the store's job, not the caller's: user ids, session ids, tokens and
//! vault values never appear in clear in storage (keyed HMAC-SHA256 pseudonyms); profile,
//! decision and vault payloads are sealed with AES-256-GCM-SIV under a rotatable key ring
//! ([`KeyRing`]) and bound to the key they are stored under, so tampered or moved blobs
//! fail with [`StoreError::Decrypt`] instead of returning someone else's data. Every
//! operation is bounded by a timeout and returns a typed [`StoreError`] the gateway can
//! fail closed on. [`Store::erase_user`] removes every trace of a user.
//!
//! ```
//! use shroud_store::{Expect, KeyRing, Modality, Store, StoreConfig};
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 1)]
//! # async fn main() -> Result<(), shroud_store::StoreError> {
//! let dir = tempfile::tempdir().map_err(|e| shroud_store::StoreError::Config(e.to_string()))?;
//! let keys = KeyRing::parse(&KeyRing::generate_text()?)?;
//! let store = Store::open(StoreConfig::redb(dir.path().join("shroud.redb")), keys).await?;
//!
//! let alice = store.user("alice@example.com")?;
//! let rev = store
//!     .put_profile(&alice, &Modality::keystroke(), 1, b"profile bytes", Expect::Absent)
//!     .await?;
//! let p = store.profile(&alice, &Modality::keystroke()).await?;
//! assert_eq!(p.map(|p| (p.revision, p.data)), Some((rev, b"profile bytes".to_vec())));
//!
//! store.erase_user(&alice).await?;
//! assert!(store.debug_keys().await?.is_empty());
//! # Ok(())
//! # }
//! ```

mod backend;
mod blocking;
mod config;
mod error;
mod keys;
mod store;

pub use blocking::BlockingVault;
pub use config::{BackendConfig, StoreConfig};
pub use error::{Result, StoreError};
pub use keys::{KEYS_ENV, KeyRing};
pub use store::{
    Counter, Erasure, Expect, Health, Modality, Profile, Store, Tokenized, UserKey, VaultScope,
};
