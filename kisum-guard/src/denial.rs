//! Denial codes and RFC 9457 problem documents.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an access decision was a denial; one machine code per denial.
///
/// The variants are declared in order of precedence: when several apply, the smallest wins
/// (`Ord` follows that order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DenialCode {
    /// No valid access token was presented.
    Unauthenticated,
    /// The session of the token is revoked, expired, unknown or belongs to someone else.
    SessionRevoked,
    /// The request names no company (`X-Org` missing or empty).
    OrgRequired,
    /// The company named by `X-Org` does not exist.
    OrgUnknown,
    /// The user has no membership in the company.
    NotAMember,
    /// The membership (or the company) is not active.
    MembershipInactive,
    /// The company is not entitled to the module.
    ModuleNotEntitled,
    /// The company has the module but the member was not granted it.
    ModuleNotGranted,
    /// The member lacks the permission.
    PermissionDenied,
    /// The route demands a stronger sign-in (`aal2`) than the session has: sign in with a
    /// second factor, or step up with `POST /v1/auth/reauthenticate`.
    StepUpRequired,
}

impl DenialCode {
    /// Every code, in order of precedence.
    pub const ALL: [DenialCode; 10] = [
        Self::Unauthenticated,
        Self::SessionRevoked,
        Self::OrgRequired,
        Self::OrgUnknown,
        Self::NotAMember,
        Self::MembershipInactive,
        Self::ModuleNotEntitled,
        Self::ModuleNotGranted,
        Self::PermissionDenied,
        Self::StepUpRequired,
    ];

    /// The machine code, as it appears in the `code` member of a problem document.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::SessionRevoked => "session_revoked",
            Self::OrgRequired => "org_required",
            Self::OrgUnknown => "org_unknown",
            Self::NotAMember => "not_a_member",
            Self::MembershipInactive => "membership_inactive",
            Self::ModuleNotEntitled => "module_not_entitled",
            Self::ModuleNotGranted => "module_not_granted",
            Self::PermissionDenied => "permission_denied",
            Self::StepUpRequired => "step_up_required",
        }
    }

    /// The HTTP status: 401 for identity failures, 400/404 for the org header, 403 otherwise.
    #[must_use]
    pub const fn status(self) -> u16 {
        match self {
            Self::Unauthenticated | Self::SessionRevoked => 401,
            Self::OrgRequired => 400,
            Self::OrgUnknown => 404,
            Self::NotAMember
            | Self::MembershipInactive
            | Self::ModuleNotEntitled
            | Self::ModuleNotGranted
            | Self::PermissionDenied
            | Self::StepUpRequired => 403,
        }
    }

    /// A short human-readable summary.
    #[must_use]
    pub const fn title(self) -> &'static str {
        match self {
            Self::Unauthenticated => "authentication required",
            Self::SessionRevoked => "session is no longer valid",
            Self::OrgRequired => "company header required",
            Self::OrgUnknown => "unknown company",
            Self::NotAMember => "not a member of this company",
            Self::MembershipInactive => "membership is not active",
            Self::ModuleNotEntitled => "company is not entitled to this module",
            Self::ModuleNotGranted => "module not granted to this member",
            Self::PermissionDenied => "permission denied",
            Self::StepUpRequired => "a stronger sign-in is required",
        }
    }

    /// Parses a machine code.
    #[must_use]
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }
}

impl fmt::Display for DenialCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for DenialCode {}

/// One invalid field of a request body, in a `validation_failed` problem.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field, as a JSON pointer-like dotted path (`roles.0`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// The field error of a JSON body that parsed but does not fit its type: the field is the
    /// deserializer's path to the offending value, dotted (`roles.0`), extended by the name of a
    /// missing field (`email`, which serde reports only in its message); empty when the body is
    /// not an object. The message is the error as `serde_path_to_error` shows it (`path: why`).
    #[cfg(feature = "axum")]
    #[must_use]
    pub fn from_path_error(error: &serde_path_to_error::Error<serde_json::Error>) -> Self {
        use serde_path_to_error::Segment;
        let mut parts: Vec<String> = error
            .path()
            .iter()
            .filter_map(|segment| match segment {
                Segment::Seq { index } => Some(index.to_string()),
                Segment::Map { key } => Some(key.clone()),
                Segment::Enum { variant } => Some(variant.clone()),
                Segment::Unknown => None,
            })
            .collect();
        let inner = error.inner().to_string();
        if let Some(missing) = inner
            .strip_prefix("missing field `")
            .and_then(|r| r.split('`').next())
        {
            parts.push(missing.to_owned());
        }
        Self {
            field: parts.join("."),
            message: error.to_string(),
        }
    }
}

