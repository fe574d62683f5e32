//! The REST surface over loopback: shapes, validation and errors.

mod common;

use common::{adf, start};
use serde_json::{Value, json};

#[tokio::test]
async fn myself_requires_valid_basic_auth() {
    let (_sim, api) = start().await;
    let ok = api.get("/rest/api/3/myself").await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body["emailAddress"], "sim@example.com");
    assert_eq!(ok.body["accountType"], "atlassian");
    assert!(ok.body["accountId"].as_str().is_some_and(|s| s.len() == 24));

    for auth in [None, Some(("sim@example.com", "wrong")), Some(("nobody@example.com", "sim-token"))] {
        let mut req = api.http.get(api.url("/rest/api/3/myself"));
        if let Some((u, p)) = auth {
            req = req.basic_auth(u, Some(p));
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.status(), 401);
        assert_eq!(
            resp.headers().get("x-seraph-loginreason").and_then(|v| v.to_str().ok()),
            Some("AUTHENTICATED_FAILED")
        );
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(
            body,
            json!({"message": "Client must be authenticated to access this resource.", "status-code": 401})
        );
    }
    // serverInfo stays anonymous, as on Jira Cloud.
    let info = api.http.get(api.url("/rest/api/3/serverInfo")).send().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.status(), 200);
}

