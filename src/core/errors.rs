//! The one table of stable error codes, and the trait every domain error implements.
//!
//! A code names what went wrong in words clients switch on (`out_of_stock`); its class says
//! what kind of failure it is, without any transport: the JSON API maps a class to an HTTP
//! status and a problem+json body, the HTML pages to an error page. Adding a failure means
//! adding a row here, so the list a client can meet is complete in one place.

use std::fmt;

/// What kind of failure a code is, independent of HTTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// The request cannot be read (syntax, unknown parameter, missing header).
    Malformed,
    /// No valid credentials.
    Unauthenticated,
    /// Credentials without the needed role or scope.
    Forbidden,
    /// No such object, or not the caller's.
    NotFound,
    /// The method does not apply to this resource.
    MethodNotAllowed,
    /// No acceptable representation.
    NotAcceptable,
    /// The request took too long to arrive.
    Timeout,
    /// The payment was refused; another card may succeed.
    PaymentRequired,
    /// Conflicts with the current state (taken, out of stock, wrong state).
    Conflict,
    /// A length header is needed.
    LengthRequired,
    /// A precondition (`If-Match`) no longer holds.
    PreconditionFailed,
    /// Body too large.
    TooLarge,
    /// URI too long.
    UriTooLong,
    /// Body in a media type this route does not take.
    UnsupportedMedia,
    /// Well-formed but invalid values.
    Invalid,
    /// Too many requests; retry later.
    RateLimited,
    /// Headers too large.
    HeadersTooLarge,
    /// A fault on our side; nothing half-written.
    Internal,
    /// Temporarily unable (storage, overload, not ready); retry later.
    Unavailable,
}

/// One row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Code {
    /// The stable snake_case name clients see.
    pub name: &'static str,
    /// Its kind of failure.
    pub class: Class,
    /// What it means, for the documentation.
    pub meaning: &'static str,
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

macro_rules! table {
    ($($id:ident = $name:literal, $class:ident, $meaning:literal;)*) => {
        $(
            #[doc = $meaning]
            pub const $id: Code = Code { name: $name, class: Class::$class, meaning: $meaning };
        )*
        /// Every code, in table order.
        pub const TABLE: &[Code] = &[$($id),*];
    };
}

