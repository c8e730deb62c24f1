//! Accounts, their API credentials and their tiw applications, looked up per request; and the
//! default account a first start creates so a newcomer can call the server at once.

use crate::action::account::app_id_suffix;
use crate::action::{Account, Service};
use crate::config::{AccountConfig, BucketConfig, Config, CredentialConfig, SdkAppConfig};
use anyhow::Context;
use figment::providers::Format;
use rand::RngExt;
use rand::distr::Alphanumeric;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub struct Credential {
    pub account: Arc<Account>,
    pub secret_key: String,
    pub tokens: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Accounts {
    by_secret_id: HashMap<String, Credential>,
    /// `--any-credentials`: unknown SecretIds are accounts of their own.
    any_credentials: bool,
    /// The accounts derived so far (see [`Accounts::derived`]), at most [`MAX_DERIVED`].
    derived: Mutex<HashMap<String, Arc<Account>>>,
}

/// Derived accounts kept; beyond, each request derives its account anew (same UIN).
const MAX_DERIVED: usize = 10_000;

impl Accounts {
    pub fn from_config(accounts: &[AccountConfig]) -> anyhow::Result<Self> {
        let mut by_secret_id = HashMap::new();
        let mut sdk_app_owner: HashMap<u64, &str> = HashMap::new();
        let mut app_id_owner: HashMap<u64, &str> = HashMap::new();
        let mut bucket_owner: HashMap<&BucketConfig, &str> = HashMap::new();
        for config in accounts {
            if let Some(app_id) = config.app_id
                && let Some(other) = app_id_owner.insert(app_id, &config.uin)
            {
                anyhow::bail!("APPID {app_id} is configured for both account {other} and {}", config.uin);
            }
            for bucket in &config.buckets {
                if let Some(other) = bucket_owner.insert(bucket, &config.uin) {
                    anyhow::bail!(
                        "bucket {} ({}) is configured for both account {other} and {}",
                        bucket.bucket,
                        bucket.region,
                        config.uin
                    );
                }
            }
        }
        // A listed bucket whose name carries another account's APPID would be both accounts'.
        for (bucket, owner) in &bucket_owner {
            if let Some(suffix) = app_id_suffix(&bucket.bucket)
                && let Some((app_id, other)) = app_id_owner.iter().find(|(app_id, _)| app_id.to_string() == suffix)
                && other != owner
            {
                anyhow::bail!(
                    "bucket {} of account {owner} carries the APPID {app_id} of account {other}",
                    bucket.bucket
                );
            }
        }
        for config in accounts {
            for app in &config.sdk_apps {
                if let Some(other) = sdk_app_owner.insert(app.sdk_app_id, &config.uin) {
                    anyhow::bail!(
                        "SdkAppId {} is configured for both account {other} and {}",
                        app.sdk_app_id,
                        config.uin
                    );
                }
            }
            let account = Arc::new(Account {
                uin: config.uin.clone(),
                services: config.services.clone(),
                service_expires_at: config.service_expires_at.map(|t| t.unix_timestamp()),
                sdk_apps: config.sdk_apps.iter().map(|a| (a.sdk_app_id, a.secret_key.clone())).collect(),
                app_id: config.app_id,
                buckets: config.buckets.iter().map(|b| (b.region.clone(), b.bucket.clone())).collect(),
            });
            for credential in &config.credentials {
                let entry = Credential {
                    account: account.clone(),
                    secret_key: credential.secret_key.clone(),
                    tokens: credential.tokens.clone(),
                };
                if by_secret_id.insert(credential.secret_id.clone(), entry).is_some() {
                    anyhow::bail!("SecretId {} is configured twice", credential.secret_id);
                }
            }
        }
        Ok(Self { by_secret_id, any_credentials: false, derived: Mutex::default() })
    }

    /// Accepts any unknown SecretId as an account of its own ([`Accounts::derived`]).
    pub fn with_any_credentials(mut self, any_credentials: bool) -> Self {
        self.any_credentials = any_credentials;
        self
    }

    /// With `--any-credentials`, the account of a SecretId that is not configured: its UIN is
    /// derived from the SecretId (12 digits starting with 2, the same on every start), every
    /// service enabled, no SdkAppId or bucket of its own. `None` without `--any-credentials`.
    pub fn derived(&self, secret_id: &str) -> Option<Arc<Account>> {
        if !self.any_credentials {
            return None;
        }
        let mut derived = self.derived.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(account) = derived.get(secret_id) {
            return Some(account.clone());
        }
        let account = Arc::new(Account {
            uin: derived_uin(secret_id),
            services: vec![Service::Tiw, Service::Tcss, Service::Ecm],
            service_expires_at: None,
            sdk_apps: HashMap::new(),
            app_id: None,
            buckets: Default::default(),
        });
        if derived.len() < MAX_DERIVED {
            derived.insert(secret_id.to_owned(), account.clone());
        }
        Some(account)
    }

    pub fn credential(&self, secret_id: &str) -> Option<&Credential> {
        self.by_secret_id.get(secret_id)
    }

    /// The configured account with this UIN.
    pub fn by_uin(&self, uin: &str) -> Option<Arc<Account>> {
        self.by_secret_id.values().find(|c| c.account.uin == uin).map(|c| c.account.clone())
    }

    /// The account that may name `bucket` of `region` in a `COS` parameter, if any.
    pub fn bucket_owner(&self, region: &str, bucket: &str) -> Option<&str> {
        self.by_secret_id.values().find(|c| c.account.owns_bucket(region, bucket)).map(|c| c.account.uin.as_str())
    }

    /// The UserSig key of an SdkAppId, whichever account owns it.
    pub fn sdk_app_key(&self, sdk_app_id: u64) -> Option<&str> {
        self.by_secret_id.values().find_map(|c| c.account.sdk_apps.get(&sdk_app_id)).map(String::as_str)
    }
}

/// `2` and 11 digits of the SecretId's SHA-256: stable, and apart from configured UINs, which
/// Tencent numbers from 1.
fn derived_uin(secret_id: &str) -> String {
    let digest = tcapi::sign::sha256_hex(secret_id.as_bytes());
    let n = u64::from_str_radix(&digest[..15], 16).unwrap_or(0);
    format!("2{:011}", n % 100_000_000_000)
}

/// Where a first start keeps the generated default account (mode 0600: it holds secrets).
const DEFAULT_ACCOUNT_FILE: &str = "default-account.toml";

fn random_text(len: usize) -> String {
    rand::rng().sample_iter(Alphanumeric).take(len).map(char::from).collect()
}

/// With no `[[accounts]]` configured, loads the default account from the data directory,
/// creating it on first start. Returns whether it was just created, so the caller can print it.
pub fn ensure_default_account(config: &mut Config) -> anyhow::Result<bool> {
    if !config.accounts.is_empty() {
        return Ok(false);
    }
    let path = config.data_dir.join(DEFAULT_ACCOUNT_FILE);
    let created = !path.exists();
    if created {
        let account = AccountConfig {
            uin: format!("1000{:08}", rand::rng().random_range(0..100_000_000u32)),
            services: vec![Service::Tiw, Service::Tcss, Service::Ecm],
            service_expires_at: None,
            credentials: vec![CredentialConfig {
                secret_id: format!("AKID{}", random_text(32)),
                secret_key: random_text(32),
                tokens: Vec::new(),
            }],
            sdk_apps: vec![SdkAppConfig { sdk_app_id: 1_400_000_001, secret_key: random_text(32), callback_key: None }],
            clusters: Vec::new(),
            app_id: None,
            buckets: Vec::new(),
        };
        write_private(&path, &toml_of(&account)?)?;
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let account: AccountConfig = figment::Figment::from(figment::providers::Toml::string(&text))
        .extract()
        .context("parsing the default account")?;
    config.accounts.push(account);
    Ok(created)
}

fn toml_of(account: &AccountConfig) -> anyhow::Result<String> {
    let credential = &account.credentials[0];
    let app = &account.sdk_apps[0];
    Ok(format!(
        "# Generated on first start; taskgate reads it while no [[accounts]] are configured.\n\
         uin = \"{}\"\nservices = [\"tiw\", \"tcss\", \"ecm\"]\n\n\
         [[credentials]]\nsecret_id = \"{}\"\nsecret_key = \"{}\"\n\n\
         [[sdk_apps]]\nsdk_app_id = {}\nsecret_key = \"{}\"\n",
        account.uin, credential.secret_id, credential.secret_key, app.sdk_app_id, app.secret_key
    ))
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(uin: &str, app_id: Option<u64>, buckets: &[(&str, &str)]) -> AccountConfig {
        AccountConfig {
            uin: uin.into(),
            services: vec![Service::Tiw],
            service_expires_at: None,
            credentials: vec![CredentialConfig {
                secret_id: format!("AKID{uin}"),
                secret_key: "k".into(),
                tokens: Vec::new(),
            }],
            sdk_apps: Vec::new(),
            clusters: Vec::new(),
            app_id,
            buckets: buckets.iter().map(|(r, b)| BucketConfig { region: (*r).into(), bucket: (*b).into() }).collect(),
        }
    }

    fn owner_of(accounts: &Accounts, uin: &str) -> Arc<Account> {
        accounts.credential(&format!("AKID{uin}")).unwrap().account.clone()
    }

    #[test]
    fn any_credentials_derive_a_stable_account_per_secret_id() {
        let accounts = Accounts::from_config(&[]).unwrap().with_any_credentials(true);
        let a = accounts.derived("AKIDone").unwrap();
        assert_eq!(a.uin, accounts.derived("AKIDone").unwrap().uin);
        assert_ne!(a.uin, accounts.derived("AKIDtwo").unwrap().uin);
        assert_eq!((a.uin.len(), a.uin.as_bytes()[0]), (12, b'2'));
        assert_eq!(a.uin, derived_uin("AKIDone"), "the same on every start");
        assert!(Accounts::from_config(&[]).unwrap().derived("AKIDone").is_none());
    }

    #[test]
    fn buckets_are_owned_by_app_id_suffix_or_by_listing() {
        let accounts = Accounts::from_config(&[account("1", Some(1250000000), &[("ap-guangzhou", "plain")])]).unwrap();
        let a = owner_of(&accounts, "1");
        assert!(a.owns_bucket("ap-guangzhou", "snap-1250000000"));
        assert!(a.owns_bucket("ap-guangzhou", "plain"));
        assert!(!a.owns_bucket("ap-shanghai", "plain"), "a listed bucket is owned in its region only");
        assert!(!a.owns_bucket("ap-guangzhou", "snap-1250000001"));
        assert!(!a.owns_bucket("ap-guangzhou", "snap-12500000000"));
        assert!(!a.owns_bucket("ap-guangzhou", "-1250000000"), "the name before the APPID is not empty");
    }

    #[test]
    fn a_listed_bucket_carrying_another_accounts_app_id_is_refused() {
        let configs = [account("1", Some(1250000000), &[]), account("2", None, &[("ap-guangzhou", "x-1250000000")])];
        assert!(Accounts::from_config(&configs).is_err());
    }

    #[test]
    fn one_app_id_or_bucket_for_two_accounts_is_refused() {
        assert!(Accounts::from_config(&[account("1", Some(7), &[]), account("2", Some(7), &[])]).is_err());
        let shared = [("ap-guangzhou", "shared")];
        assert!(Accounts::from_config(&[account("1", None, &shared), account("2", None, &shared)]).is_err());
    }
}
