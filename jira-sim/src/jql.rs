//! The JQL subset the sync service uses: `project`, `key`, `labels`,
//! `status`, `statusCategory`, `resolution`, `priority`, `issuetype`,
//! `assignee`, `reporter`, `parent`, `summary`/`description`/`text` (`~`),
//! `created`/`updated`/`resolutiondate` comparisons, custom fields
//! (`cf[10054]`, `customfield_10054`, or the field name), `AND`/`OR`/`NOT`,
//! parentheses, `IN`/`NOT IN`, `IS [NOT] EMPTY` and `ORDER BY`.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};

use crate::catalog::{self, CustomFieldDef, CustomKind};
use crate::model::{CustomValue, Issue, Store};
use crate::time::parse_jql_date;

/// A JQL error, worded like Jira's `errorMessages` entries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JqlError(pub String);

/// A parsed query.
#[derive(Debug, Clone)]
pub struct Query {
    filter: Option<Expr>,
    order: Vec<(SortKey, bool)>,
}

#[derive(Debug, Clone)]
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Clause(Clause),
}

#[derive(Debug, Clone)]
struct Clause {
    field: Field,
    field_name: String,
    op: Op,
    operand: Operand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Project,
    Key,
    Labels,
    Status,
    StatusCategory,
    Resolution,
    Priority,
    IssueType,
    Assignee,
    Reporter,
    Parent,
    Summary,
    Description,
    Text,
    Created,
    Updated,
    ResolutionDate,
    Custom(&'static CustomFieldDef),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Like,
    NotLike,
    In,
    NotIn,
    Is,
    IsNot,
}

#[derive(Debug, Clone)]
enum Operand {
    One(Val),
    List(Vec<Val>),
    Empty,
}

#[derive(Debug, Clone)]
enum Val {
    Str(String),
    Func(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SortKey {
    Id,
    Created,
    Updated,
    Priority,
    Status,
    Summary,
}

/// What evaluation needs besides the issue.
pub(crate) struct EvalCtx<'a> {
    pub store: &'a Store,
    pub now: DateTime<Utc>,
    pub current_user: Option<&'a str>,
}

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Op(&'static str),
}

fn lex(input: &str) -> Result<Vec<(Tok, usize)>, JqlError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i + 1;
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((Tok::LParen, pos));
                i += 1;
            }
            ')' => {
                out.push((Tok::RParen, pos));
                i += 1;
            }
            '[' => {
                out.push((Tok::LBracket, pos));
                i += 1;
            }
            ']' => {
                out.push((Tok::RBracket, pos));
                i += 1;
            }
            ',' => {
                out.push((Tok::Comma, pos));
                i += 1;
            }
            '"' | '\'' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(JqlError(format!(
                                "Error in the JQL Query: The quoted string '{s}' has not been completed. (line 1, character {pos})"
                            )));
                        }
                        Some('\\') => {
                            match chars.get(i + 1) {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some(&e) => s.push(e),
                                None => {}
                            }
                            i += 2;
                        }
                        Some(&q) if q == quote => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push((Tok::Str(s), pos));
            }
            '!' | '=' | '<' | '>' | '~' => {
                let next = chars.get(i + 1).copied();
                let (op, len) = match (c, next) {
                    ('!', Some('=')) => ("!=", 2),
                    ('!', Some('~')) => ("!~", 2),
                    ('>', Some('=')) => (">=", 2),
                    ('<', Some('=')) => ("<=", 2),
                    ('=', _) => ("=", 1),
                    ('>', _) => (">", 1),
                    ('<', _) => ("<", 1),
                    ('~', _) => ("~", 1),
                    _ => {
                        return Err(JqlError(format!(
                            "Error in the JQL Query: The character '{c}' is a reserved JQL character. You must enclose it in a string or use the escape '\\u0021' instead. (line 1, character {pos})"
                        )));
                    }
                };
                out.push((Tok::Op(op), pos));
                i += len;
            }
            _ => {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !"()[],\"'!=<>~".contains(chars[i]) {
                    i += 1;
                }
                out.push((Tok::Word(chars[start..i].iter().collect()), start + 1));
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- parser

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    len: usize,
}