table! {
    MALFORMED_REQUEST = "malformed_request", Malformed, "The request cannot be read: syntax, unknown or repeated parameter, bad header.";
    IDEMPOTENCY_KEY_REQUIRED = "idempotency_key_required", Malformed, "The Idempotency-Key header is missing or invalid.";
    CART_REQUIRED = "cart_required", Malformed, "No X-Cart-Token and not signed in.";
    WEBHOOK_SIGNATURE_INVALID = "webhook_signature_invalid", Malformed, "A provider webhook whose signature does not verify, or that cannot be read; nothing was done.";
    INVALID_TOKEN = "invalid_token", Malformed, "A mailed link's token is invalid, expired or used.";
    UNAUTHENTICATED = "unauthenticated", Unauthenticated, "Missing, expired or invalid credentials.";
    INVALID_CREDENTIALS = "invalid_credentials", Unauthenticated, "Email or password is incorrect (never says which).";
    REFRESH_TOKEN_REUSED = "refresh_token_reused", Unauthenticated, "A used refresh token came back; the session is revoked.";
    FORBIDDEN = "forbidden", Forbidden, "The role or API-key scope does not allow this.";
    CSRF_FAILED = "csrf_failed", Forbidden, "A cookie-authenticated write without the matching CSRF token (`X-CSRF-Token` on the API, `_csrf` in a page form), or a form posted from another site.";
    NOT_FOUND = "not_found", NotFound, "No such object, or not the caller's.";
    METHOD_NOT_ALLOWED = "method_not_allowed", MethodNotAllowed, "The method does not apply to this resource.";
    NOT_ACCEPTABLE = "not_acceptable", NotAcceptable, "No representation matches Accept.";
    REQUEST_TIMEOUT = "request_timeout", Timeout, "The request took too long to arrive.";
    CONFLICT = "conflict", Conflict, "Conflicts with the current state (concurrent change, dependants).";
    EMAIL_TAKEN = "email_taken", Conflict, "An account with this email exists.";
    LAST_ADMIN = "last_admin", Conflict, "The last active admin cannot be demoted or deleted.";
    ADDRESS_BOOK_FULL = "address_book_full", Conflict, "An account keeps at most 20 saved addresses; remove one first.";
    SLUG_TAKEN = "slug_taken", Conflict, "The slug is used by another object.";
    OUT_OF_STOCK = "out_of_stock", Conflict, "Not enough units available.";
    PRICE_CHANGED = "price_changed", Conflict, "Prices changed since they were added to the cart.";
    PRODUCT_UNAVAILABLE = "product_unavailable", Conflict, "The product is not on sale.";
    INVALID_TRANSITION = "invalid_transition", Conflict, "The order's state does not allow this.";
    GIFT_CARD_BALANCE_CHANGED = "gift_card_balance_changed", Conflict, "A gift card on the cart has less left than when the cart was priced; the cart is re-priced.";
    CODE_TAKEN = "code_taken", Conflict, "A discount code (or tax category) with this name exists.";
    PROMOTION_UNAVAILABLE = "promotion_unavailable", Conflict, "A code or promotion the cart was priced with no longer applies (used up, ended); the cart is re-priced.";
    GIFT_CARD_INVALID = "gift_card_invalid", Invalid, "The gift card code is mistyped or unknown, or the card is disabled, expired, empty or in another currency.";
    UNKNOWN = "unknown", Invalid, "A discount code that does not exist.";
    EXPIRED = "expired", Invalid, "A discount code whose promotion has ended.";
    NOT_STARTED = "not_started", Invalid, "A discount code whose promotion has not started yet.";
    USAGE_LIMIT_REACHED = "usage_limit_reached", Invalid, "A discount code used up, in total or by this customer.";
    MINIMUM_NOT_MET = "minimum_not_met", Invalid, "The cart is below the code's minimum subtotal or quantity.";
    NOT_APPLICABLE = "not_applicable", Invalid, "Nothing in the cart, or about the buyer, qualifies for the code.";
    NOT_COMBINABLE = "not_combinable", Invalid, "The code cannot be combined with a promotion that applies.";
    CARD_DECLINED = "card_declined", PaymentRequired, "The card was refused; `decline_code` says why, and the payment may be tried again.";
    PAYMENT_NOT_PAYABLE = "payment_not_payable", Conflict, "The payment cannot be confirmed or captured now (already settled, held for review, or out of attempts).";
    LENGTH_REQUIRED = "length_required", LengthRequired, "A Content-Length header is needed.";
    PRECONDITION_FAILED = "precondition_failed", PreconditionFailed, "If-Match names an older version.";
    PAYLOAD_TOO_LARGE = "payload_too_large", TooLarge, "The body is larger than the limit.";
    URI_TOO_LONG = "uri_too_long", UriTooLong, "The URI is too long.";
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", UnsupportedMedia, "The body's content type is not taken here.";
    VALIDATION_FAILED = "validation_failed", Invalid, "Well-formed but invalid values; `errors` lists each field.";
    URL_NOT_ALLOWED = "url_not_allowed", Invalid, "The webhook URL is not https, or resolves to a loopback, private, link-local or metadata address.";
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused", Invalid, "The Idempotency-Key was used with another body.";
    RATE_LIMITED = "rate_limited", RateLimited, "Too many requests; see Retry-After.";
    HEADERS_TOO_LARGE = "headers_too_large", HeadersTooLarge, "The request headers are too large.";
    INTERNAL_ERROR = "internal_error", Internal, "An unexpected fault; the request id finds it in the log.";
    STORAGE_UNAVAILABLE = "storage_unavailable", Unavailable, "The store cannot accept writes; nothing was saved.";
    SERVICE_UNAVAILABLE = "service_unavailable", Unavailable, "Temporarily unable to answer.";
    NOT_READY = "not_ready", Unavailable, "Starting or stopping; not serving yet.";
    PAYMENT_PROVIDER_UNAVAILABLE = "payment_provider_unavailable", Unavailable, "The payment provider could not be reached; nothing was charged, retry.";
    BUSY = "busy", Unavailable, "Too much work in flight; retry in a moment.";
    STOCK_CONTENTION = "stock_contention", Unavailable, "Stock rows kept changing under the checkout; retry.";
}

/// A field-level problem: the one validation shape of every module (`errors[]` on the wire).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldIssue {
    /// Path, e.g. `variants[0].sku`.
    pub field: String,
    /// Stable field code, e.g. `required`, `out_of_range`, `invalid`.
    pub code: &'static str,
    /// Explanation.
    pub message: String,
}

impl FieldIssue {
    /// An issue with `field`.
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        FieldIssue {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// What a client reads about an internal fault.
pub const INTERNAL_MESSAGE: &str =
    "an unexpected error occurred; the request id identifies it in the server log";

/// The issues as one line, `field: message; …`, for a problem's `detail`.
pub fn joined(issues: &[FieldIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Implemented by every domain error: the edge renders any of them the same way.
pub trait ErrorCode: fmt::Display {
    /// The row of the table.
    fn code(&self) -> Code;
    /// What the client may read; for [`Class::Internal`] never the internals.
    fn message(&self) -> String {
        if self.code().class == Class::Internal {
            INTERNAL_MESSAGE.into()
        } else {
            self.to_string()
        }
    }
    /// Per-field problems, for [`Class::Invalid`] and [`PRICE_CHANGED`].
    fn fields(&self) -> Vec<FieldIssue> {
        Vec::new()
    }
    /// Seconds after which a retry may succeed.
    fn retry_after(&self) -> Option<u64> {
        None
    }
    /// For [`CARD_DECLINED`]: the provider's decline code (the problem's `decline_code`).
    fn decline_code(&self) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for c in TABLE {
            assert!(seen.insert(c.name), "{} twice", c.name);
            assert!(
                c.name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                c.name
            );
            assert!(!c.meaning.is_empty());
        }
    }
}
