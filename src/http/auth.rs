//! Auth and account routes: register, login, refresh, logout, email verification, password
//! reset, first-admin setup, the caller's own account, customers, roles and API keys.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::identity::{
    ACCESS_COOKIE, Admin, CSRF_COOKIE, REFRESH_COOKIE, Signed, Staff, check_csrf, client_ip,
    limit_ip, scope,
};
use super::json::Json;
use super::{ApiError, HttpState, Problem};
use crate::core::{ApiKeyId, CustomerId, DEFAULT_PER_PAGE, MAX_PER_PAGE, Page};
use crate::domain::auth::{ApiKeyView, CustomerView, Role, TokenPair};

/// This module's operations, merged into the API document by [`super::docs::openapi`].
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    register,
    login,
    refresh,
    logout,
    verify_email,
    resend_verification,
    request_reset,
    confirm_reset,
    setup,
    me,
    change_password,
    delete_me,
    get_customer,
    update_customer,
    list_customers,
    admin_get_customer,
    set_role,
    create_api_key,
    list_api_keys,
    revoke_api_key
))]
pub(super) struct Doc;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1/auth")
            .route("/register", web::post().to(register))
            .route("/login", web::post().to(login))
            .route("/refresh", web::post().to(refresh))
            .route("/logout", web::post().to(logout))
            .route("/verify-email", web::post().to(verify_email))
            .route("/verify-email/resend", web::post().to(resend_verification))
            .route("/password-reset", web::post().to(request_reset))
            .route("/password-reset/confirm", web::post().to(confirm_reset))
            .route("/setup", web::post().to(setup)),
    )
    .service(
        web::resource("/api/v1/me")
            .route(web::get().to(me))
            .route(web::delete().to(delete_me)),
    )
    .route("/api/v1/me/password", web::post().to(change_password))
    .service(
        web::resource("/api/v1/customers/{id}")
            .route(web::get().to(get_customer))
            .route(web::patch().to(update_customer)),
    )
    .route("/api/v1/admin/customers", web::get().to(list_customers))
    .route(
        "/api/v1/admin/customers/{id}",
        web::get().to(admin_get_customer),
    )
    .route("/api/v1/admin/customers/{id}/role", web::put().to(set_role))
    .service(
        web::resource("/api/v1/admin/api-keys")
            .route(web::post().to(create_api_key))
            .route(web::get().to(list_api_keys)),
    )
    .route(
        "/api/v1/admin/api-keys/{id}",
        web::delete().to(revoke_api_key),
    );
}

type Result<T> = std::result::Result<T, ApiError>;

fn parse_customer_id(s: &str) -> Result<CustomerId> {
    CustomerId::parse(s).map_err(|_| ApiError::not_found("no such customer"))
}

/// Body of [`register`].
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// Email (normalised to lower case; unique).
    pub email: String,
    /// 8–128 characters, not a common password.
    pub password: String,
    /// Display name.
    pub name: String,
}

/// Creates a customer account and sends a verification mail.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterBody,
    responses(
        (status = 201, description = "Account created; verification mail queued", body = CustomerView),
        (status = 409, description = "Email taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid email, name or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this IP", body = Problem, content_type = "application/problem+json")))]
pub async fn register(
    req: HttpRequest,
    state: web::Data<HttpState>,
    body: Json<RegisterBody>,
) -> Result<HttpResponse> {
    limit_ip(&req, &state)?;
    let c = state
        .auth
        .register(&body.email, &body.password, &body.name)
        .await?;
    Ok(HttpResponse::Created().json(c))
}

/// Body of [`login`].
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
    /// Also set HttpOnly session cookies (browser UI); cookie-authenticated writes then need
    /// the `X-CSRF-Token` header.
    #[serde(default)]
    pub cookies: bool,
}

