//! OT-5: picking against the pick list, short picks that stay open until resolved, and the
//! packing list that must cover every picked line once.

use std::collections::{HashMap, HashSet};

use kefu_platform::error::{FieldViolation, Violations};

use super::lifecycle::MAX_NOTE;
use super::{Order, OrderState, Package, PickLine, Refusal, invalid};

/// Line numbers of short picks still waiting for a resolution; they block PACKED.
pub fn open_short_picks(pick_list: &[PickLine]) -> Vec<i32> {
    pick_list
        .iter()
        .filter(|p| p.short && p.resolution.trim().is_empty())
        .map(|p| p.line_number)
        .collect()
}

/// A pick report against the pick list: every line at most once, picked pieces in range.
fn check_pick(
    pick_list: &[PickLine],
    reported: &[PickLine],
) -> Result<Vec<PickLine>, Vec<FieldViolation>> {
    let mut v = Violations::new();
    let mut updated = pick_list.to_vec();
    if reported.is_empty() {
        v.add("pick_lines", "report at least one line");
    }
    let mut seen = HashSet::new();
    for (i, line) in reported.iter().enumerate() {
        let at = |f: &str| format!("pick_lines[{i}].{f}");
        if !seen.insert(line.line_number) {
            v.add(at("line_number"), "reported twice");
            continue;
        }
        match updated
            .iter_mut()
            .find(|p| p.line_number == line.line_number)
        {
            None => v.add(at("line_number"), "not on the pick list"),
            Some(entry) => {
                if line.pieces_picked < 0 || line.pieces_picked > entry.pieces_ordered {
                    v.add(
                        at("pieces_picked"),
                        format!("from 0 to {} pieces", entry.pieces_ordered),
                    );
                } else {
                    entry.pieces_picked = line.pieces_picked;
                    entry.short = line.pieces_picked < entry.pieces_ordered;
                    entry.resolution.clear();
                }
            }
        }
    }
    v.finish().map(|()| updated)
}

/// Every picked line in exactly one package, and nothing unpicked packed.
fn check_packing(pick_list: &[PickLine], packages: &[Package]) -> Result<(), Vec<FieldViolation>> {
    let mut v = Violations::new();
    if packages.is_empty() {
        v.add("packages", "at least one package");
    }
    let mut packed = HashMap::new();
    for (i, package) in packages.iter().enumerate() {
        v.check(
            !package.package_id.trim().is_empty(),
            format!("packages[{i}].package_id"),
            "required",
        );
        v.check(
            package.weight_grams > 0,
            format!("packages[{i}].weight_grams"),
            "more than 0",
        );
        v.check(
            !package.line_numbers.is_empty(),
            format!("packages[{i}].line_numbers"),
            "at least one line",
        );
        for line in &package.line_numbers {
            if let Some(first) = packed.insert(*line, i) {
                v.add(
                    format!("packages[{i}].line_numbers"),
                    format!("line {line} is already in packages[{first}]"),
                );
            }
            if !pick_list
                .iter()
                .any(|p| p.line_number == *line && p.pieces_picked > 0)
            {
                v.add(
                    format!("packages[{i}].line_numbers"),
                    format!("line {line} has nothing picked"),
                );
            }
        }
    }
    for pick in pick_list.iter().filter(|p| p.pieces_picked > 0) {
        v.check(
            packed.contains_key(&pick.line_number),
            "packages",
            format!("picked line {} is in no package", pick.line_number),
        );
    }
    v.finish()
}

impl Order {
    fn ensure_picking(&self, what: &str) -> Result<(), Refusal> {
        if self.state == OrderState::Picking {
            Ok(())
        } else {
            Err(Refusal::Precondition(format!(
                "{what} while PICKING; the order is {}",
                self.state
            )))
        }
    }

    /// Records what was picked; returns how many short picks are open.
    pub fn record_pick(&mut self, reported: &[PickLine]) -> Result<usize, Refusal> {
        self.ensure_picking("picks are recorded")?;
        self.pick_lines = check_pick(&self.pick_lines, reported)?;
        Ok(open_short_picks(&self.pick_lines).len())
    }

