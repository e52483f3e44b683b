//! CD-9: problem/solution entries made from resolved cases. An agent proposes one, a
//! supervisor publishes it (only published entries are searched), and it can be retired
//! when it no longer holds; edits name the version they read.

use chrono::{DateTime, Utc};
use kefu_platform::error::Violations;
use serde::{Deserialize, Serialize};

use super::{Category, Refusal, RootCause, invalid};

const MAX_PROBLEM: usize = 2000;
const MAX_SOLUTION: usize = 5000;
const MAX_KEYWORDS: usize = 20;
const MAX_KEYWORD: usize = 50;
const MAX_CASES: usize = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    Proposed,
    Published,
    Retired,
}

impl EntryState {
    pub fn code(self) -> &'static str {
        match self {
            EntryState::Proposed => "proposed",
            EntryState::Published => "published",
            EntryState::Retired => "retired",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub state: EntryState,
    pub category: Category,
    #[serde(default)]
    pub root_cause: Option<RootCause>,
    pub problem: String,
    pub solution: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    pub complaint_ids: Vec<String>,
    pub author_id: String,
    #[serde(default)]
    pub publisher_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub published_at: Option<DateTime<Utc>>,
    pub version: i64,
}

/// What a proposal or an edit gives; `None` leaves a field as it is on an edit.
#[derive(Clone, Debug, Default)]
pub struct EntryFields {
    pub category: Option<Category>,
    pub root_cause: Option<Option<RootCause>>,
    pub problem: Option<String>,
    pub solution: Option<String>,
    pub keywords: Option<Vec<String>>,
}

fn check_fields(v: &mut Violations, fields: &EntryFields, creating: bool) {
    let at = |f: &str| format!("knowledge_entry.{f}");
    if creating {
        v.check(fields.category.is_some(), at("category"), "required");
    }
    for (name, value, max) in [
        ("problem", &fields.problem, MAX_PROBLEM),
        ("solution", &fields.solution, MAX_SOLUTION),
    ] {
        match value {
            Some(text) if text.trim().is_empty() => v.add(at(name), "required"),
            Some(text) if text.chars().count() > max => {
                v.add(at(name), format!("at most {max} characters"));
            }
            None if creating => v.add(at(name), "required"),
            _ => {}
        }
    }
    if let Some(keywords) = &fields.keywords {
        v.check(
            keywords.len() <= MAX_KEYWORDS,
            at("keywords"),
            format!("at most {MAX_KEYWORDS}"),
        );
        for (i, keyword) in keywords.iter().enumerate() {
            v.check(
                !keyword.trim().is_empty() && keyword.chars().count() <= MAX_KEYWORD,
                format!("knowledge_entry.keywords[{i}]"),
                format!("a word of at most {MAX_KEYWORD} characters"),
            );
        }
    }
}

impl Entry {
    /// A proposal from `complaint_ids` (whose being resolved the use case checks).
    pub fn propose(
        id: String,
        fields: EntryFields,
        complaint_ids: Vec<String>,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<Entry, Refusal> {
        let mut v = Violations::new();
        check_fields(&mut v, &fields, true);
        v.check(
            !complaint_ids.is_empty(),
            "knowledge_entry.complaint_ids",
            "required: the resolved cases it comes from",
        );
        v.check(
            complaint_ids.len() <= MAX_CASES,
            "knowledge_entry.complaint_ids",
            format!("at most {MAX_CASES}"),
        );
        v.finish()?;
        let (Some(category), Some(problem), Some(solution)) =
            (fields.category, fields.problem, fields.solution)
        else {
            return Err(invalid("knowledge_entry", "incomplete"));
        };
        let mut ids = complaint_ids;
        ids.sort();
        ids.dedup();
        Ok(Entry {
            id,
            state: EntryState::Proposed,
            category,
            root_cause: fields.root_cause.flatten(),
            problem: problem.trim().to_owned(),
            solution: solution.trim().to_owned(),
            keywords: fields
                .keywords
                .unwrap_or_default()
                .iter()
                .map(|k| k.trim().to_owned())
                .collect(),
            complaint_ids: ids,
            author_id: author.to_owned(),
            publisher_id: String::new(),
            created_at: now,
            updated_at: now,
            published_at: None,
            version: 1,
        })
    }

    pub fn check_version(&self, expected: i64) -> Result<(), Refusal> {
        if expected <= 0 {
            return Err(invalid(
                "expected_version",
                "required: the version of the entry you read",
            ));
        }
        if expected != self.version {
            return Err(Refusal::Stale(format!(
                "knowledge entry {} is at version {}, not {expected}: read it again",
                self.id, self.version
            )));
        }
        Ok(())
    }

    /// An edit: a supervisor's of any entry, an agent's of its own proposal only.
    pub fn edit(
        &mut self,
        fields: EntryFields,
        editor: &str,
        supervises: bool,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        if !supervises && (self.author_id != editor || self.state != EntryState::Proposed) {
            return Err(Refusal::Precondition(
                "agents edit their own proposals; a published entry is a supervisor's to edit"
                    .into(),
            ));
        }
        if self.state == EntryState::Retired {
            return Err(Refusal::Precondition(format!(
                "knowledge entry {} is retired",
                self.id
            )));
        }
        let mut v = Violations::new();
        check_fields(&mut v, &fields, false);
        v.finish()?;
        if let Some(category) = fields.category {
            self.category = category;
        }
        if let Some(root_cause) = fields.root_cause {
            self.root_cause = root_cause;
        }
        if let Some(problem) = fields.problem {
            self.problem = problem.trim().to_owned();
        }
        if let Some(solution) = fields.solution {
            self.solution = solution.trim().to_owned();
        }
        if let Some(keywords) = fields.keywords {
            self.keywords = keywords.iter().map(|k| k.trim().to_owned()).collect();
        }
        self.updated_at = now;
        Ok(())
    }

    /// A supervisor makes a proposal searchable.
    pub fn publish(&mut self, publisher: &str, now: DateTime<Utc>) -> Result<(), Refusal> {
        if self.state != EntryState::Proposed {
            return Err(Refusal::Precondition(format!(
                "knowledge entry {} is {}: only a proposal is published",
                self.id,
                self.state.code()
            )));
        }
        self.state = EntryState::Published;
        self.publisher_id = publisher.to_owned();
        self.published_at = Some(now);
        self.updated_at = now;
        Ok(())
    }

    /// Out of search, still readable.
    pub fn retire(&mut self, now: DateTime<Utc>) -> Result<(), Refusal> {
        if self.state == EntryState::Retired {
            return Err(Refusal::Precondition(format!(
                "knowledge entry {} is already retired",
                self.id
            )));
        }
        self.state = EntryState::Retired;
        self.updated_at = now;
        Ok(())
    }

    /// The texts search reads, by weight: the problem and keywords first, then the solution.
    pub fn search_texts(&self) -> (String, String, String) {
        (
            super::search::indexed(&self.problem),
            super::search::indexed(&self.keywords.join(" ")),
            super::search::indexed(&self.solution),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> EntryFields {
        EntryFields {
            category: Some(Category::Damage),
            root_cause: Some(Some(RootCause::Packaging)),
            problem: Some("外包装破损".into()),
            solution: Some("换用双层纸箱".into()),
            keywords: Some(vec!["纸箱".into()]),
        }
    }

    #[test]
    fn cd9_an_agent_proposes_from_cases_a_supervisor_publishes_and_retires() {
        let now = chrono::Utc::now();
        assert!(Entry::propose("e".into(), fields(), vec![], "a1", now).is_err());
        let mut entry = Entry::propose("e".into(), fields(), vec!["k1".into()], "a1", now).unwrap();
        assert_eq!(entry.state, EntryState::Proposed);
        entry
            .edit(
                EntryFields {
                    solution: Some("双层纸箱加护角".into()),
                    ..Default::default()
                },
                "a1",
                false,
                now,
            )
            .unwrap();
        assert!(
            entry
                .edit(EntryFields::default(), "a2", false, now)
                .is_err(),
            "another agent's proposal"
        );
        entry.publish("s1", now).unwrap();
        assert!(entry.publish("s1", now).is_err(), "once");
        assert!(
            entry
                .edit(EntryFields::default(), "a1", false, now)
                .is_err(),
            "published: the supervisor's"
        );
        entry.edit(EntryFields::default(), "s1", true, now).unwrap();
        entry.retire(now).unwrap();
        assert_eq!(entry.state, EntryState::Retired);
    }
}
