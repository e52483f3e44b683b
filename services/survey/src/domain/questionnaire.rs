//! SV-2: questionnaires are data. A questionnaire has one draft that is edited and published
//! versions that never change; an invitation pins the version it was sent with, and its
//! answers are checked against that version: the measures (CSAT 1-5, NPS 0-10, effort 1-5),
//! choices among the options, free text, and the problem named.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use kefu_platform::error::Violations;
use serde::{Deserialize, Serialize};

use super::{Problem, QuestionKind, Refusal, check_version, invalid};

const MAX_TITLE: usize = 200;
const MAX_QUESTION: usize = 500;
const MAX_QUESTIONS: usize = 50;
const MAX_OPTION: usize = 100;
const MAX_TEXT_ANSWER: usize = 2000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub id: String,
    pub kind: QuestionKind,
    pub text: String,
    #[serde(default)]
    pub options: Vec<String>,
    pub required: bool,
}

/// What a questionnaire asks: its title and questions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Form {
    pub title: String,
    pub questions: Vec<Question>,
}

/// A question as given, its kind unreadable when `None`.
#[derive(Clone, Debug, Default)]
pub struct QuestionDraft {
    pub id: String,
    pub kind: Option<QuestionKind>,
    pub text: String,
    pub options: Vec<String>,
    pub required: bool,
}

/// A questionnaire: the draft being edited, and how far it has been published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Questionnaire {
    pub id: String,
    pub draft: Form,
    pub draft_version: i64,
    /// The latest published version; 0 when none yet.
    pub published_version: i32,
    pub created_at: DateTime<Utc>,
}

/// A frozen version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub questionnaire_id: String,
    pub version: i32,
    pub form: Form,
    pub published_at: DateTime<Utc>,
}

impl Form {
    /// A form from what was given: every problem named under `prefix`.
    pub fn checked(
        title: &str,
        questions: Vec<QuestionDraft>,
        prefix: &str,
    ) -> Result<Form, Refusal> {
        let mut v = Violations::new();
        let at = |f: &str| format!("{prefix}.{f}");
        let title = title.trim();
        v.check(!title.is_empty(), at("title"), "required");
        v.check(
            title.chars().count() <= MAX_TITLE,
            at("title"),
            format!("at most {MAX_TITLE} characters"),
        );
        v.check(
            !questions.is_empty(),
            at("questions"),
            "at least one question",
        );
        v.check(
            questions.len() <= MAX_QUESTIONS,
            at("questions"),
            format!("at most {MAX_QUESTIONS}"),
        );
        let mut ids = BTreeSet::new();
        let mut form = Form {
            title: title.to_owned(),
            questions: Vec::new(),
        };
        for (i, q) in questions.into_iter().enumerate() {
            let at = |f: &str| format!("{prefix}.questions[{i}].{f}");
            let id = q.id.trim().to_owned();
            v.check(!id.is_empty(), at("question_id"), "required");
            v.check(ids.insert(id.clone()), at("question_id"), "used twice");
            v.check(!q.text.trim().is_empty(), at("text"), "required");
            v.check(
                q.text.chars().count() <= MAX_QUESTION,
                at("text"),
                format!("at most {MAX_QUESTION} characters"),
            );
            let Some(kind) = q.kind else {
                v.add(
                    at("kind"),
                    "required: csat, nps, effort, single_choice, multiple_choice, text or problem",
                );
                continue;
            };
            let choice = matches!(
                kind,
                QuestionKind::SingleChoice | QuestionKind::MultipleChoice
            );
            let options: Vec<String> = q.options.iter().map(|o| o.trim().to_owned()).collect();
            if choice {
                v.check(
                    options.len() >= 2,
                    at("options"),
                    "at least two for a choice",
                );
                let distinct: BTreeSet<&String> = options.iter().collect();
                v.check(distinct.len() == options.len(), at("options"), "each once");
                v.check(
                    options
                        .iter()
                        .all(|o| !o.is_empty() && o.chars().count() <= MAX_OPTION),
                    at("options"),
                    format!("each 1 to {MAX_OPTION} characters"),
                );
            } else {
                v.check(
                    options.is_empty(),
                    at("options"),
                    "only choice questions have options",
                );
            }
            form.questions.push(Question {
                id,
                kind,
                text: q.text.trim().to_owned(),
                options,
                required: q.required,
            });
        }
        v.finish()?;
        Ok(form)
    }

