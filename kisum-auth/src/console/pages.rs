//! What every page shares: the layout's data, the problem shown on a page, the console's
//! error (a page with the problem's message, never a stack trace) and rendering.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use kisum_guard::Problem;
use kisum_guard::http::ProblemResponse;

use super::edge::see_other;

/// The company a page is about, for the navigation.
pub(super) struct CompanyNav {
    /// The slug (in the links).
    pub(super) slug: String,
    /// The name.
    pub(super) name: String,
    /// Whether the caller may read members, roles and explanations (`company.members.read`).
    pub(super) can_read: bool,
    /// Whether the caller may manage the company's API keys (`company.api_keys.manage`).
    pub(super) can_keys: bool,
    /// Which section is open (`members`, `roles`, `delegations`, `explain`, `api-keys`).
    pub(super) section: &'static str,
}

/// A problem as a page shows it.
pub(super) struct Shown {
    /// The HTTP status.
    pub(super) status: u16,
    /// The machine code (shown small, for support).
    pub(super) code: String,
    /// The message: the problem's detail, else its title.
    pub(super) message: String,
    /// Per-field messages of a validation problem.
    pub(super) fields: Vec<(String, String)>,
}

impl From<&Problem> for Shown {
    fn from(p: &Problem) -> Self {
        Self {
            status: p.status,
            code: p.code.clone(),
            message: p.detail.clone().unwrap_or_else(|| p.title.clone()),
            fields: p
                .errors
                .iter()
                .map(|e| (e.field.clone(), e.message.clone()))
                .collect(),
        }
    }
}

/// What the layout shows around every page.
pub(super) struct Layout {
    /// The page's title.
    pub(super) title: String,
    /// The CSRF token of the page's forms (sign-out included).
    pub(super) csrf: String,
    /// The signed-in user's email, if any.
    pub(super) user: Option<String>,
    /// The company the page is about, if any.
    pub(super) company: Option<CompanyNav>,
    /// Whether the signed-in user holds a platform role (the navigation links the platform
    /// pages).
    pub(super) platform: bool,
    /// The platform section a platform page is in (`companies`, `catalog`, `audit`,
    /// `roles`); empty on the other pages.
    pub(super) platform_section: &'static str,
    /// A message about what was just done.
    pub(super) notice: Option<&'static str>,
    /// The problem of what was just tried.
    pub(super) error: Option<Shown>,
}

impl Layout {
    /// The slug of the company the page is about (empty when none).
    pub(super) fn slug(&self) -> String {
        self.company
            .as_ref()
            .map(|c| c.slug.clone())
            .unwrap_or_default()
    }

    /// The page's status: the shown problem's, else 200.
    pub(super) fn status(&self) -> u16 {
        self.error.as_ref().map_or(200, |e| e.status)
    }

    /// A layout titled `title` for a visitor holding `csrf`.
    pub(super) fn new(title: impl Into<String>, csrf: &str) -> Self {
        Self {
            title: title.into(),
            csrf: csrf.to_owned(),
            user: None,
            company: None,
            platform: false,
            platform_section: "",
            notice: None,
            error: None,
        }
    }
}

/// The message of a `?notice=` a form's redirect names (fixed texts: nothing of the query is
/// echoed).
pub(super) fn notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "signed-out" => "You are signed out.",
        "session-ended" => "The session was ended.",
        "member-invited" => {
            "The member was added. Someone without an account gets an invitation email."
        }
        "member-updated" => "The member was updated.",
        "member-removed" => "The member was removed.",
        "role-saved" => "The role was saved.",
        "role-deleted" => "The role was deleted.",
        "delegation-created" => "The delegation was created.",
        "delegation-revoked" => "The delegation was revoked.",
        "api-key-revoked" => "The API key was revoked: every backend refuses it from now on.",
        "company-suspended" => "The company was suspended: its members are denied everywhere.",
        "company-reactivated" => "The company was reactivated.",
        "subscription-changed" => "The subscription was changed.",
        "addon-changed" => "The add-on was changed.",
        "addon-removed" => "The add-on was removed.",
        "reauthenticated" => "Thank you: you can change your sign-in methods for a while.",
        "totp-removed" => {
            "The authenticator app and its recovery codes were removed: sign-in asks for one \
             factor again."
        }
        "passkey-added" => "The passkey was added: you can sign in with it.",
        "role-granted" => "The platform role was granted.",
        "role-revoked" => "The platform role was revoked.",
        "passkey-removed" => "The passkey was removed: it signs nobody in any more.",
        _ => return None,
    })
}

/// Why a console request did not produce its page.
#[derive(Debug)]
pub(crate) enum ConsoleError {
    /// No signed-in session: to the sign-in page.
    SignIn,
    /// A refusal or failure, shown as a page with the problem's message.
    Problem(Box<ProblemResponse>),
}

impl From<ProblemResponse> for ConsoleError {
    fn from(p: ProblemResponse) -> Self {
        Self::Problem(Box::new(p))
    }
}

impl From<Problem> for ConsoleError {
    fn from(p: Problem) -> Self {
        ProblemResponse::from(p).into()
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    layout: Layout,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn => see_other("/console/sign-in"),
            // A session that ended under the page: sign in again.
            Self::Problem(p) if p.problem.status == 401 => see_other("/console/sign-in"),
            Self::Problem(p) => {
                let shown = Shown::from(&*p.problem);
                let status = shown.status;
                let mut layout = Layout::new("Something went wrong", "");
                layout.error = Some(shown);
                render(status, &ErrorPage { layout })
            }
        }
    }
}

/// `page` rendered with `status`. A template that fails to render (it cannot: askama checks
/// them when compiling) answers a bare 500 without details.
pub(super) fn render(status: u16, page: &impl Template) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// Pages that do not exist.
pub(super) async fn not_found() -> ConsoleError {
    Problem::not_found("page").into()
}