fn is_kw(t: Option<&Tok>, kw: &str) -> bool {
    matches!(t, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }
    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n).map(|(t, _)| t)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(t, _)| t.clone());
        self.pos += 1;
        t
    }
    fn char_pos(&self) -> usize {
        self.toks.get(self.pos).map_or(self.len + 1, |(_, p)| *p)
    }
    fn describe(&self) -> String {
        match self.peek() {
            None => "EOF".to_owned(),
            Some(Tok::Word(w) | Tok::Str(w)) => w.clone(),
            Some(Tok::LParen) => "(".into(),
            Some(Tok::RParen) => ")".into(),
            Some(Tok::LBracket) => "[".into(),
            Some(Tok::RBracket) => "]".into(),
            Some(Tok::Comma) => ",".into(),
            Some(Tok::Op(o)) => (*o).to_owned(),
        }
    }
    fn fail(&self, expecting: &str) -> JqlError {
        JqlError(format!(
            "Error in the JQL Query: Expecting {expecting} but got '{}'. (line 1, character {})",
            self.describe(),
            self.char_pos()
        ))
    }

    fn query(&mut self) -> Result<Query, JqlError> {
        let filter = if self.peek().is_none() || is_kw(self.peek(), "order") { None } else { Some(self.or()?) };
        let mut order = Vec::new();
        if is_kw(self.peek(), "order") {
            self.next();
            if !is_kw(self.peek(), "by") {
                return Err(self.fail("'by'"));
            }
            self.next();
            loop {
                let name = match self.next() {
                    Some(Tok::Word(w) | Tok::Str(w)) => w,
                    _ => {
                        self.pos -= 1;
                        return Err(self.fail("a field name"));
                    }
                };
                let key = sort_key(&name).ok_or_else(|| JqlError(format!("Not able to sort using field '{name}'.")))?;
                let mut desc = false;
                if is_kw(self.peek(), "asc") {
                    self.next();
                } else if is_kw(self.peek(), "desc") {
                    self.next();
                    desc = true;
                }
                order.push((key, desc));
                if self.peek() == Some(&Tok::Comma) {
                    self.next();
                } else {
                    break;
                }
            }
        }
        if self.peek().is_some() {
            return Err(self.fail("either 'OR' or 'AND'"));
        }
        Ok(Query { filter, order })
    }

    fn or(&mut self) -> Result<Expr, JqlError> {
        let mut parts = vec![self.and()?];
        while is_kw(self.peek(), "or") {
            self.next();
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Expr::Or(parts) })
    }

    fn and(&mut self) -> Result<Expr, JqlError> {
        let mut parts = vec![self.not()?];
        while is_kw(self.peek(), "and") {
            self.next();
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Expr::And(parts) })
    }

    fn not(&mut self) -> Result<Expr, JqlError> {
        if is_kw(self.peek(), "not") {
            self.next();
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.next();
            let e = self.or()?;
            if self.next() != Some(Tok::RParen) {
                self.pos -= 1;
                return Err(self.fail("')'"));
            }
            return Ok(e);
        }
        self.clause().map(Expr::Clause)
    }

    fn clause(&mut self) -> Result<Clause, JqlError> {
        let name = match self.next() {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("cf") && self.peek() == Some(&Tok::LBracket) => {
                self.next();
                let n = match self.next() {
                    Some(Tok::Word(n)) => n,
                    _ => {
                        self.pos -= 1;
                        return Err(self.fail("a custom field id"));
                    }
                };
                if self.next() != Some(Tok::RBracket) {
                    self.pos -= 1;
                    return Err(self.fail("']'"));
                }
                format!("cf[{n}]")
            }
            Some(Tok::Word(w) | Tok::Str(w)) => w,
            _ => {
                self.pos = self.pos.saturating_sub(1);
                return Err(self.fail("a field name"));
            }
        };
        let field = field_of(&name).ok_or_else(|| {
            JqlError(format!("Field '{name}' does not exist or you do not have permission to view it."))
        })?;
        let op = match self.next() {
            Some(Tok::Op(o)) => match o {
                "=" => Op::Eq,
                "!=" => Op::Ne,
                ">" => Op::Gt,
                ">=" => Op::Ge,
                "<" => Op::Lt,
                "<=" => Op::Le,
                "~" => Op::Like,
                _ => Op::NotLike,
            },
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("in") => Op::In,
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("is") => {
                if is_kw(self.peek(), "not") {
                    self.next();
                    Op::IsNot
                } else {
                    Op::Is
                }
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("not") && is_kw(self.peek(), "in") => {
                self.next();
                Op::NotIn
            }
            _ => {
                self.pos -= 1;
                return Err(self.fail("operator"));
            }
        };
        let operand = match op {
            Op::In | Op::NotIn => {
                if self.next() != Some(Tok::LParen) {
                    self.pos -= 1;
                    return Err(self.fail("'('"));
                }
                let mut vals = Vec::new();
                loop {
                    vals.push(self.value()?);
                    match self.next() {
                        Some(Tok::Comma) => {}
                        Some(Tok::RParen) => break,
                        _ => {
                            self.pos -= 1;
                            return Err(self.fail("either ',' or ')'"));
                        }
                    }
                }
                Operand::List(vals)
            }
            Op::Is | Op::IsNot => {
                if is_kw(self.peek(), "empty") || is_kw(self.peek(), "null") {
                    self.next();
                    Operand::Empty
                } else {
                    return Err(self.fail("'EMPTY' or 'NULL'"));
                }
            }
            _ => {
                if (is_kw(self.peek(), "empty") || is_kw(self.peek(), "null"))
                    && !matches!(self.peek_at(1), Some(Tok::LParen))
                {
                    self.next();
                    Operand::Empty
                } else {
                    Operand::One(self.value()?)
                }
            }
        };
        let op = match (op, &operand) {
            (Op::Eq, Operand::Empty) => Op::Is,
            (Op::Ne, Operand::Empty) => Op::IsNot,
            (op, _) => op,
        };
        Ok(Clause { field, field_name: name, op, operand })
    }

    fn value(&mut self) -> Result<Val, JqlError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Val::Str(s)),
            Some(Tok::Word(w)) => {
                if self.peek() == Some(&Tok::LParen) {
                    self.next();
                    // Arguments are accepted and ignored: the functions we support take none
                    // that matter here.
                    while !matches!(self.next(), Some(Tok::RParen) | None) {}
                    Ok(Val::Func(w.to_ascii_lowercase()))
                } else {
                    Ok(Val::Str(w))
                }
            }
            _ => {
                self.pos = self.pos.saturating_sub(1);
                Err(self.fail("either a value, list or function"))
            }
        }
    }
}