fn token_response(state: &HttpState, pair: &TokenPair, cookies: bool) -> HttpResponse {
    let mut resp = HttpResponse::Ok();
    resp.insert_header(("Cache-Control", "no-store"));
    if cookies {
        let secure = state.cookie_secure;
        let access = Cookie::build(ACCESS_COOKIE, pair.access_token.clone())
            .path("/")
            .http_only(true)
            .secure(secure)
            .same_site(SameSite::Lax)
            .max_age(CookieDuration::seconds(
                i64::try_from(pair.expires_in).unwrap_or(900),
            ))
            .finish();
        let refresh = Cookie::build(REFRESH_COOKIE, pair.refresh_token.clone())
            .path("/api/v1/auth")
            .http_only(true)
            .secure(secure)
            .same_site(SameSite::Strict)
            .max_age(CookieDuration::seconds(state.refresh_cookie_secs))
            .finish();
        let csrf = Cookie::build(CSRF_COOKIE, crate::domain::auth::secret::new_token(""))
            .path("/")
            .secure(secure)
            .same_site(SameSite::Strict)
            .finish();
        resp.cookie(access).cookie(refresh).cookie(csrf);
    }
    resp.json(pair)
}

/// The one sign-in: the per-IP budget, the password check, and the merge of the anonymous cart
/// the visitor brought into the account's cart. The API's login and the sign-in page use it.
pub async fn sign_in(
    req: &HttpRequest,
    state: &HttpState,
    email: &str,
    password: &str,
    cart_token: Option<String>,
) -> Result<TokenPair> {
    limit_ip(req, state)?;
    let pair = state.auth.login(email, password, &client_ip(req)).await?;
    let customer = state.auth.authenticate(&pair.access_token)?.customer_id();
    if let Some(token) = cart_token
        && let Some(customer) = customer
    {
        state.carts.merge_on_login(customer, token).await?;
    }
    // The visitor's experiment history becomes the account's (a full event queue only costs
    // the experiments that join).
    if let (Some(v), Some(c)) = (super::experiments::visitor_id(req), customer)
        && let Err(e) = state.experiments.join(&v, c, state.clock.now())
    {
        tracing::warn!(error = %e, "experiments: the visitor's history was not joined at sign-in");
    }
    Ok(pair)
}

/// Signs in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 401, description = "Email or password incorrect (never says which)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts for this IP or account; see Retry-After", body = Problem, content_type = "application/problem+json")))]
pub async fn login(
    req: HttpRequest,
    state: web::Data<HttpState>,
    body: Json<LoginBody>,
) -> Result<HttpResponse> {
    // An anonymous cart brought to sign-in (header or cookie) merges into the account's cart.
    let cart_token = req
        .headers()
        .get(super::cart::CART_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            req.cookie(super::cart::CART_COOKIE)
                .map(|c| c.value().to_owned())
        });
    let pair = sign_in(&req, &state, &body.email, &body.password, cart_token).await?;
    Ok(token_response(&state, &pair, body.cookies))
}

/// Body of [`refresh`] and [`logout`].
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    /// The refresh token (omit when using the session cookie).
    pub refresh_token: Option<String>,
}

fn refresh_token_of(req: &HttpRequest, body: Option<Json<RefreshBody>>) -> Result<(String, bool)> {
    if let Some(t) = body.and_then(|b| b.into_inner().refresh_token) {
        return Ok((t, false));
    }
    match req.cookie(REFRESH_COOKIE) {
        Some(c) => {
            check_csrf(req)?;
            Ok((c.value().to_owned(), true))
        }
        None => Err(ApiError::validation(
            "refresh_token",
            "required",
            "send refresh_token or the session cookie",
        )),
    }
}

/// Rotates a refresh token. Presenting an already-used token revokes the whole session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshBody,
    responses(
        (status = 200, description = "New token pair", body = TokenPair),
        (status = 401, description = "Invalid, expired, revoked or reused token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = Problem, content_type = "application/problem+json")))]
pub async fn refresh(
    req: HttpRequest,
    state: web::Data<HttpState>,
    body: Option<Json<RefreshBody>>,
) -> Result<HttpResponse> {
    limit_ip(&req, &state)?;
    let (token, from_cookie) = refresh_token_of(&req, body)?;
    let pair = state.auth.refresh(&token).await?;
    Ok(token_response(&state, &pair, from_cookie))
}

/// Revokes the session of a refresh token and clears session cookies.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshBody,
    responses((status = 204, description = "Signed out")))]
pub async fn logout(
    req: HttpRequest,
    state: web::Data<HttpState>,
    body: Option<Json<RefreshBody>>,
) -> Result<HttpResponse> {
    let (token, _) = refresh_token_of(&req, body)?;
    state.auth.logout(&token).await?;
    let mut resp = HttpResponse::NoContent();
    for (name, path) in [
        (ACCESS_COOKIE, "/"),
        (REFRESH_COOKIE, "/api/v1/auth"),
        (CSRF_COOKIE, "/"),
    ] {
        let mut c = Cookie::build(name, "").path(path).finish();
        c.make_removal();
        resp.cookie(c);
    }
    Ok(resp.finish())
}

