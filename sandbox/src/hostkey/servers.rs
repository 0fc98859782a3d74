//! `eq.php` inventory actions (`update_servers`, `list`, `show`, PINs), the
//! asynchronous keys of `eq_callback/check`, and `tag.php`.

use serde_json::json;

use super::install::{Progress, STAGE_SCOPES};
use super::state::{
    Account, Answer, AsyncAnswer, AsyncContext, AsyncKey, KeyKind, Params, Refused, refuse,
};
use super::{ServerStatus, views};
use crate::sim::VirtualTime;

impl Account {
    /// An asynchronous answer about `server_id`.
    pub fn async_answer(
        &self,
        result: &str,
        scope: &str,
        action: &str,
        server_id: u64,
        key: &str,
    ) -> Answer {
        let location = self
            .servers
            .get(&server_id)
            .map_or("NL", |server| server.location.as_str());
        Answer::json(&AsyncAnswer {
            result,
            scope,
            context: AsyncContext {
                action,
                id: server_id.to_string(),
                location,
            },
            key,
        })
    }

    /// Registers a key that says `OK` once the action is done (after `action_delay`).
    pub fn action_answer(
        &mut self,
        server_id: u64,
        action: &'static str,
        scope: String,
        now: VirtualTime,
    ) -> Answer {
        let key = self.new_key();
        let done_at = now + self.opts.action_delay;
        self.keys.insert(
            key.clone(),
            AsyncKey {
                server_id,
                kind: KeyKind::Action {
                    action,
                    scope: scope.clone(),
                    done_at,
                },
            },
        );
        self.async_answer("OK", &scope, action, server_id, &key)
    }

    /// `eq/update_servers`: refreshes the token's server list.
    pub fn update_servers(&mut self, token: &str) -> Answer {
        let ids: std::collections::BTreeSet<u64> = self.servers.keys().copied().collect();
        if let Some(session) = self.tokens.get_mut(token) {
            session.snapshot = ids.clone();
        }
        Answer::json(&json!({
            "result": "OK",
            "servers": self.server_map(&ids),
            "deploy_keys": self.deploy_keys(&ids),
        }))
    }

    /// `eq/list`, with the seed's `status` and `location` filters (comma lists).
    pub fn list(&self, token: &str, params: &Params) -> Answer {
        let wanted = |raw: Option<&str>| -> Option<Vec<String>> {
            raw.map(|raw| raw.split(',').map(|s| s.trim().to_owned()).collect())
        };
        let statuses = wanted(params.get("status"));
        let locations = wanted(params.get("location"));
        let ids: Vec<u64> = self.tokens[token]
            .snapshot
            .iter()
            .filter_map(|id| self.servers.get(id))
            .filter(|server| {
                statuses
                    .as_ref()
                    .is_none_or(|s| s.iter().any(|s| s == server.status.as_str()))
            })
            .filter(|server| {
                locations
                    .as_ref()
                    .is_none_or(|l| l.iter().any(|l| l.eq_ignore_ascii_case(&server.location)))
            })
            .map(|server| server.id)
            .collect();
        Answer::json(&json!({ "result": "OK", "servers": ids }))
    }

    /// `eq/show`.
    pub fn show(&self, token: &str, params: &Params) -> Result<Answer, Refused> {
        let id = params.number("show", "id")?;
        let server = self.visible(token, "show", id)?;
        Ok(Answer::json(&views::show(self, server)))
    }

    /// `eq/set_pin`.
    pub fn set_pin(&mut self, params: &Params) -> Result<Answer, Refused> {
        let new_pin = params.required("set_pin", "new_pin")?;
        if !new_pin.bytes().all(|b| b.is_ascii_digit()) {
            return refuse("set_pin: new_pin must be a number");
        }
        if params.get("old_pin") != Some(self.opts.pin.as_str()) {
            return refuse("set_pin: Invalid pin code");
        }
        self.opts.pin = new_pin.to_owned();
        let key = self.new_key();
        Ok(Answer::json(&json!({
            "result": "OK",
            "scope": "PIN code changed",
            "context": { "action": "set_pin", "id": "0" },
            "key": key,
        })))
    }