/// An RFC 9457 `application/problem+json` document with Kisum's `code` and `request_id`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// A URI naming the problem type: `urn:kisum:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// The machine code clients branch on.
    pub code: String,
    /// A human-readable explanation of this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request id (`X-Request-Id`) of the request that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Per-field errors of a `validation_failed` problem.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// RFC 9457 extension members of this problem type, written at the top level (e.g. the
    /// `mfa_token` and `methods` of `mfa_required`); documented with each route that answers
    /// them.
    #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

/// The media type of problem documents.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

impl Problem {
    /// A problem with the given status, machine code and title.
    #[must_use]
    pub fn new(status: u16, code: &str, title: &str) -> Self {
        Self {
            type_uri: format!("urn:kisum:problem:{code}"),
            title: title.to_owned(),
            status,
            code: code.to_owned(),
            detail: None,
            request_id: None,
            errors: Vec::new(),
            extensions: serde_json::Map::new(),
        }
    }

    /// Adds the extension member `name` (ignored when it names a standard member).
    #[must_use]
    pub fn with_extension(mut self, name: &str, value: serde_json::Value) -> Self {
        const STANDARD: [&str; 7] = [
            "type",
            "title",
            "status",
            "code",
            "detail",
            "request_id",
            "errors",
        ];
        if !STANDARD.contains(&name) {
            self.extensions.insert(name.to_owned(), value);
        }
        self
    }

    /// Sets the detail.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Sets the request id.
    #[must_use]
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    /// The denial this problem carries, if its code is one.
    #[must_use]
    pub fn denial(&self) -> Option<DenialCode> {
        DenialCode::from_code(&self.code)
    }
}

impl From<DenialCode> for Problem {
    fn from(code: DenialCode) -> Self {
        Self::new(code.status(), code.code(), code.title())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "axum")]
    #[test]
    fn json_errors_name_their_field() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code, reason = "only deserialized")]
        struct Point {
            y: i32,
        }
        #[derive(Debug, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[allow(dead_code, reason = "only deserialized")]
        enum Purpose {
            Login,
            VerifyEmail,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code, reason = "only deserialized")]
        struct Body {
            email: String,
            #[serde(default)]
            roles: Vec<String>,
            #[serde(default)]
            b: Vec<Point>,
            purpose: Option<Purpose>,
        }
        for (body, field) in [
            (r#"{}"#, "email"),
            (r#"{"email": 1}"#, "email"),
            (r#"{"email": "a", "roles": ["x", null]}"#, "roles.1"),
            (r#"{"email": "a", "b": [{}]}"#, "b.0.y"),
            (r#"{"email": "a", "purpose": "x"}"#, "purpose"),
            (r#"3"#, ""),
        ] {
            let mut de = serde_json::Deserializer::from_str(body);
            let e = serde_path_to_error::deserialize::<_, Body>(&mut de).unwrap_err();
            let f = FieldError::from_path_error(&e);
            assert_eq!(f.field, field, "{body}");
            assert_eq!(f.message, e.to_string());
        }
    }

    #[test]
    fn codes_statuses_and_precedence() {
        let expected = [
            ("unauthenticated", 401),
            ("session_revoked", 401),
            ("org_required", 400),
            ("org_unknown", 404),
            ("not_a_member", 403),
            ("membership_inactive", 403),
            ("module_not_entitled", 403),
            ("module_not_granted", 403),
            ("permission_denied", 403),
            ("step_up_required", 403),
        ];
        for (code, (name, status)) in DenialCode::ALL.iter().zip(expected) {
            assert_eq!(code.code(), name);
            assert_eq!(code.status(), status);
            assert_eq!(serde_json::to_string(code).unwrap(), format!("\"{name}\""));
            assert_eq!(DenialCode::from_code(name), Some(*code));
        }
        let mut sorted = DenialCode::ALL;
        sorted.reverse();
        sorted.sort();
        assert_eq!(sorted, DenialCode::ALL);
        assert!(DenialCode::SessionRevoked < DenialCode::PermissionDenied);
    }

    #[test]
    fn problem_json_shape() {
        let p = Problem::from(DenialCode::ModuleNotEntitled)
            .with_detail("company lacks `finance`")
            .with_request_id("req-1");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "type": "urn:kisum:problem:module_not_entitled",
                "title": "company is not entitled to this module",
                "status": 403,
                "code": "module_not_entitled",
                "detail": "company lacks `finance`",
                "request_id": "req-1"
            })
        );
        let back: Problem = serde_json::from_value(v).unwrap();
        assert_eq!(back.denial(), Some(DenialCode::ModuleNotEntitled));
        assert!(back.extensions.is_empty());
    }

    #[test]
    fn extension_members_are_top_level_and_survive_a_round_trip() {
        let p = Problem::new(401, "mfa_required", "a second factor is required")
            .with_extension("mfa_token", serde_json::json!("t0k"))
            .with_extension("code", serde_json::json!("overwritten?"))
            .with_request_id("req-2");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["mfa_token"], "t0k");
        assert_eq!(
            v["code"], "mfa_required",
            "a standard member is never replaced"
        );
        let back: Problem = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);
    }
}
