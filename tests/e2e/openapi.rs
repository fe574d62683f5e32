//! Fidelity to Atlassian's OpenAPI spec: every request body the Jira client sends and every
//! response the simulator returns validates against the schemas of the Jira platform REST v3
//! spec (`../shared/reference/jira-platform-openapi-v3.json`, kept outside the repository).
//!
//! The bodies come from the simulator's request log, which keeps what was received and what was
//! answered, byte for byte. The schema of each exchange is looked up in the spec by method,
//! route template and status (`paths./rest/api/3/...`), and the test also pins its name, so a
//! schema swapped in the spec or a request sent to the wrong operation fails loudly.
//!
//! The spec is OpenAPI 3.0.1, whose schema objects are an extended subset of JSON Schema draft 4
//! (boolean `exclusiveMaximum`, `$ref` siblings ignored). They are validated as draft 4, each as
//! `{"$ref": "#/..."}` with the whole spec as the root document, so `#/components/schemas/X`
//! resolves inside it and nothing is fetched. Only the OpenAPI-specific keywords are translated;
//! the schemas are otherwise untouched:
//! - `nullable: true` adds `null` to `type` (and to `enum`, where there is one);
//! - a `readOnly` property is not required in a request and must not be sent in one; a
//!   `writeOnly` property likewise in a response (such a property becomes `{"not": {}}`);
//! - `format: date-time` accepts RFC 3339 and Jira's own `2024-01-17T12:34:56.000+0000` (no colon
//!   in the offset), which every Jira Cloud timestamp uses although the spec says `date-time`;
//!   other formats (`uri`, `uuid`) are checked as JSON Schema defines them, and `int32`/`int64`
//!   are annotations;
//! - an error status the spec lists without a body (most 4xx) is checked against
//!   `ErrorCollection`, Jira's error body everywhere; a status the spec does not list fails.
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jira_sim::{RequestRecord, SimConfig, Simulator};
use northstar_jira::jira::{
    JiraClient, JiraError, JiraSettings, RetryPolicy, SearchRequest, Site,
    adf::{Doc, Inline},
};
use secrecy::SecretString;
use serde_json::{Value, json};

const SPEC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference/jira-platform-openapi-v3.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Direction {
    Request,
    Response,
}

/// A schema of the spec: where it is and what it is called.
#[derive(Debug, Clone)]
struct SchemaRef {
    pointer: String,
    name: String,
}

/// The spec, translated once per direction, with validators built on demand.
struct Spec {
    raw: Value,
    roots: HashMap<Direction, Value>,
    validators: HashMap<(Direction, String), jsonschema::Validator>,
}

impl Spec {
    fn load() -> Option<Self> {
        let text = std::fs::read_to_string(SPEC_PATH).ok()?;
        let raw: Value = serde_json::from_str(&text).expect("the OpenAPI spec is JSON");
        assert!(
            raw["openapi"].as_str().is_some_and(|v| v.starts_with("3.0")),
            "expected an OpenAPI 3.0 document, found {}",
            raw["openapi"]
        );
        let roots = [Direction::Request, Direction::Response]
            .into_iter()
            .map(|dir| (dir, translate_document(&raw, dir)))
            .collect();
        Some(Self { raw, roots, validators: HashMap::new() })
    }

    /// `paths[route][method]`; panics when the spec has no such operation.
    fn operation(&self, method: &str, route: &str) -> &Value {
        let op = &self.raw["paths"][route][method.to_ascii_lowercase()];
        assert!(op.is_object(), "the OpenAPI spec has no operation {method} {route}");
        op
    }

    fn operation_id(&self, method: &str, route: &str) -> String {
        self.operation(method, route)["operationId"].as_str().unwrap_or("?").to_owned()
    }

    fn op_pointer(method: &str, route: &str) -> String {
        format!("#/paths/{}/{}", escape_pointer(route), method.to_ascii_lowercase())
    }

    /// The JSON schema of the operation's request body, if it takes one.
    fn request_schema(&self, method: &str, route: &str) -> Option<SchemaRef> {
        let schema = &self.operation(method, route)["requestBody"]["content"]["application/json"]["schema"];
        schema.is_object().then(|| SchemaRef {
            pointer: format!("{}/requestBody/content/application~1json/schema", Self::op_pointer(method, route)),
            name: schema_name(schema),
        })
    }