#[tokio::test]
async fn revoked_token_gets_401() {
    let (sim, api) = start().await;
    assert_eq!(api.get("/rest/api/3/myself").await.status, 200);
    sim.set_api_token("sim@example.com", None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(api.get("/rest/api/3/myself").await.status, 401);
}

#[tokio::test]
async fn projects_page_and_createmeta_describes_the_screen() {
    let (_sim, api) = start_with_projects(&["AAA", "BBB", "CCC"]).await;
    let p1 = api.get("/rest/api/3/project/search?maxResults=2").await;
    assert_eq!(p1.status, 200);
    assert_eq!(p1.body["total"], 3);
    assert_eq!(p1.body["isLast"], false);
    assert_eq!(p1.body["values"][0]["key"], "AAA");
    assert_eq!(p1.body["values"][0]["id"], "10000");
    let p2 = api.get("/rest/api/3/project/search?startAt=2&maxResults=2").await;
    assert_eq!(p2.body["isLast"], true);
    assert_eq!(p2.body["values"].as_array().map(Vec::len), Some(1));

    let p = api.get("/rest/api/3/project/BBB").await;
    assert_eq!(p.status, 200);
    assert_eq!(p.body["issueTypes"].as_array().map(Vec::len), Some(4));
    assert_eq!(api.get("/rest/api/3/project/NOPE").await.status, 404);

    let types = api.get("/rest/api/3/issue/createmeta/AAA/issuetypes").await;
    let names: Vec<&str> =
        types.body["issueTypes"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["Task", "Bug", "Story", "Epic"]);
    let fields = api.get("/rest/api/3/issue/createmeta/AAA/issuetypes/10001").await;
    let ids: Vec<&str> =
        fields.body["fields"].as_array().into_iter().flatten().filter_map(|f| f["fieldId"].as_str()).collect();
    for f in ["summary", "description", "labels", "components", "priority", "parent", "assignee", "customfield_10054"] {
        assert!(ids.contains(&f), "{f} missing from {ids:?}");
    }
    let priority = fields.body["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["fieldId"] == "priority")
        .cloned()
        .unwrap_or_default();
    assert_eq!(priority["defaultValue"]["name"], "Medium");
    assert_eq!(priority["allowedValues"].as_array().map(Vec::len), Some(5));
    let too_many = api.get("/rest/api/3/issue/createmeta/AAA/issuetypes/10001?maxResults=201").await;
    assert_eq!(too_many.status, 400);
}

async fn start_with_projects(keys: &[&str]) -> (jira_sim::Simulator, common::Api) {
    common::start_with(jira_sim::SimConfig::default().with_projects(keys.iter().copied())).await
}

#[tokio::test]
async fn create_and_get_issue() {
    let (sim, api) = start().await;
    let r = api
        .post(
            "/rest/api/3/issue",
            json!({"fields": {
                "project": {"key": "SIM"},
                "issuetype": {"id": "10002"},
                "summary": "Disk full on web-1",
                "description": adf("The disk is full."),
                "labels": ["ns-finding-42", "managed-by-northstar"],
                "priority": {"name": "High"},
                "components": [{"name": "Backend"}],
                "assignee": {"accountId": sim.accounts()[1].account_id},
                "customfield_10050": "F-42",
                "customfield_10051": 7.5,
                "customfield_10052": {"value": "Production"},
                "customfield_10053": [{"value": "Network"}, {"id": "10112"}],
                "customfield_10054": {"value": "Critical"},
            }}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["key"], "SIM-1");
    assert_eq!(r.body["id"], "10000");
    assert_eq!(r.body["self"], format!("{}/rest/api/3/issue/10000", api.base));

    let got = api.get("/rest/api/3/issue/SIM-1").await;
    assert_eq!(got.status, 200);
    let f = &got.body["fields"];
    assert_eq!(f["summary"], "Disk full on web-1");
    assert_eq!(f["issuetype"]["name"], "Bug");
    assert_eq!(f["status"]["name"], "To Do");
    assert_eq!(
        f["status"]["statusCategory"],
        json!({
            "self": format!("{}/rest/api/3/statuscategory/2", api.base),
            "id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"
        })
    );
    assert_eq!(f["resolution"], Value::Null);
    assert_eq!(f["priority"]["id"], "2");
    assert_eq!(f["labels"], json!(["ns-finding-42", "managed-by-northstar"]));
    assert_eq!(f["description"], adf("The disk is full."));
    assert_eq!(f["customfield_10054"]["value"], "Critical");
    assert_eq!(f["customfield_10053"].as_array().map(Vec::len), Some(2));
    assert_eq!(f["customfield_10051"], 7.5);
    let created = f["created"].as_str().unwrap_or_default();
    assert!(jira_sim::time::parse_jira(created).is_some(), "{created}");
    assert!(created.ends_with("+0000"), "{created}");

    // By id too, and field selection.
    let by_id = api.get("/rest/api/3/issue/10000?fields=summary,status").await;
    assert_eq!(by_id.body["key"], "SIM-1");
    assert_eq!(by_id.body["fields"].as_object().map(|m| m.len()), Some(2));
    let missing = api.get("/rest/api/3/issue/SIM-999").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["errorMessages"][0], "Issue does not exist or you do not have permission to see it.");

    let view = sim.issue("SIM-1").unwrap_or_else(|| panic!("no issue"));
    assert_eq!(view.priority, "High");
    assert_eq!(view.components, ["Backend"]);
    assert_eq!(sim.issues_with_label("ns-finding-42").len(), 1);
}

#[tokio::test]
async fn create_validation_matches_jira() {
    let (_sim, api) = start().await;
    let base = json!({"project": {"key": "SIM"}, "issuetype": {"name": "Task"}, "summary": "ok"});
    let with = |k: &str, v: Value| {
        let mut f = base.clone();
        f[k] = v;
        json!({ "fields": f })
    };
    let cases = [
        (
            with("description", json!("plain text")),
            "description",
            "Operation value must be an Atlassian Document (see the Atlassian Document Format)",
        ),
        (
            with(
                "description",
                json!({"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":""}]}]}),
            ),
            "description",
            "Operation value must be an Atlassian Document (see the Atlassian Document Format)",
        ),
        (
            with("customfield_99999", json!("x")),
            "customfield_99999",
            "Field 'customfield_99999' cannot be set. It is not on the appropriate screen, or unknown.",
        ),
        (
            with("environment", adf("prod")),
            "environment",
            "Field 'environment' cannot be set. It is not on the appropriate screen, or unknown.",
        ),
        (
            with("labels", json!(["Severity: high"])),
            "labels",
            "The label 'Severity: high' contains spaces which is invalid.",
        ),
        (with("summary", json!("x".repeat(256))), "summary", "Summary must be less than 255 characters."),
        (with("summary", json!("")), "summary", "You must specify a summary of the issue."),
        (with("priority", json!({"name": "Major"})), "priority", "The priority selected is invalid."),
        (with("priority", json!({"id": "9"})), "priority", "The priority selected is invalid."),
        (with("parent", json!({"key": "SIM-77"})), "parent", "Could not find issue by id or key."),
        (
            with("customfield_10054", json!({"value": "Catastrophic"})),
            "customfield_10054",
            "Option value 'Catastrophic' is not valid",
        ),
        (
            json!({"fields": {"project": {"key": "NOPE"}, "issuetype": {"name": "Task"}, "summary": "x"}}),
            "project",
            "Specify a valid project ID or key",
        ),
        (
            json!({"fields": {"project": {"key": "SIM"}, "issuetype": {"name": "Saga"}, "summary": "x"}}),
            "issuetype",
            "The issue type selected is invalid.",
        ),
        (
            json!({"fields": {"project": {"key": "SIM"}, "issuetype": {"name": "Task"}}}),
            "summary",
            "You must specify a summary of the issue.",
        ),
    ];
    for (body, field, msg) in cases {
        let r = api.post("/rest/api/3/issue", body.clone()).await;
        assert_eq!(r.status, 400, "{body} -> {}", r.body);
        assert_eq!(r.body["errors"][field], msg, "{body} -> {}", r.body);
        assert_eq!(r.body["errorMessages"], json!([]));
    }
    let malformed = api
        .http
        .post(api.url("/rest/api/3/issue"))
        .basic_auth("sim@example.com", Some("sim-token"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(malformed.status(), 400);
}

#[tokio::test]
async fn epic_parent_and_hierarchy() {
    let (_sim, api) = start().await;
    let epic = api
        .post(
            "/rest/api/3/issue",
            json!({"fields": {"project": {"key": "SIM"}, "issuetype": {"name": "Epic"}, "summary": "Epic"}}),
        )
        .await;
    assert_eq!(epic.status, 201);
    let child = api
        .post("/rest/api/3/issue", json!({"fields": {"project": {"key": "SIM"}, "issuetype": {"name": "Task"}, "summary": "Child", "parent": {"key": "SIM-1"}}}))
        .await;
    assert_eq!(child.status, 201, "{}", child.body);
    let got = api.get("/rest/api/3/issue/SIM-2?fields=parent").await;
    assert_eq!(got.body["fields"]["parent"]["key"], "SIM-1");
    let wrong = api
        .post("/rest/api/3/issue", json!({"fields": {"project": {"key": "SIM"}, "issuetype": {"name": "Task"}, "summary": "x", "parent": {"key": "SIM-2"}}}))
        .await;
    assert_eq!(wrong.status, 400);
}

#[tokio::test]
async fn bulk_create_reports_failed_elements() {
    let (sim, api) = start().await;
    let good = json!({"fields": {"project": {"key": "SIM"}, "issuetype": {"name": "Task"}, "summary": "good"}});
    let bad = json!({"fields": {"project": {"key": "SIM"}, "issuetype": {"name": "Nope"}, "summary": "bad"}});
    let r = api.post("/rest/api/3/issue/bulk", json!({"issueUpdates": [good, bad, good]})).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["issues"].as_array().map(Vec::len), Some(2));
    assert_eq!(r.body["errors"][0]["failedElementNumber"], 1);
    assert_eq!(r.body["errors"][0]["status"], 400);
    assert_eq!(r.body["errors"][0]["elementErrors"]["errors"]["issuetype"], "The issue type selected is invalid.");
    let all_bad = api.post("/rest/api/3/issue/bulk", json!({"issueUpdates": [bad]})).await;
    assert_eq!(all_bad.status, 400);
    let too_many: Vec<Value> = (0..51).map(|_| good.clone()).collect();
    assert_eq!(api.post("/rest/api/3/issue/bulk", json!({"issueUpdates": too_many})).await.status, 400);
    assert_eq!(sim.issue_count(), 2);
}

