//! Reading training and test files: one JSON object per line, `{"text", "intent"}` (plus an
//! optional `"lang"`), or `{"text", "lang"}` for language-only files. Every problem is
//! reported with the file and line.

use anyhow::{Context, Result, bail};
use nlu::Language;
use std::path::Path;

/// One labelled example.
#[derive(Debug, Clone)]
pub struct Example {
    pub text: String,
    pub intent: Option<String>,
    pub lang: Option<Language>,
}

/// Reads `path`; `need_intent` makes `intent` mandatory.
pub fn read(path: &Path, need_intent: bool) -> Result<Vec<Example>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&text, &path.display().to_string(), need_intent)
}

/// Parses JSONL text; `name` is used in error messages.
pub fn parse(text: &str, name: &str, need_intent: bool) -> Result<Vec<Example>> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let at = || format!("{name}:{}", index + 1);
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}: not JSON", at()))?;
        let Some(object) = value.as_object() else {
            bail!("{}: expected a JSON object", at());
        };
        let text = match object.get("text") {
            Some(serde_json::Value::String(t)) if !t.trim().is_empty() => t.clone(),
            Some(serde_json::Value::String(_)) => bail!("{}: `text` is empty", at()),
            Some(_) => bail!("{}: `text` must be a string", at()),
            None => bail!("{}: missing field `text`", at()),
        };
        let intent = match object.get("intent") {
            Some(serde_json::Value::String(i)) if !i.trim().is_empty() => {
                Some(i.trim().to_string())
            }
            Some(_) => bail!("{}: `intent` must be a non-empty string", at()),
            None if need_intent => bail!("{}: missing field `intent`", at()),
            None => None,
        };
        let lang = match object.get("lang") {
            Some(serde_json::Value::String(code)) => {
                Some(Language::from_code(code).with_context(|| {
                    format!("{}: unknown `lang` {code:?} (en, hu, pl, other)", at())
                })?)
            }
            Some(_) => bail!("{}: `lang` must be a string", at()),
            None => None,
        };
        out.push(Example { text, intent, lang });
    }
    if out.is_empty() {
        bail!("{name}: no examples");
    }
    Ok(out)
}