fn field_of(name: &str) -> Option<Field> {
    let lower = name.to_ascii_lowercase();
    Some(match lower.as_str() {
        "project" => Field::Project,
        "key" | "issuekey" | "id" | "issue" => Field::Key,
        "labels" | "label" => Field::Labels,
        "status" => Field::Status,
        "statuscategory" => Field::StatusCategory,
        "resolution" => Field::Resolution,
        "priority" => Field::Priority,
        "issuetype" | "type" => Field::IssueType,
        "assignee" => Field::Assignee,
        "reporter" => Field::Reporter,
        "parent" => Field::Parent,
        "summary" => Field::Summary,
        "description" => Field::Description,
        "text" => Field::Text,
        "created" | "createddate" => Field::Created,
        "updated" | "updateddate" => Field::Updated,
        "resolutiondate" | "resolved" => Field::ResolutionDate,
        _ => {
            let custom = if let Some(n) = lower.strip_prefix("cf[").and_then(|s| s.strip_suffix(']')) {
                catalog::CUSTOM_FIELDS.iter().find(|f| f.number.to_string() == n)
            } else if lower.starts_with("customfield_") {
                catalog::custom_field(&lower)
            } else {
                catalog::CUSTOM_FIELDS.iter().find(|f| f.name.eq_ignore_ascii_case(name))
            };
            return custom.map(Field::Custom);
        }
    })
}

fn sort_key(name: &str) -> Option<SortKey> {
    Some(match name.to_ascii_lowercase().as_str() {
        "key" | "issuekey" | "id" | "rank" => SortKey::Id,
        "created" | "createddate" => SortKey::Created,
        "updated" | "updateddate" => SortKey::Updated,
        "priority" => SortKey::Priority,
        "status" => SortKey::Status,
        "summary" => SortKey::Summary,
        _ => return None,
    })
}