#[tokio::test]
async fn transitions_follow_the_default_workflow() {
    let (sim, api) = start().await;
    let key = api.create("Workflow", &[]).await;
    let t = api.get(&format!("/rest/api/3/issue/{key}/transitions")).await;
    let ids: Vec<&str> =
        t.body["transitions"].as_array().into_iter().flatten().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(ids, ["21", "31"]);
    assert_eq!(t.body["transitions"][0]["to"]["statusCategory"]["key"], "indeterminate");

    let r = api.post(&format!("/rest/api/3/issue/{key}/transitions"), json!({"transition": {"id": "21"}})).await;
    assert_eq!(r.status, 204);
    let r = api
        .post(
            &format!("/rest/api/3/issue/{key}/transitions"),
            json!({"transition": {"id": "31"}, "fields": {"resolution": {"name": "Won't Fix"}}}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let got = api.get(&format!("/rest/api/3/issue/{key}")).await;
    assert_eq!(got.body["fields"]["status"]["statusCategory"]["key"], "done");
    assert_eq!(got.body["fields"]["resolution"]["name"], "Won't Fix");
    assert!(got.body["fields"]["resolutiondate"].is_string());

    // Done -> Done is not a transition; Reopen clears the resolution.
    let bad = api.post(&format!("/rest/api/3/issue/{key}/transitions"), json!({"transition": {"id": "31"}})).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body["errorMessages"][0], "Transition id '31' is not valid for this issue.");
    let not_int = api.post(&format!("/rest/api/3/issue/{key}/transitions"), json!({"transition": {"id": "abc"}})).await;
    assert_eq!(not_int.body["errorMessages"][0], "'transition' identifier must be an integer");
    let r = api.post(&format!("/rest/api/3/issue/{key}/transitions"), json!({"transition": {"id": "41"}})).await;
    assert_eq!(r.status, 204);
    let view = sim.issue(&key).unwrap_or_else(|| panic!("gone"));
    assert_eq!(view.status, "To Do");
    assert_eq!(view.resolution, None);

    // Done without a resolution gets "Done"; a resolution on a non-done target is rejected.
    let wrong = api
        .post(
            &format!("/rest/api/3/issue/{key}/transitions"),
            json!({"transition": {"id": "21"}, "fields": {"resolution": {"name": "Done"}}}),
        )
        .await;
    assert_eq!(wrong.status, 400);
    api.post(&format!("/rest/api/3/issue/{key}/transitions"), json!({"transition": {"id": "31"}})).await;
    assert_eq!(sim.issue(&key).and_then(|i| i.resolution).as_deref(), Some("Done"));
}

#[tokio::test]
async fn comments_crud() {
    let (sim, api) = start().await;
    let key = api.create("Comments", &[]).await;
    let path = format!("/rest/api/3/issue/{key}/comment");
    assert_eq!(api.post(&path, json!({"body": "plain"})).await.status, 400);
    let empty = api.post(&path, json!({})).await;
    assert_eq!(empty.body["errors"]["comment"], "Comment body can not be empty!");
    let c = api.post(&path, json!({"body": adf("first")})).await;
    assert_eq!(c.status, 201);
    let id = c.body["id"].as_str().unwrap_or_default().to_owned();
    assert_eq!(c.body["body"], adf("first"));
    assert_eq!(c.body["author"]["emailAddress"], "sim@example.com");
    api.post(&path, json!({"body": adf("second")})).await;

    let list = api.get(&path).await;
    assert_eq!(list.body["total"], 2);
    assert_eq!(list.body["maxResults"], 100);
    assert_eq!(list.body["comments"][0]["id"], id.as_str());
    let newest = api.get(&format!("{path}?orderBy=-created&maxResults=1")).await;
    assert_eq!(newest.body["comments"][0]["body"], adf("second"));
    assert_eq!(api.get(&format!("{path}?orderBy=author")).await.status, 400);

    let edited = api.put(&format!("{path}/{id}"), json!({"body": adf("edited")})).await;
    assert_eq!(edited.status, 200);
    assert_eq!(edited.body["body"], adf("edited"));
    assert_eq!(api.delete(&format!("{path}/{id}")).await.status, 204);
    assert_eq!(api.delete(&format!("{path}/{id}")).await.status, 404);
    assert_eq!(sim.comments(&key).len(), 1);
}

#[tokio::test]
async fn edit_and_delete_issue() {
    let (sim, api) = start().await;
    let key = api.create("Before", &["a"]).await;
    let r = api
        .put(
            &format!("/rest/api/3/issue/{key}"),
            json!({"fields": {"summary": "After", "priority": {"name": "Low"}}, "update": {"labels": [{"add": "b"}, {"remove": "a"}]}}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let v = sim.issue(&key).unwrap_or_else(|| panic!("gone"));
    assert_eq!((v.summary.as_str(), v.priority.as_str()), ("After", "Low"));
    assert_eq!(v.labels, ["b"]);
    let bad = api.put(&format!("/rest/api/3/issue/{key}"), json!({"fields": {"labels": ["has space"]}})).await;
    assert_eq!(bad.status, 400);
    assert_eq!(api.delete(&format!("/rest/api/3/issue/{key}")).await.status, 204);
    assert_eq!(api.get(&format!("/rest/api/3/issue/{key}")).await.status, 404);
}

#[tokio::test]
async fn search_jql_pages_with_tokens_and_defaults_to_ids() {
    let (sim, api) = start().await;
    for i in 0..5 {
        api.create(&format!("Issue {i}"), &["batch", &format!("ext-{i}")]).await;
    }
    api.create("Other", &["other"]).await;

    let r = api.get("/rest/api/3/search/jql?jql=labels%20%3D%20%22ext-3%22").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"issues": [{"id": "10003"}], "isLast": true}));

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"jql": "project = SIM AND labels in (batch, other) ORDER BY key ASC", "maxResults": 2, "fields": ["summary", "status"]});
        if let Some(t) = &token {
            body["nextPageToken"] = json!(t);
        }
        let page = api.post("/rest/api/3/search/jql", body).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.get("total").is_none());
        for issue in page.body["issues"].as_array().into_iter().flatten() {
            assert!(issue["fields"]["status"]["statusCategory"]["key"].is_string());
            seen.push(issue["key"].as_str().unwrap_or_default().to_owned());
        }
        if page.body["isLast"] == true {
            assert!(page.body.get("nextPageToken").is_none());
            break;
        }
        token = page.body["nextPageToken"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, ["SIM-1", "SIM-2", "SIM-3", "SIM-4", "SIM-5", "SIM-6"]);

    let keys = api.post("/rest/api/3/search/jql", json!({"jql": "key in (SIM-1, SIM-6)", "fields": ["key"]})).await;
    assert_eq!(keys.body["issues"].as_array().map(Vec::len), Some(2));
    let gone = api.post("/rest/api/3/search/jql", json!({"jql": "key in (SIM-1, SIM-99)"})).await;
    assert_eq!(gone.status, 400);
    assert_eq!(gone.body["errorMessages"][0], "An issue with key 'SIM-99' does not exist for field 'key'.");

    // updated >= "yyyy-MM-dd HH:mm"
    let since = (sim.now() - chrono::Duration::minutes(1)).format("%Y-%m-%d %H:%M").to_string();
    let recent =
        api.post("/rest/api/3/search/jql", json!({"jql": format!("project = SIM AND updated >= \"{since}\"")})).await;
    assert_eq!(recent.body["issues"].as_array().map(Vec::len), Some(6));
    sim.advance_clock(std::time::Duration::from_secs(3600));
    let later = (sim.now() - chrono::Duration::minutes(1)).format("%Y-%m-%d %H:%M").to_string();
    let none =
        api.post("/rest/api/3/search/jql", json!({"jql": format!("project = SIM AND updated >= \"{later}\"")})).await;
    assert_eq!(none.body["issues"], json!([]));

    for (jql, msg) in [
        ("", "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."),
        (
            "order by key desc",
            "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
        ),
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
        ("foo = bar", "Field 'foo' does not exist or you do not have permission to view it."),
    ] {
        let r = api.post("/rest/api/3/search/jql", json!({"jql": jql})).await;
        assert_eq!(r.status, 400, "{jql}");
        assert_eq!(r.body["errorMessages"][0], msg, "{jql}");
    }
}

