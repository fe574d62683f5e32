//! Atlassian Document Format: the rich text Jira v3 requires for descriptions and comments.
//! The builder never emits an empty text node (Jira rejects `"text": ""`) and keeps code blocks
//! free of marks, as the ADF schema requires.
use serde_json::{Value, json};

/// An ADF document under construction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Doc {
    blocks: Vec<Value>,
}

/// A run of inline content: text, links, code and line breaks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inline {
    nodes: Vec<Value>,
}

impl Inline {
    /// An empty run.
    pub fn new() -> Self {
        Self::default()
    }

    /// Plain text; line breaks become `hardBreak`s.
    pub fn text(mut self, text: &str) -> Self {
        self.push_text(text, None);
        self
    }

    /// Bold text.
    pub fn strong(mut self, text: &str) -> Self {
        self.push_text(text, Some(json!([{ "type": "strong" }])));
        self
    }

    /// Inline code.
    pub fn code(mut self, text: &str) -> Self {
        self.push_text(text, Some(json!([{ "type": "code" }])));
        self
    }

    /// A link; an empty label shows the address.
    pub fn link(mut self, label: &str, href: &str) -> Self {
        let label = if label.is_empty() { href } else { label };
        self.push_text(label, Some(json!([{ "type": "link", "attrs": { "href": href } }])));
        self
    }

    fn push_text(&mut self, text: &str, marks: Option<Value>) {
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                self.nodes.push(json!({ "type": "hardBreak" }));
            }
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let mut node = json!({ "type": "text", "text": line });
            if let Some(marks) = &marks {
                node["marks"] = marks.clone();
            }
            self.nodes.push(node);
        }
    }

    fn into_content(self) -> Vec<Value> {
        self.nodes
    }
}

impl Doc {
    /// An empty document.
    pub fn new() -> Self {
        Self::default()
    }

    /// A heading of `level` (clamped to 1..=6); skipped when `text` is blank.
    pub fn heading(mut self, level: u8, text: &str) -> Self {
        let content = Inline::new().text(text).into_content();
        // Not `content.is_empty()`: blank text still gives a text node of spaces, or a lone `hardBreak` for "\n".
        if !text.trim().is_empty() {
            self.blocks.push(json!({
                "type": "heading", "attrs": { "level": level.clamp(1, 6) }, "content": content
            }));
        }
        self
    }

    /// A paragraph; an empty run gives no block.
    pub fn paragraph(mut self, inline: Inline) -> Self {
        let content = inline.into_content();
        if content.iter().any(|n| n["type"] == "text") {
            self.blocks.push(json!({ "type": "paragraph", "content": content }));
        }
        self
    }

    /// A bullet list, one item per run; empty runs are dropped, and an empty list gives no block.
    pub fn bullets(mut self, items: impl IntoIterator<Item = Inline>) -> Self {
        let items: Vec<Value> = items
            .into_iter()
            .map(Inline::into_content)
            .filter(|c| c.iter().any(|n| n["type"] == "text"))
            .map(|content| json!({ "type": "listItem", "content": [{ "type": "paragraph", "content": content }] }))
            .collect();
        if !items.is_empty() {
            self.blocks.push(json!({ "type": "bulletList", "content": items }));
        }
        self
    }

    /// A code block (no marks inside, as ADF requires); skipped when `code` is empty.
    pub fn code_block(mut self, language: Option<&str>, code: &str) -> Self {
        if !code.is_empty() {
            let mut block = json!({ "type": "codeBlock", "content": [{ "type": "text", "text": code }] });
            if let Some(language) = language {
                block["attrs"] = json!({ "language": language });
            }
            self.blocks.push(block);
        }
        self
    }

    /// Plain text as paragraphs: blank lines separate paragraphs, single newlines break lines.
    pub fn plain_text(text: &str) -> Self {
        let normalized = text.replace("\r\n", "\n");
        normalized
            .split("\n\n")
            .filter(|para| !para.trim().is_empty())
            .fold(Self::new(), |doc, para| doc.paragraph(Inline::new().text(para.trim_matches('\n'))))
    }