    /// The JSON schema of the operation's `status` response: `Ok(None)` when the spec gives the
    /// status no body; an error status without a schema gets `ErrorCollection`.
    fn response_schema(&self, method: &str, route: &str, status: u16) -> Result<Option<SchemaRef>, String> {
        let responses = &self.operation(method, route)["responses"];
        let key = status.to_string();
        let Some(response) = responses.get(&key).or_else(|| responses.get("default")) else {
            let documented: Vec<&String> = responses.as_object().map(|r| r.keys().collect()).unwrap_or_default();
            return Err(format!("the spec documents no {status} response (only {documented:?})"));
        };
        let schema = &response["content"]["application/json"]["schema"];
        if schema.is_object() {
            let which = if responses.get(&key).is_some() { key.as_str() } else { "default" };
            return Ok(Some(SchemaRef {
                pointer: format!(
                    "{}/responses/{which}/content/application~1json/schema",
                    Self::op_pointer(method, route)
                ),
                name: schema_name(schema),
            }));
        }
        Ok((status >= 400).then(|| SchemaRef {
            pointer: "#/components/schemas/ErrorCollection".to_owned(),
            name: "ErrorCollection".to_owned(),
        }))
    }

    /// Validates `instance`; the errors, one line each, when it does not.
    fn validate(&mut self, dir: Direction, schema: &SchemaRef, instance: &Value) -> Result<(), Vec<String>> {
        let key = (dir, schema.pointer.clone());
        if !self.validators.contains_key(&key) {
            let mut root = self.roots[&dir].clone();
            root.as_object_mut().expect("the spec is an object").insert("$ref".into(), json!(schema.pointer));
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft4)
                .should_validate_formats(true)
                .with_format("date-time", is_date_time)
                .build(&root)
                .unwrap_or_else(|e| panic!("no validator for {} ({}): {e}", schema.name, schema.pointer));
            self.validators.insert(key.clone(), validator);
        }
        let errors: Vec<String> = self.validators[&key]
            .iter_errors(instance)
            .map(|e| {
                let mut message = e.to_string();
                if message.chars().count() > 400 {
                    message = format!("{}…", message.chars().take(400).collect::<String>());
                }
                format!("at `{}` (schema `{}`): {message}", e.instance_path(), e.schema_path())
            })
            .collect();
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

/// `Name` for a `$ref`, `Name[]` for an array of one, `{}` for "anything".
fn schema_name(schema: &Value) -> String {
    let short = |r: &Value| r.as_str().and_then(|r| r.rsplit('/').next()).map(str::to_owned);
    if let Some(name) = short(&schema["$ref"]) {
        return name;
    }
    if schema["type"] == "array"
        && let Some(name) = short(&schema["items"]["$ref"])
    {
        return format!("{name}[]");
    }
    if schema.as_object().is_some_and(serde_json::Map::is_empty) { "{}".to_owned() } else { "inline schema".to_owned() }
}

/// A JSON pointer segment as it goes into a URI fragment (`{` and `}` are not allowed there).
fn escape_pointer(segment: &str) -> String {
    let pointer = segment.replace('~', "~0").replace('/', "~1");
    pointer
        .chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '.' | '_' | '~' => c.to_string(),
            c => c.to_string().bytes().map(|b| format!("%{b:02X}")).collect(),
        })
        .collect()
}

/// RFC 3339, or Jira's `yyyy-MM-dd'T'HH:mm:ss.SSSZ` (`2024-01-17T12:34:56.000+0000`).
fn is_date_time(s: &str) -> bool {
    let jira = s.len() == 28
        && s.as_bytes()[19] == b'.'
        && chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3f%z").is_ok();
    jira || chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// The spec with its schemas (components and the inline ones of request and response bodies)
/// translated from OpenAPI 3.0 to JSON Schema draft 4 for one direction.
fn translate_document(raw: &Value, dir: Direction) -> Value {
    let mut doc = raw.clone();
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        schemas.values_mut().for_each(|s| translate(s, dir));
    }
    if let Some(paths) = doc["paths"].as_object_mut() {
        for op in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| item.values_mut()) {
            let bodies = op["requestBody"]["content"].as_object_mut().into_iter().flat_map(|c| c.values_mut());
            bodies.for_each(|media| translate(&mut media["schema"], dir));
            if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
                let contents = responses.values_mut().filter_map(|r| r.get_mut("content")?.as_object_mut());
                contents.flat_map(|c| c.values_mut()).for_each(|media| translate(&mut media["schema"], dir));
            }
        }
    }
    doc
}