// ---------------------------------------------------------------- evaluation

impl Query {
    /// Parses a query.
    pub fn parse(jql: &str) -> Result<Self, JqlError> {
        let toks = lex(jql)?;
        let mut p = Parser { toks, pos: 0, len: jql.chars().count() };
        p.query()
    }

    /// Whether the query restricts the result (search/jql rejects unbounded queries).
    pub fn is_bounded(&self) -> bool {
        self.filter.is_some()
    }

    /// Checks values against the site the way Jira does before searching:
    /// unknown projects, statuses, priorities, issue keys and bad dates are
    /// errors, not empty results.
    pub(crate) fn validate(&self, ctx: &EvalCtx<'_>) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        if let Some(f) = &self.filter {
            validate_expr(f, ctx, &mut errors);
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// Whether `issue` matches the filter.
    pub(crate) fn matches(&self, issue: &Issue, ctx: &EvalCtx<'_>) -> bool {
        self.filter.as_ref().is_none_or(|f| eval(f, issue, ctx))
    }

    /// Sorts issues by the `ORDER BY` clause (newest first when there is none).
    pub(crate) fn sort(&self, issues: &mut [&Issue]) {
        issues.sort_by(|a, b| {
            if self.order.is_empty() {
                return b.id.cmp(&a.id);
            }
            for (key, desc) in &self.order {
                let o = match key {
                    SortKey::Id => a.id.cmp(&b.id),
                    SortKey::Created => a.created.cmp(&b.created),
                    SortKey::Updated => a.updated.cmp(&b.updated),
                    // Highest first for ASC, as in Jira.
                    SortKey::Priority => a.priority.id.cmp(b.priority.id),
                    SortKey::Status => a.status.name.cmp(b.status.name),
                    SortKey::Summary => a.summary.cmp(&b.summary),
                };
                let o = if *desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            a.id.cmp(&b.id)
        });
    }
}

fn values(operand: &Operand) -> Vec<&Val> {
    match operand {
        Operand::One(v) => vec![v],
        Operand::List(vs) => vs.iter().collect(),
        Operand::Empty => Vec::new(),
    }
}

fn validate_expr(e: &Expr, ctx: &EvalCtx<'_>, errors: &mut Vec<String>) {
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| validate_expr(e, ctx, errors)),
        Expr::Not(e) => validate_expr(e, ctx, errors),
        Expr::Clause(c) => validate_clause(c, ctx, errors),
    }
}

fn validate_clause(c: &Clause, ctx: &EvalCtx<'_>, errors: &mut Vec<String>) {
    let field_label = c.field_name.to_ascii_lowercase();
    let ordered = matches!(c.op, Op::Gt | Op::Ge | Op::Lt | Op::Le);
    let like = matches!(c.op, Op::Like | Op::NotLike);
    let text_field = matches!(c.field, Field::Summary | Field::Description | Field::Text)
        || matches!(c.field, Field::Custom(d) if d.kind == CustomKind::Text);
    let date_field = matches!(c.field, Field::Created | Field::Updated | Field::ResolutionDate);
    let number_field = matches!(c.field, Field::Custom(d) if d.kind == CustomKind::Number);
    if like && !text_field {
        errors.push(format!(
            "The operator '{}' is not supported by the '{}' field.",
            if c.op == Op::Like { "~" } else { "!~" },
            c.field_name
        ));
        return;
    }
    // Jira only allows `~`, `!~` and `IS [NOT] EMPTY` on text fields.
    if text_field && matches!(c.op, Op::Eq | Op::Ne | Op::In | Op::NotIn) {
        errors.push(format!("The operator '{}' is not supported by the '{}' field.", op_str(c.op), c.field_name));
        return;
    }
    if ordered && !(date_field || number_field || c.field == Field::Priority) {
        errors.push(format!("The operator '{}' is not supported by the '{}' field.", op_str(c.op), c.field_name));
        return;
    }
    for v in values(&c.operand) {
        let Val::Str(s) = v else {
            continue;
        };
        let ok = match c.field {
            Field::Project => ctx.store.projects.iter().any(|p| project_matches(p, s)),
            Field::Status => catalog::status(s).is_some(),
            Field::StatusCategory => status_category(s).is_some(),
            Field::Priority => catalog::priority(s).is_some(),
            Field::IssueType => catalog::issue_type(s).is_some(),
            Field::Resolution => s.eq_ignore_ascii_case("unresolved") || catalog::resolution(s).is_some(),
            Field::Assignee | Field::Reporter => ctx.store.accounts.iter().any(|a| user_matches(a, s)),
            Field::Custom(def) if matches!(def.kind, CustomKind::Select | CustomKind::MultiSelect) => {
                def.options.iter().any(|o| o.value.eq_ignore_ascii_case(s) || o.id == s)
            }
            Field::Custom(def) if def.kind == CustomKind::Number => s.parse::<f64>().is_ok(),
            Field::Key | Field::Parent => {
                if s.parse::<u64>().is_ok() {
                    true
                } else if !valid_key_format(s) {
                    errors.push(format!("The issue key '{s}' for field '{field_label}' is invalid."));
                    continue;
                } else if ctx.store.issue(s).is_none() {
                    errors.push(format!(
                        "An issue with key '{}' does not exist for field '{field_label}'.",
                        s.to_ascii_uppercase()
                    ));
                    continue;
                } else {
                    true
                }
            }
            Field::Created | Field::Updated | Field::ResolutionDate => {
                if parse_jql_date(s, ctx.now).is_none() {
                    errors.push(format!(
                        "Date value '{s}' for field '{}' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.",
                        c.field_name
                    ));
                }
                continue;
            }
            _ => true,
        };
        if !ok {
            errors.push(format!("The value '{s}' does not exist for the field '{}'.", c.field_name));
        }
    }
}

