"""Generates a Python client from shopd's OpenAPI document with openapi-python-client (PyPI)
and uses it against a running shop, so the document is proven to drive a real outside client.

usage: openapi_client_check.py DOC_JSON BASE_URL ADMIN_TOKEN WORK_DIR SLUG
Prints one JSON line with what the client parsed; exits non-zero on any mismatch."""

import importlib
import json
import subprocess
import sys
from pathlib import Path

doc, base, token, work, slug = sys.argv[1:6]
out = Path(work) / "client"
gen = subprocess.run(
    ["openapi-python-client", "generate", "--path", doc, "--output-path", str(out),
     "--meta", "none", "--overwrite"],
    capture_output=True, text=True,
)
# The generator reports what it could not model as warnings and still exits 0: both fail here,
# except the one limitation of the generator itself: it has no model for a text/csv request
# body (the Shopify CSV import), so it skips that one endpoint.
report = gen.stdout + gen.stderr
known = "WARNING parsing POST /api/v1/admin/products/import within catalog_admin. Endpoint will not be generated.\n\nUnsupported content type text/csv"
unexpected = report.replace(known, "")
if gen.returncode != 0 or "WARNING" in unexpected or "Error" in unexpected:
    sys.exit(f"openapi-python-client failed or warned:\n{report}")
sys.path.insert(0, str(out.parent))
pkg = out.name
client_mod = importlib.import_module(f"{pkg}.client")
api = lambda tag, op: importlib.import_module(f"{pkg}.api.{tag}.{op}")

anon = client_mod.Client(base_url=base, raise_on_unexpected_status=True)
staff = client_mod.AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True)

page = api("catalog", "list_products").sync(client=anon)
assert page is not None, "product list parsed as None"
assert len(page.data) >= 1, "no products parsed"
first = page.data[0]
price = first.variants[0].price
assert isinstance(price.amount, int) and len(price.currency) == 3, price

one = api("catalog", "get_product").sync(client=anon, id_or_slug=slug)
assert one is not None and one.slug == slug, one

missing = api("catalog", "get_product").sync_detailed(client=anon, id_or_slug="no-such-product")
assert missing.status_code == 404, missing.status_code
assert missing.parsed is not None and missing.parsed.code == "not_found", missing.parsed

found = api("catalog", "search").sync(client=anon, q=one.title.split()[0])
assert found is not None and found.total >= 1, found

cats = api("catalog", "list_categories").sync(client=anon)
assert cats is not None and isinstance(cats.data, list), cats

admin_page = api("catalog_admin", "admin_list_products").sync(client=staff)
assert admin_page is not None and len(admin_page.data) >= len(page.data), admin_page

denied = api("catalog_admin", "admin_list_products").sync_detailed(client=anon)
assert denied.status_code == 401 and denied.parsed is not None, denied.status_code

orders = api("orders_admin", "admin_list").sync(client=staff)
assert orders is not None and isinstance(orders.data, list), orders

print(json.dumps({
    "products": len(page.data),
    "first_price": price.amount,
    "slug": one.slug,
    "search_total": found.total,
    "missing_code": missing.parsed.code,
    "unauthenticated": int(denied.status_code),
}))