#[tokio::test]
async fn old_search_is_gone() {
    let (_sim, api) = start().await;
    for path in ["/rest/api/3/search?jql=project%3DSIM", "/rest/api/2/search?jql=project%3DSIM"] {
        let r = api.get(path).await;
        assert_eq!(r.status, 410);
        assert!(r.body["errorMessages"][0].as_str().is_some_and(|m| m.contains("/rest/api/3/search/jql")));
    }
    assert_eq!(api.post("/rest/api/3/search", json!({"jql": "project = SIM"})).await.status, 410);
}

#[tokio::test]
async fn priorities_are_the_cloud_defaults() {
    let (_sim, api) = start().await;
    let r = api.get("/rest/api/3/priority").await;
    let names: Vec<(&str, &str)> = r
        .body
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    assert_eq!(names, [("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low"), ("5", "Lowest")]);
    let page = api.get("/rest/api/3/priority/search?maxResults=2").await;
    assert_eq!(page.body["total"], 5);
    assert_eq!(page.body["isLast"], false);
}

#[tokio::test]
async fn anonymous_project_search_when_the_site_allows_it() {
    let config = jira_sim::SimConfig { anonymous_project_search: true, ..jira_sim::SimConfig::default() };
    let (_sim, api) = common::start_with(config).await;
    let anon = api.http.get(api.url("/rest/api/3/project/search")).send().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(anon.status(), 200);
    let body: Value = anon.json().await.unwrap_or_default();
    assert_eq!(body["values"], json!([]));
    let bad = api
        .http
        .get(api.url("/rest/api/3/project/search"))
        .basic_auth("sim@example.com", Some("expired"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bad.status(), 200);
    assert_eq!(bad.headers().get("x-seraph-loginreason").and_then(|v| v.to_str().ok()), Some("AUTHENTICATED_FAILED"));
    // `myself` is never anonymous.
    assert_eq!(api.http.get(api.url("/rest/api/3/myself")).send().await.map(|r| r.status().as_u16()).ok(), Some(401));
    assert_eq!(api.get("/rest/api/3/project/search").await.body["total"], 1);
}

#[tokio::test]
async fn admin_http_surface_acts_as_a_person() {
    let (sim, api) = start().await;
    let key = api.create("Admin", &[]).await;
    let http = reqwest::Client::new();
    let post = |path: String, body: Value| {
        let http = http.clone();
        let url = api.url(&path);
        async move { http.post(url).json(&body).send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
    };
    assert_eq!(
        post(
            format!("/_sim/issues/{key}/transition"),
            json!({"as": "alice@example.com", "to": "Done", "resolution": "Duplicate"})
        )
        .await,
        204
    );
    assert_eq!(
        post(format!("/_sim/issues/{key}/comments"), json!({"as": "bob@example.com", "body": "from bob"})).await,
        201
    );
    assert_eq!(post(format!("/_sim/issues/{key}/transition"), json!({"to": "Done"})).await, 400);
    let v = sim.issue(&key).unwrap_or_else(|| panic!("gone"));
    assert_eq!(v.resolution.as_deref(), Some("Duplicate"));
    assert_eq!(v.comments[0].text, "from bob");
    let issues: Value = http
        .get(api.url("/_sim/issues?label=nope"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(issues, json!([]));
    let del = http
        .delete(api.url(&format!("/_sim/issues/{key}?as=alice@example.com")))
        .send()
        .await
        .map(|r| r.status().as_u16());
    assert_eq!(del.ok(), Some(204));
    assert_eq!(sim.issue_count(), 0);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let (sim, api) = start().await;
    assert_eq!(api.get("/rest/api/3/myself").await.status, 200);
    let url = api.url("/rest/api/3/myself");
    tokio::time::timeout(std::time::Duration::from_secs(5), sim.shutdown())
        .await
        .unwrap_or_else(|_| panic!("shutdown hung"));
    let after = reqwest::Client::new().get(url).send().await;
    assert!(after.is_err(), "still serving: {after:?}");
}

#[tokio::test]
async fn issue_link_types_are_the_cloud_defaults() {
    let (_sim, api) = start().await;
    let r = api.get("/rest/api/3/issueLinkType").await;
    assert_eq!(r.status, 200);
    let types = r.body["issueLinkTypes"].as_array().cloned().unwrap_or_default();
    let got: Vec<(&str, &str, &str, &str)> = types
        .iter()
        .filter_map(|t| Some((t["id"].as_str()?, t["name"].as_str()?, t["inward"].as_str()?, t["outward"].as_str()?)))
        .collect();
    assert_eq!(
        got,
        [
            ("10000", "Blocks", "is blocked by", "blocks"),
            ("10001", "Cloners", "is cloned by", "clones"),
            ("10002", "Duplicate", "is duplicated by", "duplicates"),
            ("10003", "Relates", "relates to", "relates to"),
        ]
    );
    assert_eq!(types[2]["self"], format!("{}/rest/api/3/issueLinkType/10002", api.base));
    assert_eq!(api.get("/rest/api/3/issueLinkType/10003").await.body["name"], "Relates");
    let missing = api.get("/rest/api/3/issueLinkType/99").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, json!({"errorMessages": ["No issue link type with id '99' found."], "errors": {}}));
}

#[tokio::test]
async fn issue_links_show_on_both_issues() {
    let (sim, api) = start().await;
    let original = api.create("Original finding", &[]).await;
    let dup = api.create("Same finding again", &[]).await;
    assert_eq!((original.as_str(), dup.as_str()), ("SIM-1", "SIM-2"));
    let body =
        json!({"type": {"name": "Duplicate"}, "inwardIssue": {"key": "SIM-2"}, "outwardIssue": {"key": "SIM-1"}});

    // 201 with an empty body.
    let resp = api
        .http
        .post(api.url("/rest/api/3/issueLink"))
        .basic_auth("sim@example.com", Some("sim-token"))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.text().await.unwrap_or_else(|e| panic!("{e}")), "");
    assert_eq!(sim.request_count("POST", "/rest/api/3/issueLink"), 1);

    // SIM-2 "duplicates" SIM-1: its entry names SIM-1 as outwardIssue.
    let two = api.get("/rest/api/3/issue/SIM-2?fields=issuelinks").await;
    let links = two.body["fields"]["issuelinks"].as_array().cloned().unwrap_or_default();
    assert_eq!(links.len(), 1, "{}", two.body);
    let link = &links[0];
    assert!(link["id"].as_str().is_some_and(|s| s.parse::<u64>().is_ok()), "{link}");
    assert_eq!(link["self"], format!("{}/rest/api/3/issueLink/{}", api.base, link["id"].as_str().unwrap_or("")));
    assert_eq!(
        link["type"],
        json!({"id": "10002", "name": "Duplicate", "inward": "is duplicated by", "outward": "duplicates",
               "self": format!("{}/rest/api/3/issueLinkType/10002", api.base)})
    );
    assert!(link.get("inwardIssue").is_none());
    let other = &link["outwardIssue"];
    assert_eq!((other["id"].as_str(), other["key"].as_str()), (Some("10000"), Some("SIM-1")));
    assert_eq!(other["self"], format!("{}/rest/api/3/issue/10000", api.base));
    assert_eq!(other["fields"]["summary"], "Original finding");
    assert_eq!(other["fields"]["status"]["name"], "To Do");
    assert_eq!(other["fields"]["status"]["statusCategory"]["key"], "new");
    assert_eq!(other["fields"]["priority"]["name"], "Medium");
    assert_eq!(other["fields"]["issuetype"]["name"], "Task");

    // SIM-1 "is duplicated by" SIM-2: the same link, seen from the other end.
    let one = api.get("/rest/api/3/issue/SIM-1").await;
    let back = &one.body["fields"]["issuelinks"][0];
    assert_eq!(back["id"], link["id"]);
    assert!(back.get("outwardIssue").is_none());
    assert_eq!(back["inwardIssue"]["key"], "SIM-2");
    assert_eq!(back["inwardIssue"]["fields"]["summary"], "Same finding again");

    let view = |direction: &str, relation: &str, other: &str| jira_sim::IssueLinkView {
        id: link["id"].as_str().unwrap_or_default().to_owned(),
        link_type: "Duplicate".into(),
        direction: direction.into(),
        relation: relation.into(),
        other_key: other.into(),
    };
    assert_eq!(sim.issue_links("SIM-2"), [view("outward", "duplicates", "SIM-1")]);
    assert_eq!(sim.issue_links("SIM-1"), [view("inward", "is duplicated by", "SIM-2")]);
    assert!(sim.issue_links("SIM-99").is_empty());

    // The same link again is accepted and changes nothing; type by id works.
    assert_eq!(api.post("/rest/api/3/issueLink", body).await.status, 201);
    assert_eq!(sim.issue_links("SIM-2").len(), 1);
    let blocks = api
        .post(
            "/rest/api/3/issueLink",
            json!({"type": {"id": "10000"}, "inwardIssue": {"id": "10000"}, "outwardIssue": {"key": "SIM-2"}}),
        )
        .await;
    assert_eq!(blocks.status, 201, "{}", blocks.body);
    let one_links: Vec<(String, String, String)> =
        sim.issue_links("SIM-1").into_iter().map(|l| (l.link_type, l.direction, l.other_key)).collect();
    assert_eq!(
        one_links,
        [
            ("Duplicate".to_owned(), "inward".to_owned(), "SIM-2".to_owned()),
            ("Blocks".to_owned(), "outward".to_owned(), "SIM-2".to_owned())
        ]
    );

    // An optional comment lands on the inward (source) issue.
    let with_comment = api
        .post(
            "/rest/api/3/issueLink",
            json!({"type": {"name": "Relates"}, "inwardIssue": {"key": "SIM-2"}, "outwardIssue": {"key": "SIM-1"},
                   "comment": {"body": adf("Linked as related.")}}),
        )
        .await;
    assert_eq!(with_comment.status, 201, "{}", with_comment.body);
    assert_eq!(sim.comments("SIM-2").iter().map(|c| c.text.as_str()).collect::<Vec<_>>(), ["Linked as related."]);
    assert!(sim.comments("SIM-1").is_empty());

    // Deleting an issue removes its links from the other issue.
    assert_eq!(api.delete("/rest/api/3/issue/SIM-1").await.status, 204);
    assert!(sim.issue_links("SIM-2").is_empty());
    assert_eq!(api.get("/rest/api/3/issue/SIM-2").await.body["fields"]["issuelinks"], json!([]));
}

#[tokio::test]
async fn issue_link_errors_match_jira() {
    let (sim, api) = start().await;
    api.create("One", &[]).await;
    api.create("Two", &[]).await;
    let not_found = |msg: &str| json!({"errorMessages": [msg], "errors": {}});
    let issue_msg = "Issue does not exist or you do not have permission to see it.";
    for (body, expect) in [
        (
            json!({"type": {"name": "Duplicate"}, "inwardIssue": {"key": "SIM-99"}, "outwardIssue": {"key": "SIM-1"}}),
            not_found(issue_msg),
        ),
        (
            json!({"type": {"name": "Duplicate"}, "inwardIssue": {"key": "SIM-2"}, "outwardIssue": {"key": "NOPE-1"}}),
            not_found(issue_msg),
        ),
        (
            json!({"type": {"name": "Dupe"}, "inwardIssue": {"key": "SIM-2"}, "outwardIssue": {"key": "SIM-1"}}),
            not_found("No issue link type with name 'Dupe' found."),
        ),
        (
            // Names are matched exactly.
            json!({"type": {"name": "duplicate"}, "inwardIssue": {"key": "SIM-2"}, "outwardIssue": {"key": "SIM-1"}}),
            not_found("No issue link type with name 'duplicate' found."),
        ),
        (
            json!({"type": {"id": "42"}, "inwardIssue": {"key": "SIM-2"}, "outwardIssue": {"key": "SIM-1"}}),
            not_found("No issue link type with id '42' found."),
        ),
    ] {
        let r = api.post("/rest/api/3/issueLink", body.clone()).await;
        assert_eq!(r.status, 404, "{body}");
        assert_eq!(r.body, expect, "{body}");
    }
    for body in [
        json!({"inwardIssue": {"key": "SIM-2"}, "outwardIssue": {"key": "SIM-1"}}),
        json!({"type": {}, "inwardIssue": {"key": "SIM-2"}, "outwardIssue": {"key": "SIM-1"}}),
        json!({"type": {"name": "Duplicate"}, "outwardIssue": {"key": "SIM-1"}}),
        json!({"type": {"name": "Duplicate"}, "inwardIssue": {"key": "SIM-2"}}),
        json!({"type": {"name": "Duplicate"}, "inwardIssue": "SIM-2", "outwardIssue": {"key": "SIM-1"}}),
        json!({}),
        json!([]),
    ] {
        let r = api.post("/rest/api/3/issueLink", body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        assert!(r.body["errorMessages"].as_array().is_some_and(|m| !m.is_empty()), "{body} -> {}", r.body);
        assert_eq!(r.body["errors"], json!({}), "{body}");
    }
    let bad_comment = api
        .post(
            "/rest/api/3/issueLink",
            json!({"type": {"name": "Relates"}, "inwardIssue": {"key": "SIM-2"}, "outwardIssue": {"key": "SIM-1"},
                   "comment": {"body": "not ADF"}}),
        )
        .await;
    assert_eq!(bad_comment.status, 400);
    assert!(sim.issue_links("SIM-1").is_empty(), "nothing was linked");
}

#[tokio::test]
async fn transition_sets_the_resolution_given_in_fields() {
    let (sim, api) = start().await;
    let key = api.create("Duplicate of another", &[]).await;
    let path = format!("/rest/api/3/issue/{key}/transitions");
    // Straight from To Do to Done (31 is global), with a resolution by name.
    let r = api.post(&path, json!({"transition": {"id": "31"}, "fields": {"resolution": {"name": "Duplicate"}}})).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let got = api.get(&format!("/rest/api/3/issue/{key}?fields=status,resolution,resolutiondate")).await;
    assert_eq!(got.body["fields"]["status"]["name"], "Done");
    assert_eq!(
        got.body["fields"]["resolution"],
        json!({"self": format!("{}/rest/api/3/resolution/10002", api.base), "id": "10002",
               "description": "The problem is a duplicate of an existing issue.", "name": "Duplicate"})
    );
    assert!(got.body["fields"]["resolutiondate"].is_string());
    assert_eq!(sim.issue(&key).and_then(|i| i.resolution).as_deref(), Some("Duplicate"));

    // By id too, after reopening; an unknown resolution is a field error and changes nothing.
    assert_eq!(api.post(&path, json!({"transition": {"id": "41"}})).await.status, 204);
    let unknown =
        api.post(&path, json!({"transition": {"id": "31"}, "fields": {"resolution": {"name": "Dupe"}}})).await;
    assert_eq!(unknown.status, 400);
    assert_eq!(
        unknown.body,
        json!({"errorMessages": [], "errors": {"resolution": "Could not find valid 'id' or 'name' in resolution object."}})
    );
    assert_eq!(sim.issue(&key).map(|i| i.status), Some("To Do".to_owned()));
    let by_id = api.post(&path, json!({"transition": {"id": 31}, "fields": {"resolution": {"id": "10004"}}})).await;
    assert_eq!(by_id.status, 204, "{}", by_id.body);
    assert_eq!(sim.issue(&key).and_then(|i| i.resolution).as_deref(), Some("Won't Fix"));

    // No resolution on a done transition: "Done", as before.
    assert_eq!(api.post(&path, json!({"transition": {"id": "41"}})).await.status, 204);
    assert_eq!(api.post(&path, json!({"transition": {"id": "31"}})).await.status, 204);
    assert_eq!(sim.issue(&key).and_then(|i| i.resolution).as_deref(), Some("Done"));
}

#[tokio::test]
async fn search_lag_hides_new_issues_from_search_only() {
    let config =
        jira_sim::SimConfig { search_lag: std::time::Duration::from_secs(3600), ..jira_sim::SimConfig::default() };
    let (sim, api) = common::start_with(config).await;
    let key = api.create("Fresh", &["x"]).await;
    let id = sim.issue(&key).map(|i| i.id).unwrap_or_default();
    let search = |jql: &str, reconcile: Option<&str>| {
        let mut body = json!({"jql": jql, "fields": ["key"]});
        if let Some(id) = reconcile {
            body["reconcileIssues"] = json!([id.parse::<u64>().unwrap_or_default()]);
        }
        let api = api.clone();
        async move {
            let r = api.post("/rest/api/3/search/jql", body).await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.body["issues"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["key"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        }
    };
    for jql in [r#"labels = "x""#, "labels = x", "project = SIM", r#"project = SIM AND labels = "x""#] {
        assert!(search(jql, None).await.is_empty(), "{jql} found a brand-new issue");
    }
    let get_jql = api.get("/rest/api/3/search/jql?jql=labels%20%3D%20%22x%22").await;
    assert_eq!(get_jql.body["issues"], json!([]));
    let count = api.post("/rest/api/3/search/approximate-count", json!({"jql": r#"labels = "x""#})).await;
    assert_eq!(count.body["count"], 0);
    // Reads by key and the handle are immediate; reconcileIssues asks for it explicitly.
    assert_eq!(api.get(&format!("/rest/api/3/issue/{key}")).await.status, 200);
    assert_eq!(sim.issues_with_label("x").len(), 1);
    assert_eq!(search(r#"labels = "x""#, Some(&id)).await, [key.as_str()]);

    // Once the lag has passed, it shows up; a newer one is still hidden.
    sim.advance_clock(std::time::Duration::from_secs(3601));
    let newer = api.create("Newer", &["x"]).await;
    assert_eq!(search(r#"labels = "x""#, None).await, [key.as_str()]);
    assert_eq!(search("project = SIM ORDER BY key ASC", None).await, [key.as_str()]);
    sim.advance_clock(std::time::Duration::from_secs(3600));
    assert_eq!(search(r#"labels = "x" ORDER BY key ASC"#, None).await, [key.as_str(), newer.as_str()]);
}

#[tokio::test]
async fn people_link_issues_through_the_handle_and_admin_api() {
    let (sim, api) = start().await;
    api.create("A", &[]).await;
    api.create("B", &[]).await;
    let id = sim.link_issues("alice@example.com", "Blocks", "SIM-1", "SIM-2").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(api.get("/rest/api/3/issue/SIM-2").await.body["fields"]["issuelinks"][0]["id"], id.as_str());
    assert!(sim.link_issues("alice@example.com", "Nope", "SIM-1", "SIM-2").is_err());

    let http = reqwest::Client::new();
    let created = http
        .post(api.url("/_sim/links"))
        .json(&json!({"as": "bob@example.com", "type": "Relates", "inwardIssue": "SIM-2", "outwardIssue": "SIM-1"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.status(), 201);
    let listed: Value = http
        .get(api.url("/_sim/issues/SIM-2/links"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(listed[0]["linkType"], "Blocks");
    assert_eq!(listed[0]["direction"], "inward");
    assert_eq!(listed[0]["relation"], "is blocked by");
    assert_eq!(listed[1]["otherKey"], "SIM-1");
    assert_eq!(listed[1]["direction"], "outward");
    let missing = http.get(api.url("/_sim/issues/SIM-9/links")).send().await.map(|r| r.status().as_u16());
    assert_eq!(missing.ok(), Some(404));
}
