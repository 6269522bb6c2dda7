//! Public comments: a Facebook Page's `feed` webhook (`object: "page"`, `changes` with
//! `field: "feed"`, `item: "comment"`) and an Instagram account's `comments` webhook
//! (`object: "instagram"`, `field: "comments"`), parsed into [`CommentEvent`]s.
//!
//! Only new comments by someone other than the business are kept: edits, deletions, hidden
//! comments, reactions, posts and the page's own comments carry nothing to answer.

use crate::inbound::{Channel, ParseError};
use serde::Deserialize;

/// A new public comment under a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentEvent {
    /// Where: a Facebook Page ([`Channel::Messenger`]'s page) or an Instagram account.
    pub channel: Channel,
    /// The comment's id: the dedupe key and the target of a private or public reply.
    pub comment_id: String,
    /// The post (Facebook) or media (Instagram) it is under.
    pub post_id: String,
    /// The comment it answers, when it is a reply in a thread (not the post itself).
    pub parent_id: Option<String>,
    /// Who wrote it: the commenter's page- or Instagram-scoped id.
    pub from_id: String,
    /// Their name (Facebook) or username (Instagram), when sent.
    pub from_name: Option<String>,
    /// The page or Instagram account it was written to.
    pub business_id: String,
    /// What they wrote.
    pub text: String,
    /// A link to the post, when the platform sends one.
    pub permalink: Option<String>,
    /// When, in milliseconds since the epoch.
    pub timestamp_ms: i64,
}