    /// Puts a paragraph before everything else.
    pub fn prepend(mut self, inline: Inline) -> Self {
        let first = Self::new().paragraph(inline);
        self.blocks.splice(0..0, first.blocks);
        self
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The document as Jira's JSON (`{"version": 1, "type": "doc", "content": [...]}`).
    pub fn to_json(&self) -> Value {
        json!({ "version": 1, "type": "doc", "content": self.blocks })
    }
}

/// The text of an ADF document or a v2 wiki-markup string, for the activity feed. Unknown
/// nodes contribute their text children, so nothing a person wrote is lost.
pub fn to_plain_text(value: &Value) -> String {
    fn walk(node: &Value, out: &mut String) {
        match node["type"].as_str() {
            Some("text") => out.push_str(node["text"].as_str().unwrap_or_default()),
            Some("hardBreak") => out.push('\n'),
            Some("mention") => out.push_str(node["attrs"]["text"].as_str().unwrap_or_default()),
            _ => {}
        }
        if let Some(children) = node["content"].as_array() {
            for child in children {
                walk(child, out);
            }
            if matches!(node["type"].as_str(), Some("paragraph" | "heading" | "codeBlock" | "listItem")) {
                out.push('\n');
            }
        }
    }
    match value {
        Value::String(s) => s.clone(),
        Value::Object(_) => {
            let mut out = String::new();
            walk(value, &mut out);
            out.trim_end().to_owned()
        }
        _ => String::new(),
    }
}

/// The properties the `adf_render` fuzz target (`fuzz/`) checks, here so that the unit tests run them over the
/// committed seeds without cargo fuzz. Each function panics when a property fails.
#[doc(hidden)]
pub mod fuzz {
    use super::*;
    use crate::domain::webhook::{self, fuzz::assert_tidy};

    /// The input as text goes through the builders; as JSON, every node of it is read back as text, which
    /// reaches the comment bodies inside webhook captures and any ADF document.
    pub fn check_render(data: &[u8]) {
        // Beyond a few KB the builders only repeat themselves, and a 50 KB capture through all of them takes
        // seconds under the sanitizer, which would starve the fuzzer.
        const MAX_TEXT: usize = 1024;
        let text = String::from_utf8_lossy(&data[..data.len().min(MAX_TEXT)]);
        check_plain_text(&text);
        check_builders(&text);
        if let Ok(value) = serde_json::from_slice::<Value>(data) {
            check_tree(&value);
        }
    }

    fn non_space(text: &str) -> String {
        text.chars().filter(|c| !c.is_whitespace()).collect()
    }

    /// Text to ADF and back: a well-formed document, and nothing written lost or added on the way, through
    /// either reader.
    fn check_plain_text(text: &str) {
        let doc = Doc::plain_text(text);
        let json = check_document(&doc);
        assert_eq!(doc.is_empty(), text.trim().is_empty(), "{text:?}");
        for block in json["content"].as_array().into_iter().flatten() {
            assert_eq!(block["type"], "paragraph");
            for node in block["content"].as_array().expect("paragraph content") {
                match node["type"].as_str() {
                    Some("text") => assert!(!node["text"].as_str().expect("text").contains('\n'), "{node}"),
                    Some("hardBreak") => {}
                    _ => panic!("unexpected inline node {node}"),
                }
            }
        }
        assert_eq!(non_space(&to_plain_text(&json)), non_space(text));
        let read = webhook::plain_text(&json);
        assert_tidy(&read);
        assert_eq!(non_space(&read), non_space(text));
    }

    /// The builders keep the promises in their doc comments whatever text they get.
    fn check_builders(text: &str) {
        let (a, b) = text.split_once('|').unwrap_or((text, ""));
        let doc = Doc::new()
            .heading(text.len() as u8, a)
            .paragraph(Inline::new().text(a).strong(b).code(a).link(a, b))
            .bullets([Inline::new().text(a), Inline::new().link("", b), Inline::new()])
            .code_block(Some(b), a)
            .prepend(Inline::new().strong(b));
        let json = check_document(&doc);
        for block in json["content"].as_array().into_iter().flatten() {
            let content = block["content"].as_array().expect("block content");
            let has_text = |nodes: &[Value]| nodes.iter().any(|n| n["type"] == "text");
            match block["type"].as_str() {
                Some("heading") => {
                    assert!((1..=6).contains(&block["attrs"]["level"].as_u64().expect("level")), "{block}");
                    // "skipped when `text` is blank"
                    assert!(!a.trim().is_empty(), "heading from blank text {a:?}: {block}");
                }
                Some("paragraph") => assert!(has_text(content), "paragraph without text: {block}"),
                Some("bulletList") => {
                    assert!(!content.is_empty(), "empty list");
                    for item in content {
                        let paragraph = &item["content"][0];
                        let inline = paragraph["content"].as_array().expect("list item paragraph");
                        assert!(has_text(inline), "list item without text: {item}");
                    }
                }
                Some("codeBlock") => {
                    assert!(content.iter().all(|n| n.get("marks").is_none()), "marks in a code block: {block}");
                    assert_eq!(block["attrs"]["language"], b);
                }
                _ => panic!("unexpected block {block}"),
            }
        }
    }

