//! Site-wide definitions that a fresh Jira Cloud site (company-managed
//! software project, default workflow) has: priorities, statuses, status
//! categories, resolutions, issue types, transitions and the custom fields
//! the simulator puts on every create screen.
//!
//! Ids follow real sites where the captures show them (priorities 1–5,
//! category ids 2/4/3, In Progress status 3); the rest are plausible.

/// A priority, e.g. `High` with id `"2"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriorityDef {
    /// Numeric string id.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// File stem of the icon under `/images/icons/priorities/`.
    pub icon: &'static str,
    /// `statusColor`.
    pub color: &'static str,
    /// Description.
    pub description: &'static str,
}

/// Jira Cloud's default priorities; `Medium` is the default.
pub const PRIORITIES: [PriorityDef; 5] = [
    PriorityDef {
        id: "1",
        name: "Highest",
        icon: "highest",
        color: "#d04437",
        description: "This problem will block progress.",
    },
    PriorityDef {
        id: "2",
        name: "High",
        icon: "high",
        color: "#f15C75",
        description: "Serious problem that could block progress.",
    },
    PriorityDef {
        id: "3",
        name: "Medium",
        icon: "medium",
        color: "#f79232",
        description: "Has the potential to affect progress.",
    },
    PriorityDef {
        id: "4",
        name: "Low",
        icon: "low",
        color: "#707070",
        description: "Minor problem or easily worked around.",
    },
    PriorityDef {
        id: "5",
        name: "Lowest",
        icon: "lowest",
        color: "#999999",
        description: "Trivial problem with little or no impact on progress.",
    },
];

/// Id of the default priority (Medium).
pub const DEFAULT_PRIORITY_ID: &str = "3";

/// Looks a priority up by id or (case-insensitive) name.
pub fn priority(id_or_name: &str) -> Option<&'static PriorityDef> {
    PRIORITIES.iter().find(|p| p.id == id_or_name || p.name.eq_ignore_ascii_case(id_or_name))
}

/// A status category. The set is fixed in Jira.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCategoryDef {
    /// Numeric id (an integer in JSON, unlike most ids).
    pub id: u8,
    /// `new`, `indeterminate` or `done`.
    pub key: &'static str,
    /// Display name.
    pub name: &'static str,
    /// `colorName`.
    pub color: &'static str,
}

/// Category `new` (To Do).
pub const CATEGORY_NEW: StatusCategoryDef = StatusCategoryDef { id: 2, key: "new", name: "To Do", color: "blue-gray" };
/// Category `indeterminate` (In Progress).
pub const CATEGORY_INDETERMINATE: StatusCategoryDef =
    StatusCategoryDef { id: 4, key: "indeterminate", name: "In Progress", color: "yellow" };
/// Category `done`.
pub const CATEGORY_DONE: StatusCategoryDef = StatusCategoryDef { id: 3, key: "done", name: "Done", color: "green" };

/// All status categories (without `undefined`, which no status uses here).
pub const STATUS_CATEGORIES: [StatusCategoryDef; 3] = [CATEGORY_NEW, CATEGORY_INDETERMINATE, CATEGORY_DONE];

/// A workflow status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusDef {
    /// Numeric string id.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
    /// Its category.
    pub category: StatusCategoryDef,
}

/// Id of the initial status (To Do).
pub const STATUS_TODO: &str = "10000";
/// Id of In Progress.
pub const STATUS_IN_PROGRESS: &str = "3";
/// Id of Done.
pub const STATUS_DONE: &str = "10001";

/// The default workflow's statuses.
pub const STATUSES: [StatusDef; 3] = [
    StatusDef { id: STATUS_TODO, name: "To Do", description: "", category: CATEGORY_NEW },
    StatusDef {
        id: STATUS_IN_PROGRESS,
        name: "In Progress",
        description: "This issue is being actively worked on at the moment by the assignee.",
        category: CATEGORY_INDETERMINATE,
    },
    StatusDef { id: STATUS_DONE, name: "Done", description: "", category: CATEGORY_DONE },
];

/// Looks a status up by id or (case-insensitive) name.
pub fn status(id_or_name: &str) -> Option<&'static StatusDef> {
    STATUSES.iter().find(|s| s.id == id_or_name || s.name.eq_ignore_ascii_case(id_or_name))
}

/// A workflow transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitionDef {
    /// Numeric string id.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Target status id.
    pub to: &'static str,
    /// Statuses it is available from; empty = global ("any status but the target").
    pub from: &'static [&'static str],
}

/// Transitions of the default workflow: three global ones and a Reopen from Done.
pub const TRANSITIONS: [TransitionDef; 4] = [
    TransitionDef { id: "11", name: "To Do", to: STATUS_TODO, from: &[] },
    TransitionDef { id: "21", name: "In Progress", to: STATUS_IN_PROGRESS, from: &[] },
    TransitionDef { id: "31", name: "Done", to: STATUS_DONE, from: &[] },
    TransitionDef { id: "41", name: "Reopen", to: STATUS_TODO, from: &[STATUS_DONE] },
];

