//! Who may see and change which customer (CR-4's "one person responsible", ARCHITECTURE's
//! object-level authorization): an agent reaches the customers it owns or visits and its own
//! team's (the platform's rule, shared by every service); supervisors, managers and other
//! systems reach every customer. An agent also files and keeps customers in its own team.

use super::{Customer, Refusal};

pub use kefu_platform::access::{Stewards, Viewer};

impl Customer {
    /// Who serves this customer.
    pub fn stewards(&self) -> Stewards {
        Stewards {
            team_id: self.fields.team_id.clone(),
            owner_id: self.owner_id.clone(),
            visitor_id: self.visitor_id.clone(),
        }
    }

    /// May `viewer` read or change this customer?
    pub fn visible_to(&self, viewer: &Viewer) -> bool {
        viewer.reaches(Some(&self.stewards()))
    }
}

/// The team a new customer is filed under: an agent files for its own team only (its team
/// when it names none); others file for any team.
pub fn team_for_new_customer(viewer: &Viewer, requested: &str) -> Result<String, Refusal> {
    if !viewer.restricted_to_own {
        return Ok(requested.to_owned());
    }
    if requested.is_empty() || requested == viewer.team {
        Ok(viewer.team.clone())
    } else {
        Err(Refusal::NotAllowed(
            "agents create customers for their own team only".into(),
        ))
    }
}

/// An agent may not move a customer to another team; others may.
pub fn check_team_change(viewer: &Viewer, from: &str, to: &str) -> Result<(), Refusal> {
    if viewer.restricted_to_own && from != to {
        Err(Refusal::NotAllowed(
            "agents cannot move customers between teams".into(),
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::{CustomerFields, Kind};

    fn agent(subject: &str, team: &str) -> Viewer {
        Viewer {
            subject: subject.into(),
            restricted_to_own: true,
            team: team.into(),
        }
    }

    fn customer(team: &str, owner: &str, visitor: &str) -> Customer {
        let fields = CustomerFields {
            kind: Some(Kind::Personal),
            display_name: "Zhang San".into(),
            phone: "13812345678".into(),
            email: String::new(),
            id_number: String::new(),
            registration_number: String::new(),
            contacts: vec![],
            addresses: vec![],
            industry: String::new(),
            needs: String::new(),
            contract: None,
            government_level: None,
            region: String::new(),
            team_id: team.into(),
        };
        let mut c = Customer::new("c1".into(), fields, Utc::now());
        c.owner_id = owner.into();
        c.visitor_id = visitor.into();
        c
    }

    #[test]
    fn cr4_agents_see_their_own_and_their_teams_customers_others_see_all() {
        let c = customer("t1", "a-owner", "a-visitor");
        assert!(c.visible_to(&agent("a-x", "t1")), "same team");
        assert!(c.visible_to(&agent("a-owner", "t2")), "the owner");
        assert!(c.visible_to(&agent("a-visitor", "")), "the visitor");
        assert!(!c.visible_to(&agent("a-x", "t2")), "another team's");
        assert!(
            !customer("", "o", "v").visible_to(&agent("a-x", "")),
            "no team is not everyone's team"
        );
        assert!(c.visible_to(&Viewer::everyone()));
    }

    #[test]
    fn cr4_agents_file_and_keep_customers_in_their_own_team() {
        let a = agent("a-1", "t1");
        assert_eq!(team_for_new_customer(&a, "").unwrap(), "t1");
        assert_eq!(team_for_new_customer(&a, "t1").unwrap(), "t1");
        assert!(matches!(
            team_for_new_customer(&a, "t2"),
            Err(Refusal::NotAllowed(_))
        ));
        assert_eq!(
            team_for_new_customer(&Viewer::everyone(), "t2").unwrap(),
            "t2"
        );
        assert!(check_team_change(&a, "t1", "t1").is_ok());
        assert!(matches!(
            check_team_change(&a, "t1", "t2"),
            Err(Refusal::NotAllowed(_))
        ));
        assert!(check_team_change(&Viewer::everyone(), "t1", "t2").is_ok());
    }
}