/// Body with a one-time token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// The token from the mailed link.
    pub token: String,
}

/// Confirms an email address with the token from the verification mail.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", request_body = TokenBody,
    responses(
        (status = 200, description = "Verified", body = CustomerView),
        (status = 400, description = "Invalid, expired or used token", body = Problem, content_type = "application/problem+json")))]
pub async fn verify_email(
    req: HttpRequest,
    state: web::Data<HttpState>,
    body: Json<TokenBody>,
) -> Result<HttpResponse> {
    limit_ip(&req, &state)?;
    Ok(HttpResponse::Ok().json(state.auth.verify_email(&body.token).await?))
}

/// Body with an email.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailBody {
    /// Email address.
    pub email: String,
}

/// Sends a new verification mail. Answers 202 whether or not the address has an account.
#[utoipa::path(post, path = "/api/v1/auth/verify-email/resend", tag = "auth", request_body = EmailBody,
    responses((status = 202, description = "If the address has an unverified account, a mail is on its way", body = AcceptedBody)))]
pub async fn resend_verification(
    req: HttpRequest,
    state: web::Data<HttpState>,
    body: Json<EmailBody>,
) -> Result<HttpResponse> {
    limit_ip(&req, &state)?;
    state.auth.resend_verification(&body.email).await?;
    Ok(accepted())
}

/// Answer of the mail-sending routes, the same whether or not the address has an account.
#[derive(serde::Serialize, ToSchema)]
pub struct AcceptedBody {
    /// Always `accepted`.
    pub status: &'static str,
    /// What happens next.
    pub detail: &'static str,
}

/// A new API key with its secret, which no later answer shows again.
#[derive(serde::Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// The key as listed.
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// `shopd_sk_…`: send it as a bearer token.
    pub secret: String,
}

fn accepted() -> HttpResponse {
    HttpResponse::Accepted().json(AcceptedBody {
        status: "accepted",
        detail: "if the address belongs to an account, a mail is on its way",
    })
}

/// Sends a password reset mail. Answers 202 whether or not the address has an account.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = EmailBody,
    responses((status = 202, description = "If the address has an account, a mail is on its way", body = AcceptedBody)))]
pub async fn request_reset(
    req: HttpRequest,
    state: web::Data<HttpState>,
    body: Json<EmailBody>,
) -> Result<HttpResponse> {
    limit_ip(&req, &state)?;
    state.auth.request_password_reset(&body.email).await?;
    Ok(accepted())
}

/// Body of [`confirm_reset`].
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetBody {
    /// Token from the reset mail.
    pub token: String,
    /// New password.
    pub new_password: String,
}

/// Sets a new password with a reset token; every session of the account is revoked.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = ResetBody,
    responses(
        (status = 204, description = "Password changed; sign in again"),
        (status = 400, description = "Invalid, expired or used token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Password refused by the policy", body = Problem, content_type = "application/problem+json")))]
pub async fn confirm_reset(
    req: HttpRequest,
    state: web::Data<HttpState>,
    body: Json<ResetBody>,
) -> Result<HttpResponse> {
    limit_ip(&req, &state)?;
    state
        .auth
        .reset_password(&body.token, &body.new_password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Body of [`setup`].
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupBody {
    /// The one-time setup token printed in the log at first start.
    pub token: String,
    /// Admin email.
    pub email: String,
    /// Admin password.
    pub password: String,
    /// Admin name.
    pub name: String,
}

/// Creates the first admin with the one-time setup token from the start-up log.
#[utoipa::path(post, path = "/api/v1/auth/setup", tag = "auth", request_body = SetupBody,
    responses(
        (status = 201, description = "Admin created", body = CustomerView),
        (status = 400, description = "Wrong token, or an admin exists already", body = Problem, content_type = "application/problem+json")))]
pub async fn setup(
    req: HttpRequest,
    state: web::Data<HttpState>,
    body: Json<SetupBody>,
) -> Result<HttpResponse> {
    limit_ip(&req, &state)?;
    let b = body.into_inner();
    let c = state
        .auth
        .complete_setup(&b.token, &b.email, &b.password, &b.name)
        .await?;
    Ok(HttpResponse::Created().json(c))
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/me", tag = "account", security(("bearer" = [])),
    responses(
        (status = 200, description = "Your account", body = CustomerView),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json")))]
pub async fn me(state: web::Data<HttpState>, who: Signed) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.auth.me(&who.principal)?))
}