    /// SV-2: `answers` against this version; the measures they hold.
    pub fn check_answers(&self, answers: &[Answer]) -> Result<Measures, Refusal> {
        let mut v = Violations::new();
        let mut answered = BTreeSet::new();
        let mut measures = Measures::default();
        for (i, answer) in answers.iter().enumerate() {
            let at = |f: &str| format!("answers[{i}].{f}");
            let Some(question) = self.questions.iter().find(|q| q.id == answer.question_id) else {
                v.add(
                    at("question_id"),
                    "not a question of this questionnaire version",
                );
                continue;
            };
            if !answered.insert(question.id.clone()) {
                v.add(at("question_id"), "answered twice");
                continue;
            }
            let wrong = |what: &str| format!("a {} question takes {what}", question.kind);
            match (question.kind, &answer.value) {
                (_, None) => v.add(at("value"), "required"),
                (QuestionKind::Csat | QuestionKind::Effort, Some(AnswerValue::Score(s))) => {
                    v.check((1..=5).contains(s), at("score"), "from 1 to 5");
                    let slot = if question.kind == QuestionKind::Csat {
                        &mut measures.csat
                    } else {
                        &mut measures.effort
                    };
                    if (1..=5).contains(s) && slot.is_none() {
                        *slot = Some(*s);
                    }
                }
                (QuestionKind::Nps, Some(AnswerValue::Score(s))) => {
                    v.check((0..=10).contains(s), at("score"), "from 0 to 10");
                    if (0..=10).contains(s) && measures.nps.is_none() {
                        measures.nps = Some(*s);
                    }
                }
                (QuestionKind::SingleChoice, Some(AnswerValue::Choice(c))) => {
                    v.check(
                        question.options.contains(c),
                        at("choice"),
                        "not one of the options",
                    );
                }
                (QuestionKind::MultipleChoice, Some(AnswerValue::Choices(cs))) => {
                    v.check(!cs.is_empty(), at("choices"), "at least one");
                    let distinct: BTreeSet<&String> = cs.iter().collect();
                    v.check(distinct.len() == cs.len(), at("choices"), "each once");
                    v.check(
                        cs.iter().all(|c| question.options.contains(c)),
                        at("choices"),
                        "not all among the options",
                    );
                }
                (QuestionKind::Text, Some(AnswerValue::Text(t))) => {
                    v.check(
                        t.chars().count() <= MAX_TEXT_ANSWER,
                        at("text"),
                        format!("at most {MAX_TEXT_ANSWER} characters"),
                    );
                }
                (QuestionKind::Problem, Some(AnswerValue::Problem(p))) => {
                    measures.problem.get_or_insert(*p);
                }
                (QuestionKind::Csat | QuestionKind::Effort | QuestionKind::Nps, _) => {
                    v.add(at("value"), wrong("a score"));
                }
                (QuestionKind::SingleChoice, _) => v.add(at("value"), wrong("one choice")),
                (QuestionKind::MultipleChoice, _) => v.add(at("value"), wrong("choices")),
                (QuestionKind::Text, _) => v.add(at("value"), wrong("text")),
                (QuestionKind::Problem, _) => v.add(at("value"), wrong("a problem category")),
            }
        }
        for q in self.questions.iter().filter(|q| q.required) {
            v.check(
                answered.contains(&q.id),
                format!("answers[{}]", q.id),
                "required question not answered",
            );
        }
        v.finish()?;
        Ok(measures)
    }
}

impl Questionnaire {
    pub fn new(id: String, draft: Form, now: DateTime<Utc>) -> Self {
        Self {
            id,
            draft,
            draft_version: 1,
            published_version: 0,
            created_at: now,
        }
    }

    /// A new draft; published versions are untouched.
    pub fn edit(&mut self, expected: i64, draft: Form) -> Result<(), Refusal> {
        check_version("questionnaire draft", self.draft_version, expected)?;
        self.draft = draft;
        self.draft_version += 1;
        Ok(())
    }

    /// Freezes the draft as the next version.
    pub fn publish(&mut self, expected: i64, now: DateTime<Utc>) -> Result<Published, Refusal> {
        check_version("questionnaire draft", self.draft_version, expected)?;
        self.published_version += 1;
        self.draft_version += 1;
        Ok(Published {
            questionnaire_id: self.id.clone(),
            version: self.published_version,
            form: self.draft.clone(),
            published_at: now,
        })
    }

