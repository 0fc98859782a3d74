//! Sessions: `auth/login`, `auth/logout`, `auth/info`, token checks, the token's
//! own snapshot of the account's servers, and PIN checks.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use serde_json::json;

use super::ServerStatus;
use super::state::{Account, Answer, Params, Refused, Server, Token, WHMCS_ID, refuse};
use crate::sim::unix_secs;

impl Account {
    /// `auth/login`.
    pub fn login(&mut self, params: &Params) -> Result<Answer, Refused> {
        let key = params.required("auth", "key")?;
        if key != self.opts.api_key {
            return refuse("auth: invalid API key");
        }
        let ttl = match params.get("ttl") {
            None => 7200,
            Some(raw) => match raw.parse::<u64>() {
                // Capped at a year so that the expiry time cannot overflow.
                Ok(ttl) if ttl > 0 => ttl.min(365 * 24 * 3600),
                _ => return refuse("auth: ttl must be a positive number of seconds"),
            },
        };
        let now = SystemTime::now();
        let snapshot: BTreeSet<u64> = self.servers.keys().copied().collect();
        let reusable = self
            .tokens
            .iter_mut()
            .find(|(_, token)| !token.expired && token.expires > now);
        let (token, expires, new) = match reusable {
            Some((token, session)) => {
                session.snapshot = snapshot.clone();
                (token.clone(), session.expires, 0)
            }
            None => {
                let token = self.new_key();
                let expires = now + Duration::from_secs(ttl);
                self.tokens.insert(
                    token.clone(),
                    Token {
                        expires,
                        expired: false,
                        snapshot: snapshot.clone(),
                    },
                );
                (token, expires, 1)
            }
        };
        Ok(Answer::json(&json!({
            "result": {
                "token": token,
                "role": "Customer billing",
                "role_type": "Customer",
                "whmcs_id": WHMCS_ID,
                "whmcs_location": "whmcs_com",
                "servers": snapshot,
                "customer_id": 38157,
                "permissions": PERMISSIONS,
                "token_expire": unix_secs(expires),
                "new": new,
            }
        })))
    }

    /// Checks a session token; the error text starts with `auth:` (GAPS.md), which
    /// tells a client to log in again.
    pub fn authorize(&self, token: Option<&str>) -> Result<String, Refused> {
        let Some(token) = token else {
            return refuse("auth: session token required");
        };
        match self.tokens.get(token) {
            None => refuse("auth: invalid session token"),
            Some(session) if session.expired || session.expires <= SystemTime::now() => {
                refuse("auth: session token expired, log in again")
            }
            Some(_) => Ok(token.to_owned()),
        }
    }

    pub fn expire_tokens(&mut self) {
        for token in self.tokens.values_mut() {
            token.expired = true;
        }
    }

    /// `auth/logout`.
    pub fn logout(&mut self, token: &str) -> Answer {
        self.tokens.remove(token);
        Answer::json(&json!({ "result": "OK" }))
    }

    /// `auth/info`: like the seed's answer, servers as an `{id: id}` map.
    pub fn info(&self, token: &str) -> Answer {
        let session = &self.tokens[token];
        Answer::json(&json!({
            "result": {
                "servers": self.server_map(&session.snapshot),
                "deploy_keys": self.deploy_keys(&session.snapshot),
                "token_expire": unix_secs(session.expires),
                "whmcs_id": WHMCS_ID.to_string(),
                "whmcs_location": "whmcs_com",
                "permissions": PERMISSIONS,
            }
        }))
    }

    pub fn server_map(&self, ids: &BTreeSet<u64>) -> BTreeMap<String, String> {
        ids.iter()
            .map(|id| (id.to_string(), id.to_string()))
            .collect()
    }

    /// Deploy keys of servers not yet delivered (the ones worth tracking).
    pub fn deploy_keys(&self, ids: &BTreeSet<u64>) -> BTreeMap<String, String> {
        ids.iter()
            .filter_map(|id| self.servers.get(id))
            .filter(|server| server.status == ServerStatus::Pending)
            .map(|server| (server.id.to_string(), server.deploy_key.clone()))
            .collect()
    }

    /// A server the token knows; servers ordered after the token's last refresh are
    /// unknown to it (GAPS.md: "shows … only after eq/update_servers").
    pub fn visible(&self, token: &str, action: &str, id: u64) -> Result<&Server, Refused> {
        let known = self
            .tokens
            .get(token)
            .is_some_and(|session| session.snapshot.contains(&id));
        match self.servers.get(&id) {
            Some(server) if known => Ok(server),
            _ => refuse(format!(
                "{action}: no server with id {id} found for this session (refresh the list with eq/update_servers)"
            )),
        }
    }

    pub fn check_pin(&self, action: &str, params: &Params) -> Result<(), Refused> {
        match params.get("pin") {
            None => refuse(format!("{action}: missing required parameter pin")),
            Some(pin) if pin == self.opts.pin => Ok(()),
            Some(_) => refuse(format!("{action}: Invalid pin code")),
        }
    }
}

/// The permissions a login answer lists (the seed's list, shortened to what the
/// simulator serves).
const PERMISSIONS: [&str; 24] = [
    "auth/info",
    "eq/boot_dev",
    "eq/check_pin",
    "eq/clear_pxe",
    "eq/create_pxe",
    "eq/list",
    "eq/off",
    "eq/on",
    "eq/order_instance",
    "eq/reboot",
    "eq/reinstall",
    "eq/set_pin",
    "eq/show",
    "eq/status",
    "eq/update_servers",
    "tag/add",
    "tag/clear",
    "tag/list",
    "tag/remove",
    "whmcs/apply_credit",
    "whmcs/get_invoice",
    "whmcs/get_invoices",
    "whmcs/get_related_invoices",
    "whmcs/request_cancellation",
];