/// Translates one schema object (recursively): `nullable`, and `readOnly`/`writeOnly` properties.
fn translate(schema: &mut Value, dir: Direction) {
    let Some(obj) = schema.as_object_mut() else { return };
    for key in ["items", "additionalProperties", "not"] {
        match obj.get_mut(key) {
            Some(Value::Array(subs)) => subs.iter_mut().for_each(|s| translate(s, dir)),
            Some(sub) => translate(sub, dir),
            None => {}
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(subs)) = obj.get_mut(key) {
            subs.iter_mut().for_each(|s| translate(s, dir));
        }
    }
    let wrong_way = match dir {
        Direction::Request => "readOnly",
        Direction::Response => "writeOnly",
    };
    let mut hidden = Vec::new();
    if let Some(Value::Object(props)) = obj.get_mut("properties") {
        for (name, sub) in props.iter_mut() {
            translate(sub, dir);
            if sub.get(wrong_way) == Some(&Value::Bool(true)) {
                *sub = json!({ "not": {}, "description": format!("{wrong_way} in the spec") });
                hidden.push(Value::String(name.clone()));
            }
        }
    }
    if let Some(Value::Array(required)) = obj.get_mut("required") {
        required.retain(|r| !hidden.contains(r));
        if required.is_empty() {
            // Draft 4 wants at least one name in `required`.
            obj.remove("required");
        }
    }
    if obj.get("nullable") != Some(&Value::Bool(true)) {
        return;
    }
    if let Some(Value::Array(values)) = obj.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
    match obj.get_mut("type") {
        Some(Value::String(t)) => {
            let t = std::mem::take(t);
            obj.insert("type".into(), json!([t, "null"]));
        }
        Some(_) => {}
        None => {
            let inner = std::mem::take(schema);
            *schema = json!({ "anyOf": [{ "type": "null" }, inner] });
        }
    }
}

/// What one client call should have put on the wire: one exchange per HTTP request.
#[derive(Debug, Clone, Copy)]
struct Exchange {
    method: &'static str,
    route: &'static str,
    status: u16,
    /// The request body schema the spec names for the operation.
    request: Option<&'static str>,
    /// The response body schema the spec names for the status.
    response: Option<&'static str>,
}

const fn ex(
    method: &'static str,
    route: &'static str,
    status: u16,
    request: Option<&'static str>,
    response: Option<&'static str>,
) -> Exchange {
    Exchange { method, route, status, request, response }
}

/// Checks the simulator's request log, call by call, against the spec.
struct Checker<'a> {
    spec: Spec,
    sim: &'a Simulator,
    seen: usize,
    /// `METHOD route status` → (request schema, response schema), for the summary.
    covered: BTreeMap<String, (String, String)>,
}

