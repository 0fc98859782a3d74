//! The PXE reinstall actions (seed: "Reinstall the operating system on the server
//! (second option)"): `eq/reinstall`, `eq/create_pxe`, `eq/boot_dev`, `eq/reboot`
//! (and `eq/on`, `eq/off`, `eq/status`), `eq/clear_pxe`.

use super::install::{Install, InstallVia, total};
use super::orders::{callback_url, os_name, pxe_password_ok};
use super::state::{Account, Answer, AsyncKey, KeyKind, Params, PxeConfig, Refused, refuse};
use super::{BootDevice, HostkeyEvent, ServerStatus};
use crate::sim::VirtualTime;

impl Account {
    /// `eq/reinstall`: a new reinstall master key for the server.
    pub fn reinstall(&mut self, token: &str, params: &Params) -> Result<Answer, Refused> {
        let id = params.number("reinstall", "id")?;
        let server = self.visible(token, "reinstall", id)?;
        if server.status != ServerStatus::Rent {
            return refuse(format!(
                "reinstall: server {id} is not active (status {})",
                server.status.as_str()
            ));
        }
        if server.installing() {
            return refuse(format!(
                "reinstall: the previous reinstallation of server {id} is not complete yet"
            ));
        }
        let key = self.new_key();
        let server = self.servers.get_mut(&id).expect("visible server exists");
        // An older master key that never saw an install is superseded.
        if let Some(old) = server.reinstall_key.replace(key.clone()) {
            self.keys.remove(&old);
        }
        self.keys.insert(
            key.clone(),
            AsyncKey {
                server_id: id,
                kind: KeyKind::Reinstall,
            },
        );
        Ok(self.async_answer("OK", "reinstall key created", "reinstall", id, &key))
    }

    /// `eq/create_pxe`.
    pub fn create_pxe(
        &mut self,
        token: &str,
        params: &Params,
        now: VirtualTime,
    ) -> Result<Answer, Refused> {
        const ACTION: &str = "create_pxe";
        params.require(ACTION, &["id", "pin", "os_id", "root_pass", "hostname"])?;
        let id = params.number(ACTION, "id")?;
        let os_id = params.number(ACTION, "os_id")?;
        let root_pass = params.required(ACTION, "root_pass")?.to_owned();
        if !pxe_password_ok(&root_pass) {
            return refuse(format!(
                "{ACTION}: root_pass does not meet the security policy: at least 8 characters with numbers and capital letters"
            ));
        }
        let hostname = params.required(ACTION, "hostname")?.to_owned();
        let callback = callback_url(ACTION, params)?;
        self.check_pin(ACTION, params)?;
        let server = self.visible(token, ACTION, id)?;
        if server.status != ServerStatus::Rent {
            return refuse(format!(
                "{ACTION}: server {id} is not active (status {})",
                server.status.as_str()
            ));
        }
        let reinstall_key = match params.get("reinstall_key") {
            Some(key) => match self.keys.get(key) {
                Some(AsyncKey {
                    server_id,
                    kind: KeyKind::Reinstall,
                }) if *server_id == id => Some(key.to_owned()),
                _ => {
                    return refuse(format!(
                        "{ACTION}: reinstall_key is not a reinstall key of server {id}"
                    ));
                }
            },
            // Stage alerts go to the server's master key when there is one.
            None => server.reinstall_key.clone(),
        };
        let server = self.servers.get_mut(&id).expect("visible server exists");
        server.pxe = Some(PxeConfig {
            os_id,
            hostname,
            root_pass,
            callback,
            reinstall_key,
            installed: false,
        });
        self.ledger
            .record_at(HostkeyEvent::PxeCreated { server_id: id }, now);
        Ok(self.action_answer(id, ACTION, "PXE config created".to_owned(), now))
    }

    /// `eq/boot_dev`.
    pub fn boot_dev(
        &mut self,
        token: &str,
        params: &Params,
        now: VirtualTime,
    ) -> Result<Answer, Refused> {
        const ACTION: &str = "boot_dev";
        params.require(ACTION, &["id", "pin", "media"])?;
        let id = params.number(ACTION, "id")?;
        let media = match params.get("media") {
            Some("pxe") => BootDevice::Pxe,
            Some("disk") => BootDevice::Disk,
            Some("cd") => BootDevice::Cd,
            _ => return refuse(format!("{ACTION}: media must be pxe, disk or cd")),
        };
        self.check_pin(ACTION, params)?;
        self.visible(token, ACTION, id)?;
        self.servers
            .get_mut(&id)
            .expect("visible server exists")
            .boot = media;
        self.ledger.record_at(
            HostkeyEvent::BootDev {
                server_id: id,
                media,
            },
            now,
        );
        let scope = format!("boot device set to {}", params.get("media").unwrap_or(""));
        Ok(self.action_answer(id, ACTION, scope, now))
    }

