//! The printable invoice of a paid order: HTML rendered from the order and the quote it was
//! placed with (lines with discount, rate and tax; shipping; tax by rate; totals), numbered
//! sequentially per shop. Escaped by the template engine (the file is `.html`), no script.

use actix_web::HttpResponse;
use serde_json::json;

use super::ApiError;
use crate::domain::orders::{Invoice, InvoiceRef};

/// The embedded invoice template.
const TEMPLATE: &str = include_str!("../../web/invoice.html");

/// Renders an invoice as a standalone HTML document.
pub fn render(
    inv: &Invoice,
    shop_name: &str,
    tax_id: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let o = &inv.order;
    let q = inv.quote.as_ref();
    let lines: Vec<_> = o
        .lines
        .iter()
        .map(|l| {
            let rate = q
                .and_then(|q| q.lines.iter().find(|x| x.line_id == l.id))
                .map(|x| format!("{}%", x.tax_rate));
            json!({"title": l.title, "variant_title": l.variant_title, "sku": l.sku,
                   "quantity": l.quantity, "unit_price": l.unit_price.to_string(),
                   "discount": l.discount.to_string(), "rate": rate.unwrap_or_default(),
                   "tax": l.tax.to_string(), "total": l.total.to_string()})
        })
        .collect();
    let shipping = q.and_then(|q| q.shipping.as_ref()).map(|s| {
        json!({"name": s.name, "price": s.price.to_string(), "discount": s.discount.to_string(),
               "tax": s.tax.to_string(), "total": s.total.to_string()})
    });
    let t = &o.totals;
    let shipping_total = q
        .and_then(|q| q.shipping.as_ref())
        .map_or(t.shipping, |s| s.total);
    let ctx = json!({
        "shop_name": shop_name,
        "number": o.invoice.as_ref().map(InvoiceRef::label),
        "issued_at": o.invoice.as_ref().map(|i| i.issued_at.to_rfc3339()[..10].to_owned()),
        "order_id": o.id.to_string(), "email": o.email, "billing": o.billing_address,
        "tax_id": tax_id, "lines": lines, "shipping": shipping,
        "subtotal": t.subtotal.to_string(),
        "discount": (t.discount.amount > 0).then(|| t.discount.to_string()),
        "shipping_total": shipping_total.to_string(),
        "tax_lines": o.tax_lines.iter().map(|x| json!({"name": x.name, "base": x.base.to_string(), "amount": x.amount.to_string()})).collect::<Vec<_>>(),
        "tax_inclusive": o.tax_inclusive, "total": t.total.to_string(),
        "gift_cards": (t.gift_cards.amount > 0).then(|| t.gift_cards.to_string()),
    });
    let mut env = minijinja::Environment::new();
    env.add_template("invoice.html", TEMPLATE).map_err(|e| {
        tracing::error!(error = %e, "invoice template");
        ApiError::internal()
    })?;
    let html = env
        .get_template("invoice.html")
        .and_then(|t| t.render(ctx))
        .map_err(|e| {
            tracing::error!(error = %e, "rendering an invoice");
            ApiError::internal()
        })?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ))
        .insert_header(("X-Robots-Tag", "noindex"))
        .body(html))
}
