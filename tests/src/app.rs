//! [`spawn_app`]: the end-to-end stack a test asks for, in one builder — a Redis of
//! its own, the simulators it names (each with its accounts), config tweaks, the api
//! on a random port and, when asked, a worker.
//!
//! ```ignore
//! let app = spawn_app()
//!     .hostkey("hk-nl", start_hostkey().await?)
//!     .tune(|c| c.worker.settle = Duration::from_secs(2))
//!     .start()
//!     .await?;
//! let _worker = spawn_worker(app.config.clone()).await?;
//! ```

use crate::providers::{add_hostkey, add_idcloudhost, add_inferno, add_klikk, add_klikk_basic};
use crate::{TestApi, TestRedis, TestWorker, spawn_api, spawn_worker, test_config};
use provisioner_sandbox::hostkey::HostkeySim;
use provisioner_sandbox::idcloudhost::IdcloudhostSim;
use provisioner_sandbox::inferno::InfernoSim;
use provisioner_sandbox::klikk::KlikkSim;
use provisioner_shared::Config;

/// A running stack. The simulators it was given are reached through their
/// accessors, which panic when the test did not ask for that simulator.
pub struct TestApp {
    pub api: TestApi,
    /// The config the api runs with (the one to give a worker).
    pub config: Config,
    /// The worker [`AppBuilder::with_worker`] started.
    pub worker: Option<TestWorker>,
    hostkey: Option<HostkeySim>,
    klikk: Option<KlikkSim>,
    inferno: Option<InfernoSim>,
    idcloudhost: Option<IdcloudhostSim>,
    /// Last: dropped after the api and worker that use it.
    pub redis: TestRedis,
}

impl TestApp {
    pub fn hostkey(&self) -> &HostkeySim {
        self.hostkey
            .as_ref()
            .expect("the test asked for a HOSTKEY simulator")
    }

    pub fn klikk(&self) -> &KlikkSim {
        self.klikk
            .as_ref()
            .expect("the test asked for a Klikk simulator")
    }

    pub fn inferno(&self) -> &InfernoSim {
        self.inferno
            .as_ref()
            .expect("the test asked for an Inferno simulator")
    }

    pub fn idcloudhost(&self) -> &IdcloudhostSim {
        self.idcloudhost
            .as_ref()
            .expect("the test asked for an IDCloudHost simulator")
    }
}

type Tune = Box<dyn FnOnce(&mut Config) + Send>;

/// What [`spawn_app`] starts; see the module doc.
#[derive(Default)]
pub struct AppBuilder {
    hostkey: Option<(String, HostkeySim)>,
    klikk: Option<(String, KlikkSim)>,
    klikk_basic: Vec<String>,
    inferno: Option<(String, InfernoSim)>,
    idcloudhost: Option<(String, IdcloudhostSim, bool)>,
    tunes: Vec<Tune>,
    worker: bool,
}

/// Starts describing a stack; [`AppBuilder::start`] starts it.
pub fn spawn_app() -> AppBuilder {
    AppBuilder::default()
}

impl AppBuilder {
    /// The HOSTKEY simulator `sim`, with the account `account` on it.
    pub fn hostkey(mut self, account: &str, sim: HostkeySim) -> Self {
        self.hostkey = Some((account.to_owned(), sim));
        self
    }

    /// The Klikk simulator `sim`, with the account `account` (its account token).
    pub fn klikk(mut self, account: &str, sim: KlikkSim) -> Self {
        self.klikk = Some((account.to_owned(), sim));
        self
    }

    /// One more account on the Klikk simulator, signing with HTTP Basic.
    pub fn klikk_basic(mut self, account: &str) -> Self {
        self.klikk_basic.push(account.to_owned());
        self
    }

    /// The Inferno simulator `sim`, with the account `account` on it.
    pub fn inferno(mut self, account: &str, sim: InfernoSim) -> Self {
        self.inferno = Some((account.to_owned(), sim));
        self
    }

    /// The IDCloudHost simulator `sim`, with the account `account` (`pay_invoices`
    /// as given).
    pub fn idcloudhost(mut self, account: &str, sim: IdcloudhostSim, pay_invoices: bool) -> Self {
        self.idcloudhost = Some((account.to_owned(), sim, pay_invoices));
        self
    }

    /// Adjusts the config once the accounts are in, before anything starts.
    pub fn tune(mut self, tune: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.tunes.push(Box::new(tune));
        self
    }

    /// Also starts a worker on the same config (with `api.public_url` = the api's
    /// address, so that simulators can call back).
    pub fn with_worker(mut self) -> Self {
        self.worker = true;
        self
    }

    pub async fn start(self) -> anyhow::Result<TestApp> {
        crate::init_tracing();
        let redis = TestRedis::start().await?;
        let mut config = test_config(&redis);
        if let Some((name, sim)) = &self.hostkey {
            add_hostkey(&mut config, name, sim);
        }
        if let Some((name, sim)) = &self.klikk {
            add_klikk(&mut config, name, sim);
            for basic in &self.klikk_basic {
                add_klikk_basic(&mut config, basic, sim);
            }
        }
        if let Some((name, sim)) = &self.inferno {
            add_inferno(&mut config, name, sim);
        }
        if let Some((name, sim, pay)) = &self.idcloudhost {
            add_idcloudhost(&mut config, name, sim, *pay);
        }
        for tune in self.tunes {
            tune(&mut config);
        }
        let api = spawn_api(config.clone()).await?;
        let worker = if self.worker {
            let mut worker_config = config.clone();
            worker_config.api.public_url = Some(api.base_url.parse()?);
            Some(spawn_worker(worker_config).await?)
        } else {
            None
        };
        Ok(TestApp {
            api,
            config,
            worker,
            hostkey: self.hostkey.map(|(_, sim)| sim),
            klikk: self.klikk.map(|(_, sim)| sim),
            inferno: self.inferno.map(|(_, sim)| sim),
            idcloudhost: self.idcloudhost.map(|(_, sim, _)| sim),
            redis,
        })
    }
}