    /// The version new invitations pin: the latest published.
    pub fn latest(&self) -> Result<i32, Refusal> {
        if self.published_version == 0 {
            Err(invalid(
                "questionnaire_id",
                "has no published version yet: publish it first",
            ))
        } else {
            Ok(self.published_version)
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerValue {
    Score(i32),
    Choice(String),
    Choices(Vec<String>),
    Text(String),
    Problem(Problem),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    pub question_id: String,
    /// `None` when the value was missing or unreadable.
    pub value: Option<AnswerValue>,
}

/// What an answer holds that reports and follow-ups read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Measures {
    pub csat: Option<i32>,
    pub nps: Option<i32>,
    pub effort: Option<i32>,
    pub problem: Option<Problem>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn question(
        id: &str,
        kind: QuestionKind,
        options: &[&str],
        required: bool,
    ) -> QuestionDraft {
        QuestionDraft {
            id: id.into(),
            kind: Some(kind),
            text: format!("question {id}"),
            options: options.iter().map(|o| (*o).to_owned()).collect(),
            required,
        }
    }

    pub(crate) fn form() -> Form {
        Form::checked(
            "After delivery",
            vec![
                question("csat", QuestionKind::Csat, &[], true),
                question("nps", QuestionKind::Nps, &[], true),
                question("effort", QuestionKind::Effort, &[], false),
                question(
                    "speed",
                    QuestionKind::SingleChoice,
                    &["fast", "slow"],
                    false,
                ),
                question(
                    "liked",
                    QuestionKind::MultipleChoice,
                    &["driver", "price", "app"],
                    false,
                ),
                question("comment", QuestionKind::Text, &[], false),
                question("problem", QuestionKind::Problem, &[], false),
            ],
            "questionnaire",
        )
        .unwrap()
    }

    fn answer(id: &str, value: AnswerValue) -> Answer {
        Answer {
            question_id: id.into(),
            value: Some(value),
        }
    }

    #[test]
    fn sv2_a_questionnaire_is_checked_whole() {
        let bad = Form::checked(
            " ",
            vec![
                question("q", QuestionKind::SingleChoice, &["only"], false),
                question("q", QuestionKind::Csat, &["x", "y"], false),
                QuestionDraft::default(),
            ],
            "questionnaire",
        )
        .unwrap_err();
        let Refusal::Invalid(violations) = bad else {
            panic!()
        };
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        for field in [
            "questionnaire.title",
            "questionnaire.questions[0].options",
            "questionnaire.questions[1].question_id",
            "questionnaire.questions[1].options",
            "questionnaire.questions[2].kind",
        ] {
            assert!(fields.contains(&field), "{field} in {fields:?}");
        }
    }

    #[test]
    fn sv2_answers_are_checked_against_the_version_and_give_the_measures() {
        let form = form();
        let measures = form
            .check_answers(&[
                answer("csat", AnswerValue::Score(2)),
                answer("nps", AnswerValue::Score(0)),
                answer(
                    "liked",
                    AnswerValue::Choices(vec!["driver".into(), "app".into()]),
                ),
                answer("comment", AnswerValue::Text("late again".into())),
                answer("problem", AnswerValue::Problem(Problem::Delay)),
            ])
            .unwrap();
        assert_eq!(
            measures,
            Measures {
                csat: Some(2),
                nps: Some(0),
                effort: None,
                problem: Some(Problem::Delay),
            }
        );
        let refused = form
            .check_answers(&[
                answer("csat", AnswerValue::Score(6)),
                answer("speed", AnswerValue::Choice("teleport".into())),
                answer("effort", AnswerValue::Text("easy".into())),
                answer("q9", AnswerValue::Score(3)),
            ])
            .unwrap_err();
        let Refusal::Invalid(violations) = refused else {
            panic!()
        };
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        for field in [
            "answers[0].score",
            "answers[1].choice",
            "answers[2].value",
            "answers[3].question_id",
            "answers[nps]",
        ] {
            assert!(fields.contains(&field), "{field} in {fields:?}");
        }
    }

    #[test]
    fn sv2_a_published_version_never_changes() {
        let now = Utc::now();
        let mut q = Questionnaire::new("q1".into(), form(), now);
        assert!(q.latest().is_err(), "nothing published yet");
        let v1 = q.publish(1, now).unwrap();
        assert_eq!((v1.version, q.latest().unwrap()), (1, 1));
        let mut shorter = form();
        shorter.questions.truncate(1);
        assert!(matches!(q.edit(1, shorter.clone()), Err(Refusal::Stale(_))));
        q.edit(2, shorter).unwrap();
        assert_eq!(v1.form, form(), "version 1 keeps its questions");
        let v2 = q.publish(3, now).unwrap();
        assert_eq!(v2.version, 2);
        assert_eq!(v2.form.questions.len(), 1);
    }
}