#[derive(Deserialize)]
pub(crate) struct Change {
    #[serde(default)]
    field: String,
    value: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct From {
    #[serde(default)]
    id: String,
    name: Option<String>,
    username: Option<String>,
}

#[derive(Deserialize)]
struct Post {
    permalink_url: Option<String>,
}

#[derive(Deserialize)]
struct FeedValue {
    from: Option<From>,
    #[serde(default)]
    comment_id: String,
    #[serde(default)]
    post_id: String,
    parent_id: Option<String>,
    message: Option<String>,
    created_time: Option<i64>,
    post: Option<Post>,
}

#[derive(Deserialize)]
struct Media {
    #[serde(default)]
    id: String,
}

#[derive(Deserialize)]
struct InstagramValue {
    from: Option<From>,
    #[serde(default)]
    id: String,
    parent_id: Option<String>,
    text: Option<String>,
    media: Option<Media>,
}

/// The comments of one entry's `changes`; `entry_time` (ms) dates those without a time.
pub(crate) fn comments_of(
    channel: Channel,
    business_id: &str,
    entry_time: i64,
    changes: Vec<Change>,
) -> Result<Vec<CommentEvent>, ParseError> {
    // Instagram dates entries in seconds, the Page webhook in milliseconds.
    let entry_time = if (0..100_000_000_000).contains(&entry_time) {
        entry_time.saturating_mul(1000)
    } else {
        entry_time
    };
    let mut out = Vec::new();
    for change in changes {
        let Some(value) = change.value else { continue };
        let comment = match (channel, change.field.as_str()) {
            (Channel::Instagram, "comments") => {
                let v: InstagramValue = serde_json::from_value(value)
                    .map_err(|e| ParseError::new(format!("malformed Instagram comment: {e}")))?;
                let from = v.from.unwrap_or(From {
                    id: String::new(),
                    name: None,
                    username: None,
                });
                CommentEvent {
                    channel,
                    comment_id: v.id,
                    post_id: v.media.map(|m| m.id).unwrap_or_default(),
                    parent_id: v.parent_id.filter(|p| !p.is_empty()),
                    from_id: from.id,
                    from_name: from.username.or(from.name),
                    business_id: business_id.to_string(),
                    text: v.text.unwrap_or_default(),
                    permalink: None,
                    timestamp_ms: entry_time,
                }
            }
            (Channel::Messenger, "feed") => {
                // Posts, reactions, shares, edits, deletions, hidden comments: nothing to
                // answer, whatever else they hold.
                let is =
                    |key: &str, want: &str| value.get(key).and_then(|v| v.as_str()) == Some(want);
                if !is("item", "comment") || !is("verb", "add") {
                    continue;
                }
                let v: FeedValue = serde_json::from_value(value)
                    .map_err(|e| ParseError::new(format!("malformed feed comment: {e}")))?;
                let from = v.from.unwrap_or(From {
                    id: String::new(),
                    name: None,
                    username: None,
                });
                // A top-level comment names the post as its parent.
                let parent_id = v.parent_id.filter(|p| !p.is_empty() && *p != v.post_id);
                CommentEvent {
                    channel,
                    comment_id: v.comment_id,
                    post_id: v.post_id,
                    parent_id,
                    from_id: from.id,
                    from_name: from.name,
                    business_id: business_id.to_string(),
                    text: v.message.unwrap_or_default(),
                    permalink: v.post.and_then(|p| p.permalink_url),
                    timestamp_ms: v
                        .created_time
                        .map_or(entry_time, |s| s.saturating_mul(1000)),
                }
            }
            _ => continue,
        };
        // Nobody to answer, nothing said, or the business's own comment.
        if comment.comment_id.is_empty()
            || comment.from_id.is_empty()
            || comment.from_id == business_id
            || comment.text.trim().is_empty()
        {
            continue;
        }
        out.push(comment);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::{Channel, parse_instagram_webhook, parse_page_webhook};

    fn feed(value: &str) -> String {
        format!(
            r#"{{"object":"page","entry":[{{"id":"PAGE","time":1700000000000,"changes":[{{"field":"feed","value":{value}}}]}}]}}"#
        )
    }

    #[test]
    fn page_feed_comments_are_parsed_and_the_rest_skipped() {
        let added = feed(
            r#"{"from":{"id":"U1","name":"Ada"},"post":{"permalink_url":"https://fb.example/p/1","id":"PAGE_1"},"message":"How much is shipping?","post_id":"PAGE_1","comment_id":"PAGE_1_C1","created_time":1700000001,"item":"comment","parent_id":"PAGE_1","verb":"add"}"#,
        );
        let webhook = parse_page_webhook(added.as_bytes()).unwrap();
        assert!(webhook.messages.is_empty());
        let c = &webhook.comments[0];
        assert_eq!(c.channel, Channel::Messenger);
        assert_eq!(
            (
                c.comment_id.as_str(),
                c.post_id.as_str(),
                c.parent_id.as_deref()
            ),
            ("PAGE_1_C1", "PAGE_1", None),
            "a top-level comment has no parent comment"
        );
        assert_eq!(
            (c.from_id.as_str(), c.from_name.as_deref()),
            ("U1", Some("Ada"))
        );
        assert_eq!(c.business_id, "PAGE");
        assert_eq!(c.text, "How much is shipping?");
        assert_eq!(c.permalink.as_deref(), Some("https://fb.example/p/1"));
        assert_eq!(c.timestamp_ms, 1_700_000_001_000);
        // A reply in a thread names its parent comment.
        let reply = added.replace(r#""parent_id":"PAGE_1""#, r#""parent_id":"PAGE_1_C0""#);
        let webhook = parse_page_webhook(reply.as_bytes()).unwrap();
        assert_eq!(webhook.comments[0].parent_id.as_deref(), Some("PAGE_1_C0"));
        // Edits, removals, the page's own comments, posts, reactions, empty texts: skipped.
        for skipped in [
            added.replace(r#""verb":"add""#, r#""verb":"edited""#),
            added.replace(r#""verb":"add""#, r#""verb":"remove""#),
            added.replace(r#""id":"U1""#, r#""id":"PAGE""#),
            added.replace(r#""item":"comment""#, r#""item":"reaction""#),
            added.replace(r#""How much is shipping?""#, r#""  ""#),
            added.replace(r#""field":"feed""#, r#""field":"mention""#),
            // A post of another shape under `feed`.
            feed(r#"{"item":"status","verb":"add","post_id":7,"message":{"x":1}}"#),
        ] {
            let webhook = parse_page_webhook(skipped.as_bytes()).unwrap();
            assert!(webhook.comments.is_empty(), "{skipped}");
        }
        // A comment of the wrong shape is a malformed body.
        let malformed = feed(r#"{"item":"comment","verb":"add","comment_id":7}"#);
        assert!(parse_page_webhook(malformed.as_bytes()).is_err());
    }

    #[test]
    fn instagram_comments_are_parsed() {
        let body = r#"{"object":"instagram","entry":[{"id":"IGACCT","time":1700000002,"changes":[{"field":"comments","value":{"from":{"id":"IGSID9","username":"ada.l"},"media":{"id":"MEDIA1","media_product_type":"FEED"},"id":"IGC1","text":"Ile kosztuje wysyłka?"}}]}]}"#;
        let webhook = parse_instagram_webhook(body.as_bytes()).unwrap();
        let c = &webhook.comments[0];
        assert_eq!(c.channel, Channel::Instagram);
        assert_eq!(
            (c.comment_id.as_str(), c.post_id.as_str()),
            ("IGC1", "MEDIA1")
        );
        assert_eq!(c.from_name.as_deref(), Some("ada.l"));
        assert_eq!(
            c.timestamp_ms, 1_700_000_002_000,
            "seconds become milliseconds"
        );
        let own = body.replace(r#""id":"IGSID9""#, r#""id":"IGACCT""#);
        assert!(
            parse_instagram_webhook(own.as_bytes())
                .unwrap()
                .comments
                .is_empty()
        );
        let malformed = body.replace(r#""text":"Ile kosztuje wysyłka?""#, r#""text":{"a":1}"#);
        assert!(parse_instagram_webhook(malformed.as_bytes()).is_err());
    }
}