/// Body of [`change_password`].
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordBody {
    /// Current password.
    pub current_password: String,
    /// New password.
    pub new_password: String,
}

/// Changes your password; other sessions are revoked and a fresh token pair is returned.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "account", security(("bearer" = [])), request_body = ChangePasswordBody,
    responses(
        (status = 200, description = "Changed; new tokens", body = TokenPair),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong current password or weak new one", body = Problem, content_type = "application/problem+json")))]
pub async fn change_password(
    req: HttpRequest,
    state: web::Data<HttpState>,
    who: Signed,
    body: Json<ChangePasswordBody>,
) -> Result<HttpResponse> {
    limit_ip(&req, &state)?;
    let pair = state
        .auth
        .change_password(
            &who.principal,
            &body.current_password,
            &body.new_password,
            &client_ip(&req),
        )
        .await?;
    Ok(token_response(&state, &pair, false))
}

/// Body of [`delete_me`].
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteBody {
    /// Current password, to confirm.
    pub password: String,
}

/// Deletes your account: personal data is erased, sessions revoked; orders keep an anonymous id.
#[utoipa::path(delete, path = "/api/v1/me", tag = "account", security(("bearer" = [])), request_body = DeleteBody,
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "`last_admin`: the only active admin cannot delete itself", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Wrong password", body = Problem, content_type = "application/problem+json")))]
pub async fn delete_me(
    req: HttpRequest,
    state: web::Data<HttpState>,
    who: Signed,
    body: Json<DeleteBody>,
) -> Result<HttpResponse> {
    limit_ip(&req, &state)?;
    state
        .auth
        .delete_account(&who.principal, &body.password, &client_ip(&req))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An account by id: your own, or any for staff. Others' ids are 404.
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "account", security(("bearer" = [])),
    params(("id" = String, Path, description = "cus_…")),
    responses(
        (status = 200, description = "The account", body = CustomerView),
        (status = 403, description = "An API key without the `customers` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account, or not yours", body = Problem, content_type = "application/problem+json")))]
pub async fn get_customer(
    state: web::Data<HttpState>,
    who: Signed<scope::Customers>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = parse_customer_id(&id)?;
    Ok(HttpResponse::Ok().json(state.auth.get_customer(&who.principal, id)?))
}

/// Body of [`update_customer`].
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomerBody {
    /// New display name.
    pub name: String,
}

/// Renames an account: your own, or any for staff. Others' ids are 404.
#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "account", security(("bearer" = [])), request_body = UpdateCustomerBody,
    params(("id" = String, Path, description = "cus_…")),
    responses(
        (status = 200, description = "Updated", body = CustomerView),
        (status = 403, description = "An API key without the `customers` scope", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account, or not yours", body = Problem, content_type = "application/problem+json")))]
pub async fn update_customer(
    state: web::Data<HttpState>,
    who: Signed<scope::Customers>,
    id: web::Path<String>,
    body: Json<UpdateCustomerBody>,
) -> Result<HttpResponse> {
    let id = parse_customer_id(&id)?;
    Ok(HttpResponse::Ok().json(
        state
            .auth
            .update_customer(&who.principal, id, &body.name)
            .await?,
    ))
}

/// Query of [`list_customers`].
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// 1–100, default 20.
    pub per_page: Option<usize>,
    /// From the previous page.
    pub cursor: Option<String>,
}

/// Lists accounts (staff).
#[utoipa::path(get, path = "/api/v1/admin/customers", tag = "admin", security(("bearer" = [])), params(PageQuery),
    responses(
        (status = 200, description = "A page of accounts", body = Page<CustomerView>),
        (status = 403, description = "Not staff", body = Problem, content_type = "application/problem+json")))]
pub async fn list_customers(
    state: web::Data<HttpState>,
    _who: Staff<scope::Customers>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse> {
    let per_page = q.per_page.unwrap_or(DEFAULT_PER_PAGE);
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(ApiError::validation(
            "per_page",
            "out_of_range",
            format!("must be between 1 and {MAX_PER_PAGE}"),
        ));
    }
    Ok(HttpResponse::Ok().json(state.auth.list_customers(per_page, q.cursor.as_deref())?))
}