impl Checker<'_> {
    /// Validates every exchange since the last check; `call` names the client call.
    fn check(&mut self, call: &str, expected: &[Exchange]) {
        let records = self.sim.requests();
        let new: Vec<RequestRecord> = records[self.seen..].to_vec();
        self.seen = records.len();
        let saw: Vec<String> = new.iter().map(|r| format!("{} {} -> {}", r.method, r.route, r.status)).collect();
        let wanted: Vec<String> =
            expected.iter().map(|e| format!("{} {} -> {}", e.method, e.route, e.status)).collect();
        assert_eq!(saw, wanted, "{call}: the simulator saw other requests than expected");
        for (record, exchange) in new.iter().zip(expected) {
            self.check_exchange(call, record, exchange);
        }
    }

    fn check_exchange(&mut self, call: &str, record: &RequestRecord, expected: &Exchange) {
        let (method, route, status) = (record.method.as_str(), record.route.as_str(), record.status);
        let op = format!("{call} → {method} {route} ({}) {status}", self.spec.operation_id(method, route));

        // (a) The request body the client sent.
        let request = self.spec.request_schema(method, route);
        match (&request, &record.request_body) {
            (Some(schema), Some(body)) => {
                assert_eq!(
                    Some(schema.name.as_str()),
                    expected.request,
                    "{op}: the spec's request schema is {}",
                    schema.name
                );
                self.validate(&op, "request body", Direction::Request, schema, body);
            }
            (Some(schema), None) => panic!("{op}: the spec wants a {} request body; the client sent none", schema.name),
            (None, Some(body)) => panic!("{op}: the spec defines no request body; the client sent {body}"),
            (None, None) => assert_eq!(expected.request, None, "{op}: the spec defines no request body"),
        }

        // (b) The response body the simulator answered.
        let response = self.spec.response_schema(method, route, status).unwrap_or_else(|e| panic!("{op}: {e}"));
        match (&response, &record.response_body) {
            _ if status == 204 => {
                assert_eq!(record.response_body, None, "{op}: a 204 has no body");
                assert_eq!(expected.response, None, "{op}: a 204 has no body to check");
            }
            (Some(schema), Some(body)) => {
                assert_eq!(
                    Some(schema.name.as_str()),
                    expected.response,
                    "{op}: the spec's response schema is {}",
                    schema.name
                );
                self.validate(&op, "response body", Direction::Response, schema, body);
            }
            (Some(schema), None) => {
                panic!("{op}: the spec wants a {} response body; the simulator sent none", schema.name)
            }
            (None, body) => {
                assert_eq!(body, &None, "{op}: the spec defines no body for {status}");
                assert_eq!(expected.response, None, "{op}: the spec defines no body for {status}");
            }
        }
        let name = |s: &Option<SchemaRef>| s.as_ref().map_or_else(|| "-".to_owned(), |s| s.name.clone());
        let response_name = if status == 204 { "-".to_owned() } else { name(&response) };
        self.covered.insert(format!("{method} {route} {status}"), (name(&request), response_name));
    }

    fn validate(&mut self, op: &str, what: &str, dir: Direction, schema: &SchemaRef, body: &str) {
        let instance: Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{op}: the {what} is not JSON ({e}): {body}"));
        if let Err(errors) = self.spec.validate(dir, schema, &instance) {
            panic!(
                "{op}: the {what} does not validate against {} ({}):\n  - {}\n(`not: {{}}` at a property: a readOnly \
                 property sent in a request, or a writeOnly one in a response)\n{what}: {body}",
                schema.name,
                schema.pointer,
                errors.join("\n  - ")
            );
        }
    }

    /// Every request the simulator saw was checked.
    fn finish(self) {
        assert_eq!(self.seen, self.sim.requests().len(), "requests after the last check were not validated");
        println!("validated against {SPEC_PATH}:");
        for (exchange, (request, response)) in &self.covered {
            println!("  {exchange:<70} request {request:<30} response {response}");
        }
    }
}

const MYSELF: &str = "/rest/api/3/myself";
const PROJECT_SEARCH: &str = "/rest/api/3/project/search";
const PROJECT: &str = "/rest/api/3/project/{projectIdOrKey}";
const META_TYPES: &str = "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes";
const META_FIELDS: &str = "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}";
const PRIORITY: &str = "/rest/api/3/priority";
const ISSUE: &str = "/rest/api/3/issue";
const BULK: &str = "/rest/api/3/issue/bulk";
const ONE_ISSUE: &str = "/rest/api/3/issue/{issueIdOrKey}";
const TRANSITIONS: &str = "/rest/api/3/issue/{issueIdOrKey}/transitions";
const COMMENTS: &str = "/rest/api/3/issue/{issueIdOrKey}/comment";
const ONE_COMMENT: &str = "/rest/api/3/issue/{issueIdOrKey}/comment/{id}";
const SEARCH: &str = "/rest/api/3/search/jql";

/// A description as the service writes them: headings, facts as bullets with marks and links,
/// and a code block.
fn rich_description() -> Doc {
    Doc::new()
        .heading(2, "Security incident: SQL injection on /login")
        .bullets([
            Inline::new().strong("Severity: ").text("critical"),
            Inline::new().strong("Application: ").text("Storefront (app-42)"),
            Inline::new().strong("Northstar id: ").code("evt-0001"),
            Inline::new().text("Runbook: ").link("SQL injection", "https://runbooks.example.com/sqli"),
        ])
        .heading(3, "Request URLs")
        .bullets([Inline::new().code("https://shop.example.com/login?user=' OR 1=1--")])
        .paragraph(
            Inline::new()
                .text("First seen\nby the WAF. ")
                .link("Open in Northstar", "https://northstar.example.com/e/1"),
        )
        .code_block(Some("http"), "POST /login HTTP/1.1\nHost: shop.example.com\n\nuser=' OR 1=1--")
}