impl TransitionDef {
    /// Whether the transition can be taken from `status_id`.
    pub fn available_from(&self, status_id: &str) -> bool {
        if self.from.is_empty() { self.to != status_id } else { self.from.contains(&status_id) }
    }
}

/// Transitions available from a status.
pub fn transitions_from(status_id: &str) -> impl Iterator<Item = &'static TransitionDef> + '_ {
    TRANSITIONS.iter().filter(move |t| t.available_from(status_id))
}

/// A resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolutionDef {
    /// Numeric string id.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
}

/// Jira Cloud's default resolutions; `Done` is used when a transition names none.
pub const RESOLUTIONS: [ResolutionDef; 6] = [
    ResolutionDef { id: "10000", name: "Done", description: "Work has been completed on this issue." },
    ResolutionDef { id: "10001", name: "Won't Do", description: "This issue won't be actioned." },
    ResolutionDef { id: "10002", name: "Duplicate", description: "The problem is a duplicate of an existing issue." },
    ResolutionDef {
        id: "10003",
        name: "Cannot Reproduce",
        description: "All attempts at reproducing this issue failed, or not enough information was available to reproduce the issue.",
    },
    ResolutionDef { id: "10004", name: "Won't Fix", description: "A fix for this issue will not be made." },
    ResolutionDef { id: "10005", name: "Declined", description: "This issue was not approved." },
];

/// Looks a resolution up by id or (case-insensitive) name.
pub fn resolution(id_or_name: &str) -> Option<&'static ResolutionDef> {
    RESOLUTIONS.iter().find(|r| r.id == id_or_name || r.name.eq_ignore_ascii_case(id_or_name))
}

/// An issue link type: a name plus the phrases for each direction. A link
/// reads "source <outward> destination" and "destination <inward> source".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssueLinkTypeDef {
    /// Numeric string id.
    pub id: &'static str,
    /// Name, e.g. `Duplicate`.
    pub name: &'static str,
    /// Phrase seen from the destination, e.g. `is duplicated by`.
    pub inward: &'static str,
    /// Phrase seen from the source, e.g. `duplicates`.
    pub outward: &'static str,
}

/// The link types a new Jira Cloud site has.
pub const ISSUE_LINK_TYPES: [IssueLinkTypeDef; 4] = [
    IssueLinkTypeDef { id: "10000", name: "Blocks", inward: "is blocked by", outward: "blocks" },
    IssueLinkTypeDef { id: "10001", name: "Cloners", inward: "is cloned by", outward: "clones" },
    IssueLinkTypeDef { id: "10002", name: "Duplicate", inward: "is duplicated by", outward: "duplicates" },
    IssueLinkTypeDef { id: "10003", name: "Relates", inward: "relates to", outward: "relates to" },
];

/// Looks a link type up by id or (exact) name.
pub fn issue_link_type(id_or_name: &str) -> Option<&'static IssueLinkTypeDef> {
    ISSUE_LINK_TYPES.iter().find(|t| t.id == id_or_name || t.name == id_or_name)
}

/// An issue type (global, shared by every project, as in company-managed projects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssueTypeDef {
    /// Numeric string id.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Description.
    pub description: &'static str,
    /// 1 = epic, 0 = standard.
    pub hierarchy_level: i32,
    /// Avatar id used in icon URLs.
    pub avatar_id: u32,
}

/// The simulator's issue types.
pub const ISSUE_TYPES: [IssueTypeDef; 4] = [
    IssueTypeDef {
        id: "10001",
        name: "Task",
        description: "A small, distinct piece of work.",
        hierarchy_level: 0,
        avatar_id: 10318,
    },
    IssueTypeDef { id: "10002", name: "Bug", description: "A problem or error.", hierarchy_level: 0, avatar_id: 10303 },
    IssueTypeDef {
        id: "10003",
        name: "Story",
        description: "Functionality or a feature expressed as a user goal.",
        hierarchy_level: 0,
        avatar_id: 10315,
    },
    IssueTypeDef {
        id: "10000",
        name: "Epic",
        description: "A collection of related bugs, stories, and tasks.",
        hierarchy_level: 1,
        avatar_id: 10307,
    },
];

/// Looks an issue type up by id or (case-insensitive) name.
pub fn issue_type(id_or_name: &str) -> Option<&'static IssueTypeDef> {
    ISSUE_TYPES.iter().find(|t| t.id == id_or_name || t.name.eq_ignore_ascii_case(id_or_name))
}

/// The kind of a custom field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomKind {
    /// Single-line text (`textfield`), a string of at most 255 characters.
    Text,
    /// Number (`float`).
    Number,
    /// Single select (`select`), `{"value":…}` or `{"id":…}`.
    Select,
    /// Multi select (`multiselect`), an array of options.
    MultiSelect,
}