    /// Settles a short pick (found, substituted, or reduced with the customer); returns how
    /// many short picks are still open.
    pub fn resolve_short_pick(
        &mut self,
        line_number: i32,
        resolution: &str,
    ) -> Result<usize, Refusal> {
        let resolution = resolution.trim();
        if resolution.is_empty() || resolution.chars().count() > MAX_NOTE {
            return Err(invalid(
                "resolution",
                "required: how the short pick was settled",
            ));
        }
        self.ensure_picking("short picks are resolved")?;
        let line = self
            .pick_lines
            .iter_mut()
            .find(|p| p.line_number == line_number && p.short)
            .ok_or_else(|| invalid("line_number", "no short pick on this line"))?;
        line.resolution = resolution.to_owned();
        Ok(open_short_picks(&self.pick_lines).len())
    }

    /// Records the packing list: after the pick, with no short pick open.
    pub fn record_packing(&mut self, packages: Vec<Package>) -> Result<(), Refusal> {
        self.ensure_picking("the packing list is recorded")?;
        let open = open_short_picks(&self.pick_lines);
        if !open.is_empty() {
            return Err(Refusal::Precondition(format!(
                "short picks on lines {open:?} are not resolved (OT-5)"
            )));
        }
        if self.pick_lines.iter().all(|p| p.pieces_picked == 0) {
            return Err(Refusal::Precondition("record the pick first (OT-5)".into()));
        }
        check_packing(&self.pick_lines, &packages)?;
        self.packages = packages;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::verify::tests::stored_order;

    fn picking() -> Order {
        let mut order = stored_order();
        order.state = OrderState::Picking;
        order.pick_lines = vec![
            PickLine {
                line_number: 0,
                pieces_ordered: 3,
                ..Default::default()
            },
            PickLine {
                line_number: 1,
                pieces_ordered: 2,
                ..Default::default()
            },
        ];
        order
    }

    fn picked(line_number: i32, pieces_picked: i32) -> PickLine {
        PickLine {
            line_number,
            pieces_picked,
            ..Default::default()
        }
    }

    fn package(id: &str, lines: Vec<i32>) -> Package {
        Package {
            package_id: id.into(),
            line_numbers: lines,
            weight_grams: 500,
        }
    }

    #[test]
    fn ot5_short_picks_are_recorded_and_block_packing_until_resolved() {
        let mut order = picking();
        assert_eq!(order.record_pick(&[picked(0, 3), picked(1, 1)]).unwrap(), 1);
        assert_eq!(open_short_picks(&order.pick_lines), [1]);
        let refused = order
            .record_packing(vec![package("P1", vec![0, 1])])
            .unwrap_err();
        assert!(
            format!("{refused}").contains("short picks on lines [1]"),
            "{refused}"
        );
        assert!(
            matches!(order.resolve_short_pick(0, "x"), Err(Refusal::Invalid(_))),
            "line 0 is not short"
        );
        assert_eq!(
            order
                .resolve_short_pick(1, "customer accepts one piece")
                .unwrap(),
            0
        );
        order
            .record_packing(vec![package("P1", vec![0, 1])])
            .unwrap();
        assert!(
            matches!(order.record_pick(&[picked(0, 4)]), Err(Refusal::Invalid(_))),
            "more than ordered"
        );
        assert!(
            matches!(order.record_pick(&[picked(9, 1)]), Err(Refusal::Invalid(_))),
            "not on the list"
        );
        assert!(
            matches!(
                order.record_pick(&[picked(0, 1), picked(0, 1)]),
                Err(Refusal::Invalid(_))
            ),
            "twice"
        );
    }

    #[test]
    fn ot5_packing_covers_every_picked_line_once_after_the_pick() {
        let mut order = picking();
        assert!(
            matches!(
                order.record_packing(vec![package("P1", vec![0])]),
                Err(Refusal::Precondition(_))
            ),
            "nothing picked yet"
        );
        order.record_pick(&[picked(0, 3), picked(1, 2)]).unwrap();
        for (packages, why) in [
            (vec![package("P1", vec![0])], "line 1 unpacked"),
            (
                vec![package("P1", vec![0, 1]), package("P2", vec![1])],
                "line 1 twice",
            ),
            (vec![], "no package"),
        ] {
            assert!(
                matches!(order.record_packing(packages), Err(Refusal::Invalid(_))),
                "{why}"
            );
        }
        order
            .record_packing(vec![package("P1", vec![0, 1])])
            .unwrap();
        assert_eq!(order.packages.len(), 1);
        order.state = OrderState::Packed;
        assert!(
            matches!(
                order.record_pick(&[picked(0, 3)]),
                Err(Refusal::Precondition(_))
            ),
            "only while PICKING"
        );
    }
}
