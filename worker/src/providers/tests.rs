//! Each provider's step enums and the plans agree: every step a plan names parses,
//! as a money step exactly when the plan handles it like money.

use super::{hostkey, idcloudhost, inferno, klikk, noop};
use crate::step::{Provider, StepName};
use provisioner_shared::ProviderKind;
use provisioner_shared::plan::{self, Role};

fn agrees<P: Provider>(kind: ProviderKind) {
    for def in plan::steps(kind) {
        let money = matches!(def.role, Role::Money | Role::Once);
        assert_eq!(
            P::Money::parse(def.name).is_some(),
            money,
            "{kind:?} step `{}`: a money step of the provider exactly when the plan says {:?}",
            def.name,
            def.role
        );
        assert_eq!(
            P::Action::parse(def.name).is_some(),
            !money,
            "{kind:?} step `{}`: an action of the provider exactly when the plan says {:?}",
            def.name,
            def.role
        );
    }
    assert!(P::Action::parse("no_such_step").is_none());
    assert!(P::Money::parse("no_such_step").is_none());
}

#[test]
fn every_planned_step_parses_into_its_provider_s_steps() {
    agrees::<hostkey::Hostkey>(ProviderKind::Hostkey);
    agrees::<klikk::Klikk>(ProviderKind::Klikk);
    agrees::<inferno::Inferno>(ProviderKind::Inferno);
    agrees::<idcloudhost::Idcloudhost>(ProviderKind::Idcloudhost);
    agrees::<noop::Noop>(ProviderKind::Noop);
}

#[test]
fn noop_steps_are_numbered_and_only_the_first_may_wait() {
    assert_eq!(noop::Step::parse("noop_1"), Some(noop::Step::First));
    assert_eq!(noop::Step::parse("noop_7"), Some(noop::Step::Later));
    assert_eq!(noop::Step::parse("order"), None);
}