/// One account (staff).
#[utoipa::path(get, path = "/api/v1/admin/customers/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "cus_…")),
    responses(
        (status = 200, description = "The account", body = CustomerView),
        (status = 403, description = "Not staff", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json")))]
pub async fn admin_get_customer(
    state: web::Data<HttpState>,
    who: Staff<scope::Customers>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = parse_customer_id(&id)?;
    Ok(HttpResponse::Ok().json(state.auth.get_customer(&who.principal, id)?))
}

/// Body of [`set_role`].
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// `customer`, `staff` or `admin`.
    pub role: String,
}

/// Changes an account's role (admin).
#[utoipa::path(put, path = "/api/v1/admin/customers/{id}/role", tag = "admin", security(("bearer" = [])), request_body = RoleBody,
    params(("id" = String, Path, description = "cus_…")),
    responses(
        (status = 200, description = "Updated", body = CustomerView),
        (status = 403, description = "Not admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_admin`: the only active admin cannot be demoted", body = Problem, content_type = "application/problem+json")))]
pub async fn set_role(
    state: web::Data<HttpState>,
    who: Admin<scope::Unscoped>,
    id: web::Path<String>,
    body: Json<RoleBody>,
) -> Result<HttpResponse> {
    let id = parse_customer_id(&id)?;
    let role = Role::parse(&body.role).ok_or_else(|| {
        ApiError::validation("role", "invalid", "must be customer, staff or admin")
    })?;
    Ok(HttpResponse::Ok().json(state.auth.set_role(&who.principal, id, role).await?))
}

/// Body of [`create_api_key`].
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyBody {
    /// Label.
    pub name: String,
    /// `staff` (default) or `admin`.
    pub role: Option<String>,
    /// Scopes (default `["*"]`): `catalog`, `orders`, `customers`, `inventory`, `diagnostics`.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// Creates an API key for an integration (admin). The secret is in this response only.
#[utoipa::path(post, path = "/api/v1/admin/api-keys", tag = "admin", security(("bearer" = [])), request_body = ApiKeyBody,
    responses(
        (status = 201, description = "Created; `secret` is shown once", body = CreatedApiKey),
        (status = 403, description = "Not admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid role or scope", body = Problem, content_type = "application/problem+json")))]
pub async fn create_api_key(
    state: web::Data<HttpState>,
    who: Admin<scope::Unscoped>,
    body: Json<ApiKeyBody>,
) -> Result<HttpResponse> {
    let b = body.into_inner();
    let role = match b.role.as_deref() {
        None => Role::Staff,
        Some(r) => Role::parse(r)
            .ok_or_else(|| ApiError::validation("role", "invalid", "must be staff or admin"))?,
    };
    let (view, secret) = state
        .auth
        .create_api_key(&who.principal, &b.name, role, b.scopes)
        .await?;
    Ok(HttpResponse::build(StatusCode::CREATED)
        .insert_header(("Cache-Control", "no-store"))
        .json(CreatedApiKey { key: view, secret }))
}

/// Lists API keys without secrets (admin).
#[utoipa::path(get, path = "/api/v1/admin/api-keys", tag = "admin", security(("bearer" = [])),
    responses((status = 200, description = "Keys", body = Page<ApiKeyView>), (status = 403, description = "Not admin", body = Problem, content_type = "application/problem+json")))]
pub async fn list_api_keys(
    state: web::Data<HttpState>,
    who: Admin<scope::Unscoped>,
) -> Result<HttpResponse> {
    Ok(HttpResponse::Ok().json(Page::whole(state.auth.list_api_keys(&who.principal)?)))
}

/// Revokes an API key (admin).
#[utoipa::path(delete, path = "/api/v1/admin/api-keys/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "key_…")),
    responses((status = 200, description = "Revoked", body = ApiKeyView), (status = 404, description = "No such key", body = Problem, content_type = "application/problem+json")))]
pub async fn revoke_api_key(
    state: web::Data<HttpState>,
    who: Admin<scope::Unscoped>,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = ApiKeyId::parse(&id).map_err(|_| ApiError::not_found("no such key"))?;
    Ok(HttpResponse::Ok().json(state.auth.revoke_api_key(&who.principal, id).await?))
}