fn create_payload(summary: &str, label: &str, assignee: &str) -> Value {
    json!({ "fields": {
        "project": { "key": "SIM" },
        "issuetype": { "name": "Bug" },
        "summary": summary,
        "description": rich_description().to_json(),
        "priority": { "name": "High" },
        "labels": [label, "northstar-incident"],
        "components": [{ "name": "Backend" }],
        "assignee": { "accountId": assignee },
        "customfield_10050": "evt-0001",
        "customfield_10051": 9.1,
        "customfield_10052": { "value": "Production" },
        "customfield_10053": [{ "value": "Network" }, { "value": "Cloud" }],
    }})
}

#[tokio::test]
async fn client_requests_and_simulator_responses_follow_the_openapi_spec() {
    let Some(spec) = Spec::load() else {
        println!("skipped: ../shared/reference not found");
        return;
    };
    let sim = Simulator::start(SimConfig::default()).await;
    let site = Site {
        base_url: sim.base_url().to_owned(),
        email: jira_sim::DEFAULT_EMAIL.to_owned(),
        token: SecretString::from(jira_sim::DEFAULT_TOKEN),
        limit_key: "openapi".into(),
    };
    // No retries: each call is exactly the exchanges listed for it.
    let jira = JiraClient::new(JiraSettings {
        retry: RetryPolicy { interactive_retries: 0, ..RetryPolicy::default() },
        request_timeout: Some(Duration::from_secs(10)),
        ..JiraSettings::default()
    });
    let alice =
        sim.accounts().into_iter().find(|a| a.email == "alice@example.com").expect("Alice is seeded").account_id;
    sim.reset_request_counts();
    let mut c = Checker { spec, sim: &sim, seen: 0, covered: BTreeMap::new() };

    // Reads of the site.
    jira.myself(&site).await.unwrap();
    c.check("myself", &[ex("GET", MYSELF, 200, None, Some("User"))]);
    jira.search_projects(&site, 0, 50).await.unwrap();
    c.check("search_projects", &[ex("GET", PROJECT_SEARCH, 200, None, Some("PageBeanProject"))]);
    assert!(jira.all_projects(&site).await.unwrap().iter().any(|p| p.key == "SIM"));
    c.check("all_projects", &[ex("GET", PROJECT_SEARCH, 200, None, Some("PageBeanProject"))]);
    jira.project(&site, "SIM").await.unwrap();
    c.check("project", &[ex("GET", PROJECT, 200, None, Some("Project"))]);
    let types = jira.create_issue_types(&site, "SIM").await.unwrap();
    c.check("create_issue_types", &[ex("GET", META_TYPES, 200, None, Some("PageOfCreateMetaIssueTypes"))]);
    let bug = types.iter().find(|t| t.name == "Bug").expect("Bug is offered");
    assert!(!jira.create_fields(&site, "SIM", &bug.id).await.unwrap().is_empty());
    c.check("create_fields", &[ex("GET", META_FIELDS, 200, None, Some("PageOfCreateMetaIssueTypeWithField"))]);
    assert!(!jira.priorities(&site).await.unwrap().is_empty());
    c.check("priorities", &[ex("GET", PRIORITY, 200, None, Some("Priority[]"))]);

    // Creates: one issue with a rich ADF description, a refused one, and bulk batches.
    let payload = create_payload("SQL injection on /login", "northstar-openapi-1", &alice);
    let description = payload["fields"]["description"].clone();
    assert_eq!(
        description["content"].as_array().map(|c| c.iter().map(|n| n["type"].clone()).collect::<Vec<_>>()),
        Some(["heading", "bulletList", "heading", "bulletList", "paragraph", "codeBlock"].map(Value::from).to_vec()),
        "the description has every block kind the service writes"
    );
    // The spec leaves `fields` free-form, so the ADF is held to Jira's ADF rules as well.
    jira_sim::adf::validate(&description).unwrap_or_else(|e| panic!("the ADF description breaks Jira's rules: {e}"));
    let created = jira.create_issue(&site, &payload).await.unwrap();
    c.check("create_issue", &[ex("POST", ISSUE, 201, Some("IssueUpdateDetails"), Some("CreatedIssue"))]);

    let mut refused = create_payload("refused", "northstar-openapi-refused", &alice);
    refused["fields"].as_object_mut().unwrap().remove("summary");
    refused["fields"]["description"] = json!("not an Atlassian document");
    let err = jira.create_issue(&site, &refused).await.unwrap_err();
    assert!(matches!(err, JiraError::Invalid { .. }), "{err:?}");
    c.check("create_issue (refused)", &[ex("POST", ISSUE, 400, Some("IssueUpdateDetails"), Some("ErrorCollection"))]);

    let broken = json!({ "fields": { "project": { "key": "SIM" } } });
    let partly = jira
        .bulk_create(&site, &[create_payload("bulk ok", "northstar-openapi-2", &alice), broken.clone()])
        .await
        .unwrap();
    assert_eq!((partly.issues.len(), partly.errors.len()), (1, 1), "one created, one refused");
    c.check("bulk_create (partly failing)", &[ex("POST", BULK, 201, Some("IssuesUpdateBean"), Some("CreatedIssues"))]);
    let none = jira.bulk_create(&site, &[broken.clone(), broken]).await.unwrap();
    assert_eq!((none.issues.len(), none.errors.len()), (0, 2), "every element refused");
    c.check("bulk_create (all failing)", &[ex("POST", BULK, 400, Some("IssuesUpdateBean"), Some("CreatedIssues"))]);

    // Reads and edits of the issue.
    let issue = jira.get_issue(&site, &created.key, &["summary", "status", "labels", "description"]).await.unwrap();
    assert_eq!(issue.fields["description"], description, "the description comes back as sent");
    c.check("get_issue", &[ex("GET", ONE_ISSUE, 200, None, Some("IssueBean"))]);
    jira.get_issue(&site, &created.key, &["*all"]).await.unwrap();
    c.check("get_issue (*all)", &[ex("GET", ONE_ISSUE, 200, None, Some("IssueBean"))]);
    let edit = json!({
        "fields": { "summary": "SQL injection on /login (confirmed)", "priority": { "name": "Highest" } },
        "update": { "labels": [{ "add": "northstar-confirmed" }, { "remove": "northstar-incident" }] },
    });
    jira.update_issue(&site, &created.key, &edit).await.unwrap();
    c.check("update_issue", &[ex("PUT", ONE_ISSUE, 204, Some("IssueUpdateDetails"), None)]);
    let transitions = jira.transitions(&site, &created.key).await.unwrap();
    c.check("transitions", &[ex("GET", TRANSITIONS, 200, None, Some("Transitions"))]);
    let done = transitions.iter().find(|t| t.to.as_ref().is_some_and(|s| s.is_done())).expect("a way to Done");
    jira.transition(&site, &created.key, &done.id, Some("Won't Do")).await.unwrap();
    c.check("transition (with resolution)", &[ex("POST", TRANSITIONS, 204, Some("IssueUpdateDetails"), None)]);
    jira.transitions(&site, &created.key).await.unwrap();
    c.check("transitions (from Done)", &[ex("GET", TRANSITIONS, 200, None, Some("Transitions"))]);
    let resolved = jira.get_issue(&site, &created.key, &["*all"]).await.unwrap();
    assert_eq!(resolved.fields["resolution"]["name"], "Won't Do");
    c.check("get_issue (resolved)", &[ex("GET", ONE_ISSUE, 200, None, Some("IssueBean"))]);

    // Comments.
    let comment = jira.add_comment(&site, &created.key, &rich_description()).await.unwrap();
    c.check("add_comment", &[ex("POST", COMMENTS, 201, Some("Comment"), Some("Comment"))]);
    jira.update_comment(&site, &created.key, &comment.id, &Doc::plain_text("Fixed in\nrelease 1.2.\n\nClosing."))
        .await
        .unwrap();
    c.check("update_comment", &[ex("PUT", ONE_COMMENT, 200, Some("Comment"), Some("Comment"))]);
    jira.add_comment(&site, &created.key, &Doc::plain_text("second")).await.unwrap();
    c.check("add_comment (second)", &[ex("POST", COMMENTS, 201, Some("Comment"), Some("Comment"))]);
    assert_eq!(jira.list_comments(&site, &created.key, 0).await.unwrap().comments.len(), 2);
    c.check("list_comments", &[ex("GET", COMMENTS, 200, None, Some("PageOfComments"))]);
    jira.delete_comment(&site, &created.key, &comment.id).await.unwrap();
    c.check("delete_comment", &[ex("DELETE", ONE_COMMENT, 204, None, None)]);
    jira.delete_comment(&site, &created.key, &comment.id).await.unwrap();
    c.check("delete_comment (already gone)", &[ex("DELETE", ONE_COMMENT, 404, None, Some("ErrorCollection"))]);

    // Search: the first page and the next one through its token, with reconciliation.
    let issue_id: i64 = created.id.parse().expect("numeric issue id");
    let request = SearchRequest {
        jql: "project = SIM AND labels in (\"northstar-openapi-1\", \"northstar-openapi-2\") ORDER BY created ASC"
            .into(),
        fields: vec!["summary".into(), "status".into(), "labels".into(), "resolution".into()],
        max_results: Some(1),
        reconcile_issues: vec![issue_id],
        ..SearchRequest::default()
    };
    let first = jira.search_jql(&site, &request).await.unwrap();
    c.check(
        "search_jql",
        &[ex("POST", SEARCH, 200, Some("SearchAndReconcileRequestBean"), Some("SearchAndReconcileResults"))],
    );
    let token = first.next_page_token.clone().expect("two matches, one per page: a next page");
    let second =
        jira.search_jql(&site, &SearchRequest { next_page_token: Some(token), ..request.clone() }).await.unwrap();
    assert_eq!(first.issues.len() + second.issues.len(), 2);
    c.check(
        "search_jql (next page)",
        &[ex("POST", SEARCH, 200, Some("SearchAndReconcileRequestBean"), Some("SearchAndReconcileResults"))],
    );

    c.finish();
}

