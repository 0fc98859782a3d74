//! `presets/list location=`: the instances on offer in one location, with their
//! monthly price there (seed 002, "presets/list"; no session token needed). The
//! catalogue is the presets `prices` names plus a few of the seed's, each priced
//! as an order of it would be.

use super::state::{Account, Answer, LOCATIONS, Params, Refused, refuse};
use serde_json::{Value, json};

/// Presets every simulator offers (the seed's example is `vm.pico`).
const CATALOGUE: [&str; 4] = ["vm.pico", "vm.nano", "vm.mini", "bm.e3"];

impl Account {
    pub fn presets(&self, params: &Params) -> Result<Answer, Refused> {
        const ACTION: &str = "list";
        let location = params.required(ACTION, "location")?.to_ascii_uppercase();
        if !LOCATIONS.contains(&location.as_str()) {
            return refuse(format!(
                "{ACTION}: unknown location {location}, use one of NL/US/FI/DE/IS/TR"
            ));
        }
        let mut names: Vec<&str> = CATALOGUE.to_vec();
        for name in self.opts.prices.keys() {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        let presets: Vec<Value> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let price = self
                    .opts
                    .prices
                    .get(*name)
                    .unwrap_or(&self.opts.default_price);
                let eur: Value = price
                    .parse::<f64>()
                    .map_or_else(|_| json!(price), |f| json!(f));
                let by_location: serde_json::Map<String, Value> = LOCATIONS
                    .iter()
                    .map(|l| ((*l).to_owned(), json!({"USD": -1, "EUR": eur})))
                    .collect();
                json!({
                    "id": 100 + i,
                    "name": name,
                    "active": 1,
                    "monthly_com": eur,
                    "locations": LOCATIONS.join(","),
                    "price": by_location,
                    "available": 10,
                })
            })
            .collect();
        Ok(Answer::json(
            &json!({"result": "OK", "action": "list", "presets": presets}),
        ))
    }
}
