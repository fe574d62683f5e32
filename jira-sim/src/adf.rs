//! Atlassian Document Format: validation with Jira's rules, conversion to
//! wiki markup (webhooks carry the v2 representation) and to plain text.

use serde_json::{Value, json};

/// Why a document is not valid ADF. Jira only ever answers its one generic
/// message; the reason is for the simulator's diagnostic header and logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct AdfError {
    /// JSON path of the offending node, e.g. `content[0].content[2]`.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// Jira's message for a rich-text value that is not an Atlassian Document.
pub const NOT_ADF_MESSAGE: &str = "Operation value must be an Atlassian Document (see the Atlassian Document Format)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Block,
    Inline,
    ListItem,
    TableRow,
    TableCell,
    Media,
}

fn kind_of(t: &str) -> Option<Kind> {
    Some(match t {
        "paragraph" | "heading" | "bulletList" | "orderedList" | "codeBlock" | "blockquote" | "rule" | "panel"
        | "table" | "expand" | "nestedExpand" | "mediaSingle" | "mediaGroup" | "blockCard" | "embedCard"
        | "taskList" | "decisionList" => Kind::Block,
        "text" | "hardBreak" | "mention" | "emoji" | "inlineCard" | "date" | "status" | "placeholder"
        | "mediaInline" => Kind::Inline,
        "listItem" | "taskItem" | "decisionItem" => Kind::ListItem,
        "tableRow" => Kind::TableRow,
        "tableCell" | "tableHeader" => Kind::TableCell,
        "media" => Kind::Media,
        _ => return None,
    })
}

const MARKS: [&str; 9] =
    ["strong", "em", "code", "strike", "underline", "link", "subsup", "textColor", "backgroundColor"];

/// Checks a value against the ADF rules Jira enforces: root
/// `{"version":1,"type":"doc","content":[…]}`, known node and mark types,
/// non-empty text, heading level 1–6, link `href`, non-empty lists, and no
/// marks inside code blocks.
pub fn validate(doc: &Value) -> Result<(), AdfError> {
    let err = |path: &str, reason: &str| AdfError { path: path.to_owned(), reason: reason.to_owned() };
    let obj = doc.as_object().ok_or_else(|| err("$", "not an object"))?;
    if obj.get("type").and_then(Value::as_str) != Some("doc") {
        return Err(err("$", "root type must be \"doc\""));
    }
    if obj.get("version").and_then(Value::as_u64) != Some(1) {
        return Err(err("$", "version must be 1"));
    }
    let content = obj.get("content").and_then(Value::as_array).ok_or_else(|| err("$", "content must be an array"))?;
    for (i, child) in content.iter().enumerate() {
        check_node(child, &format!("content[{i}]"), &[Kind::Block], false)?;
    }
    Ok(())
}

fn check_node(node: &Value, path: &str, allowed: &[Kind], in_code: bool) -> Result<(), AdfError> {
    let err = |reason: String| AdfError { path: path.to_owned(), reason };
    let obj = node.as_object().ok_or_else(|| err("node is not an object".into()))?;
    let t = obj.get("type").and_then(Value::as_str).ok_or_else(|| err("node has no type".into()))?;
    let kind = kind_of(t).ok_or_else(|| err(format!("unknown node type {t:?}")))?;
    if !allowed.contains(&kind) {
        return Err(err(format!("{t} is not allowed here")));
    }
    let content = match obj.get("content") {
        None => None,
        Some(Value::Array(a)) => Some(a.as_slice()),
        Some(_) => return Err(err("content must be an array".into())),
    };
    let children: &[Value] = content.unwrap_or(&[]);
    let attrs = obj.get("attrs");
    match t {
        "text" => {
            match obj.get("text").and_then(Value::as_str) {
                Some(s) if !s.is_empty() => {}
                _ => return Err(err("text must be a non-empty string".into())),
            }
            if let Some(marks) = obj.get("marks") {
                let marks = marks.as_array().ok_or_else(|| err("marks must be an array".into()))?;
                if in_code && !marks.is_empty() {
                    return Err(err("text in a codeBlock must not have marks".into()));
                }
                for m in marks {
                    check_mark(m).map_err(&err)?;
                }
            }
            return Ok(());
        }
        "heading" => {
            let level = attrs.and_then(|a| a.get("level")).and_then(Value::as_u64);
            if !matches!(level, Some(1..=6)) {
                return Err(err("heading attrs.level must be 1-6".into()));
            }
        }
        "mention" if attrs.and_then(|a| a.get("id")).and_then(Value::as_str).is_none() => {
            return Err(err("mention needs attrs.id".into()));
        }
        "bulletList" | "orderedList" | "blockquote" | "listItem" | "panel" | "table" | "tableRow" | "taskList"
        | "decisionList"
            if children.is_empty() =>
        {
            return Err(err(format!("{t} must have content")));
        }
        _ => {}
    }
    let child_kinds: &[Kind] = match t {
        "paragraph" | "heading" | "taskItem" | "decisionItem" => &[Kind::Inline],
        "codeBlock" => &[Kind::Inline],
        "bulletList" | "orderedList" | "taskList" | "decisionList" => &[Kind::ListItem],
        "table" => &[Kind::TableRow],
        "tableRow" => &[Kind::TableCell],
        "mediaSingle" | "mediaGroup" => &[Kind::Media],
        "listItem" | "blockquote" | "panel" | "tableCell" | "tableHeader" | "expand" | "nestedExpand" => &[Kind::Block],
        _ => {
            if !children.is_empty() {
                return Err(err(format!("{t} cannot have content")));
            }
            &[]
        }
    };
    for (i, child) in children.iter().enumerate() {
        if t == "codeBlock" && child.get("type").and_then(Value::as_str) != Some("text") {
            return Err(err("a codeBlock may only contain text".into()));
        }
        check_node(child, &format!("{path}.content[{i}]"), child_kinds, t == "codeBlock")?;
    }
    Ok(())
}