/// The checks can fail: wrong shapes are refused, so a pass above means something.
#[test]
fn the_schema_checks_are_not_vacuous() {
    let Some(mut spec) = Spec::load() else {
        println!("skipped: ../shared/reference not found");
        return;
    };
    let component = |name: &str| SchemaRef { pointer: format!("#/components/schemas/{name}"), name: name.to_owned() };
    let priorities = spec.response_schema("GET", PRIORITY, 200).unwrap().unwrap();
    let comment = component("Comment");
    let adf = rich_description().to_json();
    let cases = [
        // (direction, schema, instance, valid)
        (Direction::Response, component("User"), json!({ "accountId": "5b10a2844c20165700ede21g" }), true),
        (Direction::Response, component("User"), json!({ "accountId": "x", "unexpected": 1 }), false),
        (Direction::Response, component("PageBeanProject"), json!({ "values": [{ "id": "1", "key": "SIM" }] }), true),
        (Direction::Response, component("PageBeanProject"), json!({ "values": [{ "id": "1", "key": 5 }] }), false),
        (Direction::Response, priorities.clone(), json!([{ "id": "1", "name": "Highest" }]), true),
        (Direction::Response, priorities, json!([{ "id": 1, "name": "Highest" }]), false),
        (Direction::Response, component("ErrorCollection"), json!({ "errors": { "summary": 1 } }), false),
        // date-time: RFC 3339 and Jira's own form pass, anything else fails.
        (Direction::Response, comment.clone(), json!({ "id": "1", "created": "2026-11-28T10:15:30.123+0000" }), true),
        (Direction::Response, comment.clone(), json!({ "id": "1", "created": "2026-11-28T10:15:30.123Z" }), true),
        (Direction::Response, comment.clone(), json!({ "id": "1", "created": "yesterday" }), false),
        // readOnly: answered, never sent; writeOnly: the other way round.
        (Direction::Request, comment.clone(), json!({ "body": adf }), true),
        (Direction::Request, comment.clone(), json!({ "body": adf, "id": "10000" }), false),
        (Direction::Response, component("PageOfCreateMetaIssueTypes"), json!({ "createMetaIssueType": [] }), false),
        (Direction::Request, component("PageOfCreateMetaIssueTypes"), json!({ "createMetaIssueType": [] }), true),
        // nullable.
        (Direction::Request, comment.clone(), json!({ "visibility": { "type": "role", "identifier": null } }), true),
        (Direction::Request, comment, json!({ "visibility": { "type": "role", "identifier": 5 } }), false),
        (Direction::Request, component("IssueUpdateDetails"), json!({ "update": { "labels": [{ "put": 1 }] } }), false),
    ];
    for (dir, schema, instance, valid) in cases {
        let result = spec.validate(dir, &schema, &instance);
        assert_eq!(result.is_ok(), valid, "{dir:?} {} {instance}: {result:?}", schema.name);
    }
}
