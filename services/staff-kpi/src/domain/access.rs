//! Who sees whose figures: a person their own; a supervisor also the people of the teams
//! they supervise (and those teams' sub-teams) and the people who report to them; managers
//! and other systems everyone's.

use std::collections::HashSet;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Viewer {
    Everyone,
    /// The people this viewer may see, themselves included.
    People(HashSet<String>),
}

impl Viewer {
    pub fn sees(&self, staff_id: &str) -> bool {
        match self {
            Viewer::Everyone => true,
            Viewer::People(people) => people.contains(staff_id),
        }
    }

    /// The people a list is limited to; `None` for everyone.
    pub fn people(&self) -> Option<Vec<String>> {
        match self {
            Viewer::Everyone => None,
            Viewer::People(people) => {
                let mut people: Vec<String> = people.iter().cloned().collect();
                people.sort();
                Some(people)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_viewer_sees_the_people_it_was_given() {
        let sue = Viewer::People(["sue".to_owned(), "ann".to_owned()].into());
        assert!(sue.sees("ann"));
        assert!(!sue.sees("bob"));
        assert_eq!(sue.people().unwrap(), ["ann", "sue"]);
        assert!(Viewer::Everyone.sees("bob"));
        assert!(Viewer::Everyone.people().is_none());
    }
}