fn check_mark(m: &Value) -> Result<(), String> {
    let t = m.get("type").and_then(Value::as_str).ok_or_else(|| "mark has no type".to_owned())?;
    if !MARKS.contains(&t) {
        return Err(format!("unknown mark {t:?}"));
    }
    if t == "link" && m.pointer("/attrs/href").and_then(Value::as_str).is_none() {
        return Err("link mark needs attrs.href".into());
    }
    Ok(())
}

/// A document with one paragraph per non-empty line of `text`.
pub fn from_text(text: &str) -> Value {
    let content: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| json!({"type": "paragraph", "content": [{"type": "text", "text": l}]}))
        .collect();
    json!({"type": "doc", "version": 1, "content": content})
}

/// The text of a document, blocks separated by newlines.
pub fn plain_text(doc: &Value) -> String {
    let mut out = String::new();
    collect_text(doc, &mut out);
    out.trim().to_owned()
}

fn collect_text(node: &Value, out: &mut String) {
    match node.get("type").and_then(Value::as_str) {
        Some("text") => out.push_str(node.get("text").and_then(Value::as_str).unwrap_or("")),
        Some("hardBreak") => out.push('\n'),
        Some("mention") => {
            out.push_str(node.pointer("/attrs/text").and_then(Value::as_str).unwrap_or(""));
        }
        _ => {
            if let Some(children) = node.get("content").and_then(Value::as_array) {
                for c in children {
                    collect_text(c, out);
                }
                if matches!(node.get("type").and_then(Value::as_str), Some("paragraph" | "heading" | "codeBlock")) {
                    out.push('\n');
                }
            }
        }
    }
}

/// Converts a document to Jira wiki markup, the representation webhooks
/// (REST v2) carry for descriptions and comment bodies.
pub fn to_wiki(doc: &Value) -> String {
    let blocks = children(doc);
    blocks.iter().map(|b| block_wiki(b, 0)).filter(|s| !s.is_empty()).collect::<Vec<_>>().join("\n\n")
}