fn op_str(op: Op) -> &'static str {
    match op {
        Op::Eq => "=",
        Op::Ne => "!=",
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Like => "~",
        Op::NotLike => "!~",
        Op::In => "in",
        Op::NotIn => "not in",
        Op::Is => "is",
        Op::IsNot => "is not",
    }
}

fn valid_key_format(s: &str) -> bool {
    match s.rsplit_once('-') {
        Some((p, n)) => {
            !p.is_empty()
                && p.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

fn project_matches(p: &crate::model::Project, s: &str) -> bool {
    p.key.eq_ignore_ascii_case(s) || p.id.to_string() == s || p.name.eq_ignore_ascii_case(s)
}

fn user_matches(a: &crate::config::Account, s: &str) -> bool {
    a.account_id == s || a.email.eq_ignore_ascii_case(s) || a.display_name.eq_ignore_ascii_case(s)
}

fn status_category(s: &str) -> Option<&'static catalog::StatusCategoryDef> {
    catalog::STATUS_CATEGORIES
        .iter()
        .find(|c| c.key.eq_ignore_ascii_case(s) || c.name.eq_ignore_ascii_case(s) || c.id.to_string() == s)
}

fn eval(e: &Expr, issue: &Issue, ctx: &EvalCtx<'_>) -> bool {
    match e {
        Expr::And(v) => v.iter().all(|e| eval(e, issue, ctx)),
        Expr::Or(v) => v.iter().any(|e| eval(e, issue, ctx)),
        Expr::Not(e) => !eval(e, issue, ctx),
        Expr::Clause(c) => eval_clause(c, issue, ctx),
    }
}

/// The value(s) of a field on an issue, as strings, for equality tests.
/// Each entry lists the spellings that match it (id, key, name…).
fn field_values(field: Field, issue: &Issue, ctx: &EvalCtx<'_>) -> Vec<Vec<String>> {
    match field {
        Field::Project => ctx
            .store
            .project(issue.project_id)
            .map(|p| vec![vec![p.key.clone(), p.id.to_string(), p.name.clone()]])
            .unwrap_or_default(),
        Field::Key => vec![vec![issue.key.clone(), issue.id.to_string()]],
        Field::Labels => issue.labels.iter().map(|l| vec![l.clone()]).collect(),
        Field::Status => vec![vec![issue.status.name.into(), issue.status.id.into()]],
        Field::StatusCategory => {
            let c = issue.status.category;
            vec![vec![c.key.into(), c.name.into(), c.id.to_string()]]
        }
        Field::Resolution => issue.resolution.map(|r| vec![vec![r.name.into(), r.id.into()]]).unwrap_or_default(),
        Field::Priority => vec![vec![issue.priority.name.into(), issue.priority.id.into()]],
        Field::IssueType => vec![vec![issue.issue_type.name.into(), issue.issue_type.id.into()]],
        Field::Assignee | Field::Reporter => {
            let who = if field == Field::Assignee { &issue.assignee } else { &issue.reporter };
            who.as_deref()
                .and_then(|id| ctx.store.account(id))
                .map(|a| vec![vec![a.account_id.clone(), a.email.clone(), a.display_name.clone()]])
                .unwrap_or_default()
        }
        Field::Parent => issue
            .parent
            .and_then(|id| ctx.store.issues.get(&id))
            .map(|p| vec![vec![p.key.clone(), p.id.to_string()]])
            .unwrap_or_default(),
        Field::Custom(def) => match issue.custom.get(def.id) {
            None => Vec::new(),
            Some(CustomValue::Text(s)) => vec![vec![s.clone()]],
            Some(CustomValue::Number(n)) => vec![vec![crate::model::format_number(*n)]],
            Some(CustomValue::Option(id)) => {
                def.option_by_id(id).map(|o| vec![vec![o.value.to_owned(), o.id.to_owned()]]).unwrap_or_default()
            }
            Some(CustomValue::Options(ids)) => ids
                .iter()
                .filter_map(|id| def.option_by_id(id))
                .map(|o| vec![o.value.to_owned(), o.id.to_owned()])
                .collect(),
        },
        Field::Summary => vec![vec![issue.summary.clone()]],
        Field::Description => {
            issue.description.as_ref().map(|d| vec![vec![crate::adf::plain_text(d)]]).unwrap_or_default()
        }
        Field::Text => {
            let mut all = vec![issue.summary.clone()];
            if let Some(d) = &issue.description {
                all.push(crate::adf::plain_text(d));
            }
            all.extend(issue.comments.iter().map(|c| crate::adf::plain_text(&c.body)));
            vec![vec![all.join("\n")]]
        }
        Field::Created | Field::Updated | Field::ResolutionDate => Vec::new(),
    }
}

fn resolve_val(v: &Val, ctx: &EvalCtx<'_>) -> Option<String> {
    match v {
        Val::Str(s) => Some(s.clone()),
        Val::Func(f) if f == "currentuser" => ctx.current_user.map(str::to_owned),
        Val::Func(_) => None,
    }
}

fn eval_clause(c: &Clause, issue: &Issue, ctx: &EvalCtx<'_>) -> bool {
    if matches!(c.field, Field::Created | Field::Updated | Field::ResolutionDate) {
        return eval_date(c, issue, ctx);
    }
    if let Field::Custom(def) = c.field
        && def.kind == CustomKind::Number
        && matches!(c.op, Op::Gt | Op::Ge | Op::Lt | Op::Le)
    {
        let Some(CustomValue::Number(n)) = issue.custom.get(def.id) else {
            return false;
        };
        let Some(Val::Str(s)) = values(&c.operand).first().copied() else {
            return false;
        };
        let Ok(x) = s.parse::<f64>() else {
            return false;
        };
        return compare(n.partial_cmp(&x), c.op);
    }
    if c.field == Field::Priority && matches!(c.op, Op::Gt | Op::Ge | Op::Lt | Op::Le) {
        let Some(Val::Str(s)) = values(&c.operand).first().copied() else {
            return false;
        };
        let Some(p) = catalog::priority(s) else {
            return false;
        };
        // A lower id is a higher priority: `priority > Low` means more urgent than Low.
        return compare(Some(p.id.cmp(issue.priority.id)), c.op);
    }
    let have = field_values(c.field, issue, ctx);
    let wanted: Vec<String> = values(&c.operand).into_iter().filter_map(|v| resolve_val(v, ctx)).collect();
    let unresolved_means_empty =
        c.field == Field::Resolution && wanted.iter().any(|w| w.eq_ignore_ascii_case("unresolved"));
    let hit = |w: &str| {
        have.iter().any(|spellings| {
            spellings.iter().any(|s| if c.field == Field::Labels { s == w } else { s.eq_ignore_ascii_case(w) })
        })
    };
    match c.op {
        Op::Is => have.is_empty(),
        Op::IsNot => !have.is_empty(),
        Op::Eq | Op::In => (unresolved_means_empty && have.is_empty()) || wanted.iter().any(|w| hit(w)),
        // As in Jira, `!=` and `NOT IN` never match an empty field.
        Op::Ne | Op::NotIn => !have.is_empty() && !wanted.iter().any(|w| hit(w)),
        Op::Like | Op::NotLike => {
            let text = have.iter().flatten().map(|s| s.to_lowercase()).collect::<Vec<_>>().join("\n");
            let found = wanted.iter().all(|w| {
                let w = w.trim_matches('*').to_lowercase();
                w.split_whitespace().all(|word| text.contains(word))
            });
            if c.op == Op::Like { found } else { !found }
        }
        Op::Gt | Op::Ge | Op::Lt | Op::Le => false,
    }
}

fn compare(o: Option<Ordering>, op: Op) -> bool {
    match (o, op) {
        (Some(o), Op::Gt) => o == Ordering::Greater,
        (Some(o), Op::Ge) => o != Ordering::Less,
        (Some(o), Op::Lt) => o == Ordering::Less,
        (Some(o), Op::Le) => o != Ordering::Greater,
        (Some(o), Op::Eq) => o == Ordering::Equal,
        (Some(o), Op::Ne) => o != Ordering::Equal,
        _ => false,
    }
}

fn eval_date(c: &Clause, issue: &Issue, ctx: &EvalCtx<'_>) -> bool {
    let have = match c.field {
        Field::Created => Some(issue.created),
        Field::Updated => Some(issue.updated),
        _ => issue.resolution_date,
    };
    match c.op {
        Op::Is => return have.is_none(),
        Op::IsNot => return have.is_some(),
        _ => {}
    }
    let Some(have) = have else {
        return false;
    };
    let resolve = |v: &Val| -> Option<DateTime<Utc>> {
        match v {
            Val::Str(s) => parse_jql_date(s, ctx.now),
            Val::Func(f) => match f.as_str() {
                "now" => Some(ctx.now),
                "startofday" => ctx.now.date_naive().and_hms_opt(0, 0, 0).map(|d| d.and_utc()),
                "endofday" => ctx.now.date_naive().and_hms_milli_opt(23, 59, 59, 999).map(|d| d.and_utc()),
                _ => None,
            },
        }
    };
    let targets: Vec<DateTime<Utc>> = values(&c.operand).into_iter().filter_map(resolve).collect();
    match c.op {
        Op::In => targets.contains(&have),
        Op::NotIn => !targets.contains(&have),
        op => targets.first().is_some_and(|t| compare(Some(have.cmp(t)), op)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_service_queries() {
        for q in [
            r#"project = SIM AND labels = "ns-finding-1""#,
            r#"labels in ("a", "b") ORDER BY key ASC"#,
            r#"updated >= "2026-11-28 10:15" AND project = SIM"#,
            "key in (SIM-1, SIM-2)",
            "cf[10054] = Critical and statusCategory != Done",
            "assignee = currentUser() OR assignee is EMPTY",
            "(project = SIM or project = OPS) and not labels = x order by updated desc, key",
        ] {
            let parsed = Query::parse(q);
            assert!(parsed.is_ok(), "{q}: {parsed:?}");
            assert!(parsed.is_ok_and(|p| p.is_bounded()));
        }
    }

    #[test]
    fn reports_errors_like_jira() {
        assert!(!Query::parse("").map(|q| q.is_bounded()).unwrap_or(true));
        assert!(!Query::parse("order by key desc").map(|q| q.is_bounded()).unwrap_or(true));
        let e = Query::parse("foo = bar").err().map(|e| e.0);
        assert_eq!(e.as_deref(), Some("Field 'foo' does not exist or you do not have permission to view it."));
        assert!(Query::parse("project = ").is_err());
        assert!(Query::parse("labels = \"unterminated").is_err());
        assert!(Query::parse("project SIM").is_err());
    }

    #[test]
    fn key_format() {
        assert!(valid_key_format("SIM-12"));
        assert!(!valid_key_format("12"));
        assert!(!valid_key_format("SIM-"));
    }
}