    /// `to_json`'s shape, valid JSON on the wire, and no empty text node anywhere (Jira rejects those).
    fn check_document(doc: &Doc) -> Value {
        let json = doc.to_json();
        assert_eq!(json["type"], "doc");
        assert_eq!(json["version"], 1);
        assert!(json["content"].is_array());
        let wire = serde_json::to_string(&json).expect("a Value always serializes");
        assert_eq!(serde_json::from_str::<Value>(&wire).expect("valid JSON"), json);
        fn no_empty_text(node: &Value) {
            if node["type"] == "text" {
                assert!(!node["text"].as_str().unwrap_or_default().is_empty(), "empty text node");
            }
            node["content"].as_array().into_iter().flatten().for_each(no_empty_text);
        }
        no_empty_text(&json);
        json
    }

    /// Every object and string in the tree, read as a comment body by both readers.
    fn check_tree(value: &Value) {
        match value {
            Value::String(s) => {
                assert_eq!(&to_plain_text(value), s, "a string is returned as it is");
                check_plain_text(s);
            }
            Value::Object(_) => {
                let text = to_plain_text(value);
                assert_eq!(text, text.trim_end());
                // "Unknown nodes contribute their text children, so nothing a person wrote is lost."
                let mut written = String::new();
                collect_written(value, &mut written);
                assert_eq!(non_space(&text), non_space(&written));
            }
            _ => {}
        }
        if matches!(value, Value::String(_) | Value::Object(_) | Value::Array(_)) {
            assert_tidy(&webhook::plain_text(value));
            let names = |id: &str| (!id.is_empty()).then(|| format!(" Name of {id} "));
            assert_tidy(&webhook::plain_text_with(value, &names));
        }
        match value {
            Value::Array(items) => items.iter().for_each(check_tree),
            Value::Object(map) => map.values().for_each(check_tree),
            _ => {}
        }
    }

    /// The texts and mention labels of a document, in order, whatever nodes hold them.
    fn collect_written(node: &Value, out: &mut String) {
        match node["type"].as_str() {
            Some("text") => out.push_str(node["text"].as_str().unwrap_or_default()),
            Some("mention") => out.push_str(node["attrs"]["text"].as_str().unwrap_or_default()),
            _ => {}
        }
        node["content"].as_array().into_iter().flatten().for_each(|child| collect_written(child, out));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(value: &Value, out: &mut Vec<String>) {
        if value["type"] == "text" {
            out.push(value["text"].as_str().unwrap().to_owned());
        }
        if let Some(children) = value["content"].as_array() {
            children.iter().for_each(|c| texts(c, out));
        }
    }

    #[test]
    fn never_emits_empty_text_nodes() {
        let doc = Doc::new()
            .heading(2, "")
            .paragraph(Inline::new().text("").strong(""))
            .paragraph(Inline::new().text("a\n\nb"))
            .bullets([Inline::new().text(""), Inline::new().code("10.0.0.1")])
            .code_block(None, "");
        let json = doc.to_json();
        let mut all = Vec::new();
        texts(&json, &mut all);
        assert_eq!(all, ["a", "b", "10.0.0.1"]);
        assert_eq!(json["content"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn builds_the_documented_shapes() {
        let doc = Doc::new()
            .heading(9, "Alert")
            .paragraph(Inline::new().text("See ").link("the runbook", "https://example.com/r"))
            .code_block(Some("bash"), "df -h");
        let json = doc.to_json();
        assert_eq!(json["version"], 1);
        assert_eq!(json["content"][0]["attrs"]["level"], 6);
        assert_eq!(json["content"][1]["content"][1]["marks"][0]["attrs"]["href"], "https://example.com/r");
        assert_eq!(json["content"][2]["attrs"]["language"], "bash");
        assert!(json["content"][2]["content"][0].get("marks").is_none());
    }

    #[test]
    fn blank_heading_is_skipped() {
        // Found by the adf_render fuzz target: "\n" gave a heading holding nothing but a `hardBreak`.
        for blank in ["\n", "  ", "\r\n", " \n\t"] {
            assert!(Doc::new().heading(2, blank).is_empty(), "{blank:?}");
        }
        fuzz::check_render(b"\n");
    }

    #[test]
    fn fuzz_seeds_hold_the_render_properties() {
        for (name, seed) in crate::domain::webhook::fuzz::seeds("adf_render") {
            println!("{name}");
            fuzz::check_render(&seed);
        }
    }

    #[test]
    fn plain_text_round_trips() {
        let doc = Doc::plain_text("first line\nsecond\n\nnext paragraph");
        assert_eq!(to_plain_text(&doc.to_json()), "first line\nsecond\nnext paragraph");
        assert_eq!(to_plain_text(&Value::String("*wiki* text".into())), "*wiki* text");
        assert!(Doc::plain_text("  \n\n ").is_empty());
    }
}