fn children(node: &Value) -> &[Value] {
    node.get("content").and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn node_type(node: &Value) -> &str {
    node.get("type").and_then(Value::as_str).unwrap_or("")
}

fn block_wiki(node: &Value, depth: usize) -> String {
    match node_type(node) {
        "paragraph" => inline_wiki(children(node)),
        "heading" => {
            let level = node.pointer("/attrs/level").and_then(Value::as_u64).unwrap_or(1);
            format!("h{level}. {}", inline_wiki(children(node)))
        }
        "bulletList" | "orderedList" => list_wiki(node, depth, ""),
        "codeBlock" => {
            let text: String = children(node).iter().filter_map(|c| c.get("text").and_then(Value::as_str)).collect();
            match node.pointer("/attrs/language").and_then(Value::as_str) {
                Some(lang) if !lang.is_empty() => format!("{{code:{lang}}}\n{text}\n{{code}}"),
                _ => format!("{{code}}\n{text}\n{{code}}"),
            }
        }
        "blockquote" => format!("{{quote}}\n{}\n{{quote}}", blocks_wiki(children(node))),
        "panel" => format!("{{panel}}\n{}\n{{panel}}", blocks_wiki(children(node))),
        "rule" => "----".to_owned(),
        "table" => children(node)
            .iter()
            .map(|row| {
                let cells = children(row);
                let header = cells.iter().any(|c| node_type(c) == "tableHeader");
                let sep = if header { "||" } else { "|" };
                let inner: Vec<String> = cells.iter().map(|c| blocks_wiki(children(c)).replace('\n', " ")).collect();
                format!("{sep}{}{sep}", inner.join(sep))
            })
            .collect::<Vec<_>>()
            .join("\n"),
        _ => blocks_wiki(children(node)),
    }
}

fn blocks_wiki(nodes: &[Value]) -> String {
    nodes.iter().map(|b| block_wiki(b, 0)).collect::<Vec<_>>().join("\n")
}

fn list_wiki(list: &Value, _depth: usize, prefix: &str) -> String {
    let marker = if node_type(list) == "orderedList" { "#" } else { "*" };
    let prefix = format!("{prefix}{marker}");
    let mut lines = Vec::new();
    for item in children(list) {
        let mut first = true;
        for child in children(item) {
            match node_type(child) {
                "bulletList" | "orderedList" => lines.push(list_wiki(child, 0, &prefix)),
                _ if first => {
                    lines.push(format!("{prefix} {}", block_wiki(child, 0)));
                    first = false;
                }
                _ => lines.push(block_wiki(child, 0)),
            }
        }
    }
    lines.join("\n")
}

fn inline_wiki(nodes: &[Value]) -> String {
    let mut out = String::new();
    for n in nodes {
        match node_type(n) {
            "text" => {
                let mut s = n.get("text").and_then(Value::as_str).unwrap_or("").to_owned();
                let marks = n.get("marks").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
                for m in marks {
                    s = match m.get("type").and_then(Value::as_str).unwrap_or("") {
                        "strong" => format!("*{s}*"),
                        "em" => format!("_{s}_"),
                        "strike" => format!("-{s}-"),
                        "underline" => format!("+{s}+"),
                        "code" => format!("{{{{{s}}}}}"),
                        "link" => {
                            let href = m.pointer("/attrs/href").and_then(Value::as_str).unwrap_or("");
                            format!("[{s}|{href}]")
                        }
                        "subsup" => match m.pointer("/attrs/type").and_then(Value::as_str) {
                            Some("sub") => format!("~{s}~"),
                            _ => format!("^{s}^"),
                        },
                        "textColor" => {
                            let c = m.pointer("/attrs/color").and_then(Value::as_str).unwrap_or("");
                            format!("{{color:{c}}}{s}{{color}}")
                        }
                        _ => s,
                    };
                }
                out.push_str(&s);
            }
            "hardBreak" => out.push('\n'),
            "mention" => {
                let id = n.pointer("/attrs/id").and_then(Value::as_str).unwrap_or("");
                out.push_str(&format!("[~accountid:{id}]"));
            }
            "emoji" => out.push_str(n.pointer("/attrs/shortName").and_then(Value::as_str).unwrap_or("")),
            "inlineCard" => out.push_str(n.pointer("/attrs/url").and_then(Value::as_str).unwrap_or("")),
            "status" => out.push_str(n.pointer("/attrs/text").and_then(Value::as_str).unwrap_or("")),
            "date" => out.push_str(n.pointer("/attrs/timestamp").and_then(Value::as_str).unwrap_or("")),
            _ => out.push_str(&inline_wiki(children(n))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        json!({"version":1,"type":"doc","content":[
            {"type":"heading","attrs":{"level":2},"content":[{"type":"text","text":"Alert: disk full"}]},
            {"type":"paragraph","content":[
                {"type":"text","text":"See "},
                {"type":"text","text":"the runbook","marks":[{"type":"link","attrs":{"href":"https://example.com/runbook"}}]},
                {"type":"text","text":" now. "},
                {"type":"text","text":"Severity: high","marks":[{"type":"strong"}]}]},
            {"type":"bulletList","content":[
                {"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"host: web-1"}]}]},
                {"type":"listItem","content":[{"type":"paragraph","content":[{"type":"text","text":"mount: /var"}]}]}]},
            {"type":"codeBlock","attrs":{"language":"bash"},"content":[{"type":"text","text":"df -h /var"}]}
        ]})
    }

    #[test]
    fn accepts_the_reference_document() {
        assert_eq!(validate(&sample()), Ok(()));
        assert_eq!(validate(&from_text("one\n\ntwo")), Ok(()));
    }

    #[test]
    fn rejects_what_jira_rejects() {
        let bad = [
            json!("plain string"),
            json!({"type":"doc","content":[]}),
            json!({"type":"doc","version":2,"content":[]}),
            json!({"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":""}]}]}),
            json!({"type":"doc","version":1,"content":[{"type":"heading","attrs":{"level":7},"content":[]}]}),
            json!({"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"x","marks":[{"type":"link"}]}]}]}),
            json!({"type":"doc","version":1,"content":[{"type":"codeBlock","content":[{"type":"text","text":"x","marks":[{"type":"strong"}]}]}]}),
            json!({"type":"doc","version":1,"content":[{"type":"bulletList","content":[]}]}),
            json!({"type":"doc","version":1,"content":[{"type":"text","text":"inline at root"}]}),
            json!({"type":"doc","version":1,"content":[{"type":"blink"}]}),
        ];
        for doc in bad {
            assert!(validate(&doc).is_err(), "accepted {doc}");
        }
    }

    #[test]
    fn converts_to_wiki_markup() {
        assert_eq!(
            to_wiki(&sample()),
            "h2. Alert: disk full\n\nSee [the runbook|https://example.com/runbook] now. *Severity: high*\n\n* host: web-1\n* mount: /var\n\n{code:bash}\ndf -h /var\n{code}"
        );
        assert_eq!(plain_text(&from_text("a\nb")), "a\nb");
    }
}