impl CustomKind {
    /// The `custom` key of the field schema.
    pub fn schema_custom(self) -> &'static str {
        match self {
            Self::Text => "com.atlassian.jira.plugin.system.customfieldtypes:textfield",
            Self::Number => "com.atlassian.jira.plugin.system.customfieldtypes:float",
            Self::Select => "com.atlassian.jira.plugin.system.customfieldtypes:select",
            Self::MultiSelect => "com.atlassian.jira.plugin.system.customfieldtypes:multiselect",
        }
    }
}

/// An option of a select custom field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionDef {
    /// Numeric string id.
    pub id: &'static str,
    /// Display value.
    pub value: &'static str,
}

/// A custom field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomFieldDef {
    /// `customfield_NNNNN`.
    pub id: &'static str,
    /// The numeric part, used by `cf[NNNNN]` in JQL.
    pub number: u32,
    /// Display name.
    pub name: &'static str,
    /// Kind.
    pub kind: CustomKind,
    /// Options for the select kinds.
    pub options: &'static [OptionDef],
}

impl CustomFieldDef {
    /// Finds an option by id or (case-sensitive, like Jira) value.
    pub fn option(&self, id: Option<&str>, value: Option<&str>) -> Option<&'static OptionDef> {
        self.options.iter().find(|o| match (id, value) {
            (Some(id), _) => o.id == id,
            (None, Some(v)) => o.value == v,
            (None, None) => false,
        })
    }

    /// Finds an option by its stored id.
    pub fn option_by_id(&self, id: &str) -> Option<&'static OptionDef> {
        self.options.iter().find(|o| o.id == id)
    }
}

/// Id of the text custom field "Finding ID".
pub const CF_FINDING_ID: &str = "customfield_10050";
/// Id of the number custom field "Risk Score".
pub const CF_RISK_SCORE: &str = "customfield_10051";
/// Id of the single-select custom field "Deployment Tier".
pub const CF_DEPLOYMENT_TIER: &str = "customfield_10052";
/// Id of the multi-select custom field "Affected Areas".
pub const CF_AFFECTED_AREAS: &str = "customfield_10053";
/// Id of the single-select custom field "Severity".
pub const CF_SEVERITY: &str = "customfield_10054";

/// The custom fields on every create and edit screen.
pub const CUSTOM_FIELDS: [CustomFieldDef; 5] = [
    CustomFieldDef { id: CF_FINDING_ID, number: 10050, name: "Finding ID", kind: CustomKind::Text, options: &[] },
    CustomFieldDef { id: CF_RISK_SCORE, number: 10051, name: "Risk Score", kind: CustomKind::Number, options: &[] },
    CustomFieldDef {
        id: CF_DEPLOYMENT_TIER,
        number: 10052,
        name: "Deployment Tier",
        kind: CustomKind::Select,
        options: &[
            OptionDef { id: "10100", value: "Production" },
            OptionDef { id: "10101", value: "Staging" },
            OptionDef { id: "10102", value: "Development" },
        ],
    },
    CustomFieldDef {
        id: CF_AFFECTED_AREAS,
        number: 10053,
        name: "Affected Areas",
        kind: CustomKind::MultiSelect,
        options: &[
            OptionDef { id: "10110", value: "Network" },
            OptionDef { id: "10111", value: "Endpoint" },
            OptionDef { id: "10112", value: "Cloud" },
            OptionDef { id: "10113", value: "Identity" },
        ],
    },
    CustomFieldDef {
        id: CF_SEVERITY,
        number: 10054,
        name: "Severity",
        kind: CustomKind::Select,
        options: &[
            OptionDef { id: "10120", value: "Critical" },
            OptionDef { id: "10121", value: "High" },
            OptionDef { id: "10122", value: "Medium" },
            OptionDef { id: "10123", value: "Low" },
            OptionDef { id: "10124", value: "Informational" },
        ],
    },
];

/// Looks a custom field up by `customfield_N` id.
pub fn custom_field(id: &str) -> Option<&'static CustomFieldDef> {
    CUSTOM_FIELDS.iter().find(|f| f.id == id)
}

/// System fields on the create screen, in createmeta order.
/// `parent` is not offered for epics (nothing sits above them).
pub const SYSTEM_CREATE_FIELDS: [&str; 11] = [
    "issuetype",
    "parent",
    "project",
    "summary",
    "description",
    "components",
    "priority",
    "labels",
    "assignee",
    "reporter",
    "duedate",
];

/// Whether `field` is on the create (and edit) screen of `issue_type`.
pub fn on_screen(issue_type: &IssueTypeDef, field: &str) -> bool {
    if field == "parent" {
        return issue_type.hierarchy_level == 0;
    }
    SYSTEM_CREATE_FIELDS.contains(&field) || custom_field(field).is_some()
}
