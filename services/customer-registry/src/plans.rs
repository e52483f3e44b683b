//! CR-12's use cases: the service plan of each tier, as configured.

use crate::domain::Tier;
use crate::domain::plans::ServicePlan;
use crate::registry::Registry;

impl Registry {
    /// The plan of `tier`, if one is configured.
    pub(crate) fn service_plan(&self, tier: Tier) -> Option<ServicePlan> {
        self.rules
            .service_plans
            .get(tier.code())
            .map(|plan| ServicePlan {
                tier,
                services: plan.services.clone(),
                promised_delivery_hours: plan.promised_delivery_hours,
                first_response_hours: plan.first_response_hours,
                resolution_hours: plan.resolution_hours,
            })
    }

    /// Every tier's plan, in the tiers' order.
    pub(crate) fn service_plans(&self) -> Vec<ServicePlan> {
        Tier::ALL
            .iter()
            .filter_map(|tier| self.service_plan(*tier))
            .collect()
    }
}