    /// `eq/check_pin`: answers like the seed's example, also when the PIN is wrong.
    pub fn check_pin_action(&mut self, params: &Params) -> Answer {
        let given = params.get("pin").or_else(|| params.get("old_pin"));
        let key = self.new_key();
        let valid = given == Some(self.opts.pin.as_str());
        Answer::json(&json!({
            "result": "OK",
            "scope": if valid { "PIN code is valid" } else { "Invalid pin code" },
            "context": { "action": "check_pin", "id": "0" },
            "debug": if valid { "" } else { "Blocked For Security Purposes" },
            "key": key,
        }))
    }

    /// `eq_callback/check` on a deploy, reinstall or action key (`key` or
    /// `reinstall_key`; no token needed).
    pub fn check(&mut self, params: &Params, now: VirtualTime) -> Result<Answer, Refused> {
        let Some(key) = params
            .get("reinstall_key")
            .or_else(|| params.get("key"))
            .map(str::to_owned)
        else {
            return refuse("check: missing required parameter key");
        };
        let Some(entry) = self.keys.get(&key).cloned() else {
            return refuse(format!("check: key {key} not found"));
        };
        let id = entry.server_id;
        let Some(server) = self.servers.get(&id) else {
            return refuse(format!("check: key {key} not found"));
        };
        match entry.kind {
            KeyKind::Deploy => match server.status {
                ServerStatus::Rent => {
                    Ok(self.async_answer("OK", "server deployed", "order_instance", id, &key))
                }
                ServerStatus::Cancelled => {
                    refuse(format!("check: the order of server {id} was cancelled"))
                }
                ServerStatus::Pending => {
                    let scope = if server.delivery_due.is_some() {
                        " (1/5) deployment in progress"
                    } else {
                        " (0/5) waiting for the invoice to be paid"
                    };
                    Ok(self.async_answer("Stage", scope, "order_instance", id, &key))
                }
            },
            KeyKind::Action {
                action,
                scope,
                done_at,
            } => {
                let result = if now >= done_at { "OK" } else { "Stage" };
                let scope = if now >= done_at {
                    scope
                } else {
                    format!("{action}: in progress")
                };
                Ok(self.async_answer(result, &scope, action, id, &key))
            }
            KeyKind::Reinstall => {
                let install = server
                    .install
                    .as_ref()
                    .filter(|install| install.key.as_deref() == Some(key.as_str()));
                let progress = install.map_or(Progress::Stage(0), |install| {
                    install.progress(now, &self.opts.stage_durations)
                });
                match progress {
                    Progress::Stage(stage) => {
                        Ok(self.async_answer("Stage", STAGE_SCOPES[stage], "reinstall", id, &key))
                    }
                    Progress::Complete => {
                        // The seed: "After we will retrieve this value, reinstall key
                        // will be removed from database."
                        let answer = self.async_answer(
                            "OK",
                            "reinstall completed, the server is online",
                            "reinstall",
                            id,
                            &key,
                        );
                        self.keys.remove(&key);
                        let server = self.servers.get_mut(&id).expect("server exists");
                        if server.reinstall_key.as_deref() == Some(key.as_str()) {
                            server.reinstall_key = None;
                        }
                        Ok(answer)
                    }
                }
            }
        }
    }

    /// `tag/add`, `tag/list`, `tag/remove`, `tag/clear` (GAPS.md: `id`, `tag`, `value`).
    pub fn tag(&mut self, token: &str, action: &str, params: &Params) -> Result<Answer, Refused> {
        let id = params.number(action, "id")?;
        self.visible(token, action, id)?;
        match action {
            "add" => {
                let name = params.required(action, "tag")?.to_owned();
                let value = params.0.get("value").cloned().unwrap_or_default();
                let tag_id = self.set_tag(id, &name, &value, false);
                Ok(Answer::json(&json!({ "result": "OK", "id": tag_id })))
            }
            "list" => Ok(Answer::json(&json!({
                "result": "OK",
                "tags": views::tags(&self.servers[&id]),
            }))),
            "remove" => {
                let name = params.required(action, "tag")?.to_owned();
                self.remove_tag(id, &name);
                Ok(Answer::json(&json!({ "result": "OK" })))
            }
            // Provider tags (hostname, password, OS) stay: clearing them would lose
            // the root password, which the seed keeps as a tag.
            "clear" => {
                if let Some(server) = self.servers.get_mut(&id) {
                    server.tags.retain(|tag| tag.system);
                }
                Ok(Answer::json(&json!({ "result": "OK" })))
            }
            other => refuse(format!("tag: unknown action {other}")),
        }
    }
}