    /// `eq/reboot`, `eq/on`, `eq/off`. A reboot into an existing PXE config with
    /// boot from PXE starts the install; if that config was already installed, it
    /// is a sudden reinstall (the seed's warning about not clearing PXE).
    pub fn power(
        &mut self,
        token: &str,
        action: &'static str,
        params: &Params,
        now: VirtualTime,
    ) -> Result<Answer, Refused> {
        params.require(action, &["id", "pin"])?;
        let id = params.number(action, "id")?;
        self.check_pin(action, params)?;
        let server = self.visible(token, action, id)?;
        if server.status != ServerStatus::Rent {
            return refuse(format!(
                "{action}: server {id} is not active (status {})",
                server.status.as_str()
            ));
        }
        let durations = self.opts.stage_durations;
        let server = self.servers.get_mut(&id).expect("visible server exists");
        let scope = match action {
            "on" => {
                server.power_on = true;
                self.ledger.record_at(
                    HostkeyEvent::Power {
                        server_id: id,
                        on: true,
                    },
                    now,
                );
                "power on"
            }
            "off" => {
                server.power_on = false;
                self.ledger.record_at(
                    HostkeyEvent::Power {
                        server_id: id,
                        on: false,
                    },
                    now,
                );
                "power off"
            }
            _ => {
                server.power_on = true;
                self.ledger
                    .record_at(HostkeyEvent::Reboot { server_id: id }, now);
                let boots_pxe = server.boot == BootDevice::Pxe;
                if let Some(pxe) = server.pxe.as_mut().filter(|_| boots_pxe) {
                    if pxe.installed {
                        self.ledger
                            .record_at(HostkeyEvent::SuddenReinstall { server_id: id }, now);
                    }
                    pxe.installed = false;
                    server.install = Some(Install {
                        key: pxe.reinstall_key.clone(),
                        via: InstallVia::Pxe,
                        started_at: now,
                        done_at: now + total(&durations),
                        completed: false,
                        hostname: Some(pxe.hostname.clone()),
                        root_pass: pxe.root_pass.clone(),
                        os: Some(os_name(pxe.os_id)),
                        callback: pxe.callback.clone(),
                    });
                    self.ledger
                        .record_at(HostkeyEvent::InstallStarted { server_id: id }, now);
                }
                "reboot command sent"
            }
        };
        Ok(self.action_answer(id, action, scope.to_owned(), now))
    }

    /// `eq/clear_pxe`: `hostname` must name the server (its PXE config's hostname or
    /// its current one).
    pub fn clear_pxe(
        &mut self,
        token: &str,
        params: &Params,
        now: VirtualTime,
    ) -> Result<Answer, Refused> {
        const ACTION: &str = "clear_pxe";
        params.require(ACTION, &["id", "hostname"])?;
        let id = params.number(ACTION, "id")?;
        let hostname = params.required(ACTION, "hostname")?;
        let server = self.visible(token, ACTION, id)?;
        let matches = server.hostname() == hostname
            || server
                .pxe
                .as_ref()
                .is_some_and(|pxe| pxe.hostname == hostname);
        if !matches {
            return refuse(format!(
                "{ACTION}: hostname {hostname} does not match server {id}"
            ));
        }
        if self
            .servers
            .get_mut(&id)
            .expect("visible server exists")
            .pxe
            .take()
            .is_some()
        {
            self.ledger
                .record_at(HostkeyEvent::PxeCleared { server_id: id }, now);
        }
        Ok(self.action_answer(id, ACTION, "PXE config removed".to_owned(), now))
    }

    /// `eq/status`: power status.
    pub fn power_status(
        &mut self,
        token: &str,
        params: &Params,
        now: VirtualTime,
    ) -> Result<Answer, Refused> {
        let id = params.number("status", "id")?;
        let on = self.visible(token, "status", id)?.power_on;
        let scope = if on {
            "Chassis Power is on"
        } else {
            "Chassis Power is off"
        };
        Ok(self.action_answer(id, "status", scope.to_owned(), now))
    }
}
