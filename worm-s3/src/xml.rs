//! The S3 XML documents this crate reads and writes.

use serde::Deserialize;

/// `<Error><Code/><Message/></Error>`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(rename = "Code", default)]
    pub code: String,
    #[serde(rename = "Message", default)]
    pub message: String,
}

/// Parse an S3 error body; `None` when there is none (HEAD) or it is not XML.
pub(crate) fn parse_error(body: &[u8]) -> Option<ErrorBody> {
    let text = std::str::from_utf8(body).ok()?;
    if !text.contains("<Error") {
        return None;
    }
    quick_xml::de::from_str(text).ok()
}

/// Deserialize a response document, naming it in the error.
pub(crate) fn parse<T: for<'de> Deserialize<'de>>(what: &str, body: &[u8]) -> Result<T, String> {
    let text =
        std::str::from_utf8(body).map_err(|e| format!("{what}: response is not UTF-8: {e}"))?;
    quick_xml::de::from_str(text)
        .map_err(|e| format!("{what}: cannot parse the server's XML ({e}): {text}"))
}

/// Escape text for an XML element.
pub(crate) fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// ListObjectsV2 result.
#[derive(Debug, Deserialize)]
pub(crate) struct ListBucketResult {
    #[serde(rename = "IsTruncated", default)]
    pub is_truncated: bool,
    #[serde(rename = "NextContinuationToken", default)]
    pub next_continuation_token: Option<String>,
    #[serde(rename = "Contents", default)]
    pub contents: Vec<ListedObject>,
}

/// One `<Contents>`.
#[derive(Debug, Deserialize)]
pub(crate) struct ListedObject {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Size", default)]
    pub size: u64,
    #[serde(rename = "LastModified", default)]
    pub last_modified: Option<String>,
}

/// ListObjectVersions result. Versions and delete markers come interleaved, newest first
/// per key; `$value` keeps that order.
#[derive(Debug, Deserialize)]
pub(crate) struct ListVersionsResult {
    #[serde(rename = "$value", default)]
    pub items: Vec<VersionsItem>,
}

/// A child of `<ListVersionsResult>`.
#[derive(Debug, Deserialize)]
pub(crate) enum VersionsItem {
    #[serde(rename = "IsTruncated")]
    IsTruncated(bool),
    #[serde(rename = "NextKeyMarker")]
    NextKeyMarker(String),
    #[serde(rename = "NextVersionIdMarker")]
    NextVersionIdMarker(String),
    #[serde(rename = "Version")]
    Version(VersionEntry),
    #[serde(rename = "DeleteMarker")]
    DeleteMarker(VersionEntry),
    #[serde(other)]
    Other,
}

/// A `<Version>` or `<DeleteMarker>`.
#[derive(Debug, Deserialize)]
pub(crate) struct VersionEntry {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "VersionId", default)]
    pub version_id: Option<String>,
    #[serde(rename = "IsLatest", default)]
    pub is_latest: bool,
    #[serde(rename = "Size", default)]
    pub size: u64,
    #[serde(rename = "LastModified", default)]
    pub last_modified: Option<String>,
    #[serde(rename = "ETag", default)]
    pub etag: Option<String>,
}

/// GetBucketVersioning.
#[derive(Debug, Deserialize)]
pub(crate) struct VersioningConfiguration {
    #[serde(rename = "Status", default)]
    pub status: Option<String>,
}

/// GetObjectLockConfiguration.
#[derive(Debug, Deserialize)]
pub(crate) struct ObjectLockConfiguration {
    #[serde(rename = "ObjectLockEnabled", default)]
    pub enabled: Option<String>,
    #[serde(rename = "Rule", default)]
    pub rule: Option<LockRule>,
}

/// `<Rule>` of an Object Lock configuration.
#[derive(Debug, Deserialize)]
pub(crate) struct LockRule {
    #[serde(rename = "DefaultRetention", default)]
    pub default_retention: Option<DefaultRetention>,
}

/// `<DefaultRetention>`.
#[derive(Debug, Deserialize)]
pub(crate) struct DefaultRetention {
    #[serde(rename = "Mode", default)]
    pub mode: Option<String>,
    #[serde(rename = "Days", default)]
    pub days: Option<u32>,
    #[serde(rename = "Years", default)]
    pub years: Option<u32>,
}

/// GetObjectRetention.
#[derive(Debug, Deserialize)]
pub(crate) struct RetentionDoc {
    #[serde(rename = "Mode", default)]
    pub mode: Option<String>,
    #[serde(rename = "RetainUntilDate", default)]
    pub retain_until: Option<String>,
}

/// GetObjectLegalHold.
#[derive(Debug, Deserialize)]
pub(crate) struct LegalHoldDoc {
    #[serde(rename = "Status", default)]
    pub status: Option<String>,
}

/// GetBucketLifecycleConfiguration.
#[derive(Debug, Deserialize)]
pub(crate) struct LifecycleConfiguration {
    #[serde(rename = "Rule", default)]
    pub rules: Vec<LifecycleRule>,
}

/// One lifecycle `<Rule>`.
#[derive(Debug, Deserialize)]
pub(crate) struct LifecycleRule {
    #[serde(rename = "Status", default)]
    pub status: String,
    #[serde(rename = "Transition", default)]
    pub transitions: Vec<Transition>,
}

/// `<Transition>`.
#[derive(Debug, Deserialize)]
pub(crate) struct Transition {
    #[serde(rename = "Days", default)]
    pub days: Option<u32>,
    #[serde(rename = "StorageClass", default)]
    pub storage_class: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_keep_document_order() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Name>b</Name><Prefix>k</Prefix><KeyMarker></KeyMarker><MaxKeys>1000</MaxKeys>
<IsTruncated>true</IsTruncated><NextKeyMarker>k</NextKeyMarker><NextVersionIdMarker>v1</NextVersionIdMarker>
<DeleteMarker><Key>k</Key><VersionId>v3</VersionId><IsLatest>true</IsLatest><LastModified>2025-01-01T00:00:02.000Z</LastModified></DeleteMarker>
<Version><Key>k</Key><VersionId>v2</VersionId><IsLatest>false</IsLatest><LastModified>2025-01-01T00:00:01.000Z</LastModified><ETag>"x"</ETag><Size>3</Size><StorageClass>STANDARD</StorageClass></Version>
<Version><Key>k</Key><VersionId>v1</VersionId><IsLatest>false</IsLatest><LastModified>2025-01-01T00:00:00.000Z</LastModified><Size>5</Size></Version>
</ListVersionsResult>"#;
        let r: ListVersionsResult = parse("versions", doc.as_bytes()).unwrap();
        let ids: Vec<String> = r
            .items
            .iter()
            .filter_map(|i| match i {
                VersionsItem::Version(v) => Some(format!("V{}", v.version_id.clone().unwrap())),
                VersionsItem::DeleteMarker(v) => {
                    Some(format!("D{}", v.version_id.clone().unwrap()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(ids, ["Dv3", "Vv2", "Vv1"]);
        assert!(
            r.items
                .iter()
                .any(|i| matches!(i, VersionsItem::IsTruncated(true)))
        );
    }

    #[test]
    fn error_body() {
        let e = parse_error(b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>m</Message><Key>k</Key></Error>").unwrap();
        assert_eq!((e.code.as_str(), e.message.as_str()), ("NoSuchKey", "m"));
        assert!(parse_error(b"").is_none());
    }
}
